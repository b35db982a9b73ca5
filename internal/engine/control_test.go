package engine_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/faultproxy"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// slowSource fills a bucket and returns a connection that reaches it through
// a proxy adding latency, so a backup runs long enough to be paused.
func slowSource(t *testing.T, e *env, srv *s3test.Server, n, size int, latency time.Duration) (int64, *faultproxy.Proxy, []object, int64) {
	t.Helper()
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var corpus []object
	var total int64
	for i := range n {
		o := object{key: fmt.Sprintf("slow/%04d", i), data: randBytes(t, size)}
		put(t, cl, bucket, o)
		corpus = append(corpus, o)
		total += int64(size)
	}
	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{Latency: latency})
	cfg := srv.Config(bucket)
	cfg.Endpoint = proxy.URL
	return e.conn("slow-src", store.TypeS3, cfg), proxy, corpus, total
}

func waitProgress(t *testing.T, e *env, id int64, items int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		op, err := e.st.GetBackup(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Progress.ItemsDone >= items {
			return
		}
		if op.Status != store.StatusRunning && op.Status != store.StatusPending {
			t.Fatalf("backup is %s before reaching %d items: %s", op.Status, items, op.ErrorMessage)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("backup %d did not reach %d items", id, items)
}

// askHeld makes a request of running backup id (ask pauses or cancels it)
// while its source proxy holds every new request, so that however fast or
// slow the machine, the backup cannot run to its end before its heartbeat
// reads the request. The hold ends when the run has ended, or when its
// heartbeat has read the request (a streamed object is finished before the
// run stops, and needs the proxy for that): a heartbeat stamped after the
// request was made, or one stamped while it was being made and not followed
// by another (the heartbeat stops once it has read a request).
func askHeld(t *testing.T, e *env, proxy *faultproxy.Proxy, id int64, ask func() error) {
	t.Helper()
	proxy.Hold()
	defer proxy.Release()
	asking := time.Now()
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	waitHeartbeatAfter(t, e.st, id, asking, time.Now(), 15*time.Second)
}

// waitHeartbeatAfter waits, up to within, until the heartbeat of running
// backup id has read a request made between asking and asked: a heartbeat
// stamped after asked, or one stamped after asking and not followed by
// another for 2 s (the heartbeat stops once it has read a request).
func waitHeartbeatAfter(t *testing.T, st *store.Store, id int64, asking, asked time.Time, within time.Duration) {
	var last time.Time
	lastSeen := asked
	for deadline := asked.Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		op, err := st.GetBackup(context.Background(), id)
		if err != nil {
			t.Error(err)
			return
		}
		if op.Status != store.StatusRunning {
			return
		}
		if op.HeartbeatAt == nil {
			continue
		}
		if beat := *op.HeartbeatAt; !beat.Equal(last) {
			last, lastSeen = beat, time.Now()
		}
		if last.After(asked) || last.After(asking) && time.Since(lastSeen) > 2*time.Second {
			return
		}
	}
}

// pauseHeld pauses backup id through askHeld and answers it paused.
func pauseHeld(t *testing.T, e *env, proxy *faultproxy.Proxy, id int64) *store.BackupOperation {
	t.Helper()
	askHeld(t, e, proxy, id, func() error { return e.eng.PauseBackup(context.Background(), actor, id) })
	return e.waitBackup(id, store.StatusPaused, 15*time.Second)
}

func incompleteUploads(t *testing.T, cl *awss3.Client, bucket string) int {
	t.Helper()
	out, err := cl.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// TestPauseResumeReadsNothingTwice pauses a running backup, checks it stops
// within 15 s and stays still, resumes it and checks that every object was
// fetched from the source exactly once and the archive restores identical;
// once with the objects read ahead whole, once with each streamed through a
// read-ahead window (a small-object size below theirs).
func TestPauseResumeReadsNothingTwice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		small int64
	}{{"prefetched", 0}, {"streamed", 64 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			testPauseResume(t, engine.Options{FetchConcurrency: 2, SmallObject: tc.small})
		})
	}
}

func testPauseResume(t *testing.T, opt engine.Options) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, opt)
	src, proxy, corpus, total := slowSource(t, e, srv, 160, 128<<10, 15*time.Millisecond)
	destBucket := srv.NewBucket(t)
	dst := e.s3Conn("dest", destBucket)

	id := startBackup(t, e, src, dst, "")
	waitProgress(t, e, id, 50)
	asked := time.Now()
	paused := pauseHeld(t, e, proxy, id)
	t.Logf("paused %s after the request at %d/%d objects, %d bytes read", time.Since(asked).Round(time.Millisecond),
		paused.Progress.ItemsDone, len(corpus), paused.Progress.BytesRead)
	if paused.Progress.ItemsDone >= int64(len(corpus)) {
		t.Fatal("the backup finished before the pause took effect; make the source slower")
	}
	if incompleteUploads(t, srv.Client(t), destBucket) != 1 {
		t.Fatal("a paused backup must keep its multipart upload")
	}
	time.Sleep(600 * time.Millisecond)
	still, _ := e.st.GetBackup(context.Background(), id)
	if still.Progress != paused.Progress || still.Status != store.StatusPaused {
		t.Fatalf("progress moved while paused: %+v -> %+v", paused.Progress, still.Progress)
	}
	// Invalid transitions answer with a conflict.
	if err := e.eng.PauseBackup(context.Background(), actor, id); err == nil {
		t.Fatal("pausing a paused backup succeeded")
	}
	requestsBefore := proxy.Requests()

	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	done := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	if done.Progress.BytesRead != total || done.Progress.ItemsDone != int64(len(corpus)) {
		t.Fatalf("bytes_read %d items %d, want exactly %d and %d (nothing read twice)", done.Progress.BytesRead, done.Progress.ItemsDone, total, len(corpus))
	}
	// After the resume: one listing request plus one GET per remaining object.
	remaining := int64(len(corpus)) - paused.Progress.ItemsDone
	if got := proxy.Requests() - requestsBefore; got > remaining+2 {
		t.Fatalf("the resumed run made %d source requests for %d remaining objects: something was fetched again", got, remaining)
	}
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err == nil {
		t.Fatal("resuming a completed backup succeeded")
	}
	if n := incompleteUploads(t, srv.Client(t), destBucket); n != 0 {
		t.Fatalf("%d incomplete multipart uploads after completion", n)
	}
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("tgt", target), `{}`)
	e.waitRestore(rid, store.StatusCompleted, time.Minute)
	checkRestored(t, srv.Client(t), target, "", corpus)
	// The pause told nothing; each completion once.
	want := fmt.Sprintf("backup %d ended; restore %d ended", id, rid)
	if said := e.told.waitFor(want); said != want {
		t.Fatalf("the notifier was told %q, want %q", said, want)
	}
}

// TestCancelLeavesNothing cancels a running and a paused backup: both end
// cancelled with no multipart upload and no archive at the destination.
func TestCancelLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	src, proxy, _, _ := slowSource(t, e, srv, 120, 128<<10, 15*time.Millisecond)
	cl := srv.Client(t)

	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("paused=%v", paused), func(t *testing.T) {
			bucket := srv.NewBucket(t)
			id := startBackup(t, e, src, e.s3Conn(fmt.Sprintf("d-%v", paused), bucket), "")
			waitProgress(t, e, id, 50)
			if paused {
				pauseHeld(t, e, proxy, id)
			}
			asked := time.Now()
			askHeld(t, e, proxy, id, func() error { return e.eng.Cancel(context.Background(), actor, store.KindBackup, id) })
			e.waitBackup(id, store.StatusCancelled, 15*time.Second)
			t.Logf("cancelled in %s", time.Since(asked).Round(time.Millisecond))
			if n := incompleteUploads(t, cl, bucket); n != 0 {
				t.Fatalf("%d incomplete multipart uploads after cancel", n)
			}
			list, err := cl.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &bucket})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Contents) != 0 {
				t.Fatalf("%d objects left at the destination after cancel", len(list.Contents))
			}
			if err := e.eng.Cancel(context.Background(), actor, store.KindBackup, id); err == nil {
				t.Fatal("cancelling a cancelled backup succeeded")
			}
		})
	}
}

// TestFaultyNetwork runs a backup and a restore through a proxy that answers
// 503 or resets the connection on 5% of requests.
func TestFaultyNetwork(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	var corpus []object
	for i := range 150 {
		o := object{key: fmt.Sprintf("f/%03d", i), data: randBytes(t, 1000+i*700)}
		put(t, cl, bucket, o)
		corpus = append(corpus, o)
	}
	big := object{key: "f/big", data: randBytes(t, 12<<20)}
	put(t, cl, bucket, big)
	corpus = append(corpus, big)

	proxy := faultproxy.New(t, srv.Endpoint, faultproxy.Options{FailRate: 0.05, Seed: 7})
	through := func(bucket string) any {
		cfg := srv.Config(bucket)
		cfg.Endpoint = proxy.URL
		return cfg
	}
	src := e.conn("faulty-src", store.TypeS3, through(bucket))
	dst := e.conn("faulty-dst", store.TypeS3, through(srv.NewBucket(t)))
	id := startBackup(t, e, src, dst, "")
	e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.conn("faulty-tgt", store.TypeS3, through(target)), `{}`)
	e.waitRestore(rid, store.StatusCompleted, 2*time.Minute)
	checkRestored(t, cl, target, "", corpus)
	t.Logf("%d requests through the proxy, %d faults (503 %d, reset %d, cut body %d)", proxy.Requests(), proxy.Faults(),
		proxy.FaultsOf(faultproxy.Fault503), proxy.FaultsOf(faultproxy.FaultReset), proxy.FaultsOf(faultproxy.FaultCutBody))
	if proxy.Faults() == 0 {
		t.Fatal("the proxy injected no fault")
	}
}

// TestValidationErrors checks the 422 field keys of requests the engine
// refuses: each names the member at fault ("options.compression",
// "config.bucket"), or the whole "options"/"config" for an unknown member
// or a document that is not one JSON object.
func TestValidationErrors(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	bucket := srv.NewBucket(t)
	put(t, srv.Client(t), bucket, object{key: "a", data: randBytes(t, 100)})
	s3c := e.s3Conn("s3", bucket)
	loc := e.localConn("loc")
	backup := func(opts string) engine.BackupRequest {
		return engine.BackupRequest{SourceConnectionID: s3c, DestinationConnectionID: loc, Options: json.RawMessage(opts)}
	}
	for _, tc := range []struct {
		name  string
		req   engine.BackupRequest
		field string
	}{
		{"local as source", engine.BackupRequest{SourceConnectionID: loc, DestinationConnectionID: s3c}, "source_connection_id"},
		{"missing source", engine.BackupRequest{SourceConnectionID: 999, DestinationConnectionID: loc}, "source_connection_id"},
		{"no destination", engine.BackupRequest{SourceConnectionID: s3c}, "destination_connection_id"},
		{"bad compression", backup(`{"compression":"lz4"}`), "options.compression"},
		{"compression not a string", backup(`{"compression":5}`), "options.compression"},
		{"unknown option", backup(`{"speed":1}`), "options"},
		{"options not an object", backup(`["zstd"]`), "options"},
		{"malformed options", backup(`{"compression":`), "options"},
		{"two documents", backup(`{} {}`), "options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.eng.StartBackup(context.Background(), actor, tc.req)
			wantField(t, err, tc.field)
		})
	}

	id := startBackup(t, e, s3c, loc, `null`)
	e.waitBackup(id, store.StatusCompleted, time.Minute)
	for _, tc := range []struct {
		name, cfg, field string
	}{
		{"bucket not a string", `{"bucket":5}`, "config.bucket"},
		{"overwrite not a flag", `{"overwrite":"yes"}`, "config.overwrite"},
		{"unknown member", `{"bukket":"b"}`, "config"},
		{"config not an object", `[1]`, "config"},
		{"malformed config", `{"bucket":`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.eng.StartRestore(context.Background(), actor, engine.RestoreRequest{BackupOperationID: id, DestinationConnectionID: s3c, Config: json.RawMessage(tc.cfg)})
			wantField(t, err, tc.field)
		})
	}
}

// wantField checks that err is a 422 whose fields hold exactly key.
func wantField(t *testing.T, err error, key string) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.Invalid {
		t.Fatalf("got %v, want a 422 naming %s", err, key)
	}
	if _, ok := ae.Fields[key]; !ok || len(ae.Fields) != 1 {
		t.Fatalf("fields %v, want only %s", ae.Fields, key)
	}
}

// TestStoredOptionsThatDoNotDecode runs operations whose stored options or
// restore configuration do not decode (written by an older version or by
// hand; the API refuses them): the run fails and says which member is at
// fault, instead of running with the defaults.
func TestStoredOptionsThatDoNotDecode(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	bucket := srv.NewBucket(t)
	put(t, srv.Client(t), bucket, object{key: "a", data: randBytes(t, 100)})
	src, dst := e.s3Conn("src", bucket), e.localConn("dst")
	ctx := context.Background()
	for _, tc := range []struct{ opts, want string }{
		{`{"compresion":"zstd"}`, `options has an unknown field "compresion"`},
		{`{"compression":5}`, "options.compression must be a string"},
	} {
		op := &store.BackupOperation{SourceConnectionID: src, DestinationConnectionID: dst, Options: json.RawMessage(tc.opts)}
		if err := e.st.InTx(ctx, func(tx *sql.Tx) error {
			if err := e.st.CreateBackup(ctx, tx, op); err != nil {
				return err
			}
			return e.q.InsertOperationTx(ctx, tx, store.KindBackup, op.ID)
		}); err != nil {
			t.Fatal(err)
		}
		got := e.waitBackup(op.ID, store.StatusFailed, time.Minute)
		if !strings.Contains(got.ErrorMessage, tc.want) || !strings.Contains(got.ErrorMessage, "stored options") {
			t.Errorf("options %s: error %q, want one that says %q", tc.opts, got.ErrorMessage, tc.want)
		}
	}

	id := startBackup(t, e, src, dst, "")
	e.waitBackup(id, store.StatusCompleted, time.Minute)
	r := &store.RestoreOperation{BackupOperationID: id, DestinationConnectionID: src, DestinationConfig: json.RawMessage(`{"bukket":"elsewhere"}`)}
	if err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		if err := e.st.CreateRestore(ctx, tx, r); err != nil {
			return err
		}
		return e.q.InsertOperationTx(ctx, tx, store.KindRestore, r.ID)
	}); err != nil {
		t.Fatal(err)
	}
	got := e.waitRestore(r.ID, store.StatusFailed, time.Minute)
	if !strings.Contains(got.ErrorMessage, `config has an unknown field "bukket"`) {
		t.Errorf("restore error %q", got.ErrorMessage)
	}
}

// TestResumeAfterHolderDied resumes a paused backup whose last worker died
// after recording "paused" but before giving its lease back: the new job
// waits for that lease to expire instead of giving up, and completes.
func TestResumeAfterHolderDied(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	src, proxy, corpus, total := slowSource(t, e, srv, 160, 128<<10, 15*time.Millisecond)
	id := startBackup(t, e, src, e.s3Conn("dst", srv.NewBucket(t)), "")
	waitProgress(t, e, id, 10)
	pauseHeld(t, e, proxy, id)
	// The run records "paused", then gives its lease back.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		op, err := e.st.GetBackup(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if op.LeaseOwner == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paused run still holds its lease (%s)", op.LeaseOwner)
		}
	}
	// A worker that took the lease and died without releasing it.
	if _, err := e.st.AcquireLease(context.Background(), store.KindBackup, id, "dead-worker", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	op := e.waitBackup(id, store.StatusCompleted, time.Minute)
	if op.Progress.BytesRead != total || op.Progress.ItemsDone != int64(len(corpus)) {
		t.Fatalf("completed with %d bytes and %d items, want %d and %d", op.Progress.BytesRead, op.Progress.ItemsDone, total, len(corpus))
	}
}

// flakyStart is the real catalog with one fault injected: the first move of
// an operation to running fails as a dropped database connection would.
type flakyStart struct {
	*store.Store
	failed atomic.Bool
}

func (c *flakyStart) TransitionOperation(ctx context.Context, tx *sql.Tx, kind string, id int64, from []string, to string) (*store.Operation, error) {
	if to == store.StatusRunning && c.failed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("move %s %d to running: %w", kind, id, driver.ErrBadConn)
	}
	return c.Store.TransitionOperation(ctx, tx, kind, id, from, to)
}

// TestTransientStartErrorIsRetried checks that a database error when a job
// moves its operation to running hands the job back to River, which runs
// it again; the job once ended quietly and left the operation pending
// forever (only running operations are reaped).
func TestTransientStartErrorIsRetried(t *testing.T) {
	srv := s3test.Start(t)
	flaky := &flakyStart{}
	e := newEnvWith(t, srv, engine.Options{}, func(st *store.Store) store.Catalog {
		flaky.Store = st
		return flaky
	})
	bucket := srv.NewBucket(t)
	put(t, srv.Client(t), bucket, object{key: "a", data: randBytes(t, 1000)})
	id := startBackup(t, e, e.s3Conn("src", bucket), e.localConn("dst"), "")
	e.waitBackup(id, store.StatusCompleted, 30*time.Second)
	if !flaky.failed.Load() {
		t.Fatal("the fault was never injected")
	}
}
