//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// corpus is a set of objects put into a bucket.
type corpus map[string][]byte

func fill(t *testing.T, srv *s3test.Server, n, size int) (string, corpus) {
	t.Helper()
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	c := corpus{}
	for i := range n {
		b := make([]byte, size+i%97)
		_, _ = rand.Read(b)
		key := fmt.Sprintf("data/%05d.bin", i)
		if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b),
			ContentType: aws.String("application/x-test"), Metadata: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
		c[key] = b
	}
	return bucket, c
}

// identical checks that bucket holds exactly corpus under prefix.
func identical(t *testing.T, srv *s3test.Server, bucket, prefix string, want corpus) {
	t.Helper()
	cl := srv.Client(t)
	got := 0
	p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(*o.Key, prefix)
			data, ok := want[key]
			if !ok {
				t.Fatalf("unexpected object %q in %s", *o.Key, bucket)
			}
			out, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(b, data) {
				t.Fatalf("object %q differs after restore", key)
			}
			got++
		}
	}
	if got != len(want) {
		t.Fatalf("%d objects restored, want %d", got, len(want))
	}
}

func incomplete(t *testing.T, srv *s3test.Server, bucket string) int {
	out, err := srv.Client(t).ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// getCounter is a proxy in front of the S3 server that counts the bytes of
// object GETs per key, to measure what a resumed backup read again.
type getCounter struct {
	URL   string
	mu    sync.Mutex
	reads map[string]int
	sizes map[string]int64
}

func newGetCounter(t *testing.T, target string) *getCounter {
	u, _ := url.Parse(target)
	g := &getCounter{reads: map[string]int{}, sizes: map[string]int64{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			g.mu.Lock()
			g.reads[r.URL.Path]++
			g.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	ln := listenLocal(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	g.URL = "http://" + ln.Addr().String()
	return g
}

// reread reports how many objects, and how many of their bytes, were fetched more than once.
func (g *getCounter) reread(c corpus, bucket string) (objects int, bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for path, n := range g.reads {
		if n > 1 {
			objects += n - 1
			key := strings.TrimPrefix(path, "/"+bucket+"/")
			bytes += int64(n-1) * int64(len(c[key]))
		}
	}
	return
}

func s3creds(srv *s3test.Server, endpoint, bucket string) map[string]any {
	return map[string]any{"access_key": srv.AccessKey, "secret_key": srv.SecretKey, "region": srv.Region,
		"bucket": bucket, "endpoint": endpoint, "force_path_style": true}
}

// TestAPIBackupRestore drives a whole backup and restore through the HTTP
// API of a real `coffer serve`, the log API and the SSE stream included.
func TestAPIBackupRestore(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	n := newNode(t)
	p := n.start(t, "serve")
	c := p.login(t)
	bucket, data := fill(t, srv, 60, 30_000)
	src := c.createConn("prod-bucket", "s3", s3creds(srv, srv.Endpoint, bucket))
	dst := c.createConn("archives", "local", map[string]any{"path": n.roots + "/main"})
	var check struct {
		OK bool `json:"ok"`
	}
	if code := c.do("POST", fmt.Sprintf("/api/v1/connections/%d/test", src), nil, &check); code != 200 || !check.OK {
		t.Fatalf("test s3 connection: %d %+v", code, check)
	}
	id := c.startBackup(src, dst)

	// Follow the live log stream until the end event.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/backups/%d/logs/stream", p.url, id), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events, ended := 0, false
	sc := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(60*time.Second, func() { resp.Body.Close() })
	for sc.Scan() {
		line := sc.Text()
		if line == "event: log" {
			events++
		}
		if line == "event: end" {
			ended = true
			break
		}
	}
	deadline.Stop()
	resp.Body.Close()
	if !ended || events < 3 {
		t.Fatalf("SSE stream: %d log events, end=%v", events, ended)
	}
	op := c.wait("backups", id, "completed", time.Minute)
	if op.Progress.ItemsDone != int64(len(data)) {
		t.Fatalf("items_done %d, want %d", op.Progress.ItemsDone, len(data))
	}
	logs := c.logs("backups", id)
	if !contains(logs, "Backup completed") {
		t.Fatalf("no completion line in the log: %q", logs)
	}
	target := srv.NewBucket(t)
	tgt := c.createConn("restore-target", "s3", s3creds(srv, srv.Endpoint, target))
	rid := c.startRestore(id, tgt, map[string]any{"prefix": "copy/"})
	c.wait("restores", rid, "completed", time.Minute)
	identical(t, srv, target, "copy/", data)

	// A connection in use by a paused backup cannot be deleted (409), and a completed backup cannot be paused.
	var e struct {
		Error string `json:"error"`
	}
	if code := c.do("POST", fmt.Sprintf("/api/v1/backups/%d/pause", id), nil, &e); code != 409 || e.Error == "" {
		t.Fatalf("pausing a completed backup: %d %q", code, e.Error)
	}
}
