// Package mongotest starts a real MongoDB-protocol server for tests: FerretDB
// on 127.0.0.1 with its SQLite backend in a temporary directory. Tests talk
// to it over a real socket with the official driver. It runs in the test
// process, except under the race detector (see external.go).
//
// FerretDB cannot carry every BSON type (Decimal128, MinKey/MaxKey,
// JavaScript, Symbol, Undefined, DBPointer, NaN, ±Infinity and -0.0 among
// them) and has no views, collations, validators or TTL/partial/text indexes;
// cover those with unit tests on raw BSON instead.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server is a running FerretDB for one test (or one group of tests; give
// each test its own database with NewDatabase).
type Server struct {
	// URI is the server's connection string, mongodb://127.0.0.1:PORT/.
	URI string
	// Addr is the server's host:port.
	Addr string

	dbs atomic.Int64
}

// started returns the Server at uri once it answers a ping; the test is
// skipped (failed when CI=true) when it does not.
func started(t testing.TB, uri string) *Server {
	t.Helper()
	srv := &Server{URI: uri, Addr: strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")}
	if err := srv.waitReady(); err != nil {
		unavailable(t, err)
		return nil
	}
	return srv
}

// waitReady pings the server until it answers (at most 15 s).
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetServerSelectionTimeout(15 * time.Second))
	if err != nil {
		return fmt.Errorf("connecting to FerretDB at %s: %w", s.Addr, err)
	}
	defer client.Disconnect(context.Background()) //nolint:errcheck // best effort
	var lastErr error
	for ctx.Err() == nil {
		if lastErr = client.Ping(ctx, nil); lastErr == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("FerretDB at %s did not answer a ping within 15s: %w", s.Addr, errors.Join(lastErr, ctx.Err()))
}

// Client returns a driver client connected to the server, disconnected when
// the test ends.
func (s *Server) Client(t testing.TB) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(s.URI))
	if err != nil {
		t.Fatalf("mongotest: connecting to %s: %v", s.URI, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			t.Logf("mongotest: disconnecting: %v", err)
		}
	})
	return client
}

// NewDatabase returns the name of a database no other caller got from this
// server; it is dropped when the test ends. The database itself appears when
// the test first writes to it.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.dbs.Add(1), randomHex(4))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client, err := mongo.Connect(options.Client().ApplyURI(s.URI))
		if err != nil {
			return
		}
		defer client.Disconnect(ctx) //nolint:errcheck // best effort
		_ = client.Database(name).Drop(ctx)
	})
	return name
}

// MustInsert inserts raw documents into db.coll, failing the test on error.
func (s *Server) MustInsert(t testing.TB, client *mongo.Client, db, coll string, docs ...bson.Raw) {
	t.Helper()
	if len(docs) == 0 {
		return
	}
	many := make([]any, len(docs))
	for i, d := range docs {
		many[i] = d
	}
	if _, err := client.Database(db).Collection(coll).InsertMany(context.Background(), many); err != nil {
		t.Fatalf("mongotest: inserting into %s.%s: %v", db, coll, err)
	}
}

// unavailable skips the test, or fails it when CI=true.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("mongotest: FerretDB is required when CI=true: %v", err)
	}
	t.Skipf("mongotest: FerretDB is not available: %v", err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
