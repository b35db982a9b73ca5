package mongodb_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
)

// bundle is what most tests need: a server, a raw driver client and ours.
type bundle struct {
	srv    *mongotest.Server
	raw    *mongo.Client
	client *mongodb.Client
}

func setup(t *testing.T, cfg mongodb.Config) *bundle {
	t.Helper()
	srv := mongotest.Start(t)
	if cfg.URI == "" {
		cfg.URI = srv.URI
	}
	c, err := mongodb.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &bundle{srv: srv, raw: srv.Client(t), client: c}
}

func mustRaw(t testing.TB, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// richDoc is a document with most types FerretDB can carry.
func richDoc(t testing.TB, i int) bson.Raw {
	t.Helper()
	d := bson.D{
		{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1700000000+int64(i*7919%1000), 0))},
		{Key: "n32", Value: int32(i)},
		{Key: "n64", Value: int64(i) << 40},
		{Key: "f", Value: float64(i) + 0.25},
		{Key: "s", Value: fmt.Sprintf("name-%04d ünïcode ✓", i)},
		{Key: "email", Value: fmt.Sprintf("u%d@example.com", i)},
		{Key: "last", Value: fmt.Sprintf("L%d", i%10)},
		{Key: "age", Value: int32(20 + i%50)},
		{Key: "when", Value: bson.NewDateTimeFromTime(time.Date(2020, 1, 1, 0, 0, i, 1e6*(i%1000), time.UTC))},
		{Key: "ts", Value: bson.Timestamp{T: uint32(1600000000 + i), I: uint32(i % 7)}},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2, byte(i), 0xff}}},
		{Key: "uuidbin", Value: bson.Binary{Subtype: 4, Data: bytes.Repeat([]byte{byte(i)}, 16)}},
		{Key: "re", Value: bson.Regex{Pattern: "^a.*b$", Options: "i"}},
		{Key: "nil", Value: nil},
		{Key: "ok", Value: i%2 == 0},
		{Key: "oid", Value: bson.NewObjectIDFromTimestamp(time.Unix(int64(i), 0))},
		{Key: "arr", Value: bson.A{int32(1), "two", 3.5, bson.D{{Key: "x", Value: int64(i)}}, nil}},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: bson.D{{Key: "c", Value: int32(i)}}}}}, {Key: "empty", Value: bson.D{}}}},
	}
	if i%3 == 0 {
		d = append(d, bson.E{Key: "nick", Value: fmt.Sprintf("nick%d", i)})
	}
	return mustRaw(t, d)
}

// idOf returns a document's _id.
func idOf(t testing.TB, doc bson.Raw) bson.RawValue {
	t.Helper()
	v, err := doc.LookupErr("_id")
	if err != nil {
		t.Fatalf("document without _id: %v", doc)
	}
	return v
}

// scanAll collects what Scan returns (copies).
func scanAll(t testing.TB, c *mongodb.Client, db, coll string, after, upTo bson.RawValue, batch int32) []bson.Raw {
	t.Helper()
	var out []bson.Raw
	err := c.Scan(context.Background(), db, coll, after, upTo, batch, func(doc bson.Raw) error {
		out = append(out, slices.Clone(doc))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan %s.%s: %v", db, coll, err)
	}
	return out
}

// sameDocs fails unless got and want hold the same bytes in the same order.
func sameDocs(t testing.TB, what string, got, want []bson.Raw) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d documents, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: document %d differs:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

func createIndexes(t testing.TB, raw *mongo.Client, db, coll string) {
	t.Helper()
	_, err := raw.Database(db).Collection(coll).Indexes().CreateMany(context.Background(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")},
		{Keys: bson.D{{Key: "last", Value: 1}, {Key: "age", Value: -1}}},
		{Keys: bson.D{{Key: "nick", Value: 1}}, Options: options.Index().SetSparse(true)},
	})
	if err != nil {
		t.Fatalf("creating indexes: %v", err)
	}
}

// indexSummary is what must survive a restore for each index.
type indexSummary struct {
	Name           string
	Key            string
	Unique, Sparse bool
}

func summarize(t testing.TB, idx []bson.Raw) []indexSummary {
	t.Helper()
	var out []indexSummary
	for _, ix := range idx {
		s := indexSummary{}
		s.Name, _ = ix.Lookup("name").StringValueOK()
		s.Key = ix.Lookup("key").String()
		s.Unique, _ = ix.Lookup("unique").BooleanOK()
		s.Sparse, _ = ix.Lookup("sparse").BooleanOK()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b indexSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func TestBackupAndRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db, db2, target := b.srv.NewDatabase(t), b.srv.NewDatabase(t), b.srv.NewDatabase(t)

	// people: rich documents inserted out of _id order, three secondary indexes.
	const n = 240
	var people []bson.Raw
	for i := range n {
		people = append(people, richDoc(t, i))
	}
	b.srv.MustInsert(t, b.raw, db, "people", people...)
	createIndexes(t, b.raw, db, "people")
	slices.SortFunc(people, func(x, y bson.Raw) int {
		a, _ := idOf(t, x).ObjectIDOK()
		c, _ := idOf(t, y).ObjectIDOK()
		return bytes.Compare(a[:], c[:])
	})
	// empty: a collection without documents.
	if err := b.raw.Database(db).CreateCollection(ctx, "empty"); err != nil {
		t.Fatalf("creating empty: %v", err)
	}
	// a second database.
	other := []bson.Raw{mustRaw(t, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: int32(1)}})}
	b.srv.MustInsert(t, b.raw, db2, "other", other...)

	dbs, err := b.client.Databases(ctx)
	if err != nil {
		t.Fatalf("Databases: %v", err)
	}
	for _, want := range []string{db, db2} {
		if !slices.Contains(dbs, want) {
			t.Errorf("Databases() = %v, missing %s", dbs, want)
		}
	}
	for _, sys := range []string{"admin", "local", "config"} {
		if slices.Contains(dbs, sys) {
			t.Errorf("Databases() = %v lists the system database %s", dbs, sys)
		}
	}
	if !slices.IsSorted(dbs) {
		t.Errorf("Databases() = %v, not sorted", dbs)
	}

	colls, err := b.client.Collections(ctx, db)
	if err != nil {
		t.Fatalf("Collections: %v", err)
	}
	var names []string
	for _, c := range colls {
		names = append(names, c.Name)
		if c.Type != "collection" {
			t.Errorf("%s has type %q", c.Name, c.Type)
		}
	}
	if !slices.Equal(names, []string{"empty", "people"}) {
		t.Fatalf("Collections = %v, want [empty people]", names)
	}
	peopleMeta := colls[1]
	if got := len(peopleMeta.Indexes); got != 4 {
		t.Fatalf("people has %d indexes, want 4 (_id_ + 3): %v", got, peopleMeta.Indexes)
	}

	want := map[string][]bson.Raw{"people": people, "empty": nil}
	for _, coll := range colls {
		docs, size, upTo, err := b.client.Measure(ctx, db, coll.Name, nil)
		if err != nil {
			t.Fatalf("Measure %s: %v", coll.Name, err)
		}
		var wantSize int64
		for _, d := range want[coll.Name] {
			wantSize += int64(len(d))
		}
		if docs != int64(len(want[coll.Name])) || size != wantSize {
			t.Errorf("Measure %s = %d docs, %d bytes; want %d, %d", coll.Name, docs, size, len(want[coll.Name]), wantSize)
		}
		got := scanAll(t, b.client, db, coll.Name, bson.RawValue{}, upTo, 17)
		sameDocs(t, "scan of "+coll.Name, got, want[coll.Name])

		// The metadata survives the round trip through JSON.
		js, err := mongodb.MetadataJSON(db, coll)
		if err != nil {
			t.Fatalf("MetadataJSON: %v", err)
		}
		back, err := mongodb.ParseMetadataJSON(js)
		if err != nil {
			t.Fatalf("ParseMetadataJSON(%s): %v", js, err)
		}
		if back.Name != coll.Name || back.Type != coll.Type || back.UUID != coll.UUID ||
			!bytes.Equal(back.Options, coll.Options) || len(back.Indexes) != len(coll.Indexes) {
			t.Fatalf("metadata round trip:\n got %+v\nwant %+v", back, coll)
		}
		for i := range coll.Indexes {
			if !bytes.Equal(back.Indexes[i], coll.Indexes[i]) {
				t.Fatalf("index %d after round trip: %v, want %v", i, back.Indexes[i], coll.Indexes[i])
			}
		}

		// Restore into another database, in batches as the engine does.
		if err := b.client.PrepareCollection(ctx, target, back, false); err != nil {
			t.Fatalf("PrepareCollection %s: %v", coll.Name, err)
		}
		var inserted int64
		for start := 0; start < len(got); start += 50 {
			ins, dup, err := b.client.InsertBatch(ctx, target, coll.Name, got[start:min(start+50, len(got))])
			if err != nil || dup != 0 {
				t.Fatalf("InsertBatch %s: inserted %d, duplicates %d, err %v", coll.Name, ins, dup, err)
			}
			inserted += ins
		}
		if inserted != int64(len(got)) {
			t.Fatalf("inserted %d of %d", inserted, len(got))
		}
		if err := b.client.CreateIndexes(ctx, target, back); err != nil {
			t.Fatalf("CreateIndexes %s: %v", coll.Name, err)
		}
	}

	// The restored database holds the same bytes and equal indexes.
	restored, err := b.client.Collections(ctx, target)
	if err != nil {
		t.Fatalf("Collections(target): %v", err)
	}
	if len(restored) != len(colls) {
		t.Fatalf("restored %d collections, want %d", len(restored), len(colls))
	}
	for i, coll := range restored {
		if coll.Name != colls[i].Name {
			t.Fatalf("restored collection %d is %s, want %s", i, coll.Name, colls[i].Name)
		}
		if g, w := summarize(t, coll.Indexes), summarize(t, colls[i].Indexes); !slices.Equal(g, w) {
			t.Errorf("indexes of restored %s:\n got %+v\nwant %+v", coll.Name, g, w)
		}
		_, _, upTo, err := b.client.Measure(ctx, target, coll.Name, nil)
		if err != nil {
			t.Fatalf("Measure restored %s: %v", coll.Name, err)
		}
		sameDocs(t, "restored "+coll.Name, scanAll(t, b.client, target, coll.Name, bson.RawValue{}, upTo, 100), want[coll.Name])
	}

	// A second run without drop: every document is a counted duplicate.
	ins, dup, err := b.client.InsertBatch(ctx, target, "people", people)
	if err != nil || ins != 0 || dup != int64(len(people)) {
		t.Fatalf("InsertBatch again = inserted %d, duplicates %d, err %v; want 0, %d, nil", ins, dup, err, len(people))
	}
	// Half new, half old.
	mixed := append([]bson.Raw{}, people[:10]...)
	for i := n; i < n+5; i++ {
		mixed = append(mixed, richDoc(t, i))
	}
	ins, dup, err = b.client.InsertBatch(ctx, target, "people", mixed)
	if err != nil || ins != 5 || dup != 10 {
		t.Fatalf("InsertBatch mixed = inserted %d, duplicates %d, err %v; want 5, 10, nil", ins, dup, err)
	}
	// A unique-index violation on another key is a duplicate too (the
	// document is already there under another _id).
	clash := mustRaw(t, bson.D{{Key: "_id", Value: "new"}, {Key: "email", Value: "u1@example.com"}})
	if ins, dup, err := b.client.InsertBatch(ctx, target, "people", []bson.Raw{clash}); err != nil || ins != 0 || dup != 1 {
		t.Fatalf("InsertBatch unique clash = %d, %d, %v", ins, dup, err)
	}

	// PrepareCollection with drop empties the collection and keeps it usable.
	if err := b.client.PrepareCollection(ctx, target, peopleMeta, true); err != nil {
		t.Fatalf("PrepareCollection drop: %v", err)
	}
	if cnt, err := b.raw.Database(target).Collection("people").CountDocuments(ctx, bson.D{}); err != nil || cnt != 0 {
		t.Fatalf("after drop: %d documents, err %v", cnt, err)
	}
	// Restoring into a collection that already has the indexes is fine.
	if err := b.client.CreateIndexes(ctx, target, peopleMeta); err != nil {
		t.Fatalf("CreateIndexes after drop: %v", err)
	}
	if err := b.client.CreateIndexes(ctx, target, peopleMeta); err != nil {
		t.Fatalf("CreateIndexes twice: %v", err)
	}
}

func TestScanResumesAfterAnyID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db := b.srv.NewDatabase(t)

	// _id values of several BSON types, listed in MongoDB's sort order.
	oid1 := bson.NewObjectIDFromTimestamp(time.Unix(1000, 0))
	oid2 := bson.NewObjectIDFromTimestamp(time.Unix(2000, 0))
	ids := []any{
		nil,
		int32(-5), 1.5, int64(2), int32(3), int64(1) << 40,
		"", "a", "ab", "b",
		bson.D{{Key: "k", Value: int32(1)}}, bson.D{{Key: "k", Value: int32(2)}},
		bson.Binary{Subtype: 0, Data: []byte{1}}, bson.Binary{Subtype: 0, Data: []byte{1, 2}},
		oid1, oid2,
		false, true,
		bson.NewDateTimeFromTime(time.Unix(10, 0)), bson.NewDateTimeFromTime(time.Unix(20, 0)),
		bson.Timestamp{T: 5, I: 1}, bson.Timestamp{T: 6, I: 0},
	}
	var want []bson.Raw
	for i, id := range ids {
		want = append(want, mustRaw(t, bson.D{{Key: "_id", Value: id}, {Key: "i", Value: int32(i)}}))
	}
	// Insert in a scrambled order.
	var scrambled []bson.Raw
	for i := range want {
		scrambled = append(scrambled, want[(i*7)%len(want)])
	}
	b.srv.MustInsert(t, b.raw, db, "mixed", scrambled...)

	docs, _, upTo, err := b.client.Measure(ctx, db, "mixed", nil)
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	if docs != int64(len(want)) {
		t.Fatalf("Measure counted %d documents, want %d", docs, len(want))
	}
	sameDocs(t, "full scan", scanAll(t, b.client, db, "mixed", bson.RawValue{}, upTo, 3), want)
	for k := range want {
		after := idOf(t, want[k])
		sameDocs(t, fmt.Sprintf("scan after %v", after), scanAll(t, b.client, db, "mixed", after, upTo, 4), want[k+1:])
		sameDocs(t, fmt.Sprintf("scan up to %v", after), scanAll(t, b.client, db, "mixed", bson.RawValue{}, after, 5), want[:k+1])
		for j := k; j < len(want); j += 5 {
			sameDocs(t, fmt.Sprintf("scan (%v, %v]", after, idOf(t, want[j])),
				scanAll(t, b.client, db, "mixed", after, idOf(t, want[j]), 2), want[k+1:j+1])
		}
	}

	// A document inserted after Measure above upTo is not part of this backup.
	b.srv.MustInsert(t, b.raw, db, "mixed", mustRaw(t, bson.D{{Key: "_id", Value: bson.Timestamp{T: 100, I: 0}}}))
	late := scanAll(t, b.client, db, "mixed", bson.RawValue{}, upTo, 100)
	sameDocs(t, "scan after a later insert", late, want)

	// fn's error stops the scan and comes back unchanged.
	stop := fmt.Errorf("stop here")
	seen := 0
	err = b.client.Scan(ctx, db, "mixed", bson.RawValue{}, upTo, 2, func(bson.Raw) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	})
	if err != stop || seen != 3 {
		t.Fatalf("Scan with failing fn: err %v after %d docs, want %v after 3", err, seen, stop)
	}
}

func TestScanLargeCollectionResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, mongodb.Config{Database: "ignored-for-scan"})
	db := b.srv.NewDatabase(t)
	const n = 1500
	var want []bson.Raw
	for i := range n {
		want = append(want, mustRaw(t, bson.D{{Key: "_id", Value: int64(i * 3)}, {Key: "pad", Value: strings.Repeat("x", i%50)}}))
	}
	b.srv.MustInsert(t, b.raw, db, "big", want...)
	_, _, upTo, err := b.client.Measure(ctx, db, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Stop after every k-th document (as a pause would) and resume from the
	// last _id handed out: the concatenation is the whole collection.
	for _, k := range []int{1, 99, 1000, n - 1} {
		var got []bson.Raw
		errPause := fmt.Errorf("pause")
		err := b.client.Scan(ctx, db, "big", bson.RawValue{}, upTo, 64, func(doc bson.Raw) error {
			got = append(got, slices.Clone(doc))
			if len(got) == k {
				return errPause
			}
			return nil
		})
		if err != errPause {
			t.Fatalf("first part: %v", err)
		}
		got = append(got, scanAll(t, b.client, db, "big", idOf(t, got[len(got)-1]), upTo, 64)...)
		sameDocs(t, fmt.Sprintf("paused after %d", k), got, want)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, mongodb.Config{})
	db := b.srv.NewDatabase(t)
	b.srv.MustInsert(t, b.raw, db, "c1", mustRaw(t, bson.D{{Key: "_id", Value: 1}}))

	res, err := b.client.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !strings.Contains(res.Message, "Connected to MongoDB") {
		t.Errorf("Check message %q", res.Message)
	}

	one, err := mongodb.New(ctx, mongodb.Config{URI: b.srv.URI, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	res, err = one.Check(ctx)
	if err != nil {
		t.Fatalf("Check with database: %v", err)
	}
	if !strings.Contains(res.Message, db) || !strings.Contains(res.Message, "1 collection.") {
		t.Errorf("Check message %q does not name the database and its one collection", res.Message)
	}
	dbs, err := one.Databases(ctx)
	if err != nil || !slices.Equal(dbs, []string{db}) {
		t.Errorf("Databases with a configured database = %v, %v", dbs, err)
	}
}

func TestCheckUnreachableHidesPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const password = "Sup3r-Secret-pw"
	port := closedPort(t)
	for _, uri := range []string{
		fmt.Sprintf("mongodb://backup:%s@127.0.0.1:%d/?serverSelectionTimeoutMS=800", password, port),
		fmt.Sprintf("mongodb://backup:%s@no-such-host.invalid:27017/?serverSelectionTimeoutMS=800", password),
	} {
		c, err := mongodb.New(ctx, mongodb.Config{URI: uri, AuthDatabase: "admin"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		_, err = c.Check(ctx)
		c.Close()
		if err == nil {
			t.Fatalf("Check of %s succeeded", mongodb.Redact(uri))
		}
		msg := err.Error()
		t.Log(msg)
		if strings.Contains(msg, password) {
			t.Fatalf("the error shows the password: %s", msg)
		}
		if !strings.Contains(msg, "could not be reached") && !strings.Contains(msg, "could not be resolved") {
			t.Errorf("error %q does not say the server is unreachable", msg)
		}
	}
}
