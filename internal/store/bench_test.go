package store_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// BenchmarkSaveBackupCheckpoint saves checkpoints whose tail (the archive
// bytes not yet uploaded) is as large as a part can leave: 8 MiB.
func BenchmarkSaveBackupCheckpoint(b *testing.B) {
	s := storetest.SQLite(b)
	ctx := b.Context()
	f := newFixture(b, s)
	op := f.backup(b, s, store.StatusRunning)
	tok, err := s.AcquireLease(ctx, store.KindBackup, op.ID, "w1", time.Now(), time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	tail := make([]byte, 8<<20)
	rand.Read(tail)
	b.SetBytes(int64(len(tail)))
	for b.Loop() {
		if err := s.SaveBackupCheckpoint(ctx, op.ID, tok, store.Progress{ItemsDone: 1}, []byte(`{"v":1}`), tail, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
