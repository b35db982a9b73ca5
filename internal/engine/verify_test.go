package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
	"github.com/coffer-backup/coffer/internal/verify"
)

// verifyNow starts a verification of backup id and waits for it to end.
func verifyNow(t *testing.T, e *env, id int64) (*store.VerifyOperation, verify.Result) {
	t.Helper()
	op, created, err := e.eng.StartVerify(context.Background(), engine.Actor{Email: "test@example.com"}, id, 0)
	if err != nil {
		t.Fatalf("StartVerify(%d): %v", id, err)
	}
	if !created {
		t.Fatalf("StartVerify(%d) answered a running verification", id)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := e.st.GetVerification(context.Background(), op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if settled(v.Status) {
			var res verify.Result
			if err := json.Unmarshal(v.Result, &res); err != nil {
				t.Fatalf("result %s: %v", v.Result, err)
			}
			return v, res
		}
		if time.Now().After(deadline) {
			e.dumpLogs(store.KindVerify, op.ID)
			t.Fatalf("verification %d is still %s", op.ID, v.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func problemText(res verify.Result) string {
	var s []string
	for _, p := range res.Problems {
		s = append(s, p.Entry+" "+p.Message)
	}
	return strings.Join(s, " | ")
}

// TestVerifyFindsEveryCorruption verifies good archives (gzip and zstd, to
// a local dir and to S3) and then damages stored gzip ones in each way a
// restore would stumble on: every damage fails the verification, marks the
// backup and tells the notifier; the good ones pass.
func TestVerifyFindsEveryCorruption(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	corpus := standardCorpus(t)
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	src := e.s3Conn("src", bucket)
	local := e.localConn("archives")
	destBucket := srv.NewBucket(t)
	s3dst := e.s3Conn("s3dest", destBucket)

	type damage struct {
		name string
		do   func(t *testing.T, path string)
		want string
	}
	damages := []damage{
		{"flipped byte", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0x20
			_ = os.WriteFile(p, data, 0o600)
		}, "cannot be read"},
		{"truncated", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			_ = os.WriteFile(p, data[:len(data)-3000], 0o600)
		}, "cannot be read"},
		{"sidecar missing", func(t *testing.T, p string) { _ = os.Remove(p + ".sha256") }, "is missing beside the archive"},
		{"archive missing", func(t *testing.T, p string) { _ = os.Remove(p) }, "is missing at its destination"},
	}
	for _, comp := range []string{"gzip", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			opts := fmt.Sprintf(`{"compression":%q}`, comp)
			for _, dst := range []int64{local, s3dst} {
				id := startBackup(t, e, src, dst, opts)
				e.waitBackup(id, store.StatusCompleted, time.Minute)
				v, res := verifyNow(t, e, id)
				if v.Status != store.StatusCompleted || !res.OK() || !res.ContentsChecked {
					e.dumpLogs(store.KindVerify, v.ID)
					t.Fatalf("good archive: verification %s: %s", v.Status, problemText(res))
				}
				if res.EntriesChecked != int64(len(corpus)) || res.BytesRead == 0 {
					t.Fatalf("good archive: %d entries checked (want %d), %d bytes read", res.EntriesChecked, len(corpus), res.BytesRead)
				}
				b, _ := e.st.GetBackup(context.Background(), id)
				if b.LastVerifyStatus != store.VerifyPassed || b.LastVerifiedAt == nil || res.SHA256 != b.SHA256 {
					t.Fatalf("backup after passing: %q %v, sha %s vs %s", b.LastVerifyStatus, b.LastVerifiedAt, res.SHA256, b.SHA256)
				}
			}
			if comp == "zstd" {
				return // the damages below read the same through either decoder (internal/archive tries each flipped byte of both)
			}
			for _, d := range damages {
				t.Run(d.name, func(t *testing.T) {
					id := startBackup(t, e, src, local, opts)
					b := e.waitBackup(id, store.StatusCompleted, time.Minute)
					d.do(t, filepath.Join(e.local, "archives", b.ArchivePath))
					v, res := verifyNow(t, e, id)
					if v.Status != store.StatusFailed || res.OK() {
						t.Fatalf("%s: verification %s with %d problems", d.name, v.Status, res.ProblemCount)
					}
					if !strings.Contains(problemText(res), d.want) || v.ErrorMessage == "" {
						t.Fatalf("%s: problems %q (error %q), want one containing %q", d.name, problemText(res), v.ErrorMessage, d.want)
					}
					b, _ = e.st.GetBackup(context.Background(), id)
					if b.LastVerifyStatus != store.VerifyFailed {
						t.Fatalf("%s: backup's last verification %q", d.name, b.LastVerifyStatus)
					}
					want := fmt.Sprintf("verify %d ended", v.ID)
					deadline := time.Now().Add(10 * time.Second)
					for !strings.Contains(strings.Join(e.told.said(), "; "), want) {
						if time.Now().After(deadline) {
							t.Fatalf("notifier heard %q, want %q", e.told.said(), want)
						}
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
		})
	}

	t.Run("catalog disagrees", func(t *testing.T) {
		id := startBackup(t, e, src, local, "")
		e.waitBackup(id, store.StatusCompleted, time.Minute)
		if err := e.st.DeleteArchiveEntriesFrom(context.Background(), id, 2); err != nil {
			t.Fatal(err)
		}
		v, res := verifyNow(t, e, id)
		if v.Status != store.StatusFailed || !strings.Contains(problemText(res), "not in the catalog's record") {
			t.Fatalf("verification %s: %s", v.Status, problemText(res))
		}
	})
	t.Run("refusals", func(t *testing.T) {
		if _, _, err := e.eng.StartVerify(context.Background(), engine.Actor{}, 99999, 0); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("verify of a missing backup: %v", err)
		}
		id := startBackup(t, e, src, local, "")
		e.waitBackup(id, store.StatusCompleted, time.Minute)
		if err := e.eng.DeleteArchive(context.Background(), engine.Actor{Email: "a@b"}, id, store.PruneDeleted); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.eng.StartVerify(context.Background(), engine.Actor{}, id, 0); err == nil || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("verify of a pruned backup: %v", err)
		}
	})
}

// TestMongoVerifyAndEncrypted verifies a MongoDB archive (documents
// counted) and encrypted archives: with a kept identity every entry is
// checked; without one only the stored bytes, and the result says so.
func TestMongoVerifyAndEncrypted(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	e := newEnv(t, srv, engine.Options{})
	db := mdb.NewDatabase(t)
	seedMongo(t, mdb.Client(t), db)
	msrc := e.conn("mongo-src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	local := e.localConn("archives")
	id := startBackup(t, e, msrc, local, `{"compression":"zstd"}`)
	e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
	v, res := verifyNow(t, e, id)
	if v.Status != store.StatusCompleted || res.Documents != 800 {
		t.Fatalf("MongoDB archive: %s, %d documents: %s", v.Status, res.Documents, problemText(res))
	}

	kept, _ := newKey(t, e, "kept", true)
	bare, _ := newKey(t, e, "bare", false)
	for _, k := range []struct {
		id   int64
		full bool
	}{{kept, true}, {bare, false}} {
		id := startBackup(t, e, msrc, local, fmt.Sprintf(`{"encryption_key_id":%d}`, k.id))
		b := e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
		v, res := verifyNow(t, e, id)
		if v.Status != store.StatusCompleted || res.ContentsChecked != k.full {
			t.Fatalf("encrypted (kept identity %v): %s, contents checked %v: %s", k.full, v.Status, res.ContentsChecked, problemText(res))
		}
		if k.full && res.Documents != 800 {
			t.Fatalf("encrypted with a kept identity: %d documents", res.Documents)
		}
		// A flipped byte fails either way: inside (age's tag) or by checksum.
		p := filepath.Join(e.local, "archives", b.ArchivePath)
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 1
		_ = os.WriteFile(p, data, 0o600)
		v, res = verifyNow(t, e, id)
		if v.Status != store.StatusFailed {
			t.Fatalf("damaged encrypted archive (kept %v) passed: %+v", k.full, res)
		}
	}
}
