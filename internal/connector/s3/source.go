package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/object"
)

// List calls fn with each page of objects under the connection's prefix, in
// ascending key order, starting strictly after startAfter.
func (c *Client) List(ctx context.Context, startAfter string, fn func(page []object.Object) error) error {
	in := &awss3.ListObjectsV2Input{
		Bucket:  aws.String(c.cfg.Bucket),
		Prefix:  prefixPtr(c.cfg.Prefix),
		MaxKeys: aws.Int32(c.opts.PageSize),
	}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	for {
		out, err := c.api.ListObjectsV2(ctx, in)
		if err != nil {
			return c.explain(err, "list objects")
		}
		page := make([]object.Object, 0, len(out.Contents))
		for _, o := range out.Contents {
			obj := object.Object{
				Key:      aws.ToString(o.Key),
				Size:     aws.ToInt64(o.Size),
				Metadata: object.Metadata{ETag: trimETag(aws.ToString(o.ETag))},
			}
			if o.LastModified != nil {
				obj.LastModified = o.LastModified.UTC()
			}
			page = append(page, obj)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		if out.NextContinuationToken == nil || *out.NextContinuationToken == "" {
			// A server that pages without tokens: go on after the last key.
			if len(page) == 0 {
				return fmt.Errorf("s3 list objects in bucket %s: truncated listing without a continuation token", c.cfg.Bucket)
			}
			in.ContinuationToken = nil
			in.StartAfter = aws.String(page[len(page)-1].Key)
			continue
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// Get opens an object of the connection's bucket. The body survives
// connection resets: it re-requests the rest of the same version of the
// object (Range + If-Match) up to MaxAttempts times in a row.
//
// The object's tags cost one more request (GetObjectTagging), made only
// when GetObject's answer counts at least one tag (x-amz-tagging-count).
// S3 and versitygw leave that header out when an object has no tags, so a
// missing count means no tags; a server without tagging sends none either.
// AWS sends the count only to a caller allowed to read tags
// (s3:GetObjectTagging): without that permission objects read as untagged.
func (c *Client) Get(ctx context.Context, key string) (io.ReadCloser, object.Object, error) {
	return c.getObject(ctx, c.cfg.Bucket, key, 0, true)
}

// getObject opens key from offset on; withTags also reads its tags (archives
// read back through Open have none worth a request).
func (c *Client) getObject(ctx context.Context, bucket, key string, offset int64, withTags bool) (io.ReadCloser, object.Object, error) {
	in := &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := c.api.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, object.Object{}, fmt.Errorf("s3 object %q in bucket %s: %w", key, bucket, connector.ErrNotExist)
		}
		if offset > 0 && httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			// Reading from the very end: nothing is left.
			head, herr := c.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if herr == nil && aws.ToInt64(head.ContentLength) == offset {
				obj := objectFromHead(key, head)
				return io.NopCloser(strings.NewReader("")), obj, nil
			}
		}
		return nil, object.Object{}, c.explain(err, fmt.Sprintf("read object %q", key))
	}
	obj := objectFromGet(key, out, offset)
	if withTags && aws.ToInt32(out.TagCount) > 0 {
		tags, err := c.objectTags(ctx, bucket, key, aws.ToString(out.VersionId))
		if err != nil {
			_ = out.Body.Close()
			return nil, object.Object{}, err
		}
		obj.Tags = tags
	}
	body := &resumingBody{
		ctx:    ctx,
		c:      c,
		bucket: bucket,
		key:    key,
		etag:   aws.ToString(out.ETag),
		body:   out.Body,
		pos:    offset,
		end:    offset + aws.ToInt64(out.ContentLength),
	}
	if out.ContentLength == nil {
		body.end = -1
	}
	return body, obj, nil
}

// objectTags reads the tag set of key (nil when it has none), of the
// version GetObject answered with when the bucket keeps versions.
func (c *Client) objectTags(ctx context.Context, bucket, key, versionID string) (map[string]string, error) {
	in := &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" && versionID != "null" {
		in.VersionId = aws.String(versionID)
	}
	out, err := c.api.GetObjectTagging(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("s3 object %q in bucket %s was deleted before its tags were read: %w", key, bucket, connector.ErrNotExist)
		}
		if isDenied(err) {
			return nil, apperr.Wrap(apperr.Forbidden, err, "S3 denied reading the tags of object %q in bucket %q. Give the key the s3:GetObjectTagging permission (and s3:GetObjectVersionTagging for versioned buckets).", key, bucket)
		}
		return nil, c.explain(err, fmt.Sprintf("read the tags of object %q", key))
	}
	if len(out.TagSet) == 0 {
		return nil, nil
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

func trimETag(e string) string { return strings.Trim(e, `"`) }

func objectFromGet(key string, out *awss3.GetObjectOutput, offset int64) object.Object {
	obj := object.Object{Key: key, Size: offset + aws.ToInt64(out.ContentLength), Metadata: object.Metadata{
		ETag:               trimETag(aws.ToString(out.ETag)),
		ContentType:        aws.ToString(out.ContentType),
		CacheControl:       aws.ToString(out.CacheControl),
		ContentEncoding:    aws.ToString(out.ContentEncoding),
		ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage:    aws.ToString(out.ContentLanguage),
		Expires:            aws.ToString(out.ExpiresString),
		UserMetadata:       copyMeta(out.Metadata),
	}}
	if out.LastModified != nil {
		obj.LastModified = out.LastModified.UTC()
	}
	return obj
}

func objectFromHead(key string, out *awss3.HeadObjectOutput) object.Object {
	obj := object.Object{Key: key, Size: aws.ToInt64(out.ContentLength), Metadata: object.Metadata{
		ETag:               trimETag(aws.ToString(out.ETag)),
		ContentType:        aws.ToString(out.ContentType),
		CacheControl:       aws.ToString(out.CacheControl),
		ContentEncoding:    aws.ToString(out.ContentEncoding),
		ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage:    aws.ToString(out.ContentLanguage),
		Expires:            aws.ToString(out.ExpiresString),
		UserMetadata:       copyMeta(out.Metadata),
	}}
	if out.LastModified != nil {
		obj.LastModified = out.LastModified.UTC()
	}
	return obj
}

func copyMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// resumingBody is an object body that, when the connection breaks, asks
// again for the remaining bytes of the same object version.
type resumingBody struct {
	ctx    context.Context
	c      *Client
	bucket string
	key    string
	etag   string // quoted, as the server sent it
	body   io.ReadCloser
	pos    int64 // absolute offset of the next byte
	end    int64 // object size, -1 when unknown
	fails  int   // consecutive failed reads
	closed bool
}

func (b *resumingBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("s3 object body: read after close")
	}
	for {
		if b.end >= 0 && b.pos >= b.end {
			return 0, io.EOF
		}
		if b.body == nil {
			if err := b.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := b.body.Read(p)
		b.pos += int64(n)
		if n > 0 {
			b.fails = 0
		}
		if err == nil {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			if b.end < 0 || b.pos >= b.end {
				return n, io.EOF
			}
			err = io.ErrUnexpectedEOF
		}
		if ctxErr := b.ctx.Err(); ctxErr != nil {
			return n, fmt.Errorf("reading s3 object %q: %w", b.key, ctxErr)
		}
		_ = b.body.Close()
		b.body = nil
		b.fails++
		if b.fails > b.c.opts.MaxAttempts {
			return n, fmt.Errorf("reading s3 object %q failed at byte %d after %d attempts; check the network and try again: %w", b.key, b.pos, b.fails, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// reopen requests the bytes from pos on, of the same version (If-Match).
func (b *resumingBody) reopen() error {
	delay := time.Duration(50<<min(b.fails, 6)) * time.Millisecond
	select {
	case <-time.After(delay):
	case <-b.ctx.Done():
		return fmt.Errorf("reading s3 object %q: %w", b.key, b.ctx.Err())
	}
	in := &awss3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(b.key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-", b.pos)),
	}
	if b.etag != "" {
		in.IfMatch = aws.String(b.etag)
	}
	out, err := b.c.api.GetObject(b.ctx, in)
	if err != nil {
		if code := errorCode(err); code == "PreconditionFailed" || httpStatus(err) == http.StatusPreconditionFailed {
			return fmt.Errorf("s3 object %q changed while it was being read; run the operation again: %w", b.key, err)
		}
		if isNotFound(err) {
			return fmt.Errorf("s3 object %q was deleted while it was being read: %w", b.key, connector.ErrNotExist)
		}
		return fmt.Errorf("resuming the read of s3 object %q at byte %d: %w", b.key, b.pos, b.c.explain(err, "read"))
	}
	if b.etag != "" && out.ETag != nil && trimETag(*out.ETag) != trimETag(b.etag) {
		_ = out.Body.Close()
		return fmt.Errorf("s3 object %q changed while it was being read; run the operation again", b.key)
	}
	b.body = out.Body
	return nil
}

func (b *resumingBody) Close() error {
	b.closed = true
	if b.body != nil {
		err := b.body.Close()
		b.body = nil
		return err
	}
	return nil
}
