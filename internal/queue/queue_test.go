package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// recorder is a Runner that records the jobs it is handed.
type recorder struct {
	mu       sync.Mutex
	backups  []int64
	restores []int64
	tasks    map[string]int
	snoozeID int64 // the backup of this id answers queue.Stopping() once
	snoozed  bool
	started  chan struct{}
	block    chan struct{}
}

func newRecorder() *recorder {
	return &recorder{tasks: map[string]int{}, started: make(chan struct{}, 10)}
}

func (r *recorder) RunOperation(ctx context.Context, kind string, id int64) error {
	if kind == store.KindRestore {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.restores = append(r.restores, id)
		return nil
	}
	if kind != store.KindBackup {
		return fmt.Errorf("unexpected kind %q", kind)
	}
	r.mu.Lock()
	r.backups = append(r.backups, id)
	snooze := id == r.snoozeID && !r.snoozed
	if snooze {
		r.snoozed = true
	}
	block := r.block
	r.mu.Unlock()
	r.started <- struct{}{}
	if block != nil && id == 99 {
		select {
		case <-block:
		case <-ctx.Done():
			return queue.Stopping()
		}
	}
	if snooze {
		return queue.Stopping()
	}
	return nil
}

func (r *recorder) Maintain(ctx context.Context, task string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks[task]++
	return nil
}

func (r *recorder) count(f func() int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		q, err := queue.New(ctx, st, queue.Options{DatabaseURL: st.URL(), Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		rec.snoozeID = 2
		q.SetRunner(rec)
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(context.Background())
		if err := q.Healthy(ctx); err != nil {
			t.Fatal(err)
		}

		// A job inserted in a transaction that rolls back never runs.
		errRollback := errors.New("roll back")
		err = st.InTx(ctx, func(tx *sql.Tx) error {
			if err := q.InsertOperationTx(ctx, tx, store.KindBackup, 1000); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		for _, id := range []int64{1, 2} {
			if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.InsertOperationTx(ctx, tx, store.KindBackup, id) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.InsertOperationTx(ctx, tx, store.KindRestore, 7) }); err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.InsertOperationTx(ctx, tx, "snapshot", 8) }); err == nil {
			t.Fatal("InsertOperationTx accepted an unknown kind")
		}
		// Job 2 asks to be handed back (as on shutdown) and runs again.
		eventually(t, "backup jobs", func() bool {
			return rec.count(func() int { return len(rec.backups) }) >= 3
		})
		eventually(t, "the restore job", func() bool { return rec.count(func() int { return len(rec.restores) }) == 1 })
		eventually(t, "maintenance tasks", func() bool {
			return rec.count(func() int {
				return rec.tasks[queue.TaskSweep] + rec.tasks[queue.TaskLogs] + rec.tasks[queue.TaskSessions]
			}) >= 3
		})
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seen := map[int64]int{}
		for _, id := range rec.backups {
			seen[id]++
		}
		if seen[1000] != 0 || seen[1] != 1 || seen[2] != 2 {
			t.Fatalf("backup jobs run: %v", seen)
		}
	})
}

// TestStopCancelsRunningJobs checks that Stop reaches a running job's context.
func TestStopCancelsRunningJobs(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	q, err := queue.New(ctx, st, queue.Options{DatabaseURL: st.URL(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.block = make(chan struct{})
	q.SetRunner(rec)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.InsertOperationTx(ctx, tx, store.KindBackup, 99) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := q.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %s", d)
	}
}

func TestStartNeedsRunner(t *testing.T) {
	st := storetest.SQLite(t)
	q, err := queue.New(context.Background(), st, queue.Options{DatabaseURL: st.URL(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.Background())
	if err := q.Start(context.Background()); err == nil {
		t.Fatal("Start without a runner succeeded")
	}
}
