package store_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
)

// TestWritesWaitOutABusyWriter: another connection holds SQLite's write
// lock for longer than the busy timeout (10 s); a transaction (InTx) and a
// single statement outside one both go through once it is released instead
// of failing with SQLITE_BUSY.
func TestWritesWaitOutABusyWriter(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/busy.db"
	s, err := store.Open(t.Context(), path)
	mustNil(t, err)
	defer s.Close()
	other, err := sql.Open("sqlite", store.SQLiteDSN(path))
	mustNil(t, err)
	defer other.Close()
	_, err = other.ExecContext(t.Context(), "CREATE TABLE busy_probe (x INTEGER)")
	mustNil(t, err)
	hold, err := other.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE: the write lock
	mustNil(t, err)
	_, err = hold.ExecContext(t.Context(), "INSERT INTO busy_probe (x) VALUES (0)")
	mustNil(t, err)
	held := 11 * time.Second
	go func() {
		time.Sleep(held)
		_ = hold.Commit()
	}()
	start := time.Now()
	errs := make(chan error, 2)
	go func() {
		errs <- s.InTx(t.Context(), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(t.Context(), "INSERT INTO busy_probe (x) VALUES (1)")
			return err
		})
	}()
	go func() { errs <- s.ExecOnPool(t.Context(), "INSERT INTO busy_probe (x) VALUES (2)") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a write while another writer held the lock for %v: %v", held, err)
		}
	}
	if waited := time.Since(start); waited < 10*time.Second {
		t.Fatalf("the writes went through after %v, before the other writer let go", waited)
	}
	var n int
	mustNil(t, s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM busy_probe").Scan(&n))
	if n != 3 {
		t.Fatalf("%d rows written, want 3", n)
	}
}
