package engine_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// sweepAfter is how old a leftover must be for the tests' sweeps. The queue
// also sweeps once as it starts, at a moment no test controls: a backup's
// upload must not be older than this before its first checkpoint names it.
const sweepAfter = time.Second

// TestMaintenance checks log retention and the sweep of leftover uploads:
// an orphaned multipart upload is aborted, a paused backup's upload is kept.
func TestMaintenance(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{LogRetention: 24 * time.Hour, SweepAfter: sweepAfter, FetchConcurrency: 2})
	ctx := context.Background()

	old := &store.JobLog{OperationKind: store.KindBackup, OperationID: 1, Level: store.LevelInfo, Message: "old", CreatedAt: time.Now().Add(-48 * time.Hour)}
	recent := &store.JobLog{OperationKind: store.KindBackup, OperationID: 1, Level: store.LevelInfo, Message: "recent"}
	for _, l := range []*store.JobLog{old, recent} {
		if err := e.st.AppendLog(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.eng.Maintain(ctx, queue.TaskLogs); err != nil {
		t.Fatal(err)
	}
	logs, _ := e.st.ListLogs(ctx, store.KindBackup, 1, 0, 10)
	if len(logs) != 1 || logs[0].Message != "recent" {
		t.Fatalf("after the retention job: %+v", logs)
	}

	// A paused backup keeps its upload; an orphan in the same bucket goes.
	src, proxy, _, _ := slowSource(t, e, srv, 80, 128<<10, 15*time.Millisecond)
	bucket := srv.NewBucket(t)
	id := startBackup(t, e, src, e.s3Conn("sweep-dst", bucket), "")
	waitProgress(t, e, id, 10)
	pauseHeld(t, e, proxy, id)
	cl := srv.Client(t)
	if _, err := cl.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("orphan/left-behind.tar.gz")}); err != nil {
		t.Fatal(err)
	}
	if n := incompleteUploads(t, cl, bucket); n != 2 {
		t.Fatalf("%d incomplete uploads before the sweep, want 2", n)
	}
	time.Sleep(sweepAfter + 100*time.Millisecond)
	if err := e.eng.Maintain(ctx, queue.TaskSweep); err != nil {
		t.Fatal(err)
	}
	out, err := cl.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) == "orphan/left-behind.tar.gz" {
		t.Fatalf("after the sweep: %d uploads left (%v); want only the paused backup's", len(out.Uploads), out.Uploads)
	}
	if err := e.eng.ResumeBackup(ctx, actor, id); err != nil {
		t.Fatal(err)
	}
	e.waitBackup(id, store.StatusCompleted, time.Minute)
}

// TestSweepKeepsExactlyTheLiveUploads checks that the sweep compares the
// upload a live backup's checkpoint names exactly: a leftover whose name is
// a substring of a live one's (it once was searched for inside the
// checkpoint's JSON) is removed, the live one stays and the backup finishes.
func TestSweepKeepsExactlyTheLiveUploads(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{SweepAfter: sweepAfter, FetchConcurrency: 2})
	ctx := context.Background()
	src, proxy, _, _ := slowSource(t, e, srv, 300, 32<<10, 20*time.Millisecond)
	dst := e.localConn("disk")
	id := startBackup(t, e, src, dst, "")
	waitProgress(t, e, id, 5)
	pauseHeld(t, e, proxy, id)

	root := filepath.Join(e.local, "disk")
	partials := func() []string {
		var out []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".partial") {
				rel, _ := filepath.Rel(root, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		sort.Strings(out)
		return out
	}
	live := partials()
	if len(live) != 1 || !strings.HasPrefix(live[0], "slow-src/") {
		t.Fatalf("partial archives of the paused backup: %v", live)
	}
	// "src/<name>" is inside "slow-src/<name>".
	leftover := strings.TrimPrefix(live[0], "slow-")
	if err := os.MkdirAll(filepath.Join(root, "src"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(leftover)), []byte("left behind"), 0o640); err != nil {
		t.Fatal(err)
	}
	time.Sleep(sweepAfter + 100*time.Millisecond)
	if err := e.eng.Maintain(ctx, queue.TaskSweep); err != nil {
		t.Fatal(err)
	}
	if got := partials(); len(got) != 1 || got[0] != live[0] {
		t.Fatalf("after the sweep: %v; want only %s", got, live[0])
	}
	if err := e.eng.ResumeBackup(ctx, actor, id); err != nil {
		t.Fatal(err)
	}
	e.waitBackup(id, store.StatusCompleted, time.Minute)
}
