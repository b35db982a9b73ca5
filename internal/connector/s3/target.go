package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

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
func (t *target) Put(ctx context.Context, obj object.Object, body io.Reader, sum [32]byte) error {
	key := t.prefix + obj.Key
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
		if _, err := t.c.api.PutObject(ctx, in); err != nil {
			if errorCode(err) == "BadDigest" || errorCode(err) == "XAmzContentChecksumMismatch" || errorCode(err) == "InvalidDigest" {
				return fmt.Errorf("object %q: the server saw different bytes than were sent: %w", key, connector.ErrChecksumMismatch)
			}
			return t.c.explain(err, fmt.Sprintf("write object %q", key))
		}
		return nil
	}
	return t.putMultipart(ctx, key, obj, io.MultiReader(bytes.NewReader(head), body), sum)
}

func (t *target) putMultipart(ctx context.Context, key string, obj object.Object, body io.Reader, sum [32]byte) error {
	in := &awss3.CreateMultipartUploadInput{Bucket: aws.String(t.bucket), Key: aws.String(key)}
	applyCreateMeta(in, obj)
	created, err := t.c.api.CreateMultipartUpload(ctx, in)
	if err != nil {
		return t.c.explain(err, fmt.Sprintf("start the upload of object %q", key))
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
