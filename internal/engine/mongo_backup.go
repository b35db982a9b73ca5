package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	"github.com/coffer-backup/coffer/internal/store"
)

// mongoPos is where a MongoDB backup stands: the last collection finished
// and, inside the collection being copied, the _id range and the last _id
// written, so a run continues mid-collection without reading a document twice.
type mongoPos struct {
	// Done is the key (db + NUL + collection) of the last finished collection.
	Done string `json:"done,omitempty"`
	// Cur is the collection whose .bson entry is open, if any.
	Cur *mongoCur `json:"cur,omitempty"`
}

type mongoCur struct {
	Key     string   `json:"key"`
	Entry   string   `json:"entry"`
	Size    int64    `json:"size"`
	Docs    int64    `json:"docs"`    // documents measured
	Written int64    `json:"written"` // documents written so far
	UpTo    rawValue `json:"up_to"`   // the largest _id at measuring time
	LastID  rawValue `json:"last_id"` // the last _id written (zero before the first)
	// Natural: read in the server's own order (a server without a cheap
	// _id order, FerretDB): Docs documents from the start, continuing
	// after the Written-th, whose _id is LastID.
	Natural  bool `json:"natural,omitempty"`
	Attempts int  `json:"attempts"` // how often the collection was measured again after it changed
	// RewindFrom is the checkpoint taken before the entry began, kept in
	// memory only (it would double every checkpoint's size): a run that
	// continues mid-collection after a crash cannot rewind, and fails
	// clearly should the collection change under it.
	RewindFrom *backupCheckpoint `json:"-"`
}

// rawValue is a BSON value (type and bytes) that survives JSON.
type rawValue struct {
	Type byte   `json:"t"`
	Data []byte `json:"d,omitempty"`
}

func toRaw(v bson.RawValue) rawValue    { return rawValue{Type: byte(v.Type), Data: v.Value} }
func (r rawValue) value() bson.RawValue { return bson.RawValue{Type: bson.Type(r.Type), Value: r.Data} }

// errCollectionChanged means documents of the collection being copied were
// inserted, deleted or resized between measuring it and reading it.
var errCollectionChanged = errors.New("the collection changed while it was read")

// maxCollectionAttempts bounds how often a changing collection is copied again.
const maxCollectionAttempts = 3

// copyCollections writes every collection after the checkpoint into the
// archive in mongodump's layout: per collection its .metadata.json, then
// (not for views) one .bson entry of the raw documents in _id order, whose
// size is measured first because tar needs it before the data.
func (b *backupRun) copyCollections(ctx context.Context, mc *mongodb.Client) error {
	if b.cp.Mongo == nil {
		b.cp.Mongo = &mongoPos{}
	}
	b.setPhase("listing collections", 0)
	dbs, err := mc.Databases(ctx)
	if err != nil {
		return fmt.Errorf("list the databases: %w", err)
	}
	if len(dbs) == 0 {
		b.lg.Warn(ctx, "The source has no database to back up (admin, local and config are skipped).")
	}
	var todo []collRef
	for _, db := range dbs {
		colls, err := mc.Collections(ctx, db)
		if err != nil {
			return fmt.Errorf("list the collections of %s: %w", db, err)
		}
		b.lg.Info(ctx, fmt.Sprintf("Database %s: %d collections and views.", db, len(colls)), "database", db)
		for _, coll := range colls {
			key := db + "\x00" + coll.Name
			if b.cp.Mongo.Done != "" && key <= b.cp.Mongo.Done && (b.cp.Mongo.Cur == nil || b.cp.Mongo.Cur.Key != key) {
				continue // finished by an earlier run
			}
			todo = append(todo, collRef{db: db, coll: coll, key: key})
		}
	}
	m := newMeasurer(ctx, b, mc)
	defer m.stop()
	for i, r := range todo {
		for {
			err := b.copyCollection(ctx, mc, m, r, todo[i+1:])
			if !errors.Is(err, errCollectionChanged) {
				if err != nil {
					return err
				}
				break
			}
			m.forget(r.key)
			if err := b.rewindCollection(ctx, r.db, r.coll); err != nil {
				return err
			}
		}
	}
	total := b.prog.ItemsDone
	b.prog.ItemsTotal = &total
	b.setPhase("finishing", 0)
	return nil
}

// collRef is a collection (or view) to back up, and its checkpoint key
// (database + NUL + collection).
type collRef struct {
	db   string
	coll mongodb.Collection
	key  string
}

// copyCollection writes one collection (or view); it continues an open
// .bson entry when the checkpoint is inside it. next are the collections
// after it, which m measures while this one is copied.
func (b *backupRun) copyCollection(ctx context.Context, mc *mongodb.Client, m *measurer, r collRef, next []collRef) error {
	db, coll, key := r.db, r.coll, r.key
	cur := b.cp.Mongo.Cur
	var sp *spool // the measured documents, when they were spooled
	defer func() { sp.drop() }()
	if cur == nil || cur.Key != key || cur.Entry == "" {
		if reason := b.r.stopReason(); reason != nil {
			return b.stopAtBoundary(reason)
		}
		bsonName, metaName, err := archive.CollectionEntryNames(db, coll.Name)
		if err != nil {
			return err
		}
		attempts := 0
		if cur != nil && cur.Key == key {
			attempts = cur.Attempts // metadata already written; the data is copied again
		} else {
			meta, err := mongodb.MetadataJSON(db, coll)
			if err != nil {
				return fmt.Errorf("describe %s.%s: %w", db, coll.Name, err)
			}
			if err := b.writeSmallEntry(metaName, meta, archive.ManifestEntry{Database: db, Collection: coll.Name}); err != nil {
				return err
			}
			if coll.Type == "view" {
				b.lg.Info(ctx, fmt.Sprintf("View %s.%s: definition saved.", db, coll.Name))
				b.cp.Mongo.Done = key
				b.cp.Mongo.Cur = nil
				return nil
			}
		}
		// The point to come back to should the collection change under us,
		// and to continue from after a pause or a crash while measuring:
		// metadata written, data not begun.
		b.cp.Mongo.Cur = &mongoCur{Key: key, Attempts: attempts}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		b.setPhase("measuring "+db+"."+coll.Name, 0)
		m.start(db, coll.Name, key)
		m.ahead(next)
		ms, err := m.wait(ctx, db, coll.Name, key)
		if err != nil {
			return err
		}
		b.e.crashPoint("collection-measured")
		docs, size, upTo := ms.docs, ms.size, ms.upTo
		sp = ms.spool
		rewind := b.cp
		rewind.Tail = append([]byte(nil), b.cp.Tail...)
		rewind.Mongo = &mongoPos{Done: b.cp.Mongo.Done, Cur: &mongoCur{Key: key, Attempts: attempts}}
		if err := b.aw.BeginEntry(archive.EntryHeader{Name: bsonName, Size: size}); err != nil {
			return fmt.Errorf("archive %s.%s: %w", db, coll.Name, err)
		}
		cur = &mongoCur{Key: key, Entry: bsonName, Size: size, Docs: docs, UpTo: toRaw(upTo), Natural: ms.natural, Attempts: attempts, RewindFrom: &rewind}
		b.cp.Mongo.Cur = cur
		order := "in _id order"
		switch {
		case sp != nil:
			order = "from the measuring pass, spooled (" + ms.server + " cannot sum document sizes)"
		case cur.Natural:
			order = "in the server's order (" + ms.server + " has no cheap _id order)"
		}
		b.lg.Info(ctx, fmt.Sprintf("Collection %s.%s: %d documents, %s, copied %s.", db, coll.Name, docs, bytesize.Human(size), order),
			"database", db, "collection", coll.Name, "documents", docs, "bytes", size)
	}
	b.setPhase("copying "+db+"."+coll.Name, cur.Written)
	m.ahead(next)

	var after bson.RawValue
	if cur.Written > 0 {
		after = cur.LastID.value()
	}
	var written int64
	if _, _, w, ok := b.aw.OpenEntry(); ok {
		written = w
	}
	errStop := errors.New("stop")
	var stopReason error
	var walkErr error
	if cur.Docs > 0 {
		read := func(fn func(bson.Raw) error) error { return b.scan(ctx, mc, db, coll.Name, cur, after, fn) }
		if sp != nil && cur.Written == 0 {
			read = func(fn func(bson.Raw) error) error { return sp.each(ctx, fn) }
		}
		walkErr = read(func(doc bson.Raw) error {
			if written+int64(len(doc)) > cur.Size {
				return errCollectionChanged
			}
			if err := b.readLimit.wait(ctx, len(doc)); err != nil {
				return err
			}
			if err := b.aw.WriteBody(doc); err != nil {
				return err
			}
			written += int64(len(doc))
			cur.Written++
			cur.LastID = toRaw(doc.Lookup("_id"))
			b.prog.PhaseItems = cur.Written
			b.prog.ItemsDone++
			b.prog.BytesRead += int64(len(doc))
			b.prog.BytesWritten = b.aw.CompressedBytes()
			if reason := b.r.stopReason(); reason != nil {
				stopReason = reason
				return errStop
			}
			if err := b.afterEntry(ctx, nil); err != nil {
				return err
			}
			return nil
		})
	}
	switch {
	case errors.Is(walkErr, errStop):
		return b.stopAtBoundary(stopReason)
	case walkErr != nil && b.r.stopReason() != nil:
		return b.stopAtBoundary(b.r.stopReason())
	case walkErr != nil:
		if errors.Is(walkErr, errCollectionChanged) || errors.Is(walkErr, mongodb.ErrOrderChanged) {
			return errCollectionChanged
		}
		return fmt.Errorf("read %s.%s: %w", db, coll.Name, walkErr)
	}
	if written != cur.Size || cur.Written != cur.Docs {
		return errCollectionChanged
	}
	sum, err := b.aw.EndEntry()
	if err != nil {
		return fmt.Errorf("archive %s.%s: %w", db, coll.Name, err)
	}
	docs := cur.Docs
	if err := b.addEntry(archive.ManifestEntry{Name: cur.Entry, Size: cur.Size, SHA256: sum, Documents: &docs, Database: db, Collection: coll.Name}); err != nil {
		return err
	}
	b.cp.Mongo.Done = key
	b.cp.Mongo.Cur = nil
	return b.afterEntry(ctx, nil)
}

// scan reads the rest of cur's collection after the documents written, in
// the order it was measured in.
func (b *backupRun) scan(ctx context.Context, mc *mongodb.Client, db, coll string, cur *mongoCur, after bson.RawValue, fn func(bson.Raw) error) error {
	if cur.Natural {
		return mc.ScanNatural(ctx, db, coll, cur.Written, cur.LastID.value(), cur.Docs, fn)
	}
	return mc.Scan(ctx, db, coll, after, cur.UpTo.value(), mongodb.DefaultBatchSize, fn)
}

// setPhase says what the run does now, in its progress (saved with the
// next progress save).
func (b *backupRun) setPhase(phase string, items int64) {
	b.prog.Phase, b.prog.PhaseItems = phase, items
}

// rewindCollection goes back to the checkpoint taken before the changed
// collection's .bson entry began, to measure and copy it again.
func (b *backupRun) rewindCollection(ctx context.Context, db string, coll mongodb.Collection) error {
	cur := b.cp.Mongo.Cur
	if cur == nil || cur.RewindFrom == nil {
		return fmt.Errorf("collection %s.%s changed while it was read and there is no point to go back to; run the backup again", db, coll.Name)
	}
	attempts := cur.Attempts + 1
	if attempts >= maxCollectionAttempts {
		return fmt.Errorf("collection %s.%s kept changing while it was read (%d attempts); back it up from a secondary or at a quieter time", db, coll.Name, attempts)
	}
	back := *cur.RewindFrom
	// An encrypted archive cannot go back inside its age stream: that
	// would seal other bytes under chunk numbers that may already be at
	// the destination. It starts again from the beginning instead.
	restart := b.cp.Encrypted
	if restart {
		b.restarts++
		if b.restarts >= maxCollectionAttempts {
			return fmt.Errorf("collection %s.%s changed while it was read, and collections kept changing (the encrypted archive was started %d times); back them up from a secondary or at a quieter time",
				db, coll.Name, b.restarts)
		}
		b.lg.Warn(ctx, fmt.Sprintf("Collection %s.%s changed while it was read. An encrypted archive cannot go back to before it, so the archive starts again from the beginning (attempt %d of %d).",
			db, coll.Name, b.restarts+1, maxCollectionAttempts))
	} else {
		b.lg.Warn(ctx, fmt.Sprintf("Collection %s.%s changed while it was read; it is measured and copied again (attempt %d of %d).", db, coll.Name, attempts+1, maxCollectionAttempts))
	}
	if err := b.collectSaves(true); err != nil {
		return err
	}
	if err := b.pw.sync(); err != nil {
		return err
	}
	b.aw.Abort()
	b.pw.close()
	if restart {
		if err := b.dropArchive(ctx); err != nil {
			return err
		}
		if err := b.startArchive(ctx, b.srcConn); err != nil {
			return err
		}
		return errArchiveRestarted
	}
	if err := b.openFrom(back); err != nil {
		return err
	}
	// Measure again on the next pass; remember how often this happened.
	b.cp.Mongo.Cur = &mongoCur{Key: cur.Key, Attempts: attempts}
	return nil
}

// writeSmallEntry writes an in-memory entry and records it.
func (b *backupRun) writeSmallEntry(name string, data []byte, me archive.ManifestEntry) error {
	sum, err := b.aw.WriteEntry(archive.EntryHeader{Name: name, Size: int64(len(data))}, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	me.Name, me.Size, me.SHA256 = name, int64(len(data)), sum
	return b.addEntry(me)
}

// addEntry queues a manifest entry for the next checkpoint.
func (b *backupRun) addEntry(me archive.ManifestEntry) error {
	data, err := json.Marshal(me)
	if err != nil {
		return err
	}
	b.pending = append(b.pending, store.ArchiveEntry{BackupID: b.op.ID, Seq: b.cp.Entries, Data: data})
	b.cp.Entries++
	return nil
}
