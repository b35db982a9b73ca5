package store_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
)

// TestInTxWaitsOutABusyWriter: another connection holds SQLite's write lock
// for longer than the busy timeout (10 s); InTx begins once it is released
// instead of failing with SQLITE_BUSY.
func TestInTxWaitsOutABusyWriter(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/busy.db"
	s, err := store.Open(t.Context(), path)
	mustNil(t, err)
	defer s.Close()
	other, err := sql.Open("sqlite", store.SQLiteDSN(path))
	mustNil(t, err)
	defer other.Close()
	hold, err := other.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE: the write lock
	mustNil(t, err)
	_, err = hold.ExecContext(t.Context(), "CREATE TABLE busy_probe (x INTEGER)")
	mustNil(t, err)
	held := 11 * time.Second
	go func() {
		time.Sleep(held)
		_ = hold.Commit()
	}()
	start := time.Now()
	err = s.InTx(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), "INSERT INTO busy_probe (x) VALUES (1)")
		return err
	})
	if err != nil {
		t.Fatalf("InTx while another writer held the lock for %v: %v", held, err)
	}
	if waited := time.Since(start); waited < 10*time.Second {
		t.Fatalf("InTx began after %v, before the other writer let go", waited)
	}
}
