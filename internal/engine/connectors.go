package engine

import (
	"context"
	"fmt"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/local"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/store"
)

// Roles a connection type can play.
func isSource(typ string) bool { return typ == store.TypeS3 || typ == store.TypeMongoDB }
func isDestination(typ string) bool {
	return typ == store.TypeS3 || typ == store.TypeLocal || typ == store.TypeGoogleDrive
}
func isTarget(typ string) bool { return typ == store.TypeS3 || typ == store.TypeMongoDB }

func (e *Engine) s3Client(ctx context.Context, c *store.Connection, plain []byte) (*s3conn.Client, error) {
	var cfg s3conn.Config
	if err := decodeCreds(c, plain, &cfg); err != nil {
		return nil, err
	}
	cl, err := s3conn.New(ctx, cfg, s3conn.Options{MinPartSize: e.opt.S3MinPartSize, MaxParts: e.opt.S3MaxParts})
	if err != nil {
		return nil, fmt.Errorf("connect to S3 for %q: %w", c.Name, err)
	}
	return cl, nil
}

// openSource returns the object source behind a source connection.
func (e *Engine) openSource(ctx context.Context, id int64) (*store.Connection, connector.ObjectSource, error) {
	c, plain, err := e.connection(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	switch c.Type {
	case store.TypeS3:
		cl, err := e.s3Client(ctx, c, plain)
		return c, cl, err
	default:
		return c, nil, apperr.New(apperr.Invalid, "backups from %s connections are not supported yet", c.Type)
	}
}

// destination is what the engine needs of a destination connection.
type destination interface {
	connector.Destination
	connector.Sweeper
}

// openDestination returns the archive store behind a destination connection.
func (e *Engine) openDestination(ctx context.Context, id int64) (*store.Connection, destination, error) {
	c, plain, err := e.connection(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	switch c.Type {
	case store.TypeS3:
		cl, err := e.s3Client(ctx, c, plain)
		return c, cl, err
	case store.TypeLocal:
		var cfg local.Config
		if err := decodeCreds(c, plain, &cfg); err != nil {
			return c, nil, err
		}
		if fields := cfg.Validate(e.opt.LocalRoots); len(fields) > 0 {
			return c, nil, apperr.InvalidFields(fmt.Sprintf("the local connection %q is not usable: %s", c.Name, firstReason(fields)), fields)
		}
		d, err := local.New(cfg)
		if err != nil {
			return c, nil, fmt.Errorf("open the local directory of %q: %w", c.Name, err)
		}
		return c, d, nil
	default:
		return c, nil, apperr.New(apperr.Invalid, "archives cannot be stored on %s connections yet", c.Type)
	}
}

// openObjectTarget returns where a restore of objects writes.
func (e *Engine) openObjectTarget(ctx context.Context, id int64, cfg S3RestoreConfig) (*store.Connection, connector.ObjectTarget, error) {
	c, plain, err := e.connection(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.Type != store.TypeS3 {
		return c, nil, apperr.New(apperr.Invalid, "objects from an S3 backup can only be restored to an s3 connection, not %s", c.Type)
	}
	cl, err := e.s3Client(ctx, c, plain)
	if err != nil {
		return c, nil, err
	}
	return c, cl.Target(cfg.Bucket, cfg.Prefix), nil
}

func firstReason(fields map[string]string) string {
	for k, v := range fields {
		return k + " " + v
	}
	return "invalid"
}
