package mongodb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// PrepareCollection makes db.<coll.Name> ready for restored documents: it
// drops it first when drop is set, then creates it with coll.Options (a view
// from its viewOn and pipeline) unless it already exists. Create views only
// after every collection they may read from is restored.
func (c *Client) PrepareCollection(ctx context.Context, db string, coll Collection, drop bool) error {
	d := c.mc.Database(db)
	ns := db + "." + coll.Name
	if drop {
		if err := d.Collection(coll.Name).Drop(ctx); err != nil {
			return c.explain(err, "drop collection "+ns)
		}
	}
	names, err := d.ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll.Name}})
	if err != nil {
		return c.explain(err, "list the collections of database "+db)
	}
	if len(names) > 0 {
		return nil // restoring into what is there; duplicates are counted
	}
	cmd := bson.D{{Key: "create", Value: coll.Name}}
	if len(coll.Options) > 0 {
		elems, err := coll.Options.Elements()
		if err != nil {
			return fmt.Errorf("creating %s: the collection options are not valid BSON: %w", ns, err)
		}
		for _, e := range elems {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	if err := d.RunCommand(ctx, cmd).Err(); err != nil {
		var sse mongo.ServerError
		if errors.As(err, &sse) && sse.HasErrorCode(48) { // NamespaceExists: created meanwhile
			return nil
		}
		return c.explain(err, "create collection "+ns)
	}
	return nil
}

// InsertBatch writes docs (exact BSON bytes) into db.coll with one unordered
// bulk insert. Documents whose _id (or another unique key) is already there
// are skipped and counted in duplicates; any other write error fails the
// batch, after the rest of it was still attempted. inserted counts the
// documents written.
func (c *Client) InsertBatch(ctx context.Context, db, coll string, docs []bson.Raw) (inserted, duplicates int64, err error) {
	if len(docs) == 0 {
		return 0, 0, nil
	}
	many := make([]any, len(docs))
	for i, d := range docs {
		many[i] = d
	}
	_, err = c.mc.Database(db).Collection(coll).InsertMany(ctx, many, options.InsertMany().SetOrdered(false))
	if err == nil {
		return int64(len(docs)), 0, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		return 0, 0, c.explain(err, fmt.Sprintf("insert documents into %s.%s", db, coll))
	}
	var other []mongo.BulkWriteError
	for _, we := range bwe.WriteErrors {
		if isDuplicateCode(we.Code) {
			duplicates++
		} else {
			other = append(other, we)
		}
	}
	inserted = int64(len(docs)) - int64(len(bwe.WriteErrors))
	if len(other) == 0 && bwe.WriteConcernError == nil {
		return inserted, duplicates, nil
	}
	if len(other) == 0 {
		return inserted, duplicates, apperr.Wrap(apperr.Unavailable, c.hide(err),
			"MongoDB did not confirm the writes into %s.%s (write concern: %s). Check the replica set's health and try again.",
			db, coll, Redact(bwe.WriteConcernError.Message))
	}
	first := other[0]
	return inserted, duplicates, apperr.Wrap(apperr.Unavailable, c.hide(err),
		"MongoDB refused %d of %d documents written into %s.%s; the first, at position %d of the batch, failed with code %d: %s.",
		len(other), len(docs), db, coll, first.Index, first.Code, strings.TrimSuffix(Redact(first.Message), "."))
}

// isDuplicateCode reports whether a write error code means "already there".
func isDuplicateCode(code int) bool {
	return code == 11000 || code == 11001 || code == 12582
}

// CreateIndexes recreates coll's indexes on db.<coll.Name> with their names
// and every option (unique, sparse, partialFilterExpression, collation,
// expireAfterSeconds...), except the automatic _id_ index, the obsolete ns
// field (it names the source database) and the index format version v,
// which the target server chooses (not every server accepts it, and v:0 is
// no longer supported). Existing identical indexes are left as they are.
// Views have no indexes and are skipped.
func (c *Client) CreateIndexes(ctx context.Context, db string, coll Collection) error {
	if coll.Type == "view" {
		return nil
	}
	existing, err := c.indexes(ctx, db, coll.Name)
	if err != nil {
		return err
	}
	have := map[string]bson.RawValue{}
	for _, ix := range existing {
		name, _ := ix.Lookup("name").StringValueOK()
		have[name] = ix.Lookup("key")
	}
	var specs bson.A
	for i, idx := range coll.Indexes {
		name, _ := idx.Lookup("name").StringValueOK()
		if name == "_id_" {
			continue
		}
		if key, ok := have[name]; ok {
			if key.Equal(idx.Lookup("key")) {
				continue // already there (a re-run without drop)
			}
			return apperr.New(apperr.Conflict,
				"%s.%s already has an index named %q on other keys; drop it, or restore with the drop option.", db, coll.Name, name)
		}
		elems, err := idx.Elements()
		if err != nil {
			return fmt.Errorf("recreating the indexes of %s.%s: index %d is not valid BSON: %w", db, coll.Name, i, err)
		}
		spec := bson.D{}
		for _, e := range elems {
			if e.Key() == "ns" || e.Key() == "v" {
				continue
			}
			spec = append(spec, bson.E{Key: e.Key(), Value: e.Value()})
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return nil
	}
	cmd := bson.D{{Key: "createIndexes", Value: coll.Name}, {Key: "indexes", Value: specs}}
	if err := c.mc.Database(db).RunCommand(ctx, cmd).Err(); err != nil {
		var sse mongo.ServerError
		if errors.As(err, &sse) && (sse.HasErrorCode(85) || sse.HasErrorCode(86)) {
			return apperr.Wrap(apperr.Conflict, c.hide(err),
				"%s.%s already has an index with the same name or keys but other options; drop it, or restore with the drop option.", db, coll.Name)
		}
		return c.explain(err, fmt.Sprintf("create the indexes of %s.%s", db, coll.Name))
	}
	return nil
}
