package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongoCase dumps s.mongoDocs small documents from FerretDB (in this
// process, SQLite backend) to a local destination with `coffer serve`, then
// restores them into another database, and reports documents/s, MB/s and
// coffer's peak RSS for each (the MongoDB issue's benchmark).
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

	const db = "bench"
	coll := cl.Database(db).Collection("events")
	start := time.Now()
	batch := make([]any, 0, 10_000)
	for i := range s.mongoDocs {
		batch = append(batch, bson.D{
			{Key: "_id", Value: int64(i)},
			{Key: "user", Value: fmt.Sprintf("user-%05d", i%50_000)},
			{Key: "kind", Value: []string{"view", "click", "buy"}[i%3]},
			{Key: "at", Value: bson.NewDateTimeFromTime(time.Unix(1_700_000_000+int64(i), 0))},
			{Key: "n", Value: int32(i % 1000)},
		})
		if len(batch) == cap(batch) || i == s.mongoDocs-1 {
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				return nil, fmt.Errorf("fill FerretDB: %w", err)
			}
			batch = batch[:0]
		}
	}
	logf("MongoDB case: %d documents put into FerretDB in %s", s.mongoDocs, secs(time.Since(start)))

	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-mongo"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	srcID, err := cp.createConnection(ctx, "bench mongo", "mongodb", map[string]any{"uri": uri, "database": db})
	if err != nil {
		return nil, err
	}
	dstID, err := cp.createConnection(ctx, "bench mongo local", "local", map[string]any{"path": filepath.Join(cp.roots, "mongo")})
	if err != nil {
		return nil, err
	}
	_ = resetPeakRSS(cp.pid())
	op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID}, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	dumpRSS, _ := procStatus(cp.pid(), "VmHWM")
	docs := op.Progress.ItemsDone
	mb := float64(op.Progress.BytesRead) / 1e6
	logf("mongo dump: %d documents, %.1f MB in %s = %.0f docs/s, %.1f MB/s, archive %s, VmHWM %s",
		docs, mb, secs(wall), float64(docs)/wall.Seconds(), mb/wall.Seconds(), sizeMiB(op.ArchiveSize), sizeMiB(dumpRSS))

	tgtID, err := cp.createConnection(ctx, "bench mongo target", "mongodb", map[string]any{"uri": uri})
	if err != nil {
		return nil, err
	}
	_ = resetPeakRSS(cp.pid())
	_, rwall, err := cp.run(ctx, "restores", map[string]any{"backup_operation_id": op.ID, "destination_connection_id": tgtID,
		"config": map[string]any{"database": "bench_restored"}}, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	restoreRSS, _ := procStatus(cp.pid(), "VmHWM")
	n, err := cl.Database("bench_restored").Collection("events").CountDocuments(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	if n != int64(s.mongoDocs) {
		return nil, fmt.Errorf("restored %d documents, want %d", n, s.mongoDocs)
	}
	logf("mongo restore: %d documents in %s = %.0f docs/s, VmHWM %s (count verified)", n, secs(rwall), float64(n)/rwall.Seconds(), sizeMiB(restoreRSS))
	return []row{
		{figure: "MongoDB dump data", value: fmt.Sprintf("%d small documents (FerretDB, SQLite backend, same host)", s.mongoDocs)},
		{figure: "dump to local", value: fmt.Sprintf("%.0f docs/s, %.1f MB/s (%s; FerretDB is read twice: measure + scan)", float64(docs)/wall.Seconds(), mb/wall.Seconds(), secs(wall))},
		{figure: "dump peak RSS (coffer process)", value: sizeMiB(dumpRSS), target: "≤ 150 MiB", met: yesNo(dumpRSS <= 150<<20)},
		{figure: "restore into another database", value: fmt.Sprintf("%.0f docs/s (%s)", float64(n)/rwall.Seconds(), secs(rwall))},
		{figure: "restore peak RSS (coffer process)", value: sizeMiB(restoreRSS), target: "≤ 150 MiB", met: yesNo(restoreRSS <= 150<<20)},
	}, nil
}
