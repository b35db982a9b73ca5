package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/object"
	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

const mib = 1 << 20

// versitygw refuses parts under 5 MiB, as real S3 does.
const realMinPart = 5 * mib

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newClient(t *testing.T, cfg s3conn.Config, opts s3conn.Options) *s3conn.Client {
	t.Helper()
	c, err := s3conn.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func incompleteUploads(t *testing.T, srv *s3test.Server, bucket string) int {
	t.Helper()
	out, err := srv.Client(t).ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

func objectExists(t *testing.T, srv *s3test.Server, bucket, key string) bool {
	t.Helper()
	_, err := srv.Client(t).HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

// writeArchive writes data through up as the engine does: parts of exactly
// PartSize(n), then the tail via Complete. It returns the number of parts
// including the final one.
func writeArchive(t *testing.T, up connector.Upload, data []byte, firstPart int) int {
	t.Helper()
	ctx := context.Background()
	n := firstPart
	for {
		size := up.PartSize(n)
		if int64(len(data)) <= size {
			break
		}
		if err := up.WritePart(ctx, n, data[:size]); err != nil {
			t.Fatalf("WritePart %d: %v", n, err)
		}
		data = data[size:]
		n++
	}
	got, err := up.Complete(ctx, data)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	_ = got
	return n
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := s3conn.Config{AccessKey: "AK", SecretKey: "SK", Region: "us-east-1", Bucket: "my-bucket.1"}
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("valid config refused: %v", errs)
	}
	cases := []struct {
		name  string
		edit  func(*s3conn.Config)
		field string
	}{
		{"no access key", func(c *s3conn.Config) { c.AccessKey = "" }, "access_key"},
		{"no secret", func(c *s3conn.Config) { c.SecretKey = "" }, "secret_key"},
		{"no region", func(c *s3conn.Config) { c.Region = "" }, "region"},
		{"bad region", func(c *s3conn.Config) { c.Region = "US East" }, "region"},
		{"no bucket", func(c *s3conn.Config) { c.Bucket = "" }, "bucket"},
		{"short bucket", func(c *s3conn.Config) { c.Bucket = "ab" }, "bucket"},
		{"upper bucket", func(c *s3conn.Config) { c.Bucket = "MyBucket" }, "bucket"},
		{"ip bucket", func(c *s3conn.Config) { c.Bucket = "192.168.1.1" }, "bucket"},
		{"dots bucket", func(c *s3conn.Config) { c.Bucket = "a..b" }, "bucket"},
		{"dash end bucket", func(c *s3conn.Config) { c.Bucket = "abc-" }, "bucket"},
		{"endpoint scheme", func(c *s3conn.Config) { c.Endpoint = "ftp://x" }, "endpoint"},
		{"endpoint no host", func(c *s3conn.Config) { c.Endpoint = "http://" }, "endpoint"},
		{"endpoint garbage", func(c *s3conn.Config) { c.Endpoint = "s3.example.com" }, "endpoint"},
	}
	for _, tc := range cases {
		cfg := good
		tc.edit(&cfg)
		errs := cfg.Validate()
		if errs[tc.field] == "" {
			t.Errorf("%s: want a reason for %s, got %v", tc.name, tc.field, errs)
		}
	}
	ambient := s3conn.Config{Region: "eu-west-1", Bucket: "bucket", UseAmbientCredentials: true}
	if errs := ambient.Validate(); len(errs) != 0 {
		t.Errorf("ambient config without keys refused: %v", errs)
	}
	if got := good.SecretFields(); !slices.Equal(got, []string{"secret_key"}) {
		t.Errorf("SecretFields = %v", got)
	}
	b, _ := json.Marshal(s3conn.Config{Bucket: "b"})
	if strings.Contains(string(b), "prefix") || strings.Contains(string(b), "endpoint") || !strings.Contains(string(b), `"secret_key"`) {
		t.Errorf("JSON shape: %s", b)
	}
	if _, err := s3conn.New(context.Background(), s3conn.Config{}, s3conn.Options{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()

	res, err := newClient(t, srv.Config(bucket), s3conn.Options{}).Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !strings.Contains(res.Message, bucket) || res.FreeBytes != -1 {
		t.Errorf("result = %+v", res)
	}

	wrongSecret := srv.Config(bucket)
	wrongSecret.SecretKey = "not-the-right-secret-0123456789"
	wrongKey := srv.Config(bucket)
	wrongKey.AccessKey = "NOSUCHKEY"
	missing := srv.Config("no-such-bucket-here")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	wrongRegion := srv.Config(bucket)
	wrongRegion.Region = "eu-west-3"
	unreachable := srv.Config(bucket)
	unreachable.Endpoint = "http://" + closedAddr

	for _, tc := range []struct {
		name string
		cfg  s3conn.Config
		want string
		code apperr.Code
	}{
		{"wrong secret", wrongSecret, "the access key or secret key is wrong", apperr.Invalid},
		{"wrong access key", wrongKey, "the access key or secret key is wrong", apperr.Invalid},
		{"missing bucket", missing, `Bucket "no-such-bucket-here" does not exist`, apperr.Invalid},
		{"unreachable", unreachable, "could not be reached", apperr.Unavailable},
		{"wrong region", wrongRegion, "is in region us-east-1, not eu-west-3", apperr.Invalid},
	} {
		_, err := newClient(t, tc.cfg, s3conn.Options{}).Check(ctx)
		if err == nil {
			t.Errorf("%s: Check succeeded", tc.name)
			continue
		}
		ae, ok := apperr.As(err)
		if !ok {
			t.Errorf("%s: not an apperr: %v", tc.name, err)
			continue
		}
		if !strings.Contains(ae.Message, tc.want) || ae.Code != tc.code {
			t.Errorf("%s: got %q (%s), want it to contain %q (%s)", tc.name, ae.Message, ae.Code, tc.want, tc.code)
		}
		if strings.Contains(err.Error(), tc.cfg.SecretKey) || strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("%s: error echoes a secret: %v", tc.name, err)
		}
	}
}

func TestListPagesInOrder(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	api := srv.Client(t)
	ctx := context.Background()
	const n = 1050
	keys := make([]string, 0, n)
	for i := range n {
		keys = append(keys, fmt.Sprintf("p/%04d-%s", i*11%n, strings.Repeat("x", i%3)))
	}
	outside := []string{"o/1", "q/2", "pa"}
	all := append(slices.Clone(keys), outside...)
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for k := range work {
				_, err := api.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for _, k := range all {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("PutObject: %v", err)
	}
	slices.Sort(keys)

	cfg := srv.Config(bucket)
	cfg.Prefix = "p/"
	c := newClient(t, cfg, s3conn.Options{PageSize: 100})
	var got []string
	pages := 0
	err := c.List(ctx, "", func(page []object.Object) error {
		pages++
		for _, o := range page {
			if o.Size != int64(len(o.Key)) || o.ETag == "" || o.LastModified.IsZero() {
				t.Errorf("listing entry %+v", o)
			}
			got = append(got, o.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("listed %d keys, want %d in order", len(got), len(keys))
	}
	if pages != 11 {
		t.Errorf("pages = %d, want 11 with page size 100", pages)
	}

	got = got[:0]
	if err := c.List(ctx, keys[499], func(page []object.Object) error {
		for _, o := range page {
			got = append(got, o.Key)
		}
		return nil
	}); err != nil {
		t.Fatalf("List after: %v", err)
	}
	if !slices.Equal(got, keys[500:]) {
		t.Fatalf("listing after %q: %d keys, first %q", keys[499], len(got), got[0])
	}

	stop := errors.New("stop")
	if err := c.List(ctx, "", func([]object.Object) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

func TestGetAndPutKeepMetadata(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	src := srv.NewBucket(t)
	dst := srv.NewBucket(t)
	ctx := context.Background()
	c := newClient(t, srv.Config(src), s3conn.Options{})

	data := []byte("hello, metadata")
	obj := object.Object{Key: "docs/readme.txt", Size: int64(len(data)), Metadata: object.Metadata{
		ContentType:        "text/plain; charset=utf-8",
		CacheControl:       "max-age=60",
		ContentEncoding:    "identity",
		ContentDisposition: `attachment; filename="readme.txt"`,
		ContentLanguage:    "fr",
		Expires:            "Wed, 21 Oct 2026 07:28:00 GMT",
		UserMetadata:       map[string]string{"owner": "ops", "x-note": "two words"},
		Tags:               map[string]string{"team": "data ops", "a=b": "c=d", "été": "日本"},
	}}
	if err := c.Target("", "").Put(ctx, obj, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	body, got, err := c.Get(ctx, obj.Key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if b := readAll(t, body); !bytes.Equal(b, data) {
		t.Fatalf("body = %q", b)
	}
	if got.ETag == "" || got.LastModified.IsZero() {
		t.Errorf("missing etag/last-modified: %+v", got)
	}
	got.ETag, got.LastModified = "", time.Time{}
	if fmt.Sprint(got) != fmt.Sprint(obj) {
		t.Fatalf("metadata round trip:\n got %+v\nwant %+v", got, obj)
	}

	// Restore into another bucket under a prefix with a second target.
	tgt := c.Target(dst, "restored/")
	if ok, err := tgt.Exists(ctx, obj.Key); err != nil || ok {
		t.Fatalf("Exists before Put = %v, %v", ok, err)
	}
	if err := tgt.Put(ctx, got, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
		t.Fatalf("Put restored: %v", err)
	}
	if ok, err := tgt.Exists(ctx, obj.Key); err != nil || !ok {
		t.Fatalf("Exists after Put = %v, %v", ok, err)
	}
	dc := newClient(t, srv.Config(dst), s3conn.Options{})
	body, again, err := dc.Get(ctx, "restored/"+obj.Key)
	if err != nil {
		t.Fatalf("Get restored: %v", err)
	}
	readAll(t, body)
	again.Key, again.ETag, again.LastModified = obj.Key, "", time.Time{}
	if fmt.Sprint(again) != fmt.Sprint(obj) {
		t.Fatalf("restored metadata:\n got %+v\nwant %+v", again, obj)
	}

	if _, _, err := c.Get(ctx, "nope"); !errors.Is(err, connector.ErrNotExist) {
		t.Errorf("Get of a missing key: %v", err)
	}
}

func TestPutWithWrongSHALeavesNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	c := newClient(t, srv.Config(bucket), s3conn.Options{MinPartSize: realMinPart})
	tgt := c.Target("", "")
	for _, size := range []int{1000, 2*realMinPart + 12345} {
		data := randBytes(size, uint64(size))
		wrong := sha256.Sum256(append(slices.Clone(data), 1))
		key := fmt.Sprintf("obj-%d", size)
		err := tgt.Put(ctx, object.Object{Key: key, Size: int64(size)}, bytes.NewReader(data), wrong)
		if !errors.Is(err, connector.ErrChecksumMismatch) || !strings.Contains(err.Error(), key) {
			t.Fatalf("size %d: Put with a wrong sha = %v", size, err)
		}
		if objectExists(t, srv, bucket, key) {
			t.Fatalf("size %d: object visible after a checksum mismatch", size)
		}
		if n := incompleteUploads(t, srv, bucket); n != 0 {
			t.Fatalf("size %d: %d multipart uploads left", size, n)
		}
		// The right sha stores the exact bytes with metadata.
		obj := object.Object{Key: key, Size: int64(size), Metadata: object.Metadata{ContentType: "application/x-test", UserMetadata: map[string]string{"k": "v"}}}
		if err := tgt.Put(ctx, obj, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
			t.Fatalf("size %d: Put: %v", size, err)
		}
		body, got, err := c.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, body); !bytes.Equal(b, data) {
			t.Fatalf("size %d: stored bytes differ", size)
		}
		if got.ContentType != obj.ContentType || got.UserMetadata["k"] != "v" || got.Size != int64(size) {
			t.Fatalf("size %d: metadata %+v", size, got)
		}
	}
}

func TestUploadResumeInNewProcess(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	cfg := srv.Config(bucket)
	cfg.Prefix = "backups"
	opts := s3conn.Options{MinPartSize: realMinPart}
	data := randBytes(3*realMinPart+4321, 42)
	name := "conn/20260101T000000Z-7.tar.gz"

	first := newClient(t, cfg, opts)
	up, err := first.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if err := up.WritePart(ctx, 1, data[:realMinPart]); err != nil {
		t.Fatalf("WritePart 1: %v", err)
	}
	saved := up.State()
	var st struct {
		Key      string `json:"key"`
		UploadID string `json:"upload_id"`
		Parts    []struct {
			N    int    `json:"n"`
			ETag string `json:"etag"`
			Size int64  `json:"size"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(saved, &st); err != nil || st.Key != "backups/"+name || st.UploadID == "" || len(st.Parts) != 1 || st.Parts[0].N != 1 || st.Parts[0].Size != realMinPart || st.Parts[0].ETag == "" {
		t.Fatalf("state %s (%v)", saved, err)
	}
	// Part 2 is written but the process dies before its checkpoint.
	if err := up.WritePart(ctx, 2, bytes.Repeat([]byte{0xEE}, realMinPart)); err != nil {
		t.Fatalf("WritePart 2: %v", err)
	}
	if err := up.WritePart(ctx, 4, data[:realMinPart]); err == nil {
		t.Fatal("WritePart accepted a part out of order")
	}
	if err := up.WritePart(ctx, 3, data[:10]); err == nil {
		t.Fatal("WritePart accepted a short middle part")
	}

	second := newClient(t, cfg, opts)
	resumed, err := second.ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatalf("ResumeUpload: %v", err)
	}
	parts := writeArchive(t, resumed, data[realMinPart:], 2)
	if parts != 4 {
		t.Errorf("parts = %d, want 4", parts)
	}
	if size, err := second.Size(ctx, name); err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v; want %d", size, err, len(data))
	}
	rc, err := second.Open(ctx, name, 0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, data) {
		t.Fatalf("archive bytes differ (got %d bytes)", len(got))
	}
	rc, err = second.Open(ctx, name, realMinPart+17)
	if err != nil {
		t.Fatalf("Open at offset: %v", err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, data[realMinPart+17:]) {
		t.Fatal("bytes from offset differ")
	}
	rc, err = second.Open(ctx, name, int64(len(data)))
	if err != nil {
		t.Fatalf("Open at the end: %v", err)
	}
	if got := readAll(t, rc); len(got) != 0 {
		t.Fatalf("read %d bytes past the end", len(got))
	}
	if n := incompleteUploads(t, srv, bucket); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}
	if loc := second.Location(name); loc != "s3://"+bucket+"/backups/"+name {
		t.Errorf("Location = %s", loc)
	}

	sidecar := []byte(fmt.Sprintf("%x  %s\n", sha256.Sum256(data), "20260101T000000Z-7.tar.gz"))
	if err := second.PutFile(ctx, name+".sha256", sidecar); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	rc, err = second.Open(ctx, name+".sha256", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, sidecar) {
		t.Fatalf("sidecar = %q", got)
	}
	for _, n := range []string{name, name + ".sha256"} {
		if err := second.Delete(ctx, n); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := second.Size(ctx, n); !errors.Is(err, connector.ErrNotExist) {
			t.Fatalf("Size after Delete: %v", err)
		}
	}
	if err := second.Delete(ctx, name); err != nil {
		t.Errorf("Delete of an absent archive: %v", err)
	}
	if _, err := second.Open(ctx, name, 0); !errors.Is(err, connector.ErrNotExist) {
		t.Errorf("Open of an absent archive: %v", err)
	}
	for _, bad := range []string{"../x", "/abs", "a/./b", "", "a/../../b"} {
		if _, err := second.NewUpload(ctx, bad); err == nil {
			t.Errorf("NewUpload(%q) accepted", bad)
		}
	}
}

func TestAbortAndEmptyArchive(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	c := newClient(t, srv.Config(bucket), s3conn.Options{MinPartSize: realMinPart})

	up, err := c.NewUpload(ctx, "a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, randBytes(realMinPart, 1)); err != nil {
		t.Fatal(err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := incompleteUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d uploads left after Abort", n)
	}
	if objectExists(t, srv, bucket, "a.tar.gz") {
		t.Fatal("aborted archive is visible")
	}
	if _, err := c.ResumeUpload(ctx, up.State()); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("ResumeUpload of an aborted upload: %v", err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Errorf("second Abort: %v", err)
	}

	empty, err := c.NewUpload(ctx, "empty.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	size, err := empty.Complete(ctx, nil)
	if err != nil || size != 0 {
		t.Fatalf("Complete empty = %d, %v", size, err)
	}
	if got, err := c.Size(ctx, "empty.tar.gz"); err != nil || got != 0 {
		t.Fatalf("Size of empty archive = %d, %v", got, err)
	}
	if n := incompleteUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d uploads left after an empty archive", n)
	}

	// Parts but an empty tail: just complete.
	exact, err := c.NewUpload(ctx, "exact.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(realMinPart, 9)
	if err := exact.WritePart(ctx, 1, data); err != nil {
		t.Fatal(err)
	}
	if size, err := exact.Complete(ctx, nil); err != nil || size != realMinPart {
		t.Fatalf("Complete with empty tail = %d, %v", size, err)
	}
	rc, err := c.Open(ctx, "exact.tar.gz", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, rc), data) {
		t.Fatal("bytes differ")
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	cfg := srv.Config(bucket)
	cfg.Prefix = "mine"
	c := newClient(t, cfg, s3conn.Options{})
	ids := map[string]string{}
	var keep []json.RawMessage
	for _, name := range []string{"keep.tar.gz", "stale1.tar.gz", "stale2.tar.gz"} {
		up, err := c.NewUpload(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			UploadID string `json:"upload_id"`
		}
		_ = json.Unmarshal(up.State(), &st)
		ids[name] = st.UploadID
		if name == "keep.tar.gz" {
			keep = append(keep, up.State())
		}
	}
	// Another prefix's upload is not ours to sweep.
	foreign, err := srv.Client(t).CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mine2/x")})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Sweep(ctx, time.Now().Add(-time.Hour), keep); err != nil || n != 0 {
		t.Fatalf("Sweep of recent uploads = %d, %v", n, err)
	}
	n, err := c.Sweep(ctx, time.Now().Add(time.Minute), keep)
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	out, err := srv.Client(t).ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range out.Uploads {
		left = append(left, aws.ToString(u.UploadId))
	}
	slices.Sort(left)
	want := []string{ids["keep.tar.gz"], aws.ToString(foreign.UploadId)}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("uploads left %v, want %v", left, want)
	}
}

func TestPartSizeKeepsUnderMaxParts(t *testing.T) {
	t.Parallel()
	srv := s3test.StartFake(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	const minPart = 1024
	c := newClient(t, srv.Config(bucket), s3conn.Options{MinPartSize: minPart, MaxParts: 20})
	up, err := c.NewUpload(ctx, "big.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for n := 1; n <= 20; n++ {
		want := int64(minPart) << ((n - 1) / 2)
		if got := up.PartSize(n); got != want {
			t.Fatalf("PartSize(%d) = %d, want %d", n, got, want)
		}
		total += up.PartSize(n)
	}
	if total < 1000*minPart {
		t.Fatalf("20 parts hold only %d bytes", total)
	}
	// 300 KiB would need 300 parts of the first size.
	data := randBytes(300*minPart+5, 3)
	parts := writeArchive(t, up, data, 1)
	if parts > 20 {
		t.Fatalf("needed %d parts, limit 20", parts)
	}
	rc, err := c.Open(ctx, "big.tar.gz", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, rc), data) {
		t.Fatal("archive bytes differ")
	}
	up2, err := c.NewUpload(ctx, "limit.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up2.WritePart(ctx, 1, make([]byte, minPart)); err != nil {
		t.Fatal(err)
	}
	defer up2.Abort(ctx)
	for n := 2; n <= 20; n++ {
		if err := up2.WritePart(ctx, n, make([]byte, up2.PartSize(n))); err != nil {
			t.Fatal(err)
		}
	}
	if err := up2.WritePart(ctx, 21, make([]byte, up2.PartSize(21))); err == nil {
		t.Fatal("part 21 accepted with MaxParts 20")
	}
	if _, err := up2.Complete(ctx, []byte("x")); err == nil {
		t.Fatal("a 21st final part accepted with MaxParts 20")
	}
}

func TestExoticKeysOnFake(t *testing.T) {
	t.Parallel()
	srv := s3test.StartFake(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	c := newClient(t, srv.Config(bucket), s3conn.Options{})
	keys := []string{"a/../b", "./x", "/lead", "a//b", ".", "..", "dir/", "dir/file", "sp ace+plus%", "ünï/cødé"}
	tgt := c.Target("", "")
	for _, k := range keys {
		data := []byte("content of " + k)
		if err := tgt.Put(ctx, object.Object{Key: k, Size: int64(len(data))}, bytes.NewReader(data), sha256.Sum256(data)); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
	}
	var listed []string
	if err := c.List(ctx, "", func(page []object.Object) error {
		for _, o := range page {
			listed = append(listed, o.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %q\nwant %q", listed, want)
	}
	for _, k := range keys {
		body, obj, err := c.Get(ctx, k)
		if err != nil {
			t.Fatalf("Get %q: %v", k, err)
		}
		if got := string(readAll(t, body)); got != "content of "+k || obj.Key != k {
			t.Fatalf("Get %q = %q", k, got)
		}
		if ok, err := tgt.Exists(ctx, k); err != nil || !ok {
			t.Fatalf("Exists %q = %v, %v", k, ok, err)
		}
	}
}

func TestRetriesThroughFaultProxy(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{FailRate: 0.05, Seed: 1})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	c := newClient(t, cfg, s3conn.Options{MinPartSize: realMinPart, MaxBackoff: 50 * time.Millisecond, MaxAttempts: 5})

	data := randBytes(3*realMinPart+999, 5)
	up, err := c.NewUpload(ctx, "flaky.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	writeArchive(t, up, data, 1)
	tgt := c.Target("", "objs/")
	want := map[string][]byte{}
	for i := range 40 {
		k := fmt.Sprintf("o%02d", i)
		want[k] = randBytes(1000+i*97, uint64(i))
		if err := tgt.Put(ctx, object.Object{Key: k, Metadata: object.Metadata{Tags: tagsOf(i)}}, bytes.NewReader(want[k]), sha256.Sum256(want[k])); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
	for range 3 {
		rc, err := c.Open(ctx, "flaky.tar.gz", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readAll(t, rc), data) {
			t.Fatal("archive bytes differ through the proxy")
		}
	}
	seen := 0
	if err := c.List(ctx, "", func(page []object.Object) error {
		for _, o := range page {
			if !strings.HasPrefix(o.Key, "objs/") {
				continue
			}
			seen++
			body, obj, err := c.Get(ctx, o.Key)
			if err != nil {
				return err
			}
			if !bytes.Equal(readAll(t, body), want[strings.TrimPrefix(o.Key, "objs/")]) {
				t.Errorf("object %s differs", o.Key)
			}
			var i int
			fmt.Sscanf(o.Key, "objs/o%d", &i)
			if !maps.Equal(obj.Tags, tagsOf(i)) {
				t.Errorf("object %s: tags %v, want %v", o.Key, obj.Tags, tagsOf(i))
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if seen != len(want) {
		t.Fatalf("saw %d objects, want %d", seen, len(want))
	}
	if proxy.Faults() == 0 {
		t.Fatalf("no faults injected in %d requests", proxy.Requests())
	}
	t.Logf("%d requests, %d faults (503 %d, reset %d, cut %d)", proxy.Requests(), proxy.Faults(),
		proxy.FaultsOf(faultproxy.Fault503), proxy.FaultsOf(faultproxy.FaultReset), proxy.FaultsOf(faultproxy.FaultCutBody))
}

// tagsOf gives every third object of TestRetriesThroughFaultProxy tags.
func tagsOf(i int) map[string]string {
	if i%3 != 0 {
		return nil
	}
	return map[string]string{"n": fmt.Sprint(i), "kind": "every third"}
}

func TestGetResumesAfterCutBodies(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{FailRate: 0.4, Seed: 7, Kinds: []string{faultproxy.FaultCutBody, faultproxy.FaultReset}})
	proxy.SetEnabled(false)
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	c := newClient(t, cfg, s3conn.Options{MaxBackoff: 20 * time.Millisecond, MaxAttempts: 10})
	data := randBytes(2*mib+3, 11)
	if err := c.PutFile(ctx, "blob", data); err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(true)
	for range 8 {
		body, obj, err := c.Get(ctx, "blob")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if obj.Size != int64(len(data)) {
			t.Fatalf("size %d", obj.Size)
		}
		if !bytes.Equal(readAll(t, body), data) {
			t.Fatal("bytes differ after resumed reads")
		}
	}
	if proxy.FaultsOf(faultproxy.FaultCutBody) == 0 {
		t.Fatal("no body was cut")
	}

	// A body whose object changes between a cut and the re-request fails
	// clearly instead of mixing two versions.
	cutAll := faultproxy.New(t, srv.Endpoint, faultproxy.Options{FailRate: 1, Kinds: []string{faultproxy.FaultCutBody}})
	cfg.Endpoint = cutAll.URL
	c2 := newClient(t, cfg, s3conn.Options{MaxBackoff: 20 * time.Millisecond})
	body, _, err := c2.Get(ctx, "blob")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	cutAll.SetEnabled(false)
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(body, buf); err != nil {
		t.Fatal(err)
	}
	if err := newClient(t, srv.Config(bucket), s3conn.Options{}).PutFile(ctx, "blob", randBytes(2*mib+3, 12)); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(body)
	if err == nil || !strings.Contains(err.Error(), "changed while it was being read") {
		t.Fatalf("reading a changed object: %v", err)
	}
}

// The connection's own keys are the only ones used: the environment's AWS
// credentials are ignored unless the connection asks for them. Not parallel:
// it sets environment variables.
func TestAmbientCredentialsOnlyWhenAsked(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	own := srv.Config(bucket)
	own.AccessKey, own.SecretKey = "OWNKEY", "own-secret-that-is-wrong"
	if _, err := newClient(t, own, s3conn.Options{}).Check(ctx); err == nil || !strings.Contains(err.Error(), "access key or secret key is wrong") {
		t.Fatalf("Check with wrong own keys and right env keys = %v; the env keys must not be used", err)
	}
	ambient := srv.Config(bucket)
	ambient.AccessKey, ambient.SecretKey, ambient.UseAmbientCredentials = "", "", true
	if _, err := newClient(t, ambient, s3conn.Options{}).Check(ctx); err != nil {
		t.Fatalf("Check with ambient credentials: %v", err)
	}
}
