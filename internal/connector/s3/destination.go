package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/coffer-backup/coffer/internal/connector"
)

// maxPartSize is S3's largest allowed part.
const maxPartSize = 5 << 30

// partSize is the size of part n (1-based): MinPartSize, doubling every
// ceil(MaxParts/10) parts, so MaxParts parts hold about
// MaxParts/10 * MinPartSize * 1023 bytes.
func partSize(o Options, n int) int64 {
	if n < 1 {
		n = 1
	}
	step := (o.MaxParts + 9) / 10
	shift := (n - 1) / step
	if shift > 20 {
		return maxPartSize
	}
	return min(o.MinPartSize<<shift, maxPartSize)
}

// validName checks an archive name: relative, clean, no "..".
func validName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) || strings.Contains(name, "\\") {
		return fmt.Errorf("archive name %q must be a non-empty relative path", name)
	}
	if path.Clean(name) != name {
		return fmt.Errorf("archive name %q must be a clean relative path", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("archive name %q must not contain . or .. segments", name)
		}
	}
	return nil
}

// objectKey is the key an archive name is stored under: the connection's
// prefix (as a folder) followed by name.
func (c *Client) objectKey(name string) string {
	p := c.cfg.Prefix
	if p == "" {
		return name
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + name
}

// Location is "s3://bucket/key" for an archive name.
func (c *Client) Location(name string) string {
	return "s3://" + c.cfg.Bucket + "/" + c.objectKey(name)
}

// partState is one uploaded part in an Upload's State.
type partState struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

// uploadState is the JSON an Upload's State returns.
type uploadState struct {
	Key      string      `json:"key"`
	UploadID string      `json:"upload_id"`
	Parts    []partState `json:"parts"`
}

// upload is a multipart upload of one archive.
type upload struct {
	c  *Client
	st uploadState
}

// NewUpload starts a multipart upload of the archive name.
func (c *Client) NewUpload(ctx context.Context, name string) (connector.Upload, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	key := c.objectKey(name)
	out, err := c.api.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket:      aws.String(c.cfg.Bucket),
		Key:         aws.String(key),
		ContentType: aws.String(contentTypeFor(name)),
	})
	if err != nil {
		return nil, c.explain(err, fmt.Sprintf("start the upload of %s", c.Location(name)))
	}
	return &upload{c: c, st: uploadState{Key: key, UploadID: aws.ToString(out.UploadId), Parts: []partState{}}}, nil
}

func contentTypeFor(name string) string {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".zst"):
		return "application/zstd"
	case strings.HasSuffix(name, ".sha256"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// ResumeUpload continues an upload from its State, in this or another
// process. It checks with the server that the upload still exists and holds
// the recorded parts.
func (c *Client) ResumeUpload(ctx context.Context, state json.RawMessage) (connector.Upload, error) {
	var st uploadState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("reading the saved s3 upload state: %w", err)
	}
	if st.Key == "" || st.UploadID == "" {
		return nil, errors.New("the saved s3 upload state has no key or upload id")
	}
	for i, p := range st.Parts {
		if p.N != int32(i+1) {
			return nil, fmt.Errorf("the saved s3 upload state lists part %d in position %d", p.N, i+1)
		}
	}
	server := map[int32]string{}
	in := &awss3.ListPartsInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(st.Key), UploadId: aws.String(st.UploadID)}
	for {
		out, err := c.api.ListParts(ctx, in)
		if err != nil {
			if isNotFound(err) {
				return nil, fmt.Errorf("the unfinished upload of s3://%s/%s no longer exists (it was aborted or cleaned up): %w", c.cfg.Bucket, st.Key, connector.ErrNotExist)
			}
			return nil, c.explain(err, fmt.Sprintf("look up the unfinished upload of %s", st.Key))
		}
		for _, p := range out.Parts {
			server[aws.ToInt32(p.PartNumber)] = trimETag(aws.ToString(p.ETag))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	for _, p := range st.Parts {
		if etag, ok := server[p.N]; !ok || etag != trimETag(p.ETag) {
			return nil, fmt.Errorf("part %d of the unfinished upload of s3://%s/%s is missing or different on the server; start the backup again", p.N, c.cfg.Bucket, st.Key)
		}
	}
	if st.Parts == nil {
		st.Parts = []partState{}
	}
	return &upload{c: c, st: st}, nil
}

// PartSize is the size part n must have unless it is the last one.
func (u *upload) PartSize(n int) int64 { return partSize(u.c.opts, n) }

// WritePart uploads part n. Parts come in order; writing a part already
// written replaces it and forgets the parts after it.
func (u *upload) WritePart(ctx context.Context, n int, data []byte) error {
	if n < 1 || n > len(u.st.Parts)+1 {
		return fmt.Errorf("s3 upload of %s: part %d written after part %d", u.st.Key, n, len(u.st.Parts))
	}
	if n > u.c.opts.MaxParts {
		return fmt.Errorf("s3 upload of %s: part %d is beyond the limit of %d parts", u.st.Key, n, u.c.opts.MaxParts)
	}
	if want := u.PartSize(n); int64(len(data)) != want {
		return fmt.Errorf("s3 upload of %s: part %d has %d bytes, want %d", u.st.Key, n, len(data), want)
	}
	etag, err := u.uploadPart(ctx, n, data)
	if err != nil {
		return err
	}
	u.st.Parts = append(u.st.Parts[:n-1], partState{N: int32(n), ETag: etag, Size: int64(len(data))})
	return nil
}

func (u *upload) uploadPart(ctx context.Context, n int, data []byte) (string, error) {
	out, err := u.c.api.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        aws.String(u.c.cfg.Bucket),
		Key:           aws.String(u.st.Key),
		UploadId:      aws.String(u.st.UploadID),
		PartNumber:    aws.Int32(int32(n)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return "", u.c.explain(err, fmt.Sprintf("upload part %d of %s", n, u.st.Key))
	}
	return aws.ToString(out.ETag), nil
}

// State is the JSON ResumeUpload needs: {key, upload_id, parts}.
func (u *upload) State() json.RawMessage {
	b, err := json.Marshal(u.st)
	if err != nil {
		panic(fmt.Sprintf("s3: marshalling upload state: %v", err)) // plain structs cannot fail
	}
	return b
}

// Complete uploads last as the final part and completes the upload. An
// archive with no bytes at all is stored with a plain PutObject.
func (u *upload) Complete(ctx context.Context, last []byte) (int64, error) {
	if len(last) == 0 && len(u.st.Parts) == 0 {
		if err := u.Abort(ctx); err != nil {
			return 0, err
		}
		empty := sha256.Sum256(nil)
		if _, err := u.c.api.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String(u.c.cfg.Bucket), Key: aws.String(u.st.Key),
			Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(empty[:])),
		}); err != nil {
			return 0, u.c.explain(err, fmt.Sprintf("write %s", u.st.Key))
		}
		return 0, nil
	}
	if len(last) > 0 {
		n := len(u.st.Parts) + 1
		if n > u.c.opts.MaxParts {
			return 0, fmt.Errorf("s3 upload of %s: the final part %d is beyond the limit of %d parts", u.st.Key, n, u.c.opts.MaxParts)
		}
		etag, err := u.uploadPart(ctx, n, last)
		if err != nil {
			return 0, err
		}
		u.st.Parts = append(u.st.Parts, partState{N: int32(n), ETag: etag, Size: int64(len(last))})
	}
	var size int64
	parts := make([]types.CompletedPart, len(u.st.Parts))
	for i, p := range u.st.Parts {
		parts[i] = types.CompletedPart{ETag: aws.String(p.ETag), PartNumber: aws.Int32(p.N)}
		size += p.Size
	}
	_, err := u.c.api.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(u.c.cfg.Bucket), Key: aws.String(u.st.Key), UploadId: aws.String(u.st.UploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		// A retried Complete whose first try succeeded finds no upload:
		// the object is there with the expected size.
		if isNotFound(err) {
			head, herr := u.c.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(u.c.cfg.Bucket), Key: aws.String(u.st.Key)})
			if herr == nil && aws.ToInt64(head.ContentLength) == size && strings.HasSuffix(trimETag(aws.ToString(head.ETag)), fmt.Sprintf("-%d", len(parts))) {
				return size, nil
			}
		}
		return 0, u.c.explain(err, fmt.Sprintf("finish the upload of %s", u.st.Key))
	}
	return size, nil
}

// Abort discards the multipart upload; an upload already gone is not an
// error.
func (u *upload) Abort(ctx context.Context) error {
	_, err := u.c.api.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket: aws.String(u.c.cfg.Bucket), Key: aws.String(u.st.Key), UploadId: aws.String(u.st.UploadID),
	})
	if err != nil && !isNotFound(err) {
		return u.c.explain(err, fmt.Sprintf("abort the upload of %s", u.st.Key))
	}
	return nil
}

// PutFile writes a small file (such as the .sha256 sidecar) in one request,
// with its SHA-256 for the server to check.
func (c *Client) PutFile(ctx context.Context, name string, data []byte) error {
	if err := validName(name); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	_, err := c.api.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:         aws.String(c.cfg.Bucket),
		Key:            aws.String(c.objectKey(name)),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentType:    aws.String(contentTypeFor(name)),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return c.explain(err, fmt.Sprintf("write %s", c.Location(name)))
	}
	return nil
}

// Open reads an archive from byte offset on. The body survives connection
// resets like Get's.
func (c *Client) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("opening %s: negative offset %d", c.Location(name), offset)
	}
	body, _, err := c.getObject(ctx, c.cfg.Bucket, c.objectKey(name), offset, false)
	return body, err
}

// Size returns the stored size of an archive (ErrNotExist when absent).
func (c *Client) Size(ctx context.Context, name string) (int64, error) {
	if err := validName(name); err != nil {
		return 0, err
	}
	out, err := c.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.objectKey(name))})
	if err != nil {
		if isNotFound(err) {
			return 0, fmt.Errorf("%s: %w", c.Location(name), connector.ErrNotExist)
		}
		return 0, c.explain(err, fmt.Sprintf("look up %s", c.Location(name)))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// FreeBytes is -1: a bucket has no free space to ask for.
func (c *Client) FreeBytes(context.Context) (int64, error) { return -1, nil }

// Delete removes an archive or file; one already absent is not an error.
func (c *Client) Delete(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	_, err := c.api.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.objectKey(name))})
	if err != nil && !isNotFound(err) {
		return c.explain(err, fmt.Sprintf("delete %s", c.Location(name)))
	}
	return nil
}

// ListFiles calls fn with each page of the objects under the connection's
// prefix (taken as a folder, as in Sweep; with no prefix, the whole
// bucket), named without the prefix. Multipart uploads in progress are not
// objects and are not listed; keys that are no valid archive name under
// the prefix (folder markers such as "a/", "a//b") are skipped.
func (c *Client) ListFiles(ctx context.Context, fn func(page []connector.StoredFile) error) error {
	prefix := c.objectKey("")
	in := &awss3.ListObjectsV2Input{
		Bucket:  aws.String(c.cfg.Bucket),
		Prefix:  prefixPtr(prefix),
		MaxKeys: aws.Int32(c.opts.PageSize),
	}
	for {
		out, err := c.api.ListObjectsV2(ctx, in)
		if err != nil {
			return c.explain(err, fmt.Sprintf("list the archives in s3://%s/%s", c.cfg.Bucket, prefix))
		}
		page := make([]connector.StoredFile, 0, len(out.Contents))
		for _, o := range out.Contents {
			name, ok := strings.CutPrefix(aws.ToString(o.Key), prefix)
			if !ok || validName(name) != nil {
				continue
			}
			f := connector.StoredFile{Name: name, Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				f.ModTime = o.LastModified.UTC()
			}
			page = append(page, f)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		if aws.ToString(out.NextContinuationToken) == "" {
			// A server that pages without tokens: go on after the last key.
			if len(out.Contents) == 0 {
				return fmt.Errorf("s3 list the archives in s3://%s/%s: truncated listing without a continuation token", c.cfg.Bucket, prefix)
			}
			in.ContinuationToken = nil
			in.StartAfter = out.Contents[len(out.Contents)-1].Key
			continue
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// Sweep aborts the incomplete multipart uploads under the connection's
// prefix (taken as a folder; with no prefix, the whole bucket) that were
// started before olderThan, except those whose upload id a state in live
// names. It returns how many it aborted.
func (c *Client) Sweep(ctx context.Context, olderThan time.Time, live []json.RawMessage) (int, error) {
	keep := map[string]bool{}
	for _, raw := range live {
		var st uploadState
		if err := json.Unmarshal(raw, &st); err != nil || st.UploadID == "" {
			return 0, fmt.Errorf("the saved state of an unfinished upload to bucket %q cannot be read, so no upload was swept", c.cfg.Bucket)
		}
		keep[st.UploadID] = true
	}
	// The prefix as a folder: "backups" must not sweep "backups2/...".
	in := &awss3.ListMultipartUploadsInput{Bucket: aws.String(c.cfg.Bucket), Prefix: prefixPtr(c.objectKey(""))}
	removed := 0
	for {
		out, err := c.api.ListMultipartUploads(ctx, in)
		if err != nil {
			return removed, c.explain(err, "list unfinished uploads")
		}
		for _, up := range out.Uploads {
			id := aws.ToString(up.UploadId)
			if up.Initiated == nil || !up.Initiated.Before(olderThan) || keep[id] {
				continue
			}
			_, err := c.api.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
				Bucket: aws.String(c.cfg.Bucket), Key: up.Key, UploadId: up.UploadId,
			})
			if err != nil && !isNotFound(err) {
				return removed, c.explain(err, fmt.Sprintf("abort the unfinished upload of %s", aws.ToString(up.Key)))
			}
			removed++
		}
		if !aws.ToBool(out.IsTruncated) {
			return removed, nil
		}
		if aws.ToString(out.NextKeyMarker) == "" && aws.ToString(out.NextUploadIdMarker) == "" {
			return removed, nil
		}
		in.KeyMarker = out.NextKeyMarker
		in.UploadIdMarker = out.NextUploadIdMarker
	}
}
