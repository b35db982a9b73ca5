package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongoSet is one data set of the MongoDB case: a database of colls
// collections of docs documents each.
type mongoSet struct {
	db          string
	colls, docs int
}

func (m mongoSet) total() int { return m.colls * m.docs }

func (m mongoSet) String() string {
	if m.colls == 1 {
		return fmt.Sprintf("1 collection of %d documents", m.docs)
	}
	return fmt.Sprintf("%d collections of %d documents", m.colls, m.docs)
}

// mongoTimes is what one tool took on one data set.
type mongoTimes struct {
	dump, restore time.Duration
	dumpRSS       int64
	restoreRSS    int64
}

// mongoCase puts two data sets into FerretDB (in this process, SQLite
// backend): one collection of s.mongoDocs documents of about 215 bytes, and
// s.mongoColls collections of s.mongoCollDocs. Each is dumped to a local
// directory and restored into another database by `coffer serve`, and,
// when mongodump and mongorestore are on the PATH (build them from
// mongo-tools' source), by `mongodump --archive --gzip` and `mongorestore
// --archive --gzip` side by side; coffer's first archive is also restored
// with `mongorestore --dir` from its extracted mongodb/ folder.
func mongoCase(ctx context.Context, s settings, work string) ([]row, error) {
	dir := filepath.Join(work, "ferretdb") + "/"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("start FerretDB: %w", err)
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = f.Run(fctx) }()
	time.Sleep(300 * time.Millisecond)
	uri := f.MongoDBURI()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, err
	}
	defer cl.Disconnect(context.Background()) //nolint:errcheck // bench cleanup

	sets := []mongoSet{{db: "one", colls: 1, docs: s.mongoDocs}, {db: "many", colls: s.mongoColls, docs: s.mongoCollDocs}}
	for _, set := range sets {
		start := time.Now()
		if err := fillMongo(ctx, cl, set); err != nil {
			return nil, err
		}
		logf("MongoDB case: %s put into FerretDB in %s", set, secs(time.Since(start)))
	}

	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-mongo"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	dstID, err := cp.createConnection(ctx, "bench mongo local", "local", map[string]any{"path": filepath.Join(cp.roots, "mongo")})
	if err != nil {
		return nil, err
	}
	tgtID, err := cp.createConnection(ctx, "bench mongo target", "mongodb", map[string]any{"uri": uri})
	if err != nil {
		return nil, err
	}
	mongodump, _ := exec.LookPath("mongodump")
	mongorestore, _ := exec.LookPath("mongorestore")
	tools := mongodump != "" && mongorestore != ""
	var rows []row
	var firstArchive string
	for _, set := range sets {
		srcID, err := cp.createConnection(ctx, "bench mongo "+set.db, "mongodb", map[string]any{"uri": uri, "database": set.db})
		if err != nil {
			return rows, err
		}
		var c mongoTimes
		_ = resetPeakRSS(cp.pid())
		op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID}, time.Hour)
		if err != nil {
			return rows, err
		}
		c.dump = wall
		c.dumpRSS, _ = procStatus(cp.pid(), "VmHWM")
		docs := op.Progress.ItemsDone
		logf("coffer dump of %s: %s = %.0f docs/s, %.1f MB read (%.0f bytes a document), archive %s, VmHWM %s",
			set, secs(wall), float64(docs)/wall.Seconds(), float64(op.Progress.BytesRead)/1e6, float64(op.Progress.BytesRead)/float64(max(docs, 1)),
			sizeMiB(op.ArchiveSize), sizeMiB(c.dumpRSS))
		if set.colls == 1 {
			if passes, err := mongoPasses(ctx, cp, op.ID); err == nil {
				logf("coffer dump of %s: %s", set, passes)
			} else {
				logf("%v", err)
			}
		}
		if firstArchive == "" {
			firstArchive = filepath.Join(cp.roots, "mongo", op.ArchivePath)
		}
		_ = resetPeakRSS(cp.pid())
		_, rwall, err := cp.run(ctx, "restores", map[string]any{"backup_operation_id": op.ID, "destination_connection_id": tgtID,
			"config": map[string]any{"database": set.db + "_coffer"}}, time.Hour)
		if err != nil {
			return rows, err
		}
		c.restore = rwall
		c.restoreRSS, _ = procStatus(cp.pid(), "VmHWM")
		if err := countMongo(ctx, cl, set, set.db+"_coffer"); err != nil {
			return rows, err
		}
		logf("coffer restore of %s: %s = %.0f docs/s, VmHWM %s (counts verified)", set, secs(rwall), float64(set.total())/rwall.Seconds(), sizeMiB(c.restoreRSS))
		rows = append(rows,
			row{figure: "coffer dump: " + set.String(), value: fmt.Sprintf("%s (%.0f docs/s), peak RSS %s", secs(c.dump), float64(set.total())/c.dump.Seconds(), sizeMiB(c.dumpRSS)),
				target: "RSS ≤ 150 MiB", met: yesNo(c.dumpRSS <= 150<<20)},
			row{figure: "coffer restore: " + set.String(), value: fmt.Sprintf("%s (%.0f docs/s), peak RSS %s", secs(c.restore), float64(set.total())/c.restore.Seconds(), sizeMiB(c.restoreRSS)),
				target: "RSS ≤ 150 MiB", met: yesNo(c.restoreRSS <= 150<<20)})
		if !tools {
			continue
		}
		md, err := mongoTools(ctx, mongodump, mongorestore, uri, set, filepath.Join(work, set.db+".archive.gz"), cl)
		if err != nil {
			return rows, err
		}
		rows = append(rows,
			row{figure: "mongodump --archive --gzip: " + set.String(), value: fmt.Sprintf("%s → coffer %.2f× as fast", secs(md.dump), md.dump.Seconds()/c.dump.Seconds()),
				target: "≥ 1.5×", met: yesNo(md.dump.Seconds()/c.dump.Seconds() >= 1.5)},
			row{figure: "mongorestore --archive --gzip: " + set.String(), value: fmt.Sprintf("%s → coffer %.2f× as fast", secs(md.restore), md.restore.Seconds()/c.restore.Seconds()),
				target: "≥ 1×", met: yesNo(md.restore.Seconds()/c.restore.Seconds() >= 1)})
	}
	if !tools {
		rows = append(rows, row{figure: "mongodump / mongorestore", value: "not on the PATH: coffer's figures alone (build them from mongo-tools' source to compare)"})
		return rows, nil
	}
	// Anyone can restore coffer's archive with mongorestore --dir.
	out := filepath.Join(work, "extracted")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return rows, err
	}
	if b, err := exec.CommandContext(ctx, "tar", "-xzf", firstArchive, "-C", out).CombinedOutput(); err != nil {
		return rows, fmt.Errorf("tar -xzf %s: %v: %s", firstArchive, err, b)
	}
	if b, err := exec.CommandContext(ctx, mongorestore, "--uri", uri, "--dir", filepath.Join(out, "mongodb"), "--nsFrom", sets[0].db+".*", "--nsTo", sets[0].db+"_dir.*").CombinedOutput(); err != nil {
		return rows, fmt.Errorf("mongorestore --dir: %v: %s", err, lastLines(b))
	}
	if err := countMongo(ctx, cl, sets[0], sets[0].db+"_dir"); err != nil {
		return rows, fmt.Errorf("after mongorestore --dir of coffer's archive: %w", err)
	}
	logf("mongorestore --dir restored coffer's archive of %s (counts verified)", sets[0])
	rows = append(rows, row{figure: "coffer's archive restored by mongorestore --dir", value: "yes, counts verified", target: "yes", met: "yes"})
	return rows, nil
}

// fillMongo inserts set into FerretDB: documents of about 215 bytes.
func fillMongo(ctx context.Context, cl *mongo.Client, set mongoSet) error {
	pad := strings.Repeat("p", 131)
	for c := range set.colls {
		coll := cl.Database(set.db).Collection(fmt.Sprintf("events%d", c))
		batch := make([]any, 0, 10_000)
		for i := range set.docs {
			batch = append(batch, bson.D{
				{Key: "_id", Value: int64(i)},
				{Key: "user", Value: fmt.Sprintf("user-%05d", i%50_000)},
				{Key: "kind", Value: []string{"view", "click", "buy"}[i%3]},
				{Key: "at", Value: bson.NewDateTimeFromTime(time.Unix(1_700_000_000+int64(i), 0))},
				{Key: "n", Value: int32(i % 1000)},
				{Key: "note", Value: pad},
			})
			if len(batch) == cap(batch) || i == set.docs-1 {
				if _, err := coll.InsertMany(ctx, batch); err != nil {
					return fmt.Errorf("fill FerretDB: %w", err)
				}
				batch = batch[:0]
			}
		}
	}
	return nil
}

// countMongo checks that database db holds set's collections, each whole.
func countMongo(ctx context.Context, cl *mongo.Client, set mongoSet, db string) error {
	for c := range set.colls {
		name := fmt.Sprintf("events%d", c)
		n, err := cl.Database(db).Collection(name).CountDocuments(ctx, bson.D{})
		if err != nil {
			return err
		}
		if n != int64(set.docs) {
			return fmt.Errorf("%s.%s holds %d documents, want %d", db, name, n, set.docs)
		}
	}
	return nil
}

// mongoTools dumps set with mongodump --archive --gzip (its default 4
// collections at once) and restores it into <db>_tools with mongorestore,
// and checks the counts.
func mongoTools(ctx context.Context, mongodump, mongorestore, uri string, set mongoSet, archive string, cl *mongo.Client) (mongoTimes, error) {
	var t mongoTimes
	start := time.Now()
	if b, err := exec.CommandContext(ctx, mongodump, "--uri", uri, "--db", set.db, "--archive="+archive, "--gzip").CombinedOutput(); err != nil {
		return t, fmt.Errorf("mongodump: %v: %s", err, lastLines(b))
	}
	t.dump = time.Since(start)
	st, _ := os.Stat(archive)
	logf("mongodump --archive --gzip of %s: %s = %.0f docs/s, archive %s", set, secs(t.dump), float64(set.total())/t.dump.Seconds(), sizeMiB(st.Size()))
	start = time.Now()
	if b, err := exec.CommandContext(ctx, mongorestore, "--uri", uri, "--archive="+archive, "--gzip", "--nsFrom", set.db+".*", "--nsTo", set.db+"_tools.*").CombinedOutput(); err != nil {
		return t, fmt.Errorf("mongorestore: %v: %s", err, lastLines(b))
	}
	t.restore = time.Since(start)
	if err := countMongo(ctx, cl, set, set.db+"_tools"); err != nil {
		return t, fmt.Errorf("after mongorestore: %w", err)
	}
	logf("mongorestore --archive --gzip of %s: %s = %.0f docs/s (counts verified)", set, secs(t.restore), float64(set.total())/t.restore.Seconds())
	return t, nil
}

// lastLines is the end of a tool's output, for an error.
func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// mongoPasses reads a one-collection MongoDB backup's log and says how long
// its two passes over the collection took: measuring (from the start to the
// collection's "N documents" line) and copying (from there to the end).
func mongoPasses(ctx context.Context, cp *cofferProc, id int64) (string, error) {
	var logs struct {
		Items []struct {
			Message   string    `json:"message"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"items"`
	}
	if err := cp.do(ctx, "GET", fmt.Sprintf("/api/v1/backups/%d/logs?limit=1000", id), nil, &logs, 200); err != nil {
		return "", err
	}
	var start, measured, done time.Time
	for _, l := range logs.Items {
		switch {
		case start.IsZero() && strings.Contains(l.Message, " started."):
			start = l.CreatedAt
		case measured.IsZero() && strings.HasPrefix(l.Message, "Collection ") && strings.Contains(l.Message, " documents, "):
			measured = l.CreatedAt
		case strings.HasPrefix(l.Message, "Backup completed"):
			done = l.CreatedAt
		}
	}
	if start.IsZero() || measured.IsZero() || done.IsZero() {
		return "", fmt.Errorf("the log of backup %d does not show its passes", id)
	}
	return fmt.Sprintf("measuring pass %s, copying pass %s", secs(measured.Sub(start)), secs(done.Sub(measured))), nil
}
