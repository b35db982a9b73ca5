//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

func listenLocal(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestCrashPoints kills `coffer serve` with SIGKILL at exact points of a
// backup (the binary's test-only COFFER_TEST_CRASH_AT hook), restarts it, and
// checks that the backup continues by itself, completes, and restores
// identical; it reports what was read again from the source.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 100, 300_000) // ~30 MB of random bytes: 4 parts of 8 MiB
	// Checkpoint 1 records the new upload; checkpoint 2 is the first one
	// after an uploaded part.
	for _, point := range []string{"listing:1", "mid-part:2", "after-checkpoint:2", "finalize:1", "completed-upload:1"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			counter := newGetCounter(t, srv.Endpoint)
			n := newNode(t)
			p := n.start(t, "serve", "COFFER_TEST_CRASH_AT="+point)
			c := p.login(t)
			src := c.createConn("src", "s3", s3creds(srv, counter.URL, bucket))
			destBucket := srv.NewBucket(t)
			dst := c.createConn("dst", "s3", s3creds(srv, srv.Endpoint, destBucket))
			id := c.startBackup(src, dst)
			p.waitExit(time.Minute)

			p2 := n.start(t, "serve")
			c2 := p2.login(t)
			start := time.Now()
			c2.wait("backups", id, "completed", 90*time.Second)
			objs, bytes := counter.reread(data, bucket)
			t.Logf("killed at %s; completed %s after the restart; re-read %d objects (%d bytes) of %d", point,
				time.Since(start).Round(time.Millisecond), objs, bytes, len(data))
			if n := incomplete(t, srv, destBucket); n != 0 {
				t.Fatalf("%d incomplete uploads left", n)
			}
			target := srv.NewBucket(t)
			rid := c2.startRestore(id, c2.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
			c2.wait("restores", rid, "completed", time.Minute)
			identical(t, srv, target, "", data)
		})
	}
}

// TestRestoreSurvivesCrash kills the server in the middle of a restore.
func TestRestoreSurvivesCrash(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 80, 50_000)
	n := newNode(t)
	p := n.start(t, "serve", "COFFER_TEST_CRASH_AT=restore-entry:40")
	c := p.login(t)
	id := c.startBackup(c.createConn("src", "s3", s3creds(srv, srv.Endpoint, bucket)), c.createConn("dst", "local", map[string]any{"path": n.roots + "/r"}))
	c.wait("backups", id, "completed", time.Minute)
	target := srv.NewBucket(t)
	rid := c.startRestore(id, c.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
	p.waitExit(time.Minute)
	p2 := n.start(t, "serve")
	c2 := p2.login(t)
	c2.wait("restores", rid, "completed", 90*time.Second)
	identical(t, srv, target, "", data)
}

// TestGracefulStop sends SIGTERM during a backup: the process stops within
// seconds, the backup is not failed, and it completes after the restart.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 100, 300_000)
	slow := newSlowProxy(t, srv.Endpoint, 10*time.Millisecond, 5<<20)
	n := newNode(t)
	p := n.start(t, "serve")
	c := p.login(t)
	src := c.createConn("src", "s3", s3creds(srv, slow, bucket))
	destBucket := srv.NewBucket(t)
	id := c.startBackup(src, c.createConn("dst", "s3", s3creds(srv, srv.Endpoint, destBucket)))
	c.waitProgress(id, 20, time.Minute)
	p.term(30 * time.Second)

	p2 := n.start(t, "serve")
	c2 := p2.login(t)
	var op operation
	c2.do("GET", fmt.Sprintf("/api/v1/backups/%d", id), nil, &op)
	if op.Status == "failed" || op.Status == "cancelled" {
		t.Fatalf("after SIGTERM the backup is %s: %s", op.Status, op.ErrorMessage)
	}
	c2.wait("backups", id, "completed", 2*time.Minute)
	if !contains(c2.logs("backups", id), "Worker stopping") {
		t.Fatal("no log line about the graceful stop")
	}
	target := srv.NewBucket(t)
	rid := c2.startRestore(id, c2.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
	c2.wait("restores", rid, "completed", time.Minute)
	identical(t, srv, target, "", data)
}

// TestTwoProcessesOnPostgres runs `coffer serve` and `coffer worker` on one
// PostgreSQL database: the server is killed mid-backup and the worker
// finishes it; pause and resume asked through one process are obeyed by the other.
func TestTwoProcessesOnPostgres(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 100, 300_000)
	slow := newSlowProxy(t, srv.Endpoint, 10*time.Millisecond, 4<<20)
	n := newNode(t)
	n.dbURL = storetest.PostgresDatabase(t)

	a := n.start(t, "serve")
	ca := a.login(t)
	src := ca.createConn("src", "s3", s3creds(srv, slow, bucket))
	destBucket := srv.NewBucket(t)
	dst := ca.createConn("dst", "s3", s3creds(srv, srv.Endpoint, destBucket))
	id := ca.startBackup(src, dst)
	ca.waitProgress(id, 10, time.Minute)

	b := n.start(t, "worker")
	a.kill() // the server dies mid-backup; the worker on "another host" takes over

	a2 := n.start(t, "serve", "COFFER_WORKERS=1")
	c := a2.login(t)
	// The worker takes the dead server's backup over and moves it on.
	deadline := time.Now().Add(60 * time.Second)
	for !contains(c.logs("backups", id), "continues from its checkpoint") {
		if time.Now().After(deadline) {
			t.Fatalf("nobody took the backup over: %q", c.logs("backups", id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Whoever runs it now, a pause asked through this process is obeyed.
	if code := c.do("POST", fmt.Sprintf("/api/v1/backups/%d/pause", id), nil, nil); code != 200 && code != 202 {
		t.Fatalf("pause: %d", code)
	}
	c.wait("backups", id, "paused", 15*time.Second)
	a2.kill() // only the worker is left
	a3 := n.start(t, "serve", "COFFER_WORKERS=1")
	c3 := a3.login(t)
	if code := c3.do("POST", fmt.Sprintf("/api/v1/backups/%d/resume", id), nil, nil); code != 200 && code != 202 {
		t.Fatalf("resume: %d", code)
	}
	c3.wait("backups", id, "completed", 2*time.Minute)
	_ = b
	target := srv.NewBucket(t)
	rid := c3.startRestore(id, c3.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
	c3.wait("restores", rid, "completed", time.Minute)
	identical(t, srv, target, "", data)
}
