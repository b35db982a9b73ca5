//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// backupView is what these tests read of a backup beyond operation.
type backupView struct {
	operation
	Mode           string `json:"mode"`
	BaseBackupID   *int64 `json:"base_backup_id"`
	ChangedObjects *int64 `json:"changed_objects"`
}

// TestIncrementalSurvivesCrash makes a full backup of a bucket, changes 100
// of its 150 objects, and kills `coffer serve` (SIGKILL) right after the
// incremental backup's first checkpoint past an uploaded part. A new
// process continues it from that checkpoint: it completes as an
// incremental on the same base, fetched no unchanged object at all, and the
// point restores identical to the changed bucket.
func TestIncrementalSurvivesCrash(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 150, 300_000)
	counter := newGetCounter(t, srv.Endpoint)
	n := newNode(t)
	p := n.start(t, "serve")
	c := p.login(t)
	src := c.createConn("src", "s3", s3creds(srv, counter.URL, bucket))
	archives := srv.NewBucket(t)
	dst := c.createConn("dst", "s3", s3creds(srv, srv.Endpoint, archives))
	incremental := map[string]any{"source_connection_id": src, "destination_connection_id": dst, "options": map[string]any{"mode": "incremental"}}
	var op backupView
	if code := c.do("POST", "/api/v1/backups", incremental, &op); code != 202 {
		t.Fatalf("start backup: %d", code)
	}
	base := c.wait("backups", op.ID, "completed", time.Minute)
	p.term(30 * time.Second)

	// 100 objects change (30 MB: four parts to upload); the other 50 must
	// not be fetched again.
	cl := srv.Client(t)
	changed := map[string]bool{}
	for i := 0; i < 150; i += 3 {
		for _, j := range []int{i, i + 1} {
			key := fmt.Sprintf("data/%05d.bin", j)
			b := make([]byte, 300_000)
			_, _ = rand.Read(b)
			if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b),
				ContentType: aws.String("application/x-test")}); err != nil {
				t.Fatal(err)
			}
			data[key] = b
			changed[key] = true
		}
	}
	counter.mu.Lock()
	clear(counter.reads)
	counter.mu.Unlock()

	p2 := n.start(t, "serve", "COFFER_TEST_CRASH_AT=after-checkpoint:2")
	c2 := p2.login(t)
	if code := c2.do("POST", "/api/v1/backups", incremental, &op); code != 202 {
		t.Fatalf("start the incremental backup: %d", code)
	}
	id := op.ID
	p2.waitExit(time.Minute)

	p3 := n.start(t, "serve")
	c3 := p3.login(t)
	start := time.Now()
	c3.wait("backups", id, "completed", 90*time.Second)
	var done backupView
	c3.do("GET", fmt.Sprintf("/api/v1/backups/%d", id), nil, &done)
	if done.Mode != "incremental" || done.BaseBackupID == nil || *done.BaseBackupID != base.ID || done.ChangedObjects == nil || *done.ChangedObjects != int64(len(changed)) {
		t.Fatalf("after the crash: mode %q base %v changed %v, want incremental on %d with %d changed", done.Mode, done.BaseBackupID, done.ChangedObjects, base.ID, len(changed))
	}
	counter.mu.Lock()
	var unchangedRead, again int
	for path, k := range counter.reads {
		key := path[len("/"+bucket+"/"):]
		if !changed[key] {
			unchangedRead++
		} else if k > 1 {
			again += k - 1
		}
	}
	counter.mu.Unlock()
	t.Logf("killed after the incremental's second checkpoint; completed %s after the restart; %d changed objects fetched again, %d unchanged fetched",
		time.Since(start).Round(time.Millisecond), again, unchangedRead)
	if unchangedRead != 0 {
		t.Fatalf("the incremental fetched %d unchanged objects", unchangedRead)
	}
	if n := incomplete(t, srv, archives); n != 0 {
		t.Fatalf("%d incomplete uploads", n)
	}
	target := srv.NewBucket(t)
	rid := c3.startRestore(id, c3.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
	c3.wait("restores", rid, "completed", time.Minute)
	identical(t, srv, target, "", data)
}

// TestOfflineChainRestore restores the latest point of a chain of a full
// and two incremental archives with `coffer restore --archive`, no server
// and no catalog: the archives its manifest names are found beside it,
// each read and checked, and the bucket comes back as it was at that
// point. `coffer archive ls` lists which archive holds each object.
func TestOfflineChainRestore(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 30, 20_000)
	localDir := t.TempDir()
	n := newNode(t)
	n.roots = localDir
	p := n.start(t, "serve")
	c := p.login(t)
	src := c.createConn("photos", "s3", s3creds(srv, srv.Endpoint, bucket))
	local := c.createConn("nas", "local", map[string]any{"path": localDir})
	cl := srv.Client(t)
	var last operation
	for round := range 3 {
		if round > 0 {
			// Each round changes two objects, deletes one and adds one.
			for _, i := range []int{round, round + 10} {
				key := fmt.Sprintf("data/%05d.bin", i)
				b := []byte(fmt.Sprintf("round %d changed %s", round, key))
				if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
					t.Fatal(err)
				}
				data[key] = b
			}
			gone := fmt.Sprintf("data/%05d.bin", 20+round)
			if _, err := cl.DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: &bucket, Key: &gone}); err != nil {
				t.Fatal(err)
			}
			delete(data, gone)
			added := fmt.Sprintf("new/%d", round)
			if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &bucket, Key: &added, Body: bytes.NewReader([]byte(added))}); err != nil {
				t.Fatal(err)
			}
			data[added] = []byte(added)
		}
		var op operation
		if code := c.do("POST", "/api/v1/backups", map[string]any{"source_connection_id": src, "destination_connection_id": local,
			"options": map[string]any{"mode": "incremental"}}, &op); code != 202 {
			t.Fatalf("start backup: %d", code)
		}
		last = c.wait("backups", op.ID, "completed", time.Minute)
	}
	p.term(30 * time.Second)

	path := filepath.Join(localDir, last.ArchivePath)
	out, err := runCLI(t, nil, "archive", "ls", path)
	if err != nil || !strings.Contains(out, "(in photos/") || !strings.Contains(out, "This archive is incremental built on photos/") {
		t.Fatalf("archive ls of an incremental archive: %v\n%s", err, out)
	}
	t.Logf("coffer archive ls %s (the end):\n%s", path, out[max(0, len(out)-600):])
	target := srv.NewBucket(t)
	targetFile := filepath.Join(t.TempDir(), "s3.json")
	tj, _ := json.Marshal(map[string]any{"type": "s3", "credentials": s3creds(srv, srv.Endpoint, target), "config": map[string]any{}})
	if err := os.WriteFile(targetFile, tj, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, nil, "restore", "--archive", path, "--target", targetFile)
	if err != nil || !strings.Contains(out, "also in 2 earlier archives of its chain") {
		t.Fatalf("coffer restore --archive %s: %v\n%s", path, err, out)
	}
	identical(t, srv, target, "", data)
	t.Logf("coffer restore --archive %s:\n%s", path, out)

	// docs/restore-by-hand.md's shell, as printed there, with tar and jq.
	script := byHandChainScript(t)
	script = strings.Replace(script, "P=photos/20261207T030000Z-45.tar.gz", "P="+last.ArchivePath, 1)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = localDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the chain restore of docs/restore-by-hand.md: %v\n%s", err, out)
	}
	got := 0
	err = filepath.WalkDir(filepath.Join(localDir, "restore", "objects"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(localDir, "restore", "objects"), p)
		b, _ := os.ReadFile(p)
		if want, ok := data[filepath.ToSlash(rel)]; !ok || !bytes.Equal(b, want) {
			t.Errorf("by hand: %s is not the object as it was at the point", rel)
		}
		got++
		return nil
	})
	if err != nil || got != len(data) {
		t.Fatalf("by hand: %d objects extracted (%v), want %d", got, err, len(data))
	}
}

// byHandChainScript is the shell block of docs/restore-by-hand.md's
// section on incremental chains.
func byHandChainScript(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "restore-by-hand.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## 5. Restore a point of an incremental chain")
	if !ok {
		t.Fatal("docs/restore-by-hand.md has no section on incremental chains")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the chain section of docs/restore-by-hand.md has no sh block")
	}
	return block
}

// TestIncrementalRestoreSurvivesCrash kills `coffer serve` while it restores
// an incremental point, in the second archive of its chain; a new process
// continues the restore, which ends identical to the bucket at that point.
func TestIncrementalRestoreSurvivesCrash(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 80, 50_000)
	n := newNode(t)
	// The full archive holds 80 entries: the 100th entry read is the
	// incremental archive's 20th.
	p := n.start(t, "serve", "COFFER_TEST_CRASH_AT=restore-entry:100")
	c := p.login(t)
	src := c.createConn("src", "s3", s3creds(srv, srv.Endpoint, bucket))
	dst := c.createConn("dst", "local", map[string]any{"path": n.roots + "/r"})
	incremental := map[string]any{"source_connection_id": src, "destination_connection_id": dst, "options": map[string]any{"mode": "incremental"}}
	var op operation
	if code := c.do("POST", "/api/v1/backups", incremental, &op); code != 202 {
		t.Fatalf("start backup: %d", code)
	}
	c.wait("backups", op.ID, "completed", time.Minute)
	cl := srv.Client(t)
	for i := 0; i < 80; i += 2 {
		key := fmt.Sprintf("data/%05d.bin", i)
		b := make([]byte, 30_000)
		_, _ = rand.Read(b)
		if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
		data[key] = b
	}
	if code := c.do("POST", "/api/v1/backups", incremental, &op); code != 202 {
		t.Fatalf("start backup: %d", code)
	}
	c.wait("backups", op.ID, "completed", time.Minute)
	target := srv.NewBucket(t)
	rid := c.startRestore(op.ID, c.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)), map[string]any{})
	p.waitExit(time.Minute)
	p2 := n.start(t, "serve")
	c2 := p2.login(t)
	c2.wait("restores", rid, "completed", 90*time.Second)
	identical(t, srv, target, "", data)
	logs := c2.logs("restores", rid)
	if !contains(logs, "Restore continues after") {
		t.Fatalf("the restore did not continue from a checkpoint: %q", logs)
	}
	t.Logf("after the crash: %s", logs[len(logs)-1])
}
