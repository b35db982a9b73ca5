package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// bucketState is what a bucket holds: each key's object.
type bucketState map[string]object

// putAll writes objects into bucket and records them in st.
func (st bucketState) put(t *testing.T, cl *awss3.Client, bucket string, objs ...object) {
	t.Helper()
	for _, o := range objs {
		put(t, cl, bucket, o)
		st[o.key] = o
	}
}

// del deletes keys from bucket and from st.
func (st bucketState) del(t *testing.T, cl *awss3.Client, bucket string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := cl.DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
		delete(st, k)
	}
}

// checkBucketIs asserts bucket holds exactly the objects of want: the same
// keys, bytes and metadata.
func checkBucketIs(t *testing.T, cl *awss3.Client, bucket string, want bucketState) {
	t.Helper()
	var got []string
	p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	keys := slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, keys) {
		t.Fatalf("bucket %s holds %d keys, want %d:\n got %q\nwant %q", bucket, len(got), len(keys), got, keys)
	}
	checkRestored(t, cl, bucket, "", slices.Collect(maps.Values(want)))
}

// backupLog is the text of an operation's log.
func backupLog(t *testing.T, e *env, kind string, id int64) string {
	t.Helper()
	lines, err := e.st.ListLogs(context.Background(), kind, id, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Message)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestIncrementalChain backs up a bucket four times as it changes (objects
// changed, one of them twice, deleted, added, a deleted key added again,
// one object's metadata alone changed, nothing changed) and restores every
// point into a new bucket, each identical to the bucket as it was. The
// chain verifies, its base cannot be deleted while it is needed, and an
// incremental whose base failed verification or was pruned is a full one.
func TestIncrementalChain(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{SmallObject: 256 << 10})
	cl := srv.Client(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	live := bucketState{}
	text := func(i int) []byte {
		return []byte(strings.Repeat(fmt.Sprintf("line %d of a text file that compresses well\n", i), 50+i))
	}
	for i := range 40 {
		live.put(t, cl, bucket, object{key: fmt.Sprintf("docs/%03d.txt", i), data: text(i), ct: "text/plain", meta: map[string]string{"n": fmt.Sprint(i)}})
	}
	for i := range 20 {
		live.put(t, cl, bucket, object{key: fmt.Sprintf("photos/%03d.jpg", i), data: randBytes(t, 3000+i*700)})
	}
	live.put(t, cl, bucket, object{key: "video/large.mp4", data: randBytes(t, 3<<20)}, object{key: "empty", data: nil})
	src := e.s3Conn("bucket", bucket)
	dst := e.localConn("nas")
	const incr = `{"mode":"incremental"}`
	var states []bucketState
	var points []*store.BackupOperation
	run := func() *store.BackupOperation {
		t.Helper()
		b := e.waitBackup(startBackup(t, e, src, dst, incr), store.StatusCompleted, 2*time.Minute)
		states = append(states, maps.Clone(live))
		points = append(points, b)
		return b
	}

	first := run()
	if first.Mode != store.ModeFull || first.BaseBackupID != 0 || first.ChangedObjects == nil || *first.ChangedObjects != int64(len(live)) {
		t.Fatalf("the first incremental: mode %s base %d changed %v, want a full one of %d objects", first.Mode, first.BaseBackupID, first.ChangedObjects, len(live))
	}
	if log := backupLog(t, e, store.KindBackup, first.ID); !strings.Contains(log, "This backup is a full one, not an incremental: there is no earlier completed backup") {
		t.Fatalf("the first backup's log does not say why it is a full one:\n%s", log)
	}
	// The random photos went in stored, the text compressed.
	stored := map[string]bool{}
	if err := engine.EachEntry(ctx, e.st, first.ID, func(me archive.ManifestEntry) error { stored[me.Key] = me.Stored; return nil }); err != nil {
		t.Fatal(err)
	}
	if !stored["photos/003.jpg"] || !stored["video/large.mp4"] || stored["docs/003.txt"] {
		t.Fatalf("stored: photo %v video %v text %v; want the photo and the video stored, the text compressed",
			stored["photos/003.jpg"], stored["video/large.mp4"], stored["docs/003.txt"])
	}

	// Two changed, two deleted, two added.
	live.put(t, cl, bucket, object{key: "docs/001.txt", data: []byte("rewritten"), ct: "text/plain"},
		object{key: "photos/002.jpg", data: randBytes(t, 4000)},
		object{key: "new/a", data: []byte("a")}, object{key: "new/b", data: randBytes(t, 70000)})
	live.del(t, cl, bucket, "docs/010.txt", "docs/011.txt")
	second := run()
	wantIncremental(t, second, first.ID, 4, len(live))

	// A deleted key comes back, one changes a second time, one changes
	// its metadata only, one goes.
	time.Sleep(1100 * time.Millisecond) // Last-Modified has whole seconds
	live.put(t, cl, bucket, object{key: "docs/010.txt", data: []byte("back again"), ct: "text/plain"},
		object{key: "docs/001.txt", data: []byte("rewritten twice"), ct: "text/plain"})
	// Its metadata alone changes: the same bytes written again with other
	// metadata (same size and ETag, a later Last-Modified). S3's in-place
	// CopyObject with REPLACE does the same; versitygw's keeps the old
	// Last-Modified, so the test writes the object again instead.
	o := live["docs/020.txt"]
	o.meta = map[string]string{"n": "twenty", "reviewed": "yes"}
	live.put(t, cl, bucket, o)
	live.del(t, cl, bucket, "new/a")
	third := run()
	wantIncremental(t, third, second.ID, 3, len(live))

	fourth := run() // nothing changed
	wantIncremental(t, fourth, third.ID, 0, len(live))
	if log := backupLog(t, e, store.KindBackup, fourth.ID); !strings.Contains(log, "0 of them new or changed since backup #") {
		t.Fatalf("the log of an incremental with nothing changed:\n%s", log)
	}

	// Every point restores to the bucket as it was.
	for i, p := range points {
		target := srv.NewBucket(t)
		r := e.waitRestore(startRestore(t, e, p.ID, e.s3Conn(fmt.Sprintf("t%d", i), target), `{}`), store.StatusCompleted, 2*time.Minute)
		checkBucketIs(t, cl, target, states[i])
		var chain int64
		for _, q := range points[:i+1] {
			chain += q.ArchiveSize
		}
		if r.Progress.BytesRead > chain {
			t.Errorf("the restore of point %d read %d bytes, more than its chain's %d: an archive was read twice", i+1, r.Progress.BytesRead, chain)
		}
		if i == 3 {
			if log := backupLog(t, e, store.KindRestore, r.ID); !strings.Contains(log, "read from 3 archives of its chain, oldest first, each once") {
				t.Errorf("the restore of the last point does not name its chain:\n%s", log)
			}
		}
	}
	// A restore of chosen keys from the last point.
	target := srv.NewBucket(t)
	e.waitRestore(startRestore(t, e, fourth.ID, e.s3Conn("chosen", target), `{"keys":["docs/001.txt","photos/005.jpg"]}`), store.StatusCompleted, time.Minute)
	checkBucketIs(t, cl, target, bucketState{"docs/001.txt": live["docs/001.txt"], "photos/005.jpg": live["photos/005.jpg"]})

	// The chain verifies whole.
	v, res := verifyNow(t, e, fourth.ID)
	if v.Status != store.StatusCompleted || res.EntriesChecked < int64(len(states[0])) {
		t.Fatalf("verifying the chain: %s, %d entries checked: %s", v.Status, res.EntriesChecked, problemText(res))
	}

	// A base in use cannot be deleted; the newest can.
	if err := e.eng.DeleteArchive(ctx, actor, first.ID, store.PruneDeleted); !isConflict(err) {
		t.Fatalf("deleting the base of a chain: %v, want a conflict", err)
	}

	// A damaged archive in the chain fails the chain's verification, and
	// the next incremental is a full one.
	p := filepath.Join(e.local, "nas", second.ArchivePath)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(data)
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	v, res = verifyNow(t, e, fourth.ID)
	if v.Status != store.StatusFailed || !strings.Contains(problemText(res), fmt.Sprintf("In backup #%d", second.ID)) {
		t.Fatalf("verifying a chain with a damaged archive: %s: %s", v.Status, problemText(res))
	}
	_ = os.WriteFile(p, good, 0o600)
	full := run()
	if full.Mode != store.ModeFull {
		t.Fatalf("after a failed verification of #%d the next backup is %s", fourth.ID, full.Mode)
	}
	if log := backupLog(t, e, store.KindBackup, full.ID); !strings.Contains(log, fmt.Sprintf("backup #%d of the chain failed its last verification", fourth.ID)) {
		t.Fatalf("the log does not say why the backup is full:\n%s", log)
	}
	next := run()
	wantIncremental(t, next, full.ID, 0, len(live))
	// A chain whose link is gone (a catalog edited by hand) is refused
	// before anything is queued.
	if err := e.st.MarkPruned(ctx, second.ID, store.PruneDeleted, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.StartRestore(ctx, actor, engine.RestoreRequest{BackupOperationID: fourth.ID, DestinationConnectionID: e.s3Conn("broken", srv.NewBucket(t))})
	if !isConflict(err) || !strings.Contains(err.Error(), fmt.Sprintf("needs backup #%d", second.ID)) || !strings.Contains(err.Error(), "was pruned") {
		t.Fatalf("restoring a point whose chain lost a link: %v", err)
	}
	// The newest is deleted (nothing needs it); the one after is full.
	if err := e.eng.DeleteArchive(ctx, actor, next.ID, store.PruneDeleted); err != nil {
		t.Fatal(err)
	}
	after := run()
	if after.Mode != store.ModeFull {
		t.Fatalf("after the previous backup was pruned the next one is %s", after.Mode)
	}
	if log := backupLog(t, e, store.KindBackup, after.ID); !strings.Contains(log, fmt.Sprintf("backup #%d of the chain was pruned", next.ID)) {
		t.Fatalf("the log does not say the base was pruned:\n%s", log)
	}
}

// wantIncremental checks that b is an incremental on base holding changed
// of its objects objects.
func wantIncremental(t *testing.T, b *store.BackupOperation, base int64, changed, objects int) {
	t.Helper()
	got := int64(-1)
	if b.ChangedObjects != nil {
		got = *b.ChangedObjects
	}
	if b.Mode != store.ModeIncremental || b.BaseBackupID != base || got != int64(changed) || backupItemsOf(b) != int64(objects) {
		t.Fatalf("backup %d: mode %s base %d changed %d of %d, want incremental on %d, %d changed of %d",
			b.ID, b.Mode, b.BaseBackupID, got, backupItemsOf(b), base, changed, objects)
	}
}

func backupItemsOf(b *store.BackupOperation) int64 {
	if b.Progress.ItemsTotal != nil {
		return *b.Progress.ItemsTotal
	}
	return b.Progress.ItemsDone
}

func isConflict(err error) bool {
	var ae *apperr.Error
	return errors.As(err, &ae) && ae.Code == apperr.Conflict
}

// TestIncrementalPauseResume pauses an incremental backup in the middle of
// its changed objects, resumes it, and checks that it completes as an
// incremental on the same base, read each changed object once and nothing
// unchanged, and restores to the bucket as it was.
func TestIncrementalPauseResume(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var corpus []object
	for i := range 240 {
		o := object{key: fmt.Sprintf("slow/%04d", i), data: randBytes(t, 16<<10)}
		put(t, cl, bucket, o)
		corpus = append(corpus, o)
	}
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{Latency: 30 * time.Millisecond})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	src := e.conn("slow-src", store.TypeS3, cfg)
	dst := e.s3Conn("dst", srv.NewBucket(t))
	const incr = `{"mode":"incremental"}`
	base := e.waitBackup(startBackup(t, e, src, dst, incr), store.StatusCompleted, 2*time.Minute)
	live := bucketState{}
	for _, o := range corpus {
		live[o.key] = o
	}
	// Three objects in four change: 180 to read, 60 left where they are.
	var changedBytes int64
	changed := 0
	for i := range corpus {
		if i%4 == 0 {
			continue
		}
		o := object{key: corpus[i].key, data: randBytes(t, 12<<10)}
		live.put(t, cl, bucket, o)
		changedBytes += int64(len(o.data))
		changed++
	}
	id := startBackup(t, e, src, dst, incr)
	waitProgress(t, e, id, 40)
	paused := pauseHeld(t, e, proxy, id)
	if paused.Progress.ItemsDone >= int64(len(corpus)) {
		t.Fatal("the backup finished before the pause took effect; make the source slower")
	}
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	done := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	wantIncremental(t, done, base.ID, changed, len(corpus))
	if done.Progress.BytesRead != changedBytes {
		t.Fatalf("the incremental read %d bytes, want exactly the %d of the changed objects (nothing read twice, nothing unchanged read)", done.Progress.BytesRead, changedBytes)
	}
	target := srv.NewBucket(t)
	e.waitRestore(startRestore(t, e, id, e.s3Conn("tgt", target), `{}`), store.StatusCompleted, time.Minute)
	checkBucketIs(t, cl, target, live)
}

// TestPlanFullEvery runs a plan's incremental backups: with full_every 2 a
// chain holds a full backup and two incrementals, then a new one starts;
// with a cron full_every a full backup comes at the first run after one of
// its times, and not before.
func TestPlanFullEvery(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	live := bucketState{}
	live.put(t, cl, bucket, object{key: "a", data: []byte("a")}, object{key: "b", data: randBytes(t, 9000)})
	src, dst := e.s3Conn("bucket", bucket), e.localConn("nas")
	p := &store.Plan{Name: "nightly", SourceConnectionID: src, DestinationConnectionID: dst, Options: json.RawMessage(`{"mode":"incremental"}`),
		Schedule: "@daily", Timezone: "UTC", FullEvery: "2", Retention: json.RawMessage(`{}`), Verify: "none"}
	if err := e.st.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	run := func() *store.BackupOperation {
		t.Helper()
		live.put(t, cl, bucket, object{key: fmt.Sprintf("n/%d", len(live)), data: []byte("new")})
		op, err := e.eng.StartBackup(ctx, actor, engine.BackupRequest{SourceConnectionID: src, DestinationConnectionID: dst, Options: p.Options, PlanID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		return e.waitBackup(op.ID, store.StatusCompleted, time.Minute)
	}
	var modes []string
	var fulls []*store.BackupOperation
	for range 6 {
		b := run()
		modes = append(modes, fmt.Sprintf("%s/%d", b.Mode, b.BaseBackupID))
		if b.Mode == store.ModeFull {
			fulls = append(fulls, b)
		}
	}
	if got, want := strings.Join(modes, " "), "full/0 incremental/1 incremental/2 full/0 incremental/4 incremental/5"; got != want {
		t.Fatalf("with full_every 2 the runs were %s, want %s", got, want)
	}
	if log := backupLog(t, e, store.KindBackup, fulls[1].ID); !strings.Contains(log, "the plan's full_every (2) came: the chain from #1 already has 2 incrementals") {
		t.Fatalf("the second full backup's log does not say why:\n%s", log)
	}

	// A yearly cron: the chain's full backup was made after its last time.
	p.FullEvery = "0 0 1 1 *"
	if err := e.st.UpdatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if b := run(); b.Mode != store.ModeIncremental {
		t.Fatalf("a cron full_every whose time has not come made a %s backup", b.Mode)
	}
	// The chain's full backup made two years ago: the time has come.
	old := time.Now().AddDate(-2, 0, 0).UnixMicro()
	if _, err := e.st.DB().ExecContext(ctx, "UPDATE backup_operations SET started_at = ? WHERE id = ?", old, fulls[1].ID); err != nil {
		t.Fatal(err)
	}
	b := run()
	if b.Mode != store.ModeFull {
		t.Fatalf("a cron full_every whose time came made a %s backup", b.Mode)
	}
	if log := backupLog(t, e, store.KindBackup, b.ID); !strings.Contains(log, "the plan's full_every (0 0 1 1 *) came at") {
		t.Fatalf("the log does not say why:\n%s", log)
	}
	// The point before the last full one still restores.
	target := srv.NewBucket(t)
	e.waitRestore(startRestore(t, e, b.ID-1, e.s3Conn("t", target), `{}`), store.StatusCompleted, time.Minute)
	prev := maps.Clone(live)
	delete(prev, fmt.Sprintf("n/%d", len(live)-1))
	checkBucketIs(t, cl, target, prev)

	// Retention keeping only the newest backup keeps its chain: with one
	// more incremental on the last full one, the dry run keeps the full
	// one as "base of #N" and removes the older chains, and a prune leaves
	// every point it keeps restorable.
	newest := run()
	wantIncremental(t, newest, b.ID, 1, len(live))
	plans := plan.New(e.st, e.eng, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	decisions, err := plans.Retention(ctx, p.ID, json.RawMessage(`{"keep_last":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, d := range decisions {
		if d.Keep {
			kept = append(kept, fmt.Sprintf("#%d %s", d.BackupID, strings.Join(d.Reasons, ", ")))
		}
	}
	if got, want := strings.Join(kept, "; "), fmt.Sprintf("#%d last, newest; #%d base of #%d", newest.ID, b.ID, newest.ID); got != want {
		t.Fatalf("retention keeps %q, want %q", got, want)
	}
	p.Retention = json.RawMessage(`{"keep_last":1}`)
	if err := e.st.UpdatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	res, err := plans.Prune(ctx, actor, p.ID)
	if err != nil || res.Failed != 0 || res.Kept != 2 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	target = srv.NewBucket(t)
	e.waitRestore(startRestore(t, e, newest.ID, e.s3Conn("after-prune", target), `{}`), store.StatusCompleted, time.Minute)
	checkBucketIs(t, cl, target, live)
}
