package engine

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSpool: documents come back in order, byte for byte; a spool past its
// limit says so; drop removes the file; a stale spool left behind is swept
// and a fresh one is not.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	sp, err := newSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want []bson.Raw
	for i := range 3000 {
		doc, err := bson.Marshal(bson.D{{Key: "_id", Value: int64(i)}, {Key: "pad", Value: string(make([]byte, i%400))}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, doc)
		if err := sp.add(doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.finish(); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := sp.each(context.Background(), func(doc bson.Raw) error {
		if string(doc) != string(want[n]) {
			t.Fatalf("document %d differs", n)
		}
		n++
		return nil
	}); err != nil || n != len(want) {
		t.Fatalf("read %d of %d documents: %v", n, len(want), err)
	}
	sp.drop()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("%d files after drop", len(left))
	}

	small, err := newSpool(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	full := false
	for _, doc := range want {
		if err := small.add(doc); err == errSpoolFull {
			full = true
			break
		}
	}
	small.drop()
	if !full {
		t.Fatal("a spool of 100 bytes took 3,000 documents")
	}

	stale := filepath.Join(dir, "coffer-mongo-spool-1.zst")
	fresh := filepath.Join(dir, "coffer-mongo-spool-2.zst")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleSpool)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	sweepSpools(dir, slog.New(slog.DiscardHandler))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("the stale spool is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("the fresh spool was removed")
	}
}
