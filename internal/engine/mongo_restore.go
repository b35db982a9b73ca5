package engine

import (
	"context"
	"fmt"
	"io"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
)

// mongoInsertBatch bounds one unordered bulk insert, in documents and bytes.
const (
	mongoInsertDocs  = 1000
	mongoInsertBytes = 8 << 20
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
}

type viewToCreate struct {
	db   string
	coll mongodb.Collection
}

func newMongoTarget(rr *restoreRun, mc *mongodb.Client, cfg MongoRestoreConfig) *mongoTarget {
	return &mongoTarget{rr: rr, mc: mc, cfg: cfg, colls: map[string]mongodb.Collection{}}
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

// remember reads what a restore continuing after this entry needs to know
// of it (the collection's indexes and whether it is a view) without writing.
func (m *mongoTarget) remember(ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry) error {
	db, name, isMeta, ok := archive.ParseCollectionEntryName(ent.Name)
	if !ok || !isMeta || !m.wanted(db, name) {
		return nil
	}
	coll, err := readMetadata(ar, ent)
	if err != nil {
		return err
	}
	if coll.Type == "view" {
		m.views = append(m.views, viewToCreate{db: db, coll: coll})
		return nil
	}
	m.colls[db+"\x00"+name] = coll
	return nil
}

func (m *mongoTarget) restoreEntry(ctx context.Context, ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry) error {
	rr := m.rr
	db, name, isMeta, ok := archive.ParseCollectionEntryName(ent.Name)
	if !ok {
		return fmt.Errorf("archive entry %q is not part of a MongoDB dump; restore it to an s3 connection instead", ent.Name)
	}
	if !m.wanted(db, name) {
		return nil // not in the subset asked for; the reader skips its body
	}
	tdb := m.targetDB(db)
	if isMeta {
		coll, err := readMetadata(ar, ent)
		if err != nil {
			return err
		}
		if coll.Type == "view" {
			m.views = append(m.views, viewToCreate{db: db, coll: coll})
			return nil
		}
		m.colls[db+"\x00"+name] = coll
		if err := m.mc.PrepareCollection(ctx, tdb, coll, m.cfg.Drop); err != nil {
			return fmt.Errorf("prepare %s.%s: %w", tdb, name, err)
		}
		return nil
	}
	coll, ok := m.colls[db+"\x00"+name]
	if !ok {
		return fmt.Errorf("archive entry %q comes without its .metadata.json; the archive is damaged", ent.Name)
	}
	br := mongodb.NewBSONReader(ar)
	var (
		batch               []bson.Raw
		batchBytes          int64
		docs, ins, dup, got int64
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		i, d, err := m.mc.InsertBatch(ctx, tdb, name, batch)
		ins += i
		dup += d
		rr.progress.BytesWritten += batchBytes
		batch, batchBytes = batch[:0], 0
		if err != nil {
			return fmt.Errorf("insert into %s.%s: %w", tdb, name, err)
		}
		rr.tick(ctx)
		return nil
	}
	for {
		doc, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", ent.Name, err)
		}
		docs++
		got += int64(len(doc))
		batch = append(batch, doc)
		batchBytes += int64(len(doc))
		if len(batch) >= mongoInsertDocs || batchBytes >= mongoInsertBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if sum := ar.EntrySHA256Hex(); sum != want.SHA256 {
		return fmt.Errorf("%s does not match its recorded SHA-256: the stored archive is damaged (%d documents were inserted before this was known)", ent.Name, ins)
	}
	if want.Documents != nil && *want.Documents != docs {
		return fmt.Errorf("%s holds %d documents but the backup recorded %d", ent.Name, docs, *want.Documents)
	}
	if err := m.mc.CreateIndexes(ctx, tdb, coll); err != nil {
		return fmt.Errorf("create the indexes of %s.%s: %w", tdb, name, err)
	}
	rr.cp.Written += ins
	rr.cp.Skipped += dup
	msg := fmt.Sprintf("Restored %s.%s into %s.%s: %d documents inserted", db, name, tdb, name, ins)
	if dup > 0 {
		msg += fmt.Sprintf(", %d already there and skipped (duplicate _id or unique key)", dup)
	}
	rr.lg.Info(ctx, msg+"; indexes created.", "documents", docs, "inserted", ins, "duplicates", dup, "indexes", len(coll.Indexes))
	return nil
}

// finish creates the views once every collection is restored.
func (m *mongoTarget) finish(ctx context.Context) error {
	for _, v := range m.views {
		tdb := m.targetDB(v.db)
		if err := m.mc.PrepareCollection(ctx, tdb, v.coll, m.cfg.Drop); err != nil {
			return fmt.Errorf("create view %s.%s: %w", tdb, v.coll.Name, err)
		}
		m.rr.lg.Info(ctx, fmt.Sprintf("View %s.%s created.", tdb, v.coll.Name))
	}
	return nil
}
