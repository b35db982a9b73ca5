package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// mongoDocs reads every document of db.coll in _id order as raw bytes.
func mongoDocs(t *testing.T, cl *mongo.Client, db, coll string) []bson.Raw {
	t.Helper()
	cur, err := cl.Database(db).Collection(coll).Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	for cur.Next(context.Background()) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDocs(t *testing.T, cl *mongo.Client, srcDB, dstDB, coll string) int {
	t.Helper()
	a, b := mongoDocs(t, cl, srcDB, coll), mongoDocs(t, cl, dstDB, coll)
	if len(a) != len(b) {
		t.Fatalf("%s: %d documents in the source, %d restored", coll, len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("%s: document %d differs:\n%s\n%s", coll, i, a[i], b[i])
		}
	}
	return len(a)
}

func indexNames(t *testing.T, cl *mongo.Client, db, coll string) map[string]string {
	t.Helper()
	cur, err := cl.Database(db).Collection(coll).Indexes().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for cur.Next(context.Background()) {
		name := cur.Current.Lookup("name").StringValue()
		out[name] = fmt.Sprintf("%s unique=%v sparse=%v", cur.Current.Lookup("key"), cur.Current.Lookup("unique"), cur.Current.Lookup("sparse"))
	}
	return out
}

func seedMongo(t *testing.T, cl *mongo.Client, db string) {
	t.Helper()
	ctx := context.Background()
	people := cl.Database(db).Collection("people")
	var docs []any
	for i := range 500 {
		docs = append(docs, bson.D{
			{Key: "_id", Value: bson.NewObjectID()},
			{Key: "name", Value: fmt.Sprintf("person %d", i)},
			{Key: "email", Value: fmt.Sprintf("p%d@example.com", i)},
			{Key: "age", Value: int32(20 + i%50)},
			{Key: "score", Value: float64(i) / 3},
			{Key: "big", Value: int64(1) << 40},
			{Key: "born", Value: bson.NewDateTimeFromTime(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour))},
			{Key: "tags", Value: bson.A{"a", int32(i), bson.D{{Key: "nested", Value: true}}}},
			{Key: "addr", Value: bson.D{{Key: "city", Value: "Zürich"}, {Key: "zip", Value: nil}}},
			{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2, byte(i)}}},
			{Key: "re", Value: bson.Regex{Pattern: "^p[0-9]+", Options: "i"}},
			{Key: "ts", Value: bson.Timestamp{T: uint32(1700000000 + i), I: 1}},
		})
	}
	if _, err := people.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := people.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")},
		{Keys: bson.D{{Key: "age", Value: 1}, {Key: "name", Value: -1}}, Options: options.Index().SetName("age_name")},
		{Keys: bson.D{{Key: "nick", Value: 1}}, Options: options.Index().SetSparse(true).SetName("nick_sparse")},
	}); err != nil {
		t.Fatal(err)
	}
	orders := cl.Database(db).Collection("orders")
	docs = nil
	for i := range 300 {
		docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "total", Value: float64(i) * 1.5}, {Key: "items", Value: bson.A{int32(i), "x"}}})
	}
	if _, err := orders.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := cl.Database(db).CreateCollection(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
}

// TestMongoBackupRestore backs a database up to local and to S3 and restores
// it under another name: documents byte-identical, indexes equal; then a
// subset restore and a restore with drop over existing data.
func TestMongoBackupRestore(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	e := newEnv(t, srv, engine.Options{})
	db := mdb.NewDatabase(t)
	seedMongo(t, cl, db)
	src := e.conn("mongo-src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	target := e.conn("mongo-tgt", store.TypeMongoDB, map[string]string{"uri": mdb.URI})

	for _, dst := range []int64{e.localConn("mongo-archives"), e.s3Conn("mongo-s3", srv.NewBucket(t))} {
		id := startBackup(t, e, src, dst, "")
		op := e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
		if op.Progress.ItemsDone != 800 {
			t.Fatalf("items_done %d, want 800 documents", op.Progress.ItemsDone)
		}
		restored := mdb.NewDatabase(t)
		rid := startRestore(t, e, id, target, fmt.Sprintf(`{"database":%q}`, restored))
		e.waitRestore(rid, store.StatusCompleted, 3*time.Minute)
		for _, coll := range []string{"people", "orders", "empty"} {
			sameDocs(t, cl, db, restored, coll)
			a, b := indexNames(t, cl, db, coll), indexNames(t, cl, restored, coll)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s indexes differ:\n%v\n%v", coll, a, b)
			}
		}

		// Again without drop: every document is a duplicate, counted in the log.
		rid = startRestore(t, e, id, target, fmt.Sprintf(`{"database":%q,"collections":["orders"]}`, restored))
		e.waitRestore(rid, store.StatusCompleted, 3*time.Minute)
		logs, _ := e.st.ListLogs(context.Background(), store.KindRestore, rid, 0, 1000)
		found := false
		for _, l := range logs {
			if bytes.Contains([]byte(l.Message), []byte("300 already there and skipped")) {
				found = true
			}
			if bytes.Contains([]byte(l.Message), []byte(".people")) {
				t.Fatalf("a subset restore of orders touched people: %s", l.Message)
			}
		}
		if !found {
			t.Fatal("the duplicate count is not in the log")
		}

		// With drop: the changed collection is replaced by the backup's.
		if _, err := cl.Database(restored).Collection("orders").InsertOne(context.Background(), bson.D{{Key: "_id", Value: int64(99999)}}); err != nil {
			t.Fatal(err)
		}
		rid = startRestore(t, e, id, target, fmt.Sprintf(`{"database":%q,"collections":["orders"],"drop":true}`, restored))
		e.waitRestore(rid, store.StatusCompleted, 3*time.Minute)
		sameDocs(t, cl, db, restored, "orders")
	}
}

// TestMongoPauseResumeMidCollection pauses a backup in the middle of a large
// collection, while the collections after it are measured ahead, and
// resumes it: no document twice, none missing.
func TestMongoPauseResumeMidCollection(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	// The pause is asked for from inside the run, as the first part's
	// upload starts, and that upload waits until the run's heartbeat has
	// read the request (a heartbeat stamped after it): the parts after it
	// cannot go out meanwhile, so the reading stops within a part or two of
	// there, mid-collection, however fast the source and however busy the
	// machine. (Earlier versions asked after the third checkpoint and held
	// the second part for 2 s: on a loaded machine that part was cut before
	// the checkpoint, which waits for it, and the pause came too late.)
	var (
		eng      *engine.Engine
		st       *store.Store
		backupID atomic.Int64
		parts    atomic.Int64
	)
	e := newEnv(t, srv, engine.Options{CrashAt: func(point string) {
		if point == "mid-part" && parts.Add(1) == 1 {
			asking := time.Now()
			if err := eng.PauseBackup(context.Background(), actor, backupID.Load()); err != nil {
				t.Errorf("pause: %v", err)
				return
			}
			waitHeartbeatAfter(t, st, backupID.Load(), asking, time.Now(), time.Minute)
		}
	}})
	eng, st = e.eng, e.st
	db := mdb.NewDatabase(t)
	big := cl.Database(db).Collection("big")
	// About 18 MiB of archive: the 5 MiB parts after the pause point cannot
	// all be cut while the second part's upload waits.
	n, pad := int64(90000), 200
	var docs []any
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "pad", Value: bson.Binary{Data: randBytes(t, pad)}}})
		if len(docs) == 5000 || i == n-1 {
			if _, err := big.InsertMany(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	// Three small collections after it, measured ahead while it is copied
	// (the pause cancels their passes; the resumed run measures them again).
	var small int64
	for _, name := range []string{"c1", "c2", "c3"} {
		docs = docs[:0]
		for i := range 1000 {
			docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "in", Value: name}})
		}
		if _, err := cl.Database(db).Collection(name).InsertMany(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
		small += int64(len(docs))
	}
	src := e.conn("mongo-src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	dst := e.s3Conn("dst", srv.NewBucket(t))
	op, err := e.eng.StartBackup(context.Background(), actor, engine.BackupRequest{SourceConnectionID: src, DestinationConnectionID: dst})
	if err != nil {
		t.Fatal(err)
	}
	id := op.ID
	backupID.Store(id)
	paused := e.waitBackup(id, store.StatusPaused, 3*time.Minute)
	if paused.Progress.ItemsDone == 0 || paused.Progress.ItemsDone >= n {
		t.Fatalf("paused at %d of %d documents, want mid-collection", paused.Progress.ItemsDone, n)
	}
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	op = e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
	if op.Progress.ItemsDone != n+small {
		t.Fatalf("items_done %d, want %d (paused at %d)", op.Progress.ItemsDone, n+small, paused.Progress.ItemsDone)
	}
	t.Logf("paused at %d of %d documents; completed with %d, no document counted twice", paused.Progress.ItemsDone, n, op.Progress.ItemsDone)
	restored := mdb.NewDatabase(t)
	rid := startRestore(t, e, id, e.conn("tgt", store.TypeMongoDB, map[string]string{"uri": mdb.URI}), fmt.Sprintf(`{"database":%q}`, restored))
	e.waitRestore(rid, store.StatusCompleted, 3*time.Minute)
	if got := sameDocs(t, cl, db, restored, "big"); int64(got) != n {
		t.Fatalf("%d documents restored", got)
	}
	for _, name := range []string{"c1", "c2", "c3"} {
		sameDocs(t, cl, db, restored, name)
	}
}

// TestMongoProgressWhileMeasuring: a collection that takes most of a minute
// to measure (FerretDB cannot sum document sizes, so coffer reads them, here
// at 64 KiB/s) shows its phase and a growing count of documents measured,
// with no stretch over 5 s without a change; a cancel stops the measuring.
// The same run shows "listing" first and "copying" after a quick measure.
func TestMongoProgressWhileMeasuring(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	e := newEnv(t, srv, engine.Options{})
	db := mdb.NewDatabase(t)
	var docs []any
	for i := range 15000 {
		docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "pad", Value: strings.Repeat("p", 180)}})
	}
	if _, err := mdb.Client(t).Database(db).Collection("slow").InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	src := e.conn("mongo-src", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
	id := startBackup(t, e, src, e.localConn("archives"), `{"bandwidth_limit": 65536}`)
	e.waitBackup(id, store.StatusRunning, time.Minute)

	want := "measuring " + db + ".slow"
	var changes []time.Duration
	var last int64
	start := time.Now()
	lastChange := start
	for time.Since(start) < 15*time.Second {
		op, err := e.st.GetBackup(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		p := op.Progress
		if p.Phase != "" && p.Phase != want && p.Phase != "listing collections" {
			t.Fatalf("phase %q while measuring, want %q", p.Phase, want)
		}
		if p.PhaseItems != last {
			changes = append(changes, time.Since(lastChange))
			last, lastChange = p.PhaseItems, time.Now()
		}
		if time.Since(lastChange) > 5*time.Second {
			t.Fatalf("progress unchanged for %v at %+v", time.Since(lastChange).Round(time.Millisecond), p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(changes) < 3 || last >= 15000 {
		t.Fatalf("the count of documents measured changed %d times in 15 s, to %d", len(changes), last)
	}
	t.Logf("measured %d of 15000 documents in 15 s; gaps between changes %v", last, changes)
	if err := e.eng.Cancel(context.Background(), actor, store.KindBackup, id); err != nil {
		t.Fatal(err)
	}
	e.waitBackup(id, store.StatusCancelled, 30*time.Second)
}

// archiveEntries reads a local archive's entries in order, name and bytes,
// without the manifest (it names the operation and its times).
func archiveEntries(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	readArchive(t, path, func(name string, body io.Reader) {
		if name == "manifest.json" {
			return
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %x", name, sha256.Sum256(data)))
	})
	return out
}

// TestMongoMeasuringAheadSameArchive backs up seven collections of
// different sizes measuring one at a time without a spool, four at once
// copying from the spool of the measuring pass, and four at once with a
// spool limit that only the small collections fit: the archives hold the
// same entries, byte for byte, in the same order, and no spool file is
// left behind.
func TestMongoMeasuringAheadSameArchive(t *testing.T) {
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	db := mdb.NewDatabase(t)
	ctx := context.Background()
	for c, n := range []int{1200, 0, 30, 2500, 1, 700, 90} {
		var docs []any
		for i := range n {
			docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "c", Value: int32(c)}, {Key: "pad", Value: randBytes(t, (i*7)%300)}})
		}
		coll := fmt.Sprintf("c%d", c)
		if n == 0 {
			if err := cl.Database(db).CreateCollection(ctx, coll); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := cl.Database(db).Collection(coll).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]string
	for _, opt := range []engine.Options{
		{MongoParallel: 1, MongoSpoolLimit: -1},
		{MongoParallel: 4},
		{MongoParallel: 4, MongoSpoolLimit: 16 << 10},
	} {
		opt.SpoolDir = t.TempDir()
		e := newEnv(t, srv, opt)
		src := e.conn("mongo", store.TypeMongoDB, map[string]string{"uri": mdb.URI, "database": db})
		id := startBackup(t, e, src, e.localConn("dumps"), "")
		op := e.waitBackup(id, store.StatusCompleted, 3*time.Minute)
		got = append(got, archiveEntries(t, filepath.Join(e.local, "dumps", op.ArchivePath)))
		logs, _ := e.st.ListLogs(ctx, store.KindBackup, id, 0, 1000)
		spooled := 0
		for _, l := range logs {
			if strings.Contains(l.Message, "spooled") {
				spooled++
			}
		}
		t.Logf("parallel %d, spool limit %d: %d of 7 collections copied from a spool", opt.MongoParallel, opt.MongoSpoolLimit, spooled)
		if (opt.MongoSpoolLimit < 0) != (spooled == 0) || opt.MongoSpoolLimit > 0 && spooled == 7 {
			t.Fatalf("%d collections copied from a spool with limit %d", spooled, opt.MongoSpoolLimit)
		}
		if left, _ := os.ReadDir(opt.SpoolDir); len(left) != 0 {
			t.Fatalf("%d spool files left behind", len(left))
		}
	}
	if len(got[0]) != 14 {
		t.Fatalf("%d entries, want 7 collections × (metadata + data)", len(got[0]))
	}
	for i := 1; i < len(got); i++ {
		if strings.Join(got[0], "\n") != strings.Join(got[i], "\n") {
			t.Fatalf("run %d's archive differs:\n%s\nfrom:\n%s", i, strings.Join(got[i], "\n"), strings.Join(got[0], "\n"))
		}
	}
}
