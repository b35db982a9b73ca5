//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
)

func allDocs(t *testing.T, cl *mongo.Client, db, coll string) []bson.Raw {
	cur, err := cl.Database(db).Collection(coll).Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	for cur.Next(context.Background()) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	return out
}

// TestMongoKilledMidCollection kills `coffer serve` with SIGKILL in the
// middle of a 25,000-document collection; after the restart the backup
// continues from its checkpoint (collection + last _id) and the restore
// holds every document exactly once, byte-identical.
func TestMongoKilledMidCollection(t *testing.T) {
	t.Parallel()
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	db := mdb.NewDatabase(t)
	coll := cl.Database(db).Collection("events")
	// 1,200 random bytes a document: ~30 MB that compress to three 8 MiB
	// parts or more, so parts are uploaded (and checkpoints taken) while the
	// collection is being read. Fewer, larger documents than a typical
	// collection: the test database (FerretDB on SQLite) spends its time
	// per document, the backup's checkpoints depend on the bytes.
	const n = 25_000
	batch := make([]any, 0, 5_000)
	for i := range n {
		var b [1200]byte
		_, _ = rand.Read(b[:])
		batch = append(batch, bson.D{{Key: "_id", Value: int64(i)}, {Key: "r", Value: bson.Binary{Data: b[:]}}, {Key: "n", Value: int32(i % 1000)}})
		if len(batch) == cap(batch) {
			if _, err := coll.InsertMany(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	node := newNode(t)
	p := node.start(t, "serve", "COFFER_TEST_CRASH_AT=after-checkpoint:3")
	c := p.login(t)
	src := c.createConn("mongo", "mongodb", map[string]any{"uri": mdb.URI, "database": db})
	dst := c.createConn("archives", "local", map[string]any{"path": node.roots + "/m"})
	id := c.startBackup(src, dst)
	p.waitExit(3 * time.Minute)

	p2 := node.start(t, "serve")
	c2 := p2.login(t)
	start := time.Now()
	op := c2.wait("backups", id, "completed", 5*time.Minute)
	logs := c2.logs("backups", id)
	if !contains(logs, "continues from its checkpoint") {
		t.Fatalf("the backup did not continue from a checkpoint: %q", logs)
	}
	// Measured once: the run after the kill went on inside the collection's
	// entry instead of starting the collection again.
	measured := 0
	for _, l := range logs {
		if strings.Contains(l, fmt.Sprintf(".events: %d documents", n)) {
			measured++
		}
	}
	if measured != 1 {
		t.Fatalf("the collection was measured %d times, want once (killed mid-collection, continued there): %q", measured, logs)
	}
	if op.Progress.ItemsDone != n {
		t.Fatalf("items_done %d, want %d", op.Progress.ItemsDone, n)
	}
	t.Logf("killed mid-collection; completed %s after the restart", time.Since(start).Round(time.Millisecond))

	restored := mdb.NewDatabase(t)
	rid := c2.startRestore(id, c2.createConn("mongo-target", "mongodb", map[string]any{"uri": mdb.URI}), map[string]any{"database": restored})
	c2.wait("restores", rid, "completed", 5*time.Minute)
	a, b := allDocs(t, cl, db, "events"), allDocs(t, cl, restored, "events")
	if len(a) != n || len(b) != n {
		t.Fatalf("%d documents in the source, %d restored, want %d", len(a), len(b), n)
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("document %d differs", i)
		}
	}
	fmt.Fprintf(testWriter{t}, "%d documents backed up across a SIGKILL and restored identical\n", n)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
