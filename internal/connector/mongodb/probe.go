package mongodb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Caps is what a server does cheaply, as far as a dump is concerned. Real
// MongoDB sums $bsonSize and answers _id-ordered range queries from its _id
// index; FerretDB does neither (it refuses $bsonSize, and sorts or filters
// on _id by reading the whole collection first), so a dump from it counts
// on this side and reads in the server's own order.
type Caps struct {
	// Server names the server, e.g. "MongoDB 7.0.5" or "FerretDB 1.24.2".
	Server string
	// BSONSize: the server sums $bsonSize, so measuring a collection is
	// one aggregate on the server.
	BSONSize bool
	// IDOrder: _id-ordered range queries are answered from the _id index.
	// Without it a collection is read in the server's order (no sort, no
	// filter), which such a server streams from the first document.
	IDOrder bool
}

// memo remembers each connection's Caps across clients (one client per
// run), with the server identity they were probed on: a different server
// behind the same connection string (an upgrade, a migration to or from
// FerretDB) is probed again.
var memo sync.Map // memoKey -> memoEntry

type memoEntry struct {
	identity string
	caps     Caps
}

// probeCount counts the probes run in this process (for tests).
var probeCount atomic.Int64

// Probes returns how many probes ran in this process (for tests).
func Probes() int64 { return probeCount.Load() }

// probeCollection is the collection the probes query. It need not exist:
// both probes are parsed and planned by the server, which is all they ask.
const probeCollection = "coffer_probe_does_not_exist"

// Caps returns what the server behind c does cheaply. It asks the server
// who it is (one buildInfo round trip) and probes the rest only when this
// connection has not been probed on that server before in this process.
func (c *Client) Caps(ctx context.Context, db string) (Caps, error) {
	c.capsMu.Lock()
	defer c.capsMu.Unlock()
	if c.caps != nil {
		return *c.caps, nil
	}
	identity, server, err := c.identity(ctx)
	if err != nil {
		return Caps{}, c.explain(err, "ask the server for its version")
	}
	key := c.memoKey()
	if v, ok := memo.Load(key); ok && v.(memoEntry).identity == identity {
		caps := v.(memoEntry).caps
		c.setCaps(caps)
		return caps, nil
	}
	probeCount.Add(1)
	caps := Caps{Server: server}
	col := c.mc.Database(db).Collection(probeCollection)
	caps.BSONSize, err = c.probeBSONSize(ctx, col)
	if err != nil {
		return Caps{}, c.explain(err, "probe the server")
	}
	caps.IDOrder, err = c.probeIDOrder(ctx, db)
	if err != nil {
		return Caps{}, c.explain(err, "probe the server")
	}
	memo.Store(key, memoEntry{identity: identity, caps: caps})
	c.setCaps(caps)
	return caps, nil
}

func (c *Client) setCaps(caps Caps) {
	c.caps = &caps
	c.noBSONSize.Store(!caps.BSONSize)
}

// forgetCaps drops what was remembered of this connection after the server
// did not do what its probe said (it changed since): the next run probes
// again.
func (c *Client) forgetCaps() {
	memo.Delete(c.memoKey())
}

// memoKey identifies the connection without keeping its credentials.
func (c *Client) memoKey() string {
	sum := sha256.Sum256([]byte(c.cfg.URI + "\x00" + c.cfg.AuthDatabase))
	return string(sum[:])
}

// identity is the server's version, and FerretDB's when it is FerretDB.
func (c *Client) identity(ctx context.Context) (identity, server string, err error) {
	raw, err := c.mc.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return "", "", err
	}
	version, _ := raw.Lookup("version").StringValueOK()
	if ferret, ok := raw.Lookup("ferretdbVersion").StringValueOK(); ok {
		return "ferretdb " + ferret + " " + version, fmt.Sprintf("FerretDB %s (MongoDB %s)", ferret, version), nil
	}
	return "mongodb " + version, "MongoDB " + version, nil
}

// probeBSONSize asks the server to plan a $bsonSize over a collection that
// does not exist: a server that has the operator answers with no
// documents at once, one that has not refuses the pipeline before reading
// anything.
func (c *Client) probeBSONSize(ctx context.Context, col *mongo.Collection) (bool, error) {
	cur, err := col.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$limit", Value: 1}},
		{{Key: "$project", Value: bson.D{{Key: "s", Value: bson.D{{Key: "$bsonSize", Value: "$$ROOT"}}}}}},
	})
	if err == nil {
		return true, cur.Close(ctx)
	}
	var se mongo.ServerError
	if errors.As(err, &se) && !IsTransient(err) {
		return false, nil
	}
	return false, err
}

// probeIDOrder explains an _id-ordered range query. FerretDB says in its
// explain output whether it pushes the sort down to its storage
// (sortPushdown); when it does not, it sorts the whole collection in
// memory before the first document. MongoDB's explain has no such field:
// it always walks the _id index.
func (c *Client) probeIDOrder(ctx context.Context, db string) (bool, error) {
	raw, err := c.mc.Database(db).RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: probeCollection},
		{Key: "filter", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: int64(0)}}}}},
		{Key: "sort", Value: bson.D{{Key: "_id", Value: 1}}},
	}}}).Raw()
	if err != nil {
		var se mongo.ServerError
		if errors.As(err, &se) && !IsTransient(err) {
			return true, nil // cannot explain: assume the index, as MongoDB has
		}
		return false, err
	}
	if pushed, ok := raw.Lookup("sortPushdown").BooleanOK(); ok {
		return pushed, nil
	}
	return true, nil
}
