package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/object"
	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// oddTags are tags with the characters that URL query encoding must carry:
// spaces, '=', '+', '/', ':' and non-ASCII letters. versitygw, like S3,
// refuses '&', '%' and other punctuation in tags (InvalidTag), so no stored
// tag can hold them; TestTagHeader checks their encoding without a server.
func oddTags() map[string]string {
	return map[string]string{
		"team":            "data ops",
		"with space":      "a=b",
		"plus+sign":       "1+1=2",
		"path":            "s3://bucket/dir/file.txt",
		"été":             "日本語 テキスト",
		"empty":           "",
		"Case":            "MiXeD",
		"at@example.com":  "x_y-z.w",
		"trailing space ": " leading space",
	}
}

// longUnicodeTags has a key that S3 and versitygw accept in a
// PutObjectTagging body (20 characters, 60 bytes) but that versitygw refuses
// in the x-amz-tagging header, whose keys it measures after URL encoding
// (180 bytes > 128): Put must write it by PutObjectTagging.
func longUnicodeTags() map[string]string {
	return map[string]string{strings.Repeat("日", 20): "値", "plain": "v"}
}

func objectTags(t *testing.T, api *awss3.Client, bucket, key string) map[string]string {
	t.Helper()
	out, err := api.GetObjectTagging(context.Background(), &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObjectTagging %s: %v", key, err)
	}
	if len(out.TagSet) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, tg := range out.TagSet {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func putTagging(t *testing.T, api *awss3.Client, bucket, key string, tags map[string]string) {
	t.Helper()
	var set []types.Tag
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := api.PutObjectTagging(context.Background(), &awss3.PutObjectTaggingInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Tagging: &types.Tagging{TagSet: set},
	}); err != nil {
		t.Fatalf("PutObjectTagging %s: %v", key, err)
	}
}

// Get reads an object's tags with one GetObjectTagging, made only for an
// object that has tags (GetObject's x-amz-tagging-count), never for one
// without, and never for an archive read through Open.
func TestGetReadsTags(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	api := srv.Client(t)

	var taggingReqs atomic.Int64
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{Observe: func(r *http.Request) {
		if r.URL.Query().Has("tagging") {
			taggingReqs.Add(1)
		}
	}})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	c := newClient(t, cfg, s3conn.Options{})

	put := func(key string, tagging *string) {
		if _, err := api.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader("body of " + key), Tagging: tagging}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	put("plain", nil)
	put("tagged", nil)
	putTagging(t, api, bucket, "tagged", oddTags())
	put("header-tagged", aws.String("k=v%20w&x%3Dy=%C3%A9"))
	put("long-unicode", nil)
	putTagging(t, api, bucket, "long-unicode", longUnicodeTags())
	put("untagged-again", nil)
	putTagging(t, api, bucket, "untagged-again", map[string]string{"gone": "soon"})
	if _, err := api.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("untagged-again")}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutFile(ctx, "archive.tar.gz", []byte("archive bytes")); err != nil {
		t.Fatal(err)
	}
	putTagging(t, api, bucket, "archive.tar.gz", map[string]string{"archive": "tagged"})

	for _, tc := range []struct {
		key  string
		want map[string]string
	}{
		{"plain", nil},
		{"tagged", oddTags()},
		{"header-tagged", map[string]string{"k": "v w", "x=y": "é"}},
		{"long-unicode", longUnicodeTags()},
		{"untagged-again", nil},
	} {
		before := taggingReqs.Load()
		body, obj, err := c.Get(ctx, tc.key)
		if err != nil {
			t.Fatalf("Get %s: %v", tc.key, err)
		}
		if got := string(readAll(t, body)); got != "body of "+tc.key {
			t.Fatalf("Get %s body = %q", tc.key, got)
		}
		if !maps.Equal(obj.Tags, tc.want) || (tc.want == nil) != (obj.Tags == nil) {
			t.Errorf("Get %s: tags %q, want %q", tc.key, obj.Tags, tc.want)
		}
		wantReqs := int64(1)
		if tc.want == nil {
			wantReqs = 0
		}
		if n := taggingReqs.Load() - before; n != wantReqs {
			t.Errorf("Get %s made %d tagging requests, want %d", tc.key, n, wantReqs)
		}
	}

	before := taggingReqs.Load()
	rc, err := c.Open(ctx, "archive.tar.gz", 0)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, rc)
	if n := taggingReqs.Load() - before; n != 0 {
		t.Errorf("Open made %d tagging requests", n)
	}

	// Listing stays tag-less.
	before = taggingReqs.Load()
	if err := c.List(ctx, "", func(page []object.Object) error {
		for _, o := range page {
			if o.Tags != nil {
				t.Errorf("listed %s with tags %v", o.Key, o.Tags)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := taggingReqs.Load() - before; n != 0 {
		t.Errorf("List made %d tagging requests", n)
	}
}

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A tagged object whose tags cannot be read fails Get with the reason,
// after the client's retries; one deleted between GetObject and
// GetObjectTagging is ErrNotExist, as a missing object is (the backup skips
// it).
func TestGetTagFailures(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	api := srv.Client(t)
	for _, k := range []string{"deleted", "failing"} {
		if _, err := api.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader("x"), Tagging: aws.String("a=b")}); err != nil {
			t.Fatal(err)
		}
	}
	var taggingReqs atomic.Int64
	transport := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if !r.URL.Query().Has("tagging") {
			return transport.RoundTrip(r)
		}
		taggingReqs.Add(1)
		if strings.HasSuffix(r.URL.Path, "/deleted") {
			if _, err := api.DeleteObject(r.Context(), &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("deleted")}); err != nil {
				return nil, err
			}
			return transport.RoundTrip(r)
		}
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>broken</Message></Error>`
		return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
	})}
	c := newClient(t, srv.Config(bucket), s3conn.Options{HTTPClient: hc, MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond})

	if _, _, err := c.Get(ctx, "deleted"); !errors.Is(err, connector.ErrNotExist) || !strings.Contains(err.Error(), "tags") {
		t.Errorf("Get of an object deleted before its tags were read: %v", err)
	}
	taggingReqs.Store(0)
	_, _, err := c.Get(ctx, "failing")
	if err == nil {
		t.Fatal("Get succeeded though its tags could not be read")
	}
	if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Unavailable || !strings.Contains(err.Error(), `read the tags of object "failing"`) {
		t.Errorf("Get with failing tagging requests: %v", err)
	}
	if n := taggingReqs.Load(); n != 3 {
		t.Errorf("%d tagging requests, want 3 (the client's attempts)", n)
	}
}

// Put writes the tags with the object, in the header of PutObject or of
// CreateMultipartUpload, or by PutObjectTagging when the header cannot
// carry them; GetObjectTagging reads them back, and Get too.
func TestPutWritesTags(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	api := srv.Client(t)
	c := newClient(t, srv.Config(bucket), s3conn.Options{MinPartSize: realMinPart})
	tgt := c.Target("", "r/")

	for _, size := range []int{10, 2*realMinPart + 7} {
		for name, tags := range map[string]map[string]string{
			"odd":          oddTags(),
			"long-unicode": longUnicodeTags(),
			"none":         nil,
		} {
			key := fmt.Sprintf("%s-%d", name, size)
			data := randBytes(size, uint64(size))
			obj := object.Object{Key: key, Size: int64(size), Metadata: object.Metadata{
				ContentType: "application/x-test", UserMetadata: map[string]string{"owner": "ops"}, Tags: tags,
			}}
			if err := tgt.Put(ctx, obj, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
				t.Fatalf("Put %s: %v", key, err)
			}
			if got := objectTags(t, api, bucket, "r/"+key); !maps.Equal(got, tags) {
				t.Errorf("%s: GetObjectTagging = %q, want %q", key, got, tags)
			}
			body, got, err := c.Get(ctx, "r/"+key)
			if err != nil {
				t.Fatalf("Get %s: %v", key, err)
			}
			if !bytes.Equal(readAll(t, body), data) {
				t.Fatalf("%s: bytes differ", key)
			}
			if !maps.Equal(got.Tags, tags) || got.UserMetadata["owner"] != "ops" || got.ContentType != obj.ContentType {
				t.Errorf("%s: Get = %+v", key, got.Metadata)
			}
		}
	}

	// Writing an untagged object over a tagged one leaves no tags.
	data := []byte("over")
	if err := tgt.Put(ctx, object.Object{Key: "odd-10", Size: 4}, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, api, bucket, "r/odd-10"); got != nil {
		t.Errorf("tags after an untagged overwrite: %q", got)
	}
}

// Tags the server refuses fail Put with a sentence and leave no object:
// in the header, nothing is written; written afterwards by PutObjectTagging,
// the object is deleted again so that a second restore does not skip it.
func TestPutWithRefusedTagsLeavesNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	c := newClient(t, srv.Config(bucket), s3conn.Options{MinPartSize: realMinPart})
	tgt := c.Target("", "")
	refused := map[string]string{"amp": "a&b"}                                    // '&' is not a tag character
	refusedLater := map[string]string{strings.Repeat("日", 20): "x", "amp": "a&b"} // too long for the header
	for _, size := range []int{10, 2*realMinPart + 7} {
		for name, tags := range map[string]map[string]string{"header": refused, "later": refusedLater} {
			key := fmt.Sprintf("%s-%d", name, size)
			data := randBytes(size, 3)
			err := tgt.Put(ctx, object.Object{Key: key, Size: int64(size), Metadata: object.Metadata{Tags: tags}}, bytes.NewReader(data), sha256.Sum256(data))
			if err == nil {
				t.Fatalf("%s: Put with a refused tag succeeded", key)
			}
			if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Invalid || !strings.Contains(err.Error(), "tag") {
				t.Errorf("%s: Put = %v, want an Invalid sentence about the tags", key, err)
			}
			if objectExists(t, srv, bucket, key) {
				t.Errorf("%s: object left behind after its tags were refused", key)
			}
			if n := incompleteUploads(t, srv, bucket); n != 0 {
				t.Errorf("%s: %d multipart uploads left", key, n)
			}
		}
	}
}

// Changing only an object's tags changes neither its ETag nor its
// Last-Modified, on S3 and on versitygw: an incremental backup that compares
// those two cannot see a change of tags.
func TestPutObjectTaggingKeepsETagAndLastModified(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	api := srv.Client(t)
	if _, err := api.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"),
		Body: strings.NewReader("x"), Tagging: aws.String("a=1")}); err != nil {
		t.Fatal(err)
	}
	head := func() (string, time.Time) {
		out, err := api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ETag), aws.ToTime(out.LastModified)
	}
	etag, lm := head()
	time.Sleep(1100 * time.Millisecond) // Last-Modified has whole seconds
	putTagging(t, api, bucket, "k", map[string]string{"a": "2", "b": "3"})
	etag2, lm2 := head()
	if etag2 != etag || !lm2.Equal(lm) {
		t.Errorf("PutObjectTagging changed the object: etag %s -> %s, last-modified %v -> %v", etag, etag2, lm, lm2)
	}
	c := newClient(t, srv.Config(bucket), s3conn.Options{})
	var listed object.Object
	if err := c.List(ctx, "", func(page []object.Object) error { listed = page[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if !listed.LastModified.Equal(lm) {
		t.Errorf("listing's last-modified %v, want %v", listed.LastModified, lm)
	}
}
