package engine_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// fillBucket puts n objects of size random bytes into a new bucket.
func fillBucket(t *testing.T, srv *s3test.Server, n, size int) string {
	t.Helper()
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	for i := range n {
		put(t, cl, bucket, object{key: fmt.Sprintf("o/%04d", i), data: randBytes(t, size)})
	}
	return bucket
}

// TestBackupListsTheSourceOnce backs up a bucket to a local directory,
// whose free space is known: the source is listed once, by the backup
// itself, not a second time to estimate its size.
func TestBackupListsTheSourceOnce(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	bucket := fillBucket(t, srv, 30, 64<<10)
	var listings atomic.Int64
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{Observe: func(r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			listings.Add(1)
		}
	}})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	src := e.conn("listed-once", store.TypeS3, cfg)
	id := startBackup(t, e, src, e.localConn("disk"), "")
	e.waitBackup(id, store.StatusCompleted, time.Minute)
	if n := listings.Load(); n != 1 {
		t.Fatalf("the source was listed %d times for one backup, want 1", n)
	}
}

// TestDriveTooSmallFailsBeforeSending backs up sources four times larger
// than the free space of a Google Drive, with data that does not compress:
// the backup fails with a sentence about the space, and no archive byte
// reaches Drive (no upload chunk is sent), as for a local directory.
func TestDriveTooSmallFailsBeforeSending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects int // of 1 MiB
		free    int64
	}{
		{"smaller than a part", 16, 4 << 20},
		{"larger than a part", 48, 12 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, drive, srv := driveEnv(t)
			src := e.conn("big", store.TypeS3, srv.Config(fillBucket(t, srv, tc.objects, 1<<20)))
			dst, _ := driveConn(e, drive, "small-drive")
			drive.SetQuota(1<<30, 1<<30-tc.free)
			id := startBackup(t, e, src, dst, "")
			op := e.waitBackup(id, store.StatusFailed, time.Minute)
			if !strings.Contains(op.ErrorMessage, "cannot fit") || strings.Contains(op.ErrorMessage, "storage is full") {
				t.Fatalf("error message %q does not say the archive cannot fit the free space", op.ErrorMessage)
			}
			for _, r := range drive.Requests() {
				if r.ContentRange != "" || r.Query.Get("uploadType") == "multipart" {
					t.Fatalf("archive bytes were sent to Drive: %s %s %s", r.Method, r.Path, r.ContentRange)
				}
			}
			for _, s := range drive.Sessions() {
				if s.Received != 0 {
					t.Fatalf("an upload session holds %d bytes", s.Received)
				}
			}
		})
	}
}

// TestSpaceEstimateFromTheLastBackup fails a backup before it starts
// uploading when the last completed backup of the same source read far
// more than the destination now has free.
func TestSpaceEstimateFromTheLastBackup(t *testing.T) {
	e, drive, srv := driveEnv(t)
	src := e.conn("grown", store.TypeS3, srv.Config(fillBucket(t, srv, 8, 1<<20)))
	dst, _ := driveConn(e, drive, "drive")
	first := startBackup(t, e, src, dst, "")
	e.waitBackup(first, store.StatusCompleted, time.Minute)

	drive.SetQuota(1<<30, 1<<30-(1<<20))
	sessions := len(drive.Requests())
	id := startBackup(t, e, src, dst, "")
	op := e.waitBackup(id, store.StatusFailed, time.Minute)
	if !strings.Contains(op.ErrorMessage, "last backup of this source read 8.0 MiB") || !strings.Contains(op.ErrorMessage, "cannot fit") {
		t.Fatalf("error message %q", op.ErrorMessage)
	}
	for _, r := range drive.Requests()[sessions:] {
		if strings.HasPrefix(r.Path, "/upload/") {
			t.Fatalf("the second backup started an upload: %s %s", r.Method, r.Path)
		}
	}
}
