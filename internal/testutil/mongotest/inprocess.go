//go:build !race

package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu serialises ferretdb.New: it writes a process-wide version record that
// would otherwise race when parallel tests start servers at the same time.
var newMu sync.Mutex

// Start runs a fresh FerretDB in this process on 127.0.0.1 (a free port)
// with its SQLite files under t.TempDir(), waits until it answers a ping,
// and stops it when the test ends. When it cannot start, the test is
// skipped, or fails when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir() + "/"
	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir,
		Logger:    slog.New(slog.DiscardHandler),
	})
	newMu.Unlock()
	if err != nil {
		unavailable(t, fmt.Errorf("creating FerretDB: %w", err))
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // Run always returns nil; it stops when ctx ends.
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("mongotest: FerretDB did not stop within 10s")
		}
	})
	return started(t, f.MongoDBURI())
}
