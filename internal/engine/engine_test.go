package engine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connection"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// env is one engine with its own catalog, connection service, queue
// workers, S3 server and local dir.
type env struct {
	t     *testing.T
	st    *store.Store
	conns *connection.Service
	q     *queue.Queue
	eng   *engine.Engine
	s3    *s3test.Server
	local string
	told  *told
	enc   *encryption.Service
}

// told records what the engine told its notifier, one line per call.
type told struct {
	mu    sync.Mutex
	lines []string
}

func (r *told) OperationEnded(_ context.Context, kind string, id int64) {
	r.add(fmt.Sprintf("%s %d ended", kind, id))
}

func (r *told) ConnectionNeedsReauth(_ context.Context, id int64) {
	r.add(fmt.Sprintf("connection %d needs reauth", id))
}

func (r *told) StorageInsufficient(_ context.Context, id int64, detail string) {
	r.add(fmt.Sprintf("backup %d short of space: %s", id, detail))
}

func (r *told) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, s)
}

// waitFor waits up to 10 s for the lines so far, joined with "; ", to be
// want (a worker tells after it has recorded the end that tests wait for)
// and returns them.
func (r *told) waitFor(want string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := strings.Join(r.said(), "; ")
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// said returns the lines so far.
func (r *told) said() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func newEnv(t *testing.T, s3srv *s3test.Server, opt engine.Options) *env {
	t.Helper()
	return newEnvWith(t, s3srv, opt, nil)
}

// newEnvWith is newEnv with the engine's catalog passed through wrap (a
// fault injector around the real store) when wrap is not nil.
func newEnvWith(t *testing.T, s3srv *s3test.Server, opt engine.Options, wrap func(*store.Store) store.Catalog) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	q, err := queue.New(ctx, st, queue.Options{DatabaseURL: st.URL(), Workers: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// S3 parts of 5 MiB (S3's least) give the tests more parts to checkpoint after.
	conns, err := connection.New(st, keys, connection.Options{LocalRoots: []string{local}, S3: s3conn.Options{MinPartSize: 5 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if opt.Heartbeat == 0 {
		opt.Heartbeat = 200 * time.Millisecond
	}
	if opt.LeaseTimeout == 0 {
		opt.LeaseTimeout = 3 * time.Second
	}
	var cat store.Catalog = st
	if wrap != nil {
		cat = wrap(st)
	}
	eng := engine.New(cat, conns, q, opt, log)
	rec := &told{}
	eng.SetNotifier(rec)
	enc := encryption.New(st, keys)
	enc.SetScryptWorkFactor(10) // age's default (18) takes a second per archive
	eng.SetKeys(enc)
	q.SetRunner(eng)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
	})
	return &env{t: t, st: st, conns: conns, q: q, eng: eng, s3: s3srv, local: local, told: rec, enc: enc}
}

// conn stores a connection without its live check (the engine's tests
// check the connections by using them).
func (e *env) conn(name, typ string, creds any) int64 {
	e.t.Helper()
	plain, err := json.Marshal(creds)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := e.conns.Create(context.Background(), connection.NewConnection{Name: name, Type: typ, Credentials: plain, SaveUnchecked: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return v.ID
}

func (e *env) s3Conn(name, bucket string) int64 {
	return e.conn(name, store.TypeS3, e.s3.Config(bucket))
}

func (e *env) localConn(name string) int64 {
	return e.conn(name, store.TypeLocal, map[string]string{"path": filepath.Join(e.local, name)})
}

// settled reports whether status is final: waiting for another one is vain.
func settled(status string) bool {
	return status == store.StatusCompleted || status == store.StatusFailed || status == store.StatusCancelled
}

func (e *env) waitBackup(id int64, want string, within time.Duration) *store.BackupOperation {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		op, err := e.st.GetBackup(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if op.Status == want {
			return op
		}
		if time.Now().After(deadline) || settled(op.Status) {
			e.dumpLogs(store.KindBackup, id)
			e.t.Fatalf("backup %d is %s (error %q), want %s", id, op.Status, op.ErrorMessage, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) waitRestore(id int64, want string, within time.Duration) *store.RestoreOperation {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		op, err := e.st.GetRestore(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if op.Status == want {
			return op
		}
		if time.Now().After(deadline) || settled(op.Status) {
			e.dumpLogs(store.KindRestore, id)
			e.t.Fatalf("restore %d is %s (error %q), want %s", id, op.Status, op.ErrorMessage, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) dumpLogs(kind string, id int64) {
	logs, _ := e.st.ListLogs(context.Background(), kind, id, 0, 1000)
	for _, l := range logs {
		e.t.Logf("[%s] %s %s", l.Level, l.Message, l.Context)
	}
}

var actor = engine.Actor{UserID: 1, Email: "test@example.com"}

// object is one object of a test corpus.
type object struct {
	key  string
	data []byte
	ct   string
	meta map[string]string
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t testing.TB, cl *awss3.Client, bucket string, o object) {
	t.Helper()
	in := &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String(o.key), Body: bytes.NewReader(o.data), Metadata: o.meta}
	if o.ct != "" {
		in.ContentType = aws.String(o.ct)
		in.CacheControl = aws.String("max-age=60")
		in.ContentDisposition = aws.String(`attachment; filename="x.bin"`)
		in.ContentEncoding = aws.String("identity")
		in.ContentLanguage = aws.String("en")
	}
	if _, err := cl.PutObject(context.Background(), in); err != nil {
		t.Fatalf("put %q: %v", o.key, err)
	}
}

// checkRestored asserts every object is at prefix+key in bucket, byte-identical, metadata equal.
func checkRestored(t *testing.T, cl *awss3.Client, bucket, prefix string, corpus []object) {
	t.Helper()
	for _, o := range corpus {
		key := prefix + o.key
		out, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Errorf("restored %q: %v", key, err)
			continue
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, o.data) {
			t.Errorf("restored %q: %d bytes differ from the original %d", key, len(got), len(o.data))
		}
		for k, v := range o.meta {
			if out.Metadata[k] != v {
				t.Errorf("restored %q: metadata %s = %q, want %q", key, k, out.Metadata[k], v)
			}
		}
		if o.ct != "" {
			if aws.ToString(out.ContentType) != o.ct || aws.ToString(out.CacheControl) != "max-age=60" ||
				aws.ToString(out.ContentDisposition) != `attachment; filename="x.bin"` || aws.ToString(out.ContentLanguage) != "en" {
				t.Errorf("restored %q: HTTP metadata differs: type %q cache %q disposition %q language %q", key,
					aws.ToString(out.ContentType), aws.ToString(out.CacheControl), aws.ToString(out.ContentDisposition), aws.ToString(out.ContentLanguage))
			}
		}
	}
}

func startBackup(t *testing.T, e *env, src, dst int64, opts string) int64 {
	t.Helper()
	req := engine.BackupRequest{SourceConnectionID: src, DestinationConnectionID: dst}
	if opts != "" {
		req.Options = json.RawMessage(opts)
	}
	op, err := e.eng.StartBackup(context.Background(), actor, req)
	if err != nil {
		t.Fatalf("start backup: %v", err)
	}
	return op.ID
}

func startRestore(t *testing.T, e *env, backup, target int64, cfg string) int64 {
	t.Helper()
	op, err := e.eng.StartRestore(context.Background(), actor, engine.RestoreRequest{
		BackupOperationID: backup, DestinationConnectionID: target, Config: json.RawMessage(cfg)})
	if err != nil {
		t.Fatalf("start restore: %v", err)
	}
	return op.ID
}

func standardCorpus(t *testing.T) []object {
	corpus := []object{
		{key: "empty", data: nil},
		{key: "dir/", data: nil}, // a directory marker
		{key: "with space/and+plus.txt", data: []byte("hello world"), ct: "text/plain", meta: map[string]string{"owner": "ops", "note": "ünïcode ok"}},
		{key: "ünïcødé/ファイル.bin", data: randBytes(t, 5000)},
		{key: "long/" + strings.Repeat("k", 199) + "/" + strings.Repeat("l", 199) + "/" + strings.Repeat("m", 199) + "/" + strings.Repeat("n", 199) + "/" + strings.Repeat("o", 194), data: []byte("a 1,000-byte key")},
		{key: "big/forty-mib.bin", data: randBytes(t, 40<<20), ct: "application/octet-stream", meta: map[string]string{"size": "40m"}},
	}
	for i := range 300 {
		corpus = append(corpus, object{key: fmt.Sprintf("many/%04d.dat", i), data: randBytes(t, 100+i*37)})
	}
	return corpus
}

func TestBackupRestoreS3ToLocalAndS3(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	srcBucket := srv.NewBucket(t)
	corpus := standardCorpus(t)
	for _, o := range corpus {
		put(t, cl, srcBucket, o)
	}
	src := e.s3Conn("source bucket", srcBucket)

	for _, tc := range []struct {
		name string
		dst  func() int64
		opts string
	}{
		{"local-gzip", func() int64 { return e.localConn("archives") }, ""},
		{"s3-zstd", func() int64 { return e.s3Conn("archive-bucket", srv.NewBucket(t)) }, `{"compression":"zstd"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := tc.dst()
			id := startBackup(t, e, src, dst, tc.opts)
			op := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
			if op.Progress.ItemsDone != int64(len(corpus)) {
				t.Errorf("items_done = %d, want %d", op.Progress.ItemsDone, len(corpus))
			}
			if op.SHA256 == "" || op.ArchiveSize == 0 || op.ArchivePath == "" {
				t.Fatalf("completed backup lacks its archive: %+v", op)
			}
			logs, _ := e.st.ListLogs(context.Background(), store.KindBackup, id, 0, 1000)
			if len(logs) < 3 {
				t.Errorf("only %d log lines", len(logs))
			}

			target := srv.NewBucket(t)
			tgt := e.s3Conn("restore-"+tc.name, target)
			rid := startRestore(t, e, id, tgt, `{"prefix":"restored/"}`)
			e.waitRestore(rid, store.StatusCompleted, 2*time.Minute)
			checkRestored(t, cl, target, "restored/", corpus)

			// A second restore without overwrite skips everything.
			rid2 := startRestore(t, e, id, tgt, `{"prefix":"restored/"}`)
			e.waitRestore(rid2, store.StatusCompleted, 2*time.Minute)
			logs, _ = e.st.ListLogs(context.Background(), store.KindRestore, rid2, 0, 1000)
			last := logs[len(logs)-1].Message
			if !strings.Contains(last, fmt.Sprintf("0 objects written, %d skipped", len(corpus))) {
				t.Errorf("second restore: %q", last)
			}
		})
	}
}

// TestArchiveOpensWithoutCoffer checks the local archive with GNU tar and sha256sum.
func TestArchiveOpensWithoutCoffer(t *testing.T) {
	for _, tool := range []string{"tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 7})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var keys []string
	for i := range 120 {
		k := fmt.Sprintf("k/%03d-%s", (i*37)%120, strings.Repeat("x", i%5))
		put(t, cl, bucket, object{key: k, data: randBytes(t, 1+i*500)})
		keys = append(keys, k)
	}
	sort.Strings(keys)
	id := startBackup(t, e, e.s3Conn("src", bucket), e.localConn("plain"), "")
	op := e.waitBackup(id, store.StatusCompleted, time.Minute)
	path := filepath.Join(e.local, "plain", op.ArchivePath)

	out, err := exec.Command("tar", "-tzf", path).CombinedOutput()
	if testing.Verbose() {
		t.Logf("tar -tzf:\n%.3000s", out)
	}
	if err != nil {
		t.Fatalf("tar -tzf: %v\n%s", err, out)
	}
	names := strings.Fields(string(out))
	if len(names) != len(keys)+1 || names[len(names)-1] != "manifest.json" {
		t.Fatalf("tar lists %d entries (last %q), want %d + manifest.json", len(names), names[len(names)-1], len(keys))
	}
	for i, k := range keys {
		if names[i] != "objects/"+k {
			t.Fatalf("entry %d is %q, want %q (key order)", i, names[i], "objects/"+k)
		}
	}
	cmd := exec.Command("sha256sum", "-c", filepath.Base(path)+".sha256")
	cmd.Dir = filepath.Dir(path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	r := readArchive(t, path, func(name string, body io.Reader) {
		if name == "manifest.json" {
			m, err := archive.ReadManifest(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Entries) != len(keys) || m.Source.Name != "src" {
				t.Fatalf("manifest has %d entries, source %+v", len(m.Entries), m.Source)
			}
		}
	})
	if r.SHA256Hex() != op.SHA256 {
		t.Fatalf("archive hashes to %s, catalog says %s", r.SHA256Hex(), op.SHA256)
	}
}

// readArchive reads the local archive at path with the verifying reader,
// giving each entry's name and body to fn in order; it returns the reader,
// whose SHA256Hex then covers the whole archive.
func readArchive(t *testing.T, path string, fn func(name string, body io.Reader)) *archive.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := archive.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ent, err := r.Next()
		if err == io.EOF {
			return r
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(ent.Name, r)
	}
}

// TestCorruptArchiveFailsRestore flips one byte of a stored archive.
func TestCorruptArchiveFailsRestore(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	corpus := []object{}
	for i := range 40 {
		corpus = append(corpus, object{key: fmt.Sprintf("obj-%02d", i), data: randBytes(t, 20000)})
	}
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	id := startBackup(t, e, e.s3Conn("src", bucket), e.localConn("a"), "")
	op := e.waitBackup(id, store.StatusCompleted, time.Minute)
	path := filepath.Join(e.local, "a", op.ArchivePath)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("tgt", target), `{}`)
	rop := e.waitRestore(rid, store.StatusFailed, time.Minute)
	if rop.ErrorMessage == "" {
		t.Fatal("failed restore has no error message")
	}
	t.Logf("restore failed as expected: %s", rop.ErrorMessage)
	// Whatever was written before the damage is byte-identical; nothing else exists.
	want := map[string][]byte{}
	for _, o := range corpus {
		want[o.key] = o.data
	}
	list, err := cl.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &target})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		out, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &target, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, want[*o.Key]) {
			t.Errorf("object %q holds wrong bytes after a failed restore", *o.Key)
		}
	}
}
