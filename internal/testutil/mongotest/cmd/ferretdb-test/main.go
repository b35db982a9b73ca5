// Command ferretdb-test runs FerretDB with its SQLite backend for package
// mongotest when the tests are built with the race detector: the tests
// build it (without the detector) and start one per server. It is a test
// tool and never part of the coffer binary.
//
//	ferretdb-test -dir /tmp/x
//
// It prints the server's mongodb:// URI on a line of its own once it
// serves, and stops when its standard input closes (the test process
// ended, however it ended).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	dir := flag.String("dir", "", "the directory of the SQLite files (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb-test: -dir is required")
		os.Exit(2)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-test: create FerretDB:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // Run always returns nil; it stops when ctx ends.
	}()
	fmt.Println(f.MongoDBURI())
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "ferretdb-test: FerretDB did not stop within 10 s")
		os.Exit(1)
	}
}
