package mongodb_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/connector/mongodb"
)

// TestScanThroughput scans 20,000 small documents from FerretDB (20 batches
// of 1,000) in _id order, checks that Measure and Scan agree, and reports
// documents per second and the heap seen during the scan. The throughput
// figures of docs/benchmarks.md come from `make bench` (scripts/bench), on
// 1,000,000 documents.
func TestScanThroughput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db := b.srv.NewDatabase(t)
	const total, chunk = 20_000, 5_000
	start := time.Now()
	for base := 0; base < total; base += chunk {
		docs := make([]bson.Raw, 0, chunk)
		for i := base; i < base+chunk; i++ {
			docs = append(docs, mustRaw(t, bson.D{{Key: "_id", Value: int64(i)}, {Key: "name", Value: "user"}, {Key: "n", Value: int32(i % 97)}}))
		}
		if ins, dup, err := b.client.InsertBatch(ctx, db, "small", docs); err != nil || ins != chunk || dup != 0 {
			t.Fatalf("InsertBatch: %d, %d, %v", ins, dup, err)
		}
	}
	t.Logf("inserted %d documents in %v (%.0f docs/s)", total, time.Since(start).Round(time.Millisecond), float64(total)/time.Since(start).Seconds())

	start = time.Now()
	docs, size, upTo, err := b.client.Measure(ctx, db, "small", nil)
	if err != nil || docs != total {
		t.Fatalf("Measure = %d docs, %v", docs, err)
	}
	t.Logf("measured %d documents, %d bytes in %v", docs, size, time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	var n, bytes int64
	var prev int64 = -1
	start = time.Now()
	err = b.client.Scan(ctx, db, "small", bson.RawValue{}, upTo, 1000, func(doc bson.Raw) error {
		id := doc.Lookup("_id").Int64()
		if id != prev+1 {
			t.Fatalf("document %d follows %d", id, prev)
		}
		prev = id
		n++
		bytes += int64(len(doc))
		if n%2_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if n != total || bytes != size {
		t.Fatalf("Scan gave %d documents, %d bytes; Measure said %d, %d", n, bytes, docs, size)
	}
	t.Logf("scanned %d documents (%d bytes) in %v: %.0f docs/s; heap %d MiB before, peak %d MiB during (the in-process FerretDB shares this heap)",
		n, bytes, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), base>>20, peak>>20)
}
