package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// NaturalBatchSize is the cursor batch size of reads in the server's order:
// larger than DefaultBatchSize, as each round trip to FerretDB costs more
// than one to MongoDB (the server still caps a batch at 16 MiB).
const NaturalBatchSize = 5000

// NaturalFirstBatch is the first batch of a read in the server's order:
// small, so that the first documents (and the progress they make) come
// soon even when the server is slow to build a full batch; the batches
// after it are NaturalBatchSize.
const NaturalFirstBatch = 500

// MeasureEvery is how many documents a measuring pass reads between two
// calls of its progress function.
const MeasureEvery = 500

// ErrOrderChanged means a read in the server's order that continues after
// n documents did not find the document written last at position n: the
// collection changed since, so the rest cannot be told apart from what was
// written.
var ErrOrderChanged = errors.New("the collection changed: the document read last is no longer where it was")

// MeasureNatural counts the documents of db.coll and their raw BSON bytes in
// the server's own order (no sort, no filter), for a server without
// Caps.IDOrder. progress, when set, is called every MeasureEvery documents
// and at the end with the counts so far; its error stops the pass and is
// returned as is.
func (c *Client) MeasureNatural(ctx context.Context, db, coll string, progress func(docs, bytes int64) error) (docs, bytes int64, err error) {
	return c.MeasureNaturalEach(ctx, db, coll, progress, nil)
}

// MeasureNaturalEach is MeasureNatural that also gives each document to
// each (when set), in the order counted; doc is only valid until each
// returns, and each's error stops the pass and is returned as is.
func (c *Client) MeasureNaturalEach(ctx context.Context, db, coll string, progress func(docs, bytes int64) error, each func(doc bson.Raw) error) (docs, bytes int64, err error) {
	return count(progress, func(fn func(bson.Raw) error) error {
		return c.ScanNatural(ctx, db, coll, 0, bson.RawValue{}, -1, func(doc bson.Raw) error {
			if each != nil {
				if err := each(doc); err != nil {
					return err
				}
			}
			return fn(doc)
		})
	})
}

// count runs scan with a function that counts the documents and bytes it
// is given, calling progress (when set) every MeasureEvery documents and
// once at the end; the first error of scan or progress is returned.
func count(progress func(docs, bytes int64) error, scan func(fn func(bson.Raw) error) error) (docs, bytes int64, err error) {
	err = scan(func(doc bson.Raw) error {
		docs++
		bytes += int64(len(doc))
		if progress != nil && docs%MeasureEvery == 0 {
			return progress(docs, bytes)
		}
		return nil
	})
	if err == nil && progress != nil {
		err = progress(docs, bytes)
	}
	return docs, bytes, err
}

// ScanNatural streams the raw documents of db.coll in the server's own
// order, for a server without Caps.IDOrder: after the first done documents
// (the done-th of which must have _id lastID, else ErrOrderChanged) and up
// to limit documents from the start in all (no limit when limit < 0). doc is
// only valid until fn returns; fn's error stops the scan and is returned as
// is.
//
// When the cursor dies (a network error, or the server timed it out while
// fn was slow) ScanNatural reopens it at the position reached, checking the
// last document again, so no document is given twice and none is skipped.
func (c *Client) ScanNatural(ctx context.Context, db, coll string, done int64, lastID bson.RawValue, limit int64, fn func(doc bson.Raw) error) error {
	col := c.mc.Database(db).Collection(coll)
	what := fmt.Sprintf("read collection %s.%s", db, coll)
	last := bson.RawValue{Type: lastID.Type, Value: append([]byte(nil), lastID.Value...)}
	failures := 0
	for {
		if limit >= 0 && done >= limit {
			return nil
		}
		progressed := false
		err := func() error {
			opts := options.Find().SetBatchSize(NaturalFirstBatch)
			var skip int64
			if done > 0 {
				skip = done - 1 // the last document written, to check it
				opts.SetSkip(skip)
			}
			if limit >= 0 {
				opts.SetLimit(limit - skip)
			}
			cur, err := col.Find(ctx, bson.D{}, opts)
			if err != nil {
				return err
			}
			defer cur.Close(context.WithoutCancel(ctx)) //nolint:errcheck // read-only cursor
			cur.SetBatchSize(NaturalBatchSize)
			check := done > 0
			for cur.Next(ctx) {
				doc := cur.Current
				id, err := doc.LookupErr("_id")
				if err != nil {
					return &fnError{fmt.Errorf("reading %s.%s: a document has no _id", db, coll)}
				}
				if check {
					if !id.Equal(last) {
						return &fnError{ErrOrderChanged}
					}
					check = false
					continue
				}
				if err := fn(doc); err != nil {
					return &fnError{err}
				}
				done++
				last = bson.RawValue{Type: id.Type, Value: append(last.Value[:0], id.Value...)}
				progressed = true
			}
			if err := cur.Err(); err != nil {
				return err
			}
			if check {
				return &fnError{ErrOrderChanged} // fewer documents than were written
			}
			return nil // the collection or the limit ended
		}()
		if err == nil {
			return nil
		}
		var fe *fnError
		if errors.As(err, &fe) {
			return fe.err
		}
		if ctx.Err() != nil {
			return c.explain(err, what)
		}
		if progressed {
			failures = 0
		}
		if !(isCursorNotFound(err) || IsTransient(err)) || failures >= scanRetries {
			return c.explain(err, what)
		}
		failures++
		select {
		case <-ctx.Done():
			return c.explain(ctx.Err(), what)
		case <-time.After(time.Duration(failures) * 500 * time.Millisecond):
		}
	}
}
