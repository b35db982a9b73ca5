package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
)

// mongoInsertBatch bounds one unordered bulk insert, in documents and bytes.
const (
	mongoInsertDocs  = 1000
	mongoInsertBytes = 4 << 20
)

// mongoTarget restores mongodump-layout entries into a MongoDB connection:
// collections are prepared from their .metadata.json (dropped first when
// asked), documents inserted in unordered batches (duplicates skipped and
// counted), indexes created after each collection's data, views last.
type mongoTarget struct {
	rr    *restoreRun
	mc    *mongodb.Client
	cfg   MongoRestoreConfig
	colls map[string]mongodb.Collection // by source "db\x00coll"
	views []viewToCreate

	// Inserts run on a small pool, so batches of one collection, and of the
	// next collections while the previous ones finish, go in parallel.
	jobs    chan insertJob
	workers sync.WaitGroup
	entries sync.WaitGroup // .bson entries read but not yet finished

	mu       sync.Mutex
	inFlight map[int64]bool // seq of entries whose inserts are not finished
	firstErr error
	written  int64 // documents inserted
	skipped  int64 // duplicates
	bytes    int64 // document bytes sent
}

// mongoInsertWorkers is how many bulk inserts run at once.
const mongoInsertWorkers = 3

type insertJob struct {
	e    *bsonEntry
	docs []bson.Raw
	size int64
}

// bsonEntry is one collection's data being inserted.
type bsonEntry struct {
	seq           int64
	db, name, tdb string
	coll          mongodb.Collection
	docs          int64
	wg            sync.WaitGroup
	mu            sync.Mutex
	ins, dup      int64
	err           error
}

type viewToCreate struct {
	db   string
	coll mongodb.Collection
}

func newMongoTarget(ctx context.Context, rr *restoreRun, mc *mongodb.Client, cfg MongoRestoreConfig) *mongoTarget {
	m := &mongoTarget{rr: rr, mc: mc, cfg: cfg, colls: map[string]mongodb.Collection{},
		jobs: make(chan insertJob, mongoInsertWorkers), inFlight: map[int64]bool{}}
	for range mongoInsertWorkers {
		m.workers.Add(1)
		go m.insertLoop(ctx)
	}
	return m
}

func (m *mongoTarget) insertLoop(ctx context.Context) {
	defer m.workers.Done()
	for job := range m.jobs {
		i, d, err := m.mc.InsertBatch(ctx, job.e.tdb, job.e.name, job.docs)
		job.e.mu.Lock()
		job.e.ins += i
		job.e.dup += d
		if err != nil && job.e.err == nil {
			job.e.err = fmt.Errorf("insert into %s.%s: %w", job.e.tdb, job.e.name, err)
		}
		job.e.mu.Unlock()
		m.mu.Lock()
		m.written += i
		m.skipped += d
		m.bytes += job.size
		m.mu.Unlock()
		job.e.wg.Done()
	}
}

// close stops the insert pool after the queued batches, waits for every
// entry's finishing work and disconnects.
func (m *mongoTarget) close() {
	close(m.jobs)
	m.workers.Wait()
	m.entries.Wait()
	_ = m.mc.Close()
}

// err is the first failure of an asynchronous insert or index build.
func (m *mongoTarget) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firstErr
}

// done copies the counters into the restore's checkpoint and progress and
// returns how many entries are entirely done: an entry whose inserts are
// still in flight is not, so a continued run goes back to it.
func (m *mongoTarget) done(readUpTo int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rr.cp.Written, m.rr.cp.Skipped, m.rr.prog.BytesWritten = m.written, m.skipped, m.bytes
	done := readUpTo
	for seq := range m.inFlight {
		done = min(done, seq)
	}
	return done
}

// targetDB is where a collection of source database db is restored.
func (m *mongoTarget) targetDB(db string) string {
	if m.cfg.Database != "" {
		return m.cfg.Database
	}
	return db
}

// wanted reports whether the subset (if any) includes db.coll ("coll" or "db.coll").
func (m *mongoTarget) wanted(db, coll string) bool {
	return len(m.cfg.Collections) == 0 || slices.Contains(m.cfg.Collections, coll) || slices.Contains(m.cfg.Collections, db+"."+coll)
}

// readMetadata parses a .metadata.json entry.
func readMetadata(ar *archive.Reader, ent *archive.Entry) (mongodb.Collection, error) {
	data, err := io.ReadAll(io.LimitReader(ar, 64<<20))
	if err != nil {
		return mongodb.Collection{}, fmt.Errorf("read %s: %w", ent.Name, err)
	}
	coll, err := mongodb.ParseMetadataJSON(data)
	if err != nil {
		return coll, fmt.Errorf("read %s: %w", ent.Name, err)
	}
	return coll, nil
}

// skip reads what a restore continuing after this entry needs to know of
// it (the collection's indexes and whether it is a view) without writing.
func (m *mongoTarget) skip(ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry) error {
	db, name, isMeta, ok := archive.ParseCollectionEntryName(ent.Name)
	if !ok || !isMeta || !m.wanted(db, name) {
		return nil
	}
	_, _, err := m.noteMetadata(ar, ent, db, name)
	return err
}

// noteMetadata reads a .metadata.json entry and keeps what the restore needs
// of it: a view to create at the end, or the collection's options and
// indexes for its .bson entry. isView tells which.
func (m *mongoTarget) noteMetadata(ar *archive.Reader, ent *archive.Entry, db, name string) (coll mongodb.Collection, isView bool, err error) {
	coll, err = readMetadata(ar, ent)
	if err != nil {
		return coll, false, err
	}
	if coll.Type == "view" {
		m.views = append(m.views, viewToCreate{db: db, coll: coll})
		return coll, true, nil
	}
	m.colls[db+"\x00"+name] = coll
	return coll, false, nil
}

// write restores one entry: a collection's .metadata.json prepares it (a
// view waits for the end); its .bson is inserted in batches in the
// background, its indexes created once they are in.
func (m *mongoTarget) write(ctx context.Context, ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry, seq int64) error {
	db, name, isMeta, ok := archive.ParseCollectionEntryName(ent.Name)
	if !ok {
		return fmt.Errorf("archive entry %q is not part of a MongoDB dump; restore it to an s3 connection instead", ent.Name)
	}
	if !m.wanted(db, name) {
		return nil // not in the subset asked for; the reader skips its body
	}
	tdb := m.targetDB(db)
	if isMeta {
		coll, isView, err := m.noteMetadata(ar, ent, db, name)
		if err != nil || isView {
			return err
		}
		if err := m.mc.PrepareCollection(ctx, tdb, coll, m.cfg.Drop); err != nil {
			return fmt.Errorf("prepare %s.%s: %w", tdb, name, err)
		}
		return nil
	}
	coll, ok := m.colls[db+"\x00"+name]
	if !ok {
		return fmt.Errorf("archive entry %q comes without its .metadata.json; the archive is damaged", ent.Name)
	}
	if err := m.err(); err != nil {
		return err
	}
	e := &bsonEntry{seq: seq, db: db, name: name, tdb: tdb, coll: coll}
	m.mu.Lock()
	m.inFlight[seq] = true
	m.mu.Unlock()
	br := mongodb.NewBSONReader(ar)
	var (
		batch      []bson.Raw
		batchBytes int64
	)
	submit := func() {
		if len(batch) == 0 {
			return
		}
		e.wg.Add(1)
		m.jobs <- insertJob{e: e, docs: batch, size: batchBytes}
		batch, batchBytes = nil, 0
		m.rr.tick(ctx)
	}
	var readErr error
	for {
		doc, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read %s: %w", ent.Name, err)
			break
		}
		e.docs++
		batch = append(batch, doc)
		batchBytes += int64(len(doc))
		if len(batch) >= mongoInsertDocs || batchBytes >= mongoInsertBytes {
			submit()
			if err := m.err(); err != nil {
				readErr = err
				break
			}
		}
	}
	if readErr == nil {
		submit()
		if sum := ar.EntrySHA256Hex(); sum != want.SHA256 {
			readErr = fmt.Errorf("%s does not match its recorded SHA-256: the stored archive is damaged (documents read before this was known may have been inserted)", ent.Name)
		} else if want.Documents != nil && *want.Documents != e.docs {
			readErr = fmt.Errorf("%s holds %d documents but the backup recorded %d", ent.Name, e.docs, *want.Documents)
		}
	}
	// The entry finishes (indexes after its data, the log line) once its
	// last batch is in, while the next entries are read and inserted.
	m.entries.Add(1)
	go m.finishEntry(ctx, e, readErr)
	return readErr
}

// finishEntry waits for an entry's inserts, then creates its indexes.
func (m *mongoTarget) finishEntry(ctx context.Context, e *bsonEntry, readErr error) {
	defer m.entries.Done()
	e.wg.Wait()
	err := readErr
	if err == nil {
		err = e.err
	}
	if err == nil {
		if ierr := m.mc.CreateIndexes(ctx, e.tdb, e.coll); ierr != nil {
			err = fmt.Errorf("create the indexes of %s.%s: %w", e.tdb, e.name, ierr)
		}
	}
	m.mu.Lock()
	if err != nil && m.firstErr == nil {
		m.firstErr = err
	}
	if err == nil {
		delete(m.inFlight, e.seq)
	}
	m.mu.Unlock()
	if err != nil {
		return
	}
	msg := fmt.Sprintf("Restored %s.%s into %s.%s: %d documents inserted", e.db, e.name, e.tdb, e.name, e.ins)
	if e.dup > 0 {
		msg += fmt.Sprintf(", %d already there and skipped (duplicate _id or unique key)", e.dup)
	}
	m.rr.lg.Info(ctx, msg+"; indexes created.", "documents", e.docs, "inserted", e.ins, "duplicates", e.dup, "indexes", len(e.coll.Indexes))
}

// finish creates the views once every collection is restored.
func (m *mongoTarget) finish(ctx context.Context) error {
	m.entries.Wait()
	if err := m.err(); err != nil {
		return err
	}
	for _, v := range m.views {
		tdb := m.targetDB(v.db)
		if err := m.mc.PrepareCollection(ctx, tdb, v.coll, m.cfg.Drop); err != nil {
			return fmt.Errorf("create view %s.%s: %w", tdb, v.coll.Name, err)
		}
		m.rr.lg.Info(ctx, fmt.Sprintf("View %s.%s created.", tdb, v.coll.Name))
	}
	return nil
}
