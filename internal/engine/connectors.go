package engine

import (
	"context"
	"fmt"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	"github.com/coffer-backup/coffer/internal/connector/registry"
)

// Connections opens the connections operations use. *connection.Service
// implements it: it alone decrypts credentials (registering their secrets
// with the redactor) and stores what connectors learn while they work (a
// refreshed Google token), so the engine never sees plaintext credentials.
type Connections interface {
	// OpenSource opens connection id as what a backup reads.
	OpenSource(ctx context.Context, id int64) (*registry.Source, error)
	// OpenDestination opens connection id as an archive store.
	OpenDestination(ctx context.Context, id int64) (*registry.Destination, error)
	// OpenTarget opens connection id as what a restore writes into.
	OpenTarget(ctx context.Context, id int64) (*registry.Target, error)
	// MarkNeedsReauth records that the Google grant of connection id no
	// longer works, so the UI asks for a reconnect.
	MarkNeedsReauth(ctx context.Context, id int64) error
}

// backupSource is what a backup reads: the objects of a bucket or the
// collections of MongoDB databases (exactly one is set).
type backupSource struct {
	objects connector.ObjectSource
	mongo   *mongodb.Client
}

func (s backupSource) close() {
	if s.mongo != nil {
		_ = s.mongo.Close()
	}
}

// openBackupSource returns the source behind a source connection.
func (e *Engine) openBackupSource(ctx context.Context, id int64) (*registry.Info, backupSource, error) {
	src, err := e.conns.OpenSource(ctx, id)
	if err != nil {
		return nil, backupSource{}, err
	}
	return &src.Conn, backupSource{objects: src.Objects, mongo: src.Mongo}, nil
}

// openDestination returns the archive store behind a destination connection.
func (e *Engine) openDestination(ctx context.Context, id int64) (registry.Info, connector.Destination, error) {
	d, err := e.conns.OpenDestination(ctx, id)
	if err != nil {
		return registry.Info{}, nil, err
	}
	return d.Conn, d.Destination, nil
}

// markReauth flags a connection whose OAuth grant was revoked or expired.
func (e *Engine) markReauth(ctx context.Context, id int64) {
	if err := e.conns.MarkNeedsReauth(ctx, id); err != nil {
		e.log.Warn("mark a connection as needing a reconnect", "connection", id, "err", fmt.Sprint(err))
	}
	if e.notifier != nil {
		e.notifier.ConnectionNeedsReauth(ctx, id)
	}
}
