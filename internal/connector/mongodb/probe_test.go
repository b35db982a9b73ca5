package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/connector/mongodb"
)

// TestCapsProbedOnceAndFallBack: FerretDB is found to have neither
// $bsonSize nor a cheap _id order by a probe that reads nothing; a second
// client of the same connection reuses what the first found; a connection
// whose remembered caps are wrong (the server changed behind the same
// connection string) still measures right, by falling back, and is probed
// again by the next client; a different server version is probed again at
// once.
func TestCapsProbedOnceAndFallBack(t *testing.T) {
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db := b.srv.NewDatabase(t)
	newClient := func() *mongodb.Client {
		t.Helper()
		c, err := mongodb.New(ctx, mongodb.Config{URI: b.srv.URI})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	before := mongodb.Probes()
	caps, err := b.client.Caps(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(caps.Server, "FerretDB") || caps.BSONSize || caps.IDOrder {
		t.Fatalf("caps of FerretDB = %+v, want a FerretDB server without $bsonSize and _id order", caps)
	}
	if got := mongodb.Probes() - before; got != 1 {
		t.Fatalf("%d probes for the first client, want 1", got)
	}
	if again, err := newClient().Caps(ctx, db); err != nil || again != caps {
		t.Fatalf("second client: %+v, %v; want %+v", again, err, caps)
	}
	if got := mongodb.Probes() - before; got != 1 {
		t.Fatalf("%d probes after a second client of the same connection, want still 1", got)
	}

	// Remembered wrong: as if this server had been MongoDB when probed.
	coll := b.raw.Database(db).Collection("c")
	var want int64
	for i := range 2500 {
		doc := mustRaw(t, bson.D{{Key: "_id", Value: int64(i)}, {Key: "v", Value: strings.Repeat("x", i%50)}})
		want += int64(len(doc))
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := mongodb.RememberCaps(ctx, b.client, mongodb.Caps{Server: "MongoDB 7.0.5", BSONSize: true, IDOrder: true}, ""); err != nil {
		t.Fatal(err)
	}
	stale := newClient()
	if c, _ := stale.Caps(ctx, db); !c.BSONSize {
		t.Fatalf("the remembered caps were not used: %+v", c)
	}
	var calls int
	docs, size, _, err := stale.Measure(ctx, db, "c", func(int64, int64) error { calls++; return nil })
	if err != nil || docs != 2500 || size != want {
		t.Fatalf("Measure with stale caps = %d docs, %d bytes, %v; want 2500, %d", docs, size, err, want)
	}
	if want := 2500/mongodb.MeasureEvery + 1; calls != want { // every MeasureEvery and at the end
		t.Errorf("progress called %d times while measuring 2500 documents, want %d", calls, want)
	}
	if c, err := newClient().Caps(ctx, db); err != nil || c != caps {
		t.Fatalf("after the fallback the next client found %+v, %v; want %+v again", c, err, caps)
	}
	if got := mongodb.Probes() - before; got != 2 {
		t.Fatalf("%d probes after the fallback, want 2", got)
	}

	// Remembered for another server version: probed again at once.
	if err := mongodb.RememberCaps(ctx, b.client, mongodb.Caps{Server: "MongoDB 6.0.1", BSONSize: true, IDOrder: true}, "mongodb 6.0.1"); err != nil {
		t.Fatal(err)
	}
	if c, err := newClient().Caps(ctx, db); err != nil || c != caps {
		t.Fatalf("another server version: %+v, %v; want %+v", c, err, caps)
	}
	if got := mongodb.Probes() - before; got != 3 {
		t.Fatalf("%d probes after the server version changed, want 3", got)
	}
}

// TestScanNatural reads a collection in the server's order: the measuring
// pass and the read agree; a read that continues after n documents gives
// exactly the rest, checks the n-th document and stops at its limit; a
// continuation whose last document moved fails with ErrOrderChanged.
func TestScanNatural(t *testing.T) {
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db := b.srv.NewDatabase(t)
	coll := b.raw.Database(db).Collection("c")
	// _ids out of order and of two types: the server's order is not _id order.
	var docs []any
	for i := range 7000 {
		var id any = fmt.Sprintf("k%05d", (i*7919)%7000)
		if i%3 == 0 {
			id = int64((i * 104729) % 100000)
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: int32(i)}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var measured []int64
	n, size, err := b.client.MeasureNatural(ctx, db, "c", func(d, _ int64) error { measured = append(measured, d); return nil })
	if err != nil || n != 7000 {
		t.Fatalf("MeasureNatural = %d, %v", n, err)
	}
	var wantCalls []int64
	for d := int64(mongodb.MeasureEvery); d <= 7000; d += mongodb.MeasureEvery {
		wantCalls = append(wantCalls, d)
	}
	if !slices.Equal(measured, append(wantCalls, 7000)) {
		t.Errorf("progress calls %v", measured)
	}
	read := func(done int64, last bson.RawValue, limit int64) ([]bson.RawValue, int64, error) {
		var ids []bson.RawValue
		var bytes int64
		err := b.client.ScanNatural(ctx, db, "c", done, last, limit, func(doc bson.Raw) error {
			id := doc.Lookup("_id")
			ids = append(ids, bson.RawValue{Type: id.Type, Value: slices.Clone(id.Value)})
			bytes += int64(len(doc))
			return nil
		})
		return ids, bytes, err
	}
	all, bytes, err := read(0, bson.RawValue{}, -1)
	if err != nil || len(all) != 7000 || bytes != size {
		t.Fatalf("ScanNatural read %d documents, %d bytes, %v; measured 7000, %d", len(all), bytes, err, size)
	}
	rest, _, err := read(4321, all[4320], 6000)
	if err != nil || len(rest) != 6000-4321 {
		t.Fatalf("continuing after 4321 up to 6000: %d documents, %v", len(rest), err)
	}
	for i, id := range rest {
		if !id.Equal(all[4321+i]) {
			t.Fatalf("document %d of the continuation is %v, want %v", i, id, all[4321+i])
		}
	}
	if _, _, err := read(4321, all[100], -1); !errors.Is(err, mongodb.ErrOrderChanged) {
		t.Fatalf("continuing after a document that is not there: %v, want ErrOrderChanged", err)
	}
	if _, _, err := read(7001, all[6999], -1); !errors.Is(err, mongodb.ErrOrderChanged) {
		t.Fatalf("continuing past the end: %v, want ErrOrderChanged", err)
	}
	stop := errors.New("stop")
	if err := b.client.ScanNatural(ctx, db, "c", 0, bson.RawValue{}, -1, func(bson.Raw) error { return stop }); err != stop {
		t.Fatalf("the callback's error came back as %v", err)
	}
}
