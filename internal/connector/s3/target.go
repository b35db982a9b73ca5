package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/object"
)

// Target returns an ObjectTarget that writes restored objects into bucket
// ("" = the connection's bucket), each under keyPrefix + its key.
func (c *Client) Target(bucket, keyPrefix string) connector.ObjectTarget {
	if bucket == "" {
		bucket = c.cfg.Bucket
	}
	return &target{c: c, bucket: bucket, prefix: keyPrefix}
}

type target struct {
	c      *Client
	bucket string
	prefix string
}

// Exists reports whether keyPrefix+key is present.
func (t *target) Exists(ctx context.Context, key string) (bool, error) {
	_, err := t.c.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(t.prefix + key)})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, t.c.explain(err, fmt.Sprintf("look up object %q", t.prefix+key))
}

// Put writes body under keyPrefix+obj.Key with obj's metadata. Objects up
// to MinPartSize are hashed in memory before a PutObject that also carries
// the SHA-256 for the server to check; larger ones stream as a multipart
// upload that is aborted, not completed, when the hash is wrong.
//
// Tags go with the object (PutObject's or CreateMultipartUpload's
// x-amz-tagging header), unless they are too long for that header (see
// tagHeader): then a PutObjectTagging follows the write, and when it fails
// the object is deleted again, so that a restore run again without
// overwrite does not skip it as present.
func (t *target) Put(ctx context.Context, obj object.Object, body io.Reader, sum [32]byte) error {
	key := t.prefix + obj.Key
	tagging, tagLater := tagHeader(obj.Tags)
	limit := t.c.opts.MinPartSize
	head, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return fmt.Errorf("reading the data of object %q: %w", key, err)
	}
	if int64(len(head)) <= limit {
		got := sha256.Sum256(head)
		if got != sum {
			return fmt.Errorf("object %q: the data does not match its SHA-256, so it was not written: %w", key, connector.ErrChecksumMismatch)
		}
		in := &awss3.PutObjectInput{
			Bucket:         aws.String(t.bucket),
			Key:            aws.String(key),
			Body:           bytes.NewReader(head),
			ContentLength:  aws.Int64(int64(len(head))),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		}
		applyPutMeta(in, obj)
		in.Tagging = strOrNil(tagging)
		if _, err := t.c.api.PutObject(ctx, in); err != nil {
			if errorCode(err) == "BadDigest" || errorCode(err) == "XAmzContentChecksumMismatch" || errorCode(err) == "InvalidDigest" {
				return fmt.Errorf("object %q: the server saw different bytes than were sent: %w", key, connector.ErrChecksumMismatch)
			}
			return t.explainWrite(err, key, tagging != "", fmt.Sprintf("write object %q", key))
		}
	} else if err := t.putMultipart(ctx, key, obj, tagging, io.MultiReader(bytes.NewReader(head), body), sum); err != nil {
		return err
	}
	if tagLater {
		return t.putTags(ctx, key, obj.Tags)
	}
	return nil
}

func (t *target) putMultipart(ctx context.Context, key string, obj object.Object, tagging string, body io.Reader, sum [32]byte) error {
	in := &awss3.CreateMultipartUploadInput{Bucket: aws.String(t.bucket), Key: aws.String(key)}
	applyCreateMeta(in, obj)
	in.Tagging = strOrNil(tagging)
	created, err := t.c.api.CreateMultipartUpload(ctx, in)
	if err != nil {
		return t.explainWrite(err, key, tagging != "", fmt.Sprintf("start the upload of object %q", key))
	}
	uploadID := aws.ToString(created.UploadId)
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = t.c.api.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
			Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		})
	}
	h := sha256.New()
	var parts []types.CompletedPart
	var buf []byte
	for n := 1; ; n++ {
		size := partSize(t.c.opts, n)
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		read, rerr := io.ReadFull(body, buf)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
			abort()
			return fmt.Errorf("reading the data of object %q: %w", key, rerr)
		}
		if read == 0 {
			break
		}
		buf = buf[:read]
		h.Write(buf)
		out, err := t.c.api.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
			PartNumber: aws.Int32(int32(n)), Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(read)),
		})
		if err != nil {
			abort()
			return t.c.explain(err, fmt.Sprintf("upload part %d of object %q", n, key))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(n))})
		if rerr != nil {
			break
		}
	}
	if [32]byte(h.Sum(nil)) != sum {
		abort()
		return fmt.Errorf("object %q: the data does not match its SHA-256, so it was not written: %w", key, connector.ErrChecksumMismatch)
	}
	_, err = t.c.api.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		abort()
		return t.c.explain(err, fmt.Sprintf("finish the upload of object %q", key))
	}
	return nil
}

// Limits under which tags travel in the x-amz-tagging header. S3 caps the
// size of a request's headers, and versitygw measures each key and value
// after URL encoding, so a non-ASCII tag that S3 and versitygw take in a
// PutObjectTagging body (up to 128 and 256 characters) can be refused in
// the header; such tag sets are written by PutObjectTagging instead.
const (
	maxTagHeader      = 2048
	maxTagHeaderKey   = 128
	maxTagHeaderValue = 256
)

// tagHeader returns tags in the header's form: URL query encoding, keys in
// order, spaces as %20 (never '+', which servers may read either way). later
// is true when the tags are too long for the header: then the header is ""
// and the tags must be written by PutObjectTagging.
func tagHeader(tags map[string]string) (header string, later bool) {
	if len(tags) == 0 {
		return "", false
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(tags)) {
		ek, ev := escapeTag(k), escapeTag(tags[k])
		if len(ek) > maxTagHeaderKey || len(ev) > maxTagHeaderValue {
			return "", true
		}
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(ek)
		b.WriteByte('=')
		b.WriteString(ev)
	}
	if b.Len() > maxTagHeader {
		return "", true
	}
	return b.String(), false
}

func escapeTag(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// putTags sets key's tags by PutObjectTagging, and deletes the object when
// that fails (see Put).
func (t *target) putTags(ctx context.Context, key string, tags map[string]string) error {
	set := make([]types.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := t.c.api.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
		Bucket: aws.String(t.bucket), Key: aws.String(key), Tagging: &types.Tagging{TagSet: set},
	})
	if err == nil {
		return nil
	}
	err = t.explainWrite(err, key, true, fmt.Sprintf("write the tags of object %q", key))
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, derr := t.c.api.DeleteObject(dctx, &awss3.DeleteObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(key)}); derr != nil {
		return fmt.Errorf("object %q was written without its tags, and deleting it failed too (%v): %w", key, derr, err)
	}
	return fmt.Errorf("object %q was not restored: its tags could not be written: %w", key, err)
}

// explainWrite is explain for a request that wrote object key, naming the
// tagging permission when a request that carried tags was denied.
func (t *target) explainWrite(err error, key string, withTags bool, what string) error {
	if withTags && isDenied(err) {
		return apperr.Wrap(apperr.Forbidden, err, "S3 denied writing object %q with its tags into bucket %q. Give the key the s3:PutObject and s3:PutObjectTagging permissions.", key, t.bucket)
	}
	if errorCode(err) == "InvalidTag" {
		return apperr.Wrap(apperr.Invalid, err, "S3 refused the tags of object %q: this server does not accept one of its tag keys or values.", key)
	}
	return t.c.explain(err, what)
}

func parseExpires(s string) *time.Time {
	if s == "" {
		return nil
	}
	tm, err := http.ParseTime(s)
	if err != nil {
		return nil
	}
	return &tm
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func applyPutMeta(in *awss3.PutObjectInput, obj object.Object) {
	in.ContentType = strOrNil(obj.ContentType)
	in.CacheControl = strOrNil(obj.CacheControl)
	in.ContentEncoding = strOrNil(obj.ContentEncoding)
	in.ContentDisposition = strOrNil(obj.ContentDisposition)
	in.ContentLanguage = strOrNil(obj.ContentLanguage)
	in.Expires = parseExpires(obj.Expires)
	if len(obj.UserMetadata) > 0 {
		in.Metadata = obj.UserMetadata
	}
}

func applyCreateMeta(in *awss3.CreateMultipartUploadInput, obj object.Object) {
	in.ContentType = strOrNil(obj.ContentType)
	in.CacheControl = strOrNil(obj.CacheControl)
	in.ContentEncoding = strOrNil(obj.ContentEncoding)
	in.ContentDisposition = strOrNil(obj.ContentDisposition)
	in.ContentLanguage = strOrNil(obj.ContentLanguage)
	in.Expires = parseExpires(obj.Expires)
	if len(obj.UserMetadata) > 0 {
		in.Metadata = obj.UserMetadata
	}
}
