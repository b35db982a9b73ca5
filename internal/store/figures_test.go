package store_test

import (
	"database/sql"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// TestOperationFigures checks the figures /metrics reads: bytes summed per
// kind (following progress updates, including SaveProgress), duration
// histograms per kind and final status, and queue jobs per state.
func TestOperationFigures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		at := func(sec float64) *time.Time {
			v := base.Add(time.Duration(sec * float64(time.Second)))
			return &v
		}
		// Empty catalog: zero bytes, no histogram rows, no jobs.
		b, err := s.OperationBytes(ctx)
		mustNil(t, err)
		if b[store.KindBackup] != (store.ByteTotals{}) || b[store.KindRestore] != (store.ByteTotals{}) {
			t.Fatalf("empty catalog bytes %+v", b)
		}

		set := func(status string, p store.Progress, started, completed *time.Time) *store.BackupOperation {
			op := f.backup(t, s, store.StatusPending)
			op.Status, op.Progress, op.StartedAt, op.CompletedAt = status, p, started, completed
			mustNil(t, s.UpdateBackup(ctx, op))
			return op
		}
		set(store.StatusCompleted, store.Progress{BytesRead: 1000, BytesWritten: 400}, at(0), at(3))
		set(store.StatusCompleted, store.Progress{BytesRead: 7, BytesWritten: 3}, at(0), at(0.5))
		set(store.StatusFailed, store.Progress{BytesRead: 50}, at(0), at(100))
		running := set(store.StatusRunning, store.Progress{BytesRead: 20, BytesWritten: 10}, at(0), nil)
		set(store.StatusCancelled, store.Progress{}, nil, nil)
		r := f.restore(t, s, running.ID, store.StatusPending)
		r.Status, r.Progress, r.StartedAt, r.CompletedAt = store.StatusCompleted, store.Progress{BytesRead: 400, BytesWritten: 1000}, at(10), at(12)
		mustNil(t, s.UpdateRestore(ctx, r))

		// A running backup's progress moves on through the fenced progress write.
		tok, err := s.AcquireLease(ctx, store.KindBackup, running.ID, "w", time.Now(), time.Minute)
		mustNil(t, err)
		mustNil(t, s.SaveProgress(ctx, store.KindBackup, running.ID, tok, store.Progress{BytesRead: 25, BytesWritten: 12}))

		b, err = s.OperationBytes(ctx)
		mustNil(t, err)
		if want := (store.ByteTotals{Read: 1082, Written: 415}); b[store.KindBackup] != want {
			t.Errorf("backup bytes %+v, want %+v", b[store.KindBackup], want)
		}
		if want := (store.ByteTotals{Read: 400, Written: 1000}); b[store.KindRestore] != want {
			t.Errorf("restore bytes %+v, want %+v", b[store.KindRestore], want)
		}

		final := []string{store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
		d, err := s.OperationDurations(ctx, final, []float64{1, 5, 60, 300})
		mustNil(t, err)
		check := func(kind, status string, counts []uint64, sum float64, n uint64) {
			t.Helper()
			h, ok := d[kind][status]
			if !ok {
				t.Fatalf("no histogram for %s %s: %+v", kind, status, d)
			}
			if len(h.Counts) != len(counts) || math.Abs(h.Sum-sum) > 1e-9 || h.Count != n {
				t.Fatalf("%s %s: %+v, want counts %v sum %v count %d", kind, status, h, counts, sum, n)
			}
			for i := range counts {
				if h.Counts[i] != counts[i] {
					t.Fatalf("%s %s: counts %v, want %v", kind, status, h.Counts, counts)
				}
			}
		}
		check(store.KindBackup, store.StatusCompleted, []uint64{1, 2, 2, 2}, 3.5, 2)
		check(store.KindBackup, store.StatusFailed, []uint64{0, 0, 0, 1}, 100, 1)
		check(store.KindRestore, store.StatusCompleted, []uint64{0, 1, 1, 1}, 2, 1)
		if _, ok := d[store.KindBackup][store.StatusCancelled]; ok {
			t.Fatal("a cancelled backup that never started has a duration")
		}
		if _, ok := d[store.KindBackup][store.StatusRunning]; ok {
			t.Fatal("a status that was not asked for is reported")
		}

		// Queue jobs: River's table, written here as River would.
		q := "INSERT INTO river_job (args, kind, max_attempts, state, queue, priority) VALUES ('{}', 'backup', 1, ?, 'operations', 1)"
		if s.Dialect() == store.DialectPostgres {
			q = "INSERT INTO river_job (args, kind, max_attempts, state, queue, priority) VALUES ('{}', 'backup', 1, $1::river_job_state, 'operations', 1)"
		}
		for _, st := range []string{"available", "available", "running"} {
			if _, err := s.DB().ExecContext(ctx, q, st); err != nil {
				t.Fatal(err)
			}
		}
		jobs, err := s.CountQueueJobsByState(ctx)
		mustNil(t, err)
		if len(jobs) != 2 || jobs["available"] != 2 || jobs["running"] != 1 {
			t.Fatalf("jobs %v", jobs)
		}
	})
}

// TestOperationFiguresUseIndexes checks that a scrape's byte sums and
// duration histograms are answered from the indexes of migration 0004 (no
// progress JSON is parsed, no table row is read).
func TestOperationFiguresUseIndexes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		queries := []string{
			"SELECT SUM(bytes_read), SUM(bytes_written) FROM backup_operations",
			"SELECT status, started_at, completed_at FROM restore_operations WHERE status IN ('completed', 'failed')",
		}
		conn, err := s.DB().Conn(ctx)
		mustNil(t, err)
		defer conn.Close()
		explain, want := "EXPLAIN QUERY PLAN ", "COVERING INDEX"
		if s.Dialect() == store.DialectPostgres {
			// On a table this small the planner would rather read the table;
			// forbid that to see whether the index alone answers.
			_, err := conn.ExecContext(ctx, "SET enable_seqscan = off")
			mustNil(t, err)
			_, err = conn.ExecContext(ctx, "SET enable_bitmapscan = off")
			mustNil(t, err)
			explain, want = "EXPLAIN ", "Index Only Scan"
		}
		for _, q := range queries {
			rows, err := conn.QueryContext(ctx, explain+q)
			mustNil(t, err)
			plan := planText(t, rows)
			if !strings.Contains(plan, want) {
				t.Errorf("%s\nplan:\n%s", q, plan)
			}
		}
	})
}

// planText joins the text columns of an EXPLAIN result.
func planText(t *testing.T, rows *sql.Rows) string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	mustNil(t, err)
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		mustNil(t, rows.Scan(ptrs...))
		for _, v := range vals {
			switch v := v.(type) {
			case string:
				b.WriteString(v + " ")
			case []byte:
				b.WriteString(string(v) + " ")
			}
		}
		b.WriteString("\n")
	}
	mustNil(t, rows.Err())
	return b.String()
}
