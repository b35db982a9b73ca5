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

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// copyTree copies the files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMongoScanImportsWhatTheCatalogLost backs up a bucket and a database to a
// local dir and to S3, then gives the archives to a coffer with an empty
// catalog: a scan of each destination imports every archive, a second
// scan imports nothing, each imported backup restores identical and
// verifies, and a damaged archive is reported, not imported.
func TestMongoScanImportsWhatTheCatalogLost(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := srv.Client(t)
	old := newEnv(t, srv, engine.Options{})
	bucket := srv.NewBucket(t)
	corpus := standardCorpus(t)
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	db := mdb.NewDatabase(t)
	seedMongo(t, mdb.Client(t), db)
	s3src := old.s3Conn("bucket", bucket)
	msrc := old.conn("mongo", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	archives := srv.NewBucket(t)
	for _, dst := range []int64{old.localConn("archives"), old.s3Conn("offsite", archives)} {
		for _, src := range []int64{s3src, msrc} {
			old.waitBackup(startBackup(t, old, src, dst, ""), store.StatusCompleted, 3*time.Minute)
		}
	}
	// One more local archive, damaged after the backup.
	bad := old.waitBackup(startBackup(t, old, s3src, old.localConn("damaged"), ""), store.StatusCompleted, time.Minute)

	fresh := newEnv(t, srv, engine.Options{})
	copyTree(t, old.local, fresh.local)
	p := filepath.Join(fresh.local, "damaged", bad.ArchivePath)
	data, _ := os.ReadFile(p)
	data[len(data)/3] ^= 0x40
	_ = os.WriteFile(p, data, 0o600)

	ctx := context.Background()
	for _, dst := range []int64{fresh.localConn("archives"), fresh.s3Conn("offsite", archives)} {
		res, err := fresh.eng.ScanDestination(ctx, actor, dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Found != 2 || res.Imported != 2 || res.AlreadyKnown != 0 || len(res.Problems) != 0 {
			t.Fatalf("first scan of %d: %+v", dst, res)
		}
		again, err := fresh.eng.ScanDestination(ctx, actor, dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.Found != 2 || again.Imported != 0 || again.AlreadyKnown != 2 {
			t.Fatalf("second scan of %d: %+v", dst, again)
		}
		for _, id := range res.BackupIDs {
			b, err := fresh.st.GetBackup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var meta engine.ImportedMetadata
			_ = json.Unmarshal(b.Metadata, &meta)
			if !b.Imported || b.Status != store.StatusCompleted || b.StartedAt == nil || meta.Source.Name == "" {
				t.Fatalf("imported backup %+v (metadata %s)", b, b.Metadata)
			}
			if v, res := verifyNow(t, fresh, id); v.Status != store.StatusCompleted {
				t.Fatalf("verify of imported backup %d: %s", id, problemText(res))
			}
			switch meta.Source.Type {
			case store.TypeS3:
				target := srv.NewBucket(t)
				fresh.waitRestore(startRestore(t, fresh, id, fresh.s3Conn(fmt.Sprintf("t%d", id), target), `{}`), store.StatusCompleted, time.Minute)
				checkRestored(t, cl, target, "", corpus)
			case store.TypeMongoDB:
				restored := mdb.NewDatabase(t)
				tgt := fresh.conn(fmt.Sprintf("m%d", id), store.TypeMongoDB, map[string]string{"uri": mdb.URI})
				fresh.waitRestore(startRestore(t, fresh, id, tgt, fmt.Sprintf(`{"database":%q}`, restored)), store.StatusCompleted, 3*time.Minute)
				for _, coll := range []string{"people", "orders", "empty"} {
					sameDocs(t, mdb.Client(t), db, restored, coll)
				}
				// A MongoDB backup does not restore into a bucket.
				_, err := fresh.eng.StartRestore(ctx, actor, engine.RestoreRequest{BackupOperationID: id,
					DestinationConnectionID: fresh.s3Conn(fmt.Sprintf("wrong%d", id), srv.NewBucket(t)), Config: json.RawMessage(`{}`)})
				if err == nil || !strings.Contains(err.Error(), "not valid") {
					t.Fatalf("restore of an imported MongoDB backup into S3: %v", err)
				}
			default:
				t.Fatalf("imported backup %d has source type %q", id, meta.Source.Type)
			}
		}
	}
	res, err := fresh.eng.ScanDestination(ctx, actor, fresh.localConn("damaged"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 1 || res.Imported != 0 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Message, "failed verification") {
		t.Fatalf("scan of the damaged archive: %+v", res)
	}
}

// TestRestoreChosenKeys restores two keys of a backup: only they are
// written, identical, and the restore stops reading after the last.
func TestRestoreChosenKeys(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var corpus []object
	for i := range 60 {
		corpus = append(corpus, object{key: fmt.Sprintf("dir%d/k%02d", i%3, i), data: randBytes(t, 50_000)})
	}
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	id := startBackup(t, e, e.s3Conn("src", bucket), e.localConn("a"), "")
	b := e.waitBackup(id, store.StatusCompleted, time.Minute)
	target := srv.NewBucket(t)
	tgt := e.s3Conn("tgt", target)
	picked := []object{corpus[4], corpus[20]} // keys dir1/k04 and dir2/k20: sorted, the latter comes well before the end
	cfg := fmt.Sprintf(`{"keys":[%q,%q]}`, picked[0].key, picked[1].key)
	r := e.waitRestore(startRestore(t, e, id, tgt, cfg), store.StatusCompleted, time.Minute)
	checkRestored(t, cl, target, "", picked)
	out, err := cl.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &target})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 {
		t.Fatalf("%d objects restored, want the 2 chosen", len(out.Contents))
	}
	if r.Progress.BytesRead >= b.ArchiveSize {
		t.Fatalf("the restore read %d of %d archive bytes; it should stop after the last chosen key", r.Progress.BytesRead, b.ArchiveSize)
	}
	logs, err := e.st.ListLogs(context.Background(), store.KindRestore, r.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var said bool
	for _, l := range logs {
		// dir1/k04 is the 22nd key in order and dir2/k20 the 47th: 45 passed over.
		said = said || strings.Contains(l.Message, "found after 47 of 60 entries (45 entries before them passed over)")
	}
	if !said {
		e.dumpLogs(store.KindRestore, r.ID)
		t.Fatal("the restore's log does not say how much it skipped")
	}
	_, err = e.eng.StartRestore(context.Background(), actor, engine.RestoreRequest{BackupOperationID: id, DestinationConnectionID: tgt,
		Config: json.RawMessage(`{"keys":["dir1/k04","nope"]}`)})
	if err == nil || !strings.Contains(fmt.Sprint(err), "not valid") {
		t.Fatalf("a key not in the backup: %v", err)
	}
}

// TestVerifyAndScanOnDrive verifies gzip and zstd archives stored on
// Google Drive, then has a coffer with an empty catalog scan the same
// Drive folder: both archives are imported and restore identical.
func TestVerifyAndScanOnDrive(t *testing.T) {
	e, drive, srv := driveEnv(t)
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	corpus := standardCorpus(t)
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	src := e.s3Conn("src", bucket)
	at, rt := drive.Authorize()
	folder := drive.AddFolder(drivetest.RootID, "drive-archives")
	creds := gdrive.Config{AccessToken: at, RefreshToken: rt, FolderID: folder, Expiry: time.Now().Add(time.Hour)}
	dst := e.conn("drive", store.TypeGoogleDrive, creds)
	for _, comp := range []string{"gzip", "zstd"} {
		id := startBackup(t, e, src, dst, fmt.Sprintf(`{"compression":%q}`, comp))
		e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
		if v, res := verifyNow(t, e, id); v.Status != store.StatusCompleted || res.EntriesChecked != int64(len(corpus)) {
			t.Fatalf("verify of a %s archive on Drive: %s: %s", comp, v.Status, problemText(res))
		}
	}

	fresh := newEnv(t, srv, engine.Options{})
	fresh.conns.SetDrive(gdrive.OAuth{ClientID: drive.ClientID, ClientSecret: drive.ClientSecret,
		AuthURL: drive.AuthURL(), TokenURL: drive.TokenURL(), APIURL: drive.APIURL()}, "")
	fdst := fresh.conn("drive", store.TypeGoogleDrive, creds)
	res, err := fresh.eng.ScanDestination(context.Background(), actor, fdst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 2 || res.Imported != 2 || len(res.Problems) != 0 {
		t.Fatalf("scan of the Drive folder: %+v", res)
	}
	for _, id := range res.BackupIDs {
		target := srv.NewBucket(t)
		fresh.waitRestore(startRestore(t, fresh, id, fresh.s3Conn(fmt.Sprintf("t%d", id), target), `{}`), store.StatusCompleted, 2*time.Minute)
		checkRestored(t, cl, target, "", corpus)
	}
}
