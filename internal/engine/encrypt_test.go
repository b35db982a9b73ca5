package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// needAge returns the path of Debian's age CLI (make test installs it).
func needAge(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("age is required under CI: %v", err)
		}
		t.Skipf("age not installed: %v", err)
	}
	return p
}

// newKey adds an x25519 key coffer generates; keep says whether coffer
// keeps its identity. It returns the key's id and identity.
func newKey(t *testing.T, e *env, name string, keep bool) (int64, string) {
	t.Helper()
	k, err := e.enc.Create(context.Background(), encryption.Input{Name: name, Type: store.KeyX25519, Generate: true, KeepIdentity: keep})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Identity, "AGE-SECRET-KEY-1") {
		t.Fatalf("a generated key came back without its identity: %+v", k)
	}
	return k.ID, k.Identity
}

// ageTar decrypts an archive with Debian's age and unpacks it with GNU tar,
// no coffer code involved, and returns every file by its entry name.
func ageTar(t *testing.T, data []byte, identity, tarFlag string) map[string][]byte {
	t.Helper()
	ageBin := needAge(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.txt")
	arch := filepath.Join(dir, "archive.age")
	out := filepath.Join(dir, "out")
	for name, b := range map[string][]byte{keyFile: []byte(identity + "\n"), arch: data} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `"$0" -d -i "$1" "$2" | tar -x "$3" -C "$4"`, ageBin, keyFile, arch, tarFlag, out)
	if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("age -d | tar -x %s: %v\n%s", tarFlag, err, msg)
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(out, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameObjects checks that files (entry name -> bytes) hold exactly the corpus.
func sameObjects(t *testing.T, files map[string][]byte, corpus []object) {
	t.Helper()
	if _, ok := files[archive.ManifestName]; !ok {
		t.Fatal("the archive has no manifest")
	}
	if len(files) != len(corpus)+1 {
		t.Fatalf("the archive holds %d files, want %d objects and the manifest", len(files), len(corpus))
	}
	for _, o := range corpus {
		name, _ := archive.ObjectEntryName(o.key)
		if got, ok := files[name]; !ok || !bytes.Equal(got, o.data) {
			t.Fatalf("%s: %d bytes (present %v), want %d", name, len(got), ok, len(o.data))
		}
	}
}

func getObject(t *testing.T, cl *awss3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// localArchive, s3Archive and driveArchive read a completed backup's
// archive from where it was stored.
func localArchive(t *testing.T, e *env, conn string) func(*store.BackupOperation) []byte {
	return func(op *store.BackupOperation) []byte {
		b, err := os.ReadFile(filepath.Join(e.local, conn, op.ArchivePath))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func s3Archive(t *testing.T, cl *awss3.Client, bucket string) func(*store.BackupOperation) []byte {
	return func(op *store.BackupOperation) []byte { return getObject(t, cl, bucket, op.ArchivePath) }
}

func driveArchive(t *testing.T, drive *drivetest.Server) func(*store.BackupOperation) []byte {
	return func(op *store.BackupOperation) []byte {
		base := op.ArchivePath[strings.LastIndex(op.ArchivePath, "/")+1:]
		for _, f := range drive.Files() {
			if f.Name == base {
				b, _ := drive.Content(f.ID)
				return b
			}
		}
		t.Fatalf("Drive has no %s", base)
		return nil
	}
}

func restoreWith(e *env, backup, target int64, u engine.Unlock) (*store.RestoreOperation, error) {
	return e.eng.StartRestore(context.Background(), actor, engine.RestoreRequest{
		BackupOperationID: backup, DestinationConnectionID: target, Config: json.RawMessage(`{}`), Unlock: u})
}

// TestEncryptedBackupEveryDestination backs an S3 bucket up encrypted to a
// local directory, S3 and Google Drive (a key coffer does not keep, one it
// keeps, a passphrase). Each archive is named .age, its sidecar hashes the
// stored ciphertext, Debian's age and GNU tar open it identical to the
// source, and coffer restores it identical; a restore without the identity
// or with another one is refused before anything is queued.
func TestEncryptedBackupEveryDestination(t *testing.T) {
	e, drive, srv := driveEnv(t)
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	corpus := []object{{key: "big/six-mib.bin", data: randBytes(t, 6<<20)}, {key: "meta.txt", data: []byte("hello"), ct: "text/plain", meta: map[string]string{"owner": "ops"}}}
	for i := range 80 {
		corpus = append(corpus, object{key: fmt.Sprintf("many/%03d", i), data: randBytes(t, 50+i*311)})
	}
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	src := e.s3Conn("src", bucket)
	bare, bareID := newKey(t, e, "offline", false)
	kept, keptID := newKey(t, e, "kept", true)
	pass, err := e.enc.Create(context.Background(), encryption.Input{Name: "pass", Type: store.KeyPassphrase, Passphrase: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if pass.Identity != "" {
		t.Fatal("a passphrase key came back with an identity")
	}
	destBucket := srv.NewBucket(t)
	driveDst, _ := driveConn(e, drive, "drive-archives")

	for _, tc := range []struct {
		name, comp string
		key        int64
		identity   string // for the age CLI; "" for the passphrase key
		dst        int64
		stored     func(op *store.BackupOperation) []byte
		unlock     engine.Unlock // what a restore must be given
	}{
		{"local-gzip-offline-key", "gzip", bare, bareID, e.localConn("archives"), func(op *store.BackupOperation) []byte {
			b := localArchive(t, e, "archives")(op)
			sidecar := filepath.Join(e.local, "archives", op.ArchivePath+".sha256")
			cmd := exec.Command("sha256sum", "-c", filepath.Base(sidecar))
			cmd.Dir = filepath.Dir(sidecar)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sha256sum -c on the encrypted archive: %v\n%s", err, out)
			}
			return b
		}, engine.Unlock{Identity: bareID}},
		{"s3-zstd-kept-key", "zstd", kept, keptID, e.s3Conn("s3-archives", destBucket), func(op *store.BackupOperation) []byte {
			side := string(getObject(t, cl, destBucket, op.ArchivePath+".sha256"))
			if !strings.HasPrefix(side, op.SHA256+"  ") || !strings.HasSuffix(strings.TrimSpace(side), ".tar.zst.age") {
				t.Fatalf("sidecar %q for %s", side, op.SHA256)
			}
			return s3Archive(t, cl, destBucket)(op)
		}, engine.Unlock{}},
		{"drive-gzip-passphrase", "gzip", pass.ID, "", driveDst, driveArchive(t, drive), engine.Unlock{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := startBackup(t, e, src, tc.dst, fmt.Sprintf(`{"compression":%q,"encryption_key_id":%d}`, tc.comp, tc.key))
			op := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
			if !strings.HasSuffix(op.ArchivePath, ".tar."+map[string]string{"gzip": "gz", "zstd": "zst"}[tc.comp]+".age") {
				t.Fatalf("archive named %s", op.ArchivePath)
			}
			data := tc.stored(op)
			if int64(len(data)) != op.ArchiveSize || sha256Hex(data) != op.SHA256 {
				t.Fatalf("stored %d bytes hashing to %s; the catalog says %d, %s", len(data), sha256Hex(data), op.ArchiveSize, op.SHA256)
			}
			if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) || bytes.Contains(data, corpus[1].data) || bytes.Contains(data, []byte("manifest.json")) {
				t.Fatal("the stored archive is not an age file, or shows plaintext")
			}
			if tc.identity != "" {
				flag := map[string]string{"gzip": "-z", "zstd": "--zstd"}[tc.comp]
				sameObjects(t, ageTar(t, data, tc.identity, flag), corpus)
			}

			target := srv.NewBucket(t)
			tgt := e.s3Conn("restore-"+tc.name, target)
			if tc.unlock.Given() {
				_, err := restoreWith(e, id, tgt, engine.Unlock{})
				wantField(t, err, "identity")
			}
			_, other := newKey(t, e, "other-"+tc.name, false)
			_, err := restoreWith(e, id, tgt, engine.Unlock{Identity: other})
			if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Invalid || !strings.Contains(ae.Message, "cannot decrypt archive") {
				t.Fatalf("restore with another key: %v, want a 422 saying the key cannot decrypt the archive", err)
			}
			if n, _ := countRestores(e, id); n != 0 {
				t.Fatalf("%d restores recorded after refusals", n)
			}
			r, err := restoreWith(e, id, tgt, tc.unlock)
			if err != nil {
				t.Fatal(err)
			}
			e.waitRestore(r.ID, store.StatusCompleted, 2*time.Minute)
			checkRestored(t, cl, target, "", corpus)
			if sealed, _ := e.st.RestoreSecret(context.Background(), r.ID); sealed != nil {
				t.Fatal("the identity given with the restore is still kept after it ended")
			}
		})
	}
}

func countRestores(e *env, backup int64) (int64, error) {
	_, n, err := e.st.ListRestores(context.Background(), store.RestoreFilter{BackupID: backup}, store.Page{Page: 1, PerPage: 1})
	return n, err
}

// TestEncryptedArchiveFlippedByte: a byte flipped anywhere in the stored
// ciphertext fails the restore, and no object holds wrong bytes (those
// restored before the damaged chunk are exact, the one it falls in is not
// written at all).
func TestEncryptedArchiveFlippedByte(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var corpus []object
	for i := range 40 {
		corpus = append(corpus, object{key: fmt.Sprintf("k/%02d", i), data: randBytes(t, 100_000)})
	}
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	key, _ := newKey(t, e, "k", true)
	id := startBackup(t, e, e.s3Conn("src", bucket), e.localConn("a"), fmt.Sprintf(`{"encryption_key_id":%d}`, key))
	op := e.waitBackup(id, store.StatusCompleted, time.Minute)
	path := filepath.Join(e.local, "a", op.ArchivePath)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("tgt", target), `{}`)
	r := e.waitRestore(rid, store.StatusFailed, time.Minute)
	if !strings.Contains(r.ErrorMessage, "damaged") {
		t.Fatalf("restore of a damaged archive failed with %q", r.ErrorMessage)
	}
	out, err := cl.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &target})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) == 0 || len(out.Contents) >= len(corpus) {
		t.Fatalf("%d of %d objects restored; the flipped byte is in the middle", len(out.Contents), len(corpus))
	}
	byKey := map[string][]byte{}
	for _, o := range corpus {
		byKey[o.key] = o.data
	}
	for _, o := range out.Contents {
		if got := getObject(t, cl, target, *o.Key); !bytes.Equal(got, byKey[*o.Key]) {
			t.Fatalf("restored %s holds wrong bytes", *o.Key)
		}
	}
}

// TestEncryptedPauseResume pauses an encrypted backup mid-way and resumes
// it: it goes on inside the same age stream (nothing is read twice), and
// Debian's age and GNU tar read the result identical.
func TestEncryptedPauseResume(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	src, proxy, corpus, total := slowSource(t, e, srv, 160, 128<<10, 15*time.Millisecond)
	destBucket := srv.NewBucket(t)
	key, identity := newKey(t, e, "k", false)
	id := startBackup(t, e, src, e.s3Conn("dest", destBucket), fmt.Sprintf(`{"encryption_key_id":%d}`, key))
	waitProgress(t, e, id, 50)
	paused := pauseHeld(t, e, proxy, id)
	if paused.Progress.ItemsDone >= int64(len(corpus)) {
		t.Fatal("the backup finished before the pause took effect; make the source slower")
	}
	if sealed, _ := e.st.BackupCheckpointSecret(context.Background(), id); len(sealed) == 0 || bytes.Contains(sealed, []byte(identity)) {
		t.Fatal("the paused backup has no sealed encryption state")
	}
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	op := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	if op.Progress.BytesRead != total {
		t.Fatalf("bytes_read %d, want %d: something was read twice (paused at %d)", op.Progress.BytesRead, total, paused.Progress.BytesRead)
	}
	logs, _ := e.st.ListLogs(context.Background(), store.KindBackup, id, 0, 1000)
	for _, l := range logs {
		if strings.Contains(l.Message, "starts again") {
			t.Fatalf("a paused encrypted backup started again: %s", l.Message)
		}
	}
	sameObjects(t, ageTar(t, getObject(t, srv.Client(t), destBucket, op.ArchivePath), identity, "-z"), corpus)
}

// TestMongoEncrypted backs a MongoDB database up encrypted to a local
// directory, S3 and Google Drive: age and tar unpack mongodump's layout with
// every document, and coffer restores it identical with the identity it is
// given.
func TestMongoEncrypted(t *testing.T) {
	e, drive, srv := driveEnv(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	db := mdb.NewDatabase(t)
	seedMongo(t, cl, db)
	key, identity := newKey(t, e, "mongo", false)
	src := e.conn("mongo-src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	bucket := srv.NewBucket(t)
	driveDst, _ := driveConn(e, drive, "mongo-drive")
	for _, tc := range []struct {
		name, comp, tarFlag string
		dst                 int64
		stored              func(*store.BackupOperation) []byte
	}{
		{"local-zstd", "zstd", "--zstd", e.localConn("m"), localArchive(t, e, "m")},
		{"s3-gzip", "gzip", "-z", e.s3Conn("m-s3", bucket), s3Archive(t, srv.Client(t), bucket)},
		{"drive-zstd", "zstd", "--zstd", driveDst, driveArchive(t, drive)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := startBackup(t, e, src, tc.dst, fmt.Sprintf(`{"compression":%q,"encryption_key_id":%d}`, tc.comp, key))
			op := e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
			files := ageTar(t, tc.stored(op), identity, tc.tarFlag)
			for _, coll := range []string{"people", "orders", "empty"} {
				name := fmt.Sprintf("mongodb/%s/%s.bson", db, coll)
				b, ok := files[name]
				if !ok {
					t.Fatalf("age | tar has no %s", name)
				}
				var n int
				for len(b) > 0 {
					doc := bson.Raw(b[:int(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24)])
					if err := doc.Validate(); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					b, n = b[len(doc):], n+1
				}
				if want := len(mongoDocs(t, cl, db, coll)); n != want {
					t.Fatalf("%s holds %d documents, the source %d", name, n, want)
				}
			}
			restored := restoreMongo(t, e, mdb, id, identity)
			for _, coll := range []string{"people", "orders", "empty"} {
				sameDocs(t, cl, db, restored, coll)
			}
		})
	}
}

// TestHandMadeEncryptedArchiveRestores: an archive made by hand with GNU
// tar (coffer's PAX records and a manifest), gzip and Debian's age, recorded
// in the catalog as a completed backup, restores identical through coffer.
func TestHandMadeEncryptedArchiveRestores(t *testing.T) {
	ageBin := needAge(t)
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	key, identity := newKey(t, e, "by-hand", false)
	k, err := e.enc.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	corpus := []object{{key: "a.txt", data: []byte("made by hand\n")}, {key: "dir/b.bin", data: randBytes(t, 300_000)}}
	work := t.TempDir()
	var entries []store.ArchiveEntry
	var manifest []string
	for i, o := range corpus {
		name, _ := archive.ObjectEntryName(o.key)
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, o.data, 0o600); err != nil {
			t.Fatal(err)
		}
		// One tar call per file: --pax-option applies to every member.
		cmd := exec.Command("tar", "--format=pax", "--pax-option=delete=atime,delete=ctime,"+archive.PAXKey+":="+o.key, "-rf", "x.tar", name)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar -r: %v\n%s", err, out)
		}
		me := archive.ManifestEntry{Name: name, Key: o.key, Size: int64(len(o.data)), SHA256: sha256Hex(o.data)}
		line, _ := json.Marshal(me)
		manifest = append(manifest, string(line))
		entries = append(entries, store.ArchiveEntry{Seq: int64(i), Data: line})
	}
	m := `{"format_version":1,"coffer_version":"by-hand","source":{"type":"s3","name":"hand"},"entries":[` + strings.Join(manifest, ",") + "]}\n"
	if err := os.WriteFile(filepath.Join(work, "manifest.json"), []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	dstDir := filepath.Join(e.local, "hand")
	if err := os.MkdirAll(filepath.Join(dstDir, "hand"), 0o700); err != nil {
		t.Fatal(err)
	}
	archivePath := "hand/by-hand.tar.gz.age"
	script := `tar -rf x.tar manifest.json && gzip -c x.tar | "$0" -r "$1" -o "$2"`
	cmd := exec.Command("sh", "-c", script, ageBin, k.Recipient, filepath.Join(dstDir, archivePath))
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar | gzip | age -r: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dstDir, archivePath))
	if err != nil {
		t.Fatal(err)
	}

	// Record it as a completed backup, as an import would.
	ctx := context.Background()
	dst := e.localConn("hand")
	b := &store.BackupOperation{SourceConnectionID: e.s3Conn("hand-src", srv.NewBucket(t)), DestinationConnectionID: dst,
		Options: json.RawMessage(fmt.Sprintf(`{"encryption_key_id":%d}`, key)), Operation: store.Operation{Status: store.StatusPending}}
	if err := e.st.CreateBackup(ctx, nil, b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.TransitionOperation(ctx, nil, store.KindBackup, b.ID, []string{store.StatusPending}, store.StatusRunning); err != nil {
		t.Fatal(err)
	}
	tok, err := e.st.AcquireLease(ctx, store.KindBackup, b.ID, "by-hand", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{}, []byte(`{}`), nil, nil, entries); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CompleteBackup(ctx, b.ID, tok, store.BackupResult{ArchivePath: archivePath, ArchiveSize: int64(len(data)), SHA256: sha256Hex(data)}); err != nil {
		t.Fatal(err)
	}
	target := srv.NewBucket(t)
	r, err := restoreWith(e, b.ID, e.s3Conn("tgt", target), engine.Unlock{Identity: "# a key file as age-keygen writes it\n" + identity})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.waitRestore(r.ID, store.StatusCompleted, time.Minute); got.Status != store.StatusCompleted {
		t.Fatal(got.ErrorMessage)
	}
	checkRestored(t, srv.Client(t), target, "", corpus)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestMongoEncryptedCollectionChanges: a document of the collection grows
// between its measuring and its copy. A plain archive would go back to
// before the collection; an encrypted one cannot go back inside its age
// stream, so it starts again from the beginning, says so, and completes
// with the document as it is now.
func TestMongoEncryptedCollectionChanges(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	db := mdb.NewDatabase(t)
	coll := cl.Database(db).Collection("big")
	var measured atomic.Int64
	// No spool: the copy reads the server again, and sees the document
	// added once the collection was measured.
	e := newEnv(t, srv, engine.Options{MongoSpoolLimit: -1, CrashAt: func(point string) {
		if point == "collection-measured" && measured.Add(1) == 1 {
			// A document grows: the copy reads more bytes than were measured.
			if _, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: int64(0)}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "late", Value: true}, {Key: "pad", Value: bson.Binary{Data: randBytes(t, 1000)}}}}}); err != nil {
				t.Errorf("update: %v", err)
			}
		}
	}})
	var docs []any
	for i := range 8000 {
		docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "pad", Value: bson.Binary{Data: randBytes(t, 200)}}})
		if len(docs) == 2000 {
			if _, err := coll.InsertMany(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	key, identity := newKey(t, e, "k", false)
	id := startBackup(t, e, e.conn("src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db}),
		e.localConn("m"), fmt.Sprintf(`{"encryption_key_id":%d}`, key))
	op := e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
	logs, _ := e.st.ListLogs(context.Background(), store.KindBackup, id, 0, 1000)
	var restarted bool
	for _, l := range logs {
		restarted = restarted || strings.Contains(l.Message, "the archive starts again from the beginning (attempt 2 of 3)")
	}
	if !restarted || op.Progress.ItemsDone != 8000 {
		for _, l := range logs {
			t.Log(l.Message)
		}
		t.Fatalf("restarted %v, items_done %d (want 8000)", restarted, op.Progress.ItemsDone)
	}
	data, err := os.ReadFile(filepath.Join(e.local, "m", op.ArchivePath))
	if err != nil {
		t.Fatal(err)
	}
	if bson := ageTar(t, data, identity, "-z")[fmt.Sprintf("mongodb/%s/big.bson", db)]; !bytes.Contains(bson, []byte("late")) {
		t.Fatal("the archive does not hold the document as it was changed")
	}
	restored := restoreMongo(t, e, mdb, id, identity)
	if n := sameDocs(t, cl, db, restored, "big"); n != 8000 {
		t.Fatalf("%d documents restored", n)
	}
}

// restoreMongo restores MongoDB backup id, encrypted for identity, into a
// new database and returns its name.
func restoreMongo(t *testing.T, e *env, mdb *mongotest.Server, id int64, identity string) string {
	t.Helper()
	restored := mdb.NewDatabase(t)
	r, err := e.eng.StartRestore(context.Background(), actor, engine.RestoreRequest{BackupOperationID: id,
		DestinationConnectionID: e.conn(fmt.Sprintf("tgt-%d", id), store.TypeMongoDB, map[string]string{"uri": mdb.URI}),
		Config:                  json.RawMessage(fmt.Sprintf(`{"database":%q}`, restored)), Unlock: engine.Unlock{Identity: identity}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitRestore(r.ID, store.StatusCompleted, 3*time.Minute)
	return restored
}
