package mongodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultBatchSize is the cursor batch size Scan uses when given none.
const DefaultBatchSize = 1000

// scanRetries is how many times Scan reopens its cursor after a transient
// failure (or a cursor the server timed out) without progress in between.
const scanRetries = 3

// Measure is the first pass over db.coll: it finds the largest _id now
// (upTo) and the exact number of documents and of raw BSON bytes with
// _id <= upTo, so the engine can declare the archive entry's size before
// Scan streams it. An empty collection gives 0, 0 and a zero upTo.
//
// Documents inserted below upTo or deleted between Measure and Scan change
// what Scan returns; the engine must compare the counts it streams.
//
// Where the server cannot sum $bsonSize Measure counts on this side, calling
// progress (when set) every MeasureEvery documents; its error stops the
// pass and is returned as is.
func (c *Client) Measure(ctx context.Context, db, coll string, progress func(docs, bytes int64) error) (docs, bytes int64, upTo bson.RawValue, err error) {
	col := c.mc.Database(db).Collection(coll)
	what := fmt.Sprintf("read collection %s.%s", db, coll)
	upTo, err = c.edgeID(ctx, col, -1)
	if err != nil {
		return 0, 0, bson.RawValue{}, c.explain(err, what)
	}
	if upTo.Type == 0 {
		return 0, 0, bson.RawValue{}, nil
	}
	first, err := c.edgeID(ctx, col, 1)
	if err != nil {
		return 0, 0, bson.RawValue{}, c.explain(err, what)
	}
	if first.Type == 0 { // emptied meanwhile
		return 0, 0, upTo, nil
	}
	filter, empty := rangeFilter(first, true, upTo, c.basicTypes.Load())
	if empty {
		return 0, 0, upTo, nil
	}
	if !c.noBSONSize.Load() {
		docs, bytes, err = c.measureAggregate(ctx, col, filter)
		if isTypeUnsupported(err) && !c.basicTypes.Swap(true) {
			filter, _ = rangeFilter(first, true, upTo, true)
			docs, bytes, err = c.measureAggregate(ctx, col, filter)
		}
		if err == nil {
			return docs, bytes, upTo, nil
		}
		var sse mongo.ServerError
		if !errors.As(err, &sse) || IsTransient(err) {
			return 0, 0, bson.RawValue{}, c.explain(err, what)
		}
		// The probe said it could: the server changed since. Probe again next time.
		c.noBSONSize.Store(true)
		c.forgetCaps()
	}
	// The server cannot sum $bsonSize (FerretDB, old MongoDB): count on this side.
	docs, bytes, err = count(progress, func(fn func(bson.Raw) error) error {
		return c.Scan(ctx, db, coll, bson.RawValue{}, upTo, DefaultBatchSize, fn)
	})
	if err != nil {
		return 0, 0, bson.RawValue{}, err
	}
	return docs, bytes, upTo, nil
}

// measureAggregate counts and sums document sizes on the server.
func (c *Client) measureAggregate(ctx context.Context, col *mongo.Collection, filter bson.D) (docs, bytes int64, err error) {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: filter}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: nil},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
			{Key: "b", Value: bson.D{{Key: "$sum", Value: bson.D{{Key: "$bsonSize", Value: "$$ROOT"}}}}},
		}}},
	}
	cur, err := col.Aggregate(ctx, pipeline)
	if err != nil {
		return 0, 0, err
	}
	defer cur.Close(context.WithoutCancel(ctx)) //nolint:errcheck // read-only cursor
	if !cur.Next(ctx) {
		if err := cur.Err(); err != nil {
			return 0, 0, err
		}
		return 0, 0, nil
	}
	n, okN := cur.Current.Lookup("n").AsInt64OK()
	b, okB := cur.Current.Lookup("b").AsInt64OK()
	if !okN || !okB {
		return 0, 0, mongo.CommandError{Code: 2, Message: "unexpected $group result"}
	}
	return n, b, nil
}

// Scan streams the raw documents of db.coll with after < _id <= upTo in
// ascending _id order (BSON order across types, as MongoDB sorts), through
// one batched cursor (batchSize documents per round trip, DefaultBatchSize
// when <= 0), calling fn for each. A zero after means from the start; a zero
// upTo means nothing to scan. doc is only valid until fn returns: copy it to
// keep it. fn's error stops the scan and is returned as is.
//
// When the cursor dies (a network error, or the server timed it out while fn
// was slow) Scan reopens it after the last _id handed to fn, so no document
// is given twice and none is skipped.
func (c *Client) Scan(ctx context.Context, db, coll string, after, upTo bson.RawValue, batchSize int32, fn func(doc bson.Raw) error) error {
	if upTo.Type == 0 {
		return nil
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	col := c.mc.Database(db).Collection(coll)
	what := fmt.Sprintf("read collection %s.%s", db, coll)
	last, inclusive := after, false
	if after.Type == 0 {
		// From the start: from the smallest _id, so a collection of one
		// type gets a plain range query.
		first, err := c.edgeID(ctx, col, 1)
		if err != nil {
			return c.explain(err, what)
		}
		if first.Type == 0 {
			return nil
		}
		last, inclusive = first, true
	}
	var lastBuf []byte
	failures := 0
	for {
		filter, empty := rangeFilter(last, inclusive, upTo, c.basicTypes.Load())
		if empty {
			return nil
		}
		progressed := false
		err := func() error {
			cur, err := col.Find(ctx, filter,
				options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(batchSize))
			if err != nil {
				return err
			}
			defer cur.Close(context.WithoutCancel(ctx)) //nolint:errcheck // read-only cursor
			for cur.Next(ctx) {
				doc := cur.Current
				id, err := doc.LookupErr("_id")
				if err != nil {
					return &fnError{fmt.Errorf("reading %s.%s: a document has no _id", db, coll)}
				}
				if err := fn(doc); err != nil {
					return &fnError{err}
				}
				lastBuf = append(lastBuf[:0], id.Value...)
				last, inclusive = bson.RawValue{Type: id.Type, Value: lastBuf}, false
				progressed = true
			}
			return cur.Err()
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
		if !progressed && isTypeUnsupported(err) && !c.basicTypes.Swap(true) {
			continue // the server knows fewer types; ask again without the others
		}
		if progressed {
			failures = 0
			// lastBuf is reused by the next cursor: give the filter its own copy.
			last = bson.RawValue{Type: last.Type, Value: append([]byte(nil), last.Value...)}
			lastBuf = nil
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

// fnError carries the callback's own error out of the cursor loop untouched.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

func isCursorNotFound(err error) bool {
	var sse mongo.ServerError
	return errors.As(err, &sse) && sse.HasErrorCode(43)
}

// typeBracket is the rank of a BSON type in MongoDB's comparison order.
// Query operators ($gt, $lte...) only match values of the same bracket as
// their operand, while sorting orders all brackets, so a range over _id
// values of several types needs one branch per bracket.
func typeBracket(t bson.Type) int {
	switch t {
	case bson.TypeMinKey:
		return 0
	case bson.TypeNull, bson.TypeUndefined:
		return 1
	case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeDecimal128:
		return 2
	case bson.TypeString, bson.TypeSymbol:
		return 3
	case bson.TypeEmbeddedDocument:
		return 4
	case bson.TypeArray:
		return 5
	case bson.TypeBinary:
		return 6
	case bson.TypeObjectID:
		return 7
	case bson.TypeBoolean:
		return 8
	case bson.TypeDateTime:
		return 9
	case bson.TypeTimestamp:
		return 10
	case bson.TypeRegex:
		return 11
	case bson.TypeDBPointer:
		return 12
	case bson.TypeJavaScript:
		return 13
	case bson.TypeCodeWithScope:
		return 14
	case bson.TypeMaxKey:
		return 15
	}
	return -1
}

// bracketTypes are the $type codes of each bracket.
var bracketTypes = [...][]int32{
	{-1}, {10, 6}, {1, 16, 18, 19}, {2, 14}, {3}, {4}, {5}, {7}, {8}, {9}, {17}, {11}, {12}, {13}, {15}, {127},
}

// basicTypes are the $type codes every MongoDB-compatible server knows. A
// server that refuses the others (FerretDB has no MinKey, MaxKey,
// Decimal128, Undefined, DBPointer, JavaScript or Symbol) cannot store such
// values either, so leaving them out of its queries loses nothing.
var basicTypes = []int32{1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 16, 17, 18}

// typesBetween returns the $type codes of the brackets strictly between lo
// and hi (only basicTypes when basic is set).
func typesBetween(lo, hi int, basic bool) []int32 {
	var out []int32
	for b := lo + 1; b < hi && b < len(bracketTypes); b++ {
		for _, code := range bracketTypes[b] {
			if !basic || slices.Contains(basicTypes, code) {
				out = append(out, code)
			}
		}
	}
	return out
}

// isTypeUnsupported reports whether the server refused a $type code.
func isTypeUnsupported(err error) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) || !(ce.Code == 238 || ce.Code == 2 || ce.Code == 14) {
		return false
	}
	msg := strings.ToLower(ce.Message)
	return strings.Contains(msg, "type code") || strings.Contains(msg, "type name alias") || strings.Contains(msg, "$type")
}

// rangeFilter builds the query for lo < _id <= upTo (lo <= _id <= upTo when
// loInclusive) in BSON order. empty is true when no _id can be in the range.
// When both bounds are of one type bracket (the usual case: all ObjectIDs)
// it is a plain range on _id; otherwise an $or of the part of lo's bracket
// above lo, the brackets in between (by $type) and the part of upTo's
// bracket up to upTo.
func rangeFilter(lo bson.RawValue, loInclusive bool, upTo bson.RawValue, basic bool) (filter bson.D, empty bool) {
	const minB, maxB = 0, 15
	loB, hiB := typeBracket(lo.Type), typeBracket(upTo.Type)
	gt := "$gt"
	if loInclusive {
		gt = "$gte"
	}
	idRange := func(ops ...bson.E) bson.D { return bson.D{{Key: "_id", Value: bson.D(ops)}} }
	switch {
	case loB < 0 || hiB < 0 || loB > hiB:
		if loB >= 0 && hiB >= 0 {
			return nil, true
		}
		// Types this code does not know: plain comparison operators.
		return idRange(bson.E{Key: gt, Value: lo}, bson.E{Key: "$lte", Value: upTo}), false
	case loB == hiB && (loB == minB || loB == maxB):
		// MinKey and MaxKey are single values ($gte MinKey would match everything).
		if !loInclusive {
			return nil, true
		}
		return idRange(bson.E{Key: "$type", Value: bracketTypes[loB][0]}), false
	case loB == hiB:
		return idRange(bson.E{Key: gt, Value: lo}, bson.E{Key: "$lte", Value: upTo}), false
	}
	var or bson.A
	switch {
	case loB == minB && loInclusive:
		or = append(or, idRange(bson.E{Key: "$type", Value: int32(-1)}))
	case loB != minB:
		or = append(or, idRange(bson.E{Key: gt, Value: lo}))
	}
	if mid := typesBetween(loB, hiB, basic); len(mid) > 0 {
		or = append(or, idRange(bson.E{Key: "$type", Value: mid}))
	}
	if hiB == maxB { // $lte MaxKey would match everything
		or = append(or, idRange(bson.E{Key: "$type", Value: int32(127)}))
	} else {
		or = append(or, idRange(bson.E{Key: "$lte", Value: upTo}))
	}
	if len(or) == 1 {
		return or[0].(bson.D), false
	}
	return bson.D{{Key: "$or", Value: or}}, false
}

// edgeID returns the smallest (dir 1) or largest (dir -1) _id of col, or a
// zero value when the collection is empty. The value is a copy.
func (c *Client) edgeID(ctx context.Context, col *mongo.Collection, dir int32) (bson.RawValue, error) {
	doc, err := col.FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: dir}}).SetProjection(bson.D{{Key: "_id", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bson.RawValue{}, nil
	}
	if err != nil {
		return bson.RawValue{}, err
	}
	id, err := doc.LookupErr("_id")
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("a document of %s has no _id", col.Name())
	}
	return bson.RawValue{Type: id.Type, Value: append([]byte(nil), id.Value...)}, nil
}
