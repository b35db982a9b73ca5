//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestEncryptedBackupSurvivesKillAndStop runs encrypted backups through
// `coffer serve`: one killed with SIGKILL in the middle of a part, one
// stopped with SIGTERM. After the restart each completes; Debian's age and
// GNU tar read the archive identical to the bucket, and coffer restores it
// with the identity it is given. The stopped one goes on inside its age
// stream from the checkpoint; the killed one starts its archive again under
// a new file key, as its log says (docs/encryption.md, "Crashes").
func TestEncryptedBackupSurvivesKillAndStop(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatalf("age is required (make test installs it): %v", err)
	}
	srv := s3test.Start(t)
	bucket, data := fill(t, srv, 60, 300_000) // 18 MB: two 8 MiB parts and a tail
	for _, tc := range []struct {
		name, crashAt string
		term          bool
		wantLog       string
	}{
		{"sigkill-mid-part", "mid-part:2", false, "starts again from the beginning under a new file key"},
		{"sigterm", "", true, "Backup continues from its checkpoint."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			var extra, again []string
			if tc.crashAt != "" {
				extra = append(extra, "COFFER_TEST_CRASH_AT="+tc.crashAt)
			}
			if tc.term {
				// The harness's 3 s lease is short enough for a loaded machine
				// to miss a heartbeat; the reaper's takeover would then (rightly)
				// start the encrypted archive again. A graceful stop gives its
				// lease back, so the restart does not wait for a longer one.
				extra = append(extra, "COFFER_LEASE_TIMEOUT=60s")
				again = append(again, "COFFER_LEASE_TIMEOUT=60s")
			}
			p := n.start(t, "serve", extra...)
			c := p.login(t)
			endpoint := srv.Endpoint
			if tc.term {
				// 1 MiB/s: the 18 MB take 17 s, so the stop comes mid-way
				// even on a loaded machine.
				endpoint = newSlowProxy(t, srv.Endpoint, 10*time.Millisecond, 1<<20)
			}
			src := c.createConn("src", "s3", s3creds(srv, endpoint, bucket))
			destBucket := srv.NewBucket(t)
			dst := c.createConn("dst", "s3", s3creds(srv, srv.Endpoint, destBucket))
			var key struct {
				ID       int64  `json:"id"`
				Identity string `json:"identity"`
			}
			if code := c.do("POST", "/api/v1/encryption-keys", map[string]any{"name": "offline", "type": "x25519", "generate": true}, &key); code != 201 || key.Identity == "" {
				t.Fatalf("create key: %d %+v", code, key)
			}
			var op operation
			if code := c.do("POST", "/api/v1/backups", map[string]any{"source_connection_id": src, "destination_connection_id": dst,
				"options": map[string]any{"encryption_key_id": key.ID}}, &op); code != 202 {
				t.Fatalf("start backup: %d %+v", code, op)
			}
			if tc.term {
				if got := c.waitProgress(op.ID, 10, time.Minute); got.Status == "completed" {
					t.Fatal("the backup completed before the stop; make the source slower")
				}
				p.term(30 * time.Second)
			} else {
				p.waitExit(time.Minute)
			}

			p2 := n.start(t, "serve", again...)
			c2 := p2.login(t)
			done := c2.wait("backups", op.ID, "completed", 2*time.Minute)
			logs := c2.logs("backups", op.ID)
			if !contains(logs, tc.wantLog) {
				t.Fatalf("no log line %q in:\n%s", tc.wantLog, strings.Join(logs, "\n"))
			}
			if tc.term && contains(logs, "starts again") {
				t.Fatal("a gracefully stopped encrypted backup started its archive again")
			}
			if n := incomplete(t, srv, destBucket); n != 0 {
				t.Fatalf("%d incomplete uploads left", n)
			}
			checkWithAge(t, srv, destBucket, done.ArchivePath, key.Identity, data)

			target := srv.NewBucket(t)
			var r operation
			if code := c2.do("POST", "/api/v1/restores", map[string]any{"backup_operation_id": op.ID, "destination_connection_id": c2.createConn("tgt", "s3", s3creds(srv, srv.Endpoint, target)),
				"identity": key.Identity}, &r); code != 202 {
				t.Fatalf("start restore: %d %+v", code, r)
			}
			c2.wait("restores", r.ID, "completed", time.Minute)
			identical(t, srv, target, "", data)
		})
	}
}

// checkWithAge downloads an archive and opens it with age -d and tar -xz,
// comparing every object with want.
func checkWithAge(t *testing.T, srv *s3test.Server, bucket, key, identity string, want corpus) {
	t.Helper()
	out, err := srv.Client(t).GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	archiveBytes, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, arch, x := filepath.Join(dir, "key.txt"), filepath.Join(dir, "a.tar.gz.age"), filepath.Join(dir, "x")
	if err := os.WriteFile(keyFile, []byte(identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(arch, archiveBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(x, 0o700); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("sh", "-c", `age -d -i "$0" "$1" | tar -xz -C "$2"`, keyFile, arch, x).CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("age -d | tar -xz: %v\n%s", err, msg)
	}
	for k, b := range want {
		got, err := os.ReadFile(filepath.Join(x, "objects", k))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s after age and tar: %d bytes (%v), want %d", k, len(got), err, len(b))
		}
	}
	if _, err := os.Stat(filepath.Join(x, "manifest.json")); err != nil {
		t.Fatal(fmt.Errorf("no manifest after age and tar: %w", err))
	}
}
