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
			op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
				Operation: store.Operation{Status: status, Progress: p, StartedAt: started, CompletedAt: completed}}
			mustNil(t, s.CreateBackup(ctx, nil, op))
			return op
		}
		set(store.StatusCompleted, store.Progress{BytesRead: 1000, BytesWritten: 400}, at(0), at(3))
		set(store.StatusCompleted, store.Progress{BytesRead: 7, BytesWritten: 3}, at(0), at(0.5))
		set(store.StatusFailed, store.Progress{BytesRead: 50}, at(0), at(100))
		running := set(store.StatusRunning, store.Progress{BytesRead: 20, BytesWritten: 10}, at(0), nil)
		set(store.StatusCancelled, store.Progress{}, nil, nil)
		r := &store.RestoreOperation{BackupOperationID: running.ID, DestinationConnectionID: f.src.ID,
			Operation: store.Operation{Status: store.StatusCompleted, Progress: store.Progress{BytesRead: 400, BytesWritten: 1000}, StartedAt: at(10), CompletedAt: at(12)}}
		mustNil(t, s.CreateRestore(ctx, nil, r))

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

// TestOperationBytesFollowProgress checks that the byte columns the figures
// sum (migration 0004: generated columns on PostgreSQL, triggers on SQLite)
// follow every write of an operation's progress: the insert, SaveProgress,
// SaveCheckpoint, SaveBackupCheckpoint, FinishRun with and without progress,
// and CompleteBackup, for both kinds.
func TestOperationBytesFollowProgress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		progress := func(n int64) store.Progress { return store.Progress{BytesRead: n, BytesWritten: n / 2} }
		want := func(step, kind string, id, n int64) {
			t.Helper()
			if got, want := storedBytes(t, s, kind, id), (store.ByteTotals{Read: n, Written: n / 2}); got != want {
				t.Fatalf("%s: %s %d has bytes %+v, want %+v", step, kind, id, got, want)
			}
		}
		// run moves the operation to running and takes its lease.
		run := func(kind string, id int64) int64 {
			t.Helper()
			_, err := s.TransitionOperation(ctx, nil, kind, id, []string{store.StatusPending, store.StatusPaused}, store.StatusRunning)
			mustNil(t, err)
			tok, err := s.AcquireLease(ctx, kind, id, "w", time.Now(), time.Minute)
			mustNil(t, err)
			return tok
		}

		b := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
			Operation: store.Operation{Progress: progress(10)}}
		mustNil(t, s.CreateBackup(ctx, nil, b))
		want("CreateBackup", store.KindBackup, b.ID, 10)
		tok := run(store.KindBackup, b.ID)
		want("a transition", store.KindBackup, b.ID, 10)
		mustNil(t, s.SaveProgress(ctx, store.KindBackup, b.ID, tok, progress(20)))
		want("SaveProgress", store.KindBackup, b.ID, 20)
		mustNil(t, s.SaveCheckpoint(ctx, store.KindBackup, b.ID, tok, progress(30), []byte(`{}`)))
		want("SaveCheckpoint", store.KindBackup, b.ID, 30)
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, progress(40), []byte(`{}`), []byte("tail"), nil,
			[]store.ArchiveEntry{{Seq: 0, Data: []byte(`{}`)}}))
		want("SaveBackupCheckpoint", store.KindBackup, b.ID, 40)
		p := progress(50)
		mustNil(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok, store.RunEnd{Status: store.StatusPaused, Progress: &p}))
		want("FinishRun with progress", store.KindBackup, b.ID, 50)
		tok = run(store.KindBackup, b.ID)
		mustNil(t, s.CompleteBackup(ctx, b.ID, tok, store.BackupResult{ArchivePath: "a.tar", ArchiveSize: 1, SHA256: "x", Progress: progress(60)}))
		want("CompleteBackup", store.KindBackup, b.ID, 60)

		r := &store.RestoreOperation{BackupOperationID: b.ID, DestinationConnectionID: f.src.ID,
			Operation: store.Operation{Progress: progress(70)}}
		mustNil(t, s.CreateRestore(ctx, nil, r))
		want("CreateRestore", store.KindRestore, r.ID, 70)
		tok = run(store.KindRestore, r.ID)
		mustNil(t, s.SaveProgress(ctx, store.KindRestore, r.ID, tok, progress(80)))
		want("SaveProgress", store.KindRestore, r.ID, 80)
		mustNil(t, s.SaveCheckpoint(ctx, store.KindRestore, r.ID, tok, progress(90), []byte(`{}`)))
		want("SaveCheckpoint", store.KindRestore, r.ID, 90)
		mustNil(t, s.FinishRun(ctx, store.KindRestore, r.ID, tok, store.RunEnd{Status: store.StatusPending}))
		want("FinishRun without progress", store.KindRestore, r.ID, 90)
		tok = run(store.KindRestore, r.ID)
		p = progress(100)
		mustNil(t, s.FinishRun(ctx, store.KindRestore, r.ID, tok, store.RunEnd{Status: store.StatusFailed, ErrorMessage: "x", Progress: &p}))
		want("FinishRun with progress", store.KindRestore, r.ID, 100)

		totals, err := s.OperationBytes(ctx)
		mustNil(t, err)
		if totals[store.KindBackup] != (store.ByteTotals{Read: 60, Written: 30}) || totals[store.KindRestore] != (store.ByteTotals{Read: 100, Written: 50}) {
			t.Fatalf("OperationBytes %+v", totals)
		}
	})
}

// storedBytes reads the byte columns of operation id of kind.
func storedBytes(t *testing.T, s *store.Store, kind string, id int64) store.ByteTotals {
	t.Helper()
	q := "SELECT bytes_read, bytes_written FROM " + kind + "_operations WHERE id = ?"
	if s.Dialect() == store.DialectPostgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	var b store.ByteTotals
	mustNil(t, s.DB().QueryRowContext(t.Context(), q, id).Scan(&b.Read, &b.Written))
	return b
}

// TestMigrateAppliesAMissingVersion: a catalog that has a later migration
// but not 0004 (a development database that got 0005 of another branch
// first) gets 0004 on the next Migrate, with the byte columns filled in
// from the progress already stored and kept current afterwards.
func TestMigrateAppliesAMissingVersion(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
			Operation: store.Operation{Progress: store.Progress{BytesRead: 5, BytesWritten: 2}}}
		mustNil(t, s.CreateBackup(ctx, nil, b))
		// Take 0004 out again, as if it had never run.
		undo := []string{
			"DROP INDEX backup_operations_duration_idx", "DROP INDEX restore_operations_duration_idx",
			"DROP INDEX backup_operations_bytes_idx", "DROP INDEX restore_operations_bytes_idx",
		}
		if s.Dialect() == store.DialectSQLite {
			for _, tr := range []string{"backup_operations_bytes_insert", "backup_operations_bytes_update",
				"restore_operations_bytes_insert", "restore_operations_bytes_update"} {
				undo = append(undo, "DROP TRIGGER "+tr)
			}
		}
		for _, table := range []string{"backup_operations", "restore_operations"} {
			undo = append(undo, "ALTER TABLE "+table+" DROP COLUMN bytes_read", "ALTER TABLE "+table+" DROP COLUMN bytes_written")
		}
		undo = append(undo, "DELETE FROM schema_migrations WHERE version = 4")
		for _, q := range undo {
			_, err := s.DB().ExecContext(ctx, q)
			mustNil(t, err)
		}
		var later int
		mustNil(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version > 4").Scan(&later))
		if later == 0 {
			t.Fatal("no migration after 0004 is recorded; the test needs one")
		}

		mustNil(t, s.Migrate(ctx))
		var n int
		mustNil(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = 4").Scan(&n))
		if n != 1 {
			t.Fatalf("0004 recorded %d times after Migrate", n)
		}
		if got := storedBytes(t, s, store.KindBackup, b.ID); got != (store.ByteTotals{Read: 5, Written: 2}) {
			t.Fatalf("the existing backup's bytes after 0004: %+v", got)
		}
		_, err := s.TransitionOperation(ctx, nil, store.KindBackup, b.ID, []string{store.StatusPending}, store.StatusRunning)
		mustNil(t, err)
		tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w", time.Now(), time.Minute)
		mustNil(t, err)
		mustNil(t, s.SaveProgress(ctx, store.KindBackup, b.ID, tok, store.Progress{BytesRead: 9, BytesWritten: 4}))
		if got := storedBytes(t, s, store.KindBackup, b.ID); got != (store.ByteTotals{Read: 9, Written: 4}) {
			t.Fatalf("bytes after SaveProgress: %+v", got)
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
