package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
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
func (e *Engine) openBackupSource(ctx context.Context, id int64) (*store.Connection, backupSource, error) {
	c, plain, err := e.connection(ctx, id)
	if err != nil {
		return nil, backupSource{}, err
	}
	switch c.Type {
	case store.TypeS3:
		cl, err := e.s3Client(ctx, c, plain)
		return c, backupSource{objects: cl}, err
	case store.TypeMongoDB:
		mc, err := e.mongoClient(ctx, c, plain)
		return c, backupSource{mongo: mc}, err
	default:
		return c, backupSource{}, apperr.New(apperr.Invalid, "backups from %s connections are not supported", c.Type)
	}
}

func (e *Engine) mongoClient(ctx context.Context, c *store.Connection, plain []byte) (*mongodb.Client, error) {
	var cfg mongodb.Config
	if err := decodeCreds(c, plain, &cfg); err != nil {
		return nil, err
	}
	mc, err := mongodb.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to MongoDB for %q: %w", c.Name, err)
	}
	return mc, nil
}

// openMongoTarget returns the MongoDB client a restore writes to.
func (e *Engine) openMongoTarget(ctx context.Context, id int64) (*store.Connection, *mongodb.Client, error) {
	c, plain, err := e.connection(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.Type != store.TypeMongoDB {
		return c, nil, apperr.New(apperr.Invalid, "a MongoDB backup can only be restored to a mongodb connection, not %s", c.Type)
	}
	mc, err := e.mongoClient(ctx, c, plain)
	return c, mc, err
}

// destination is what the engine needs of a destination connection.
type destination = connector.Destination

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
	case store.TypeGoogleDrive:
		var cfg gdrive.Config
		if err := decodeCreds(c, plain, &cfg); err != nil {
			return c, nil, err
		}
		cl, err := gdrive.New(ctx, cfg, gdrive.Options{OAuth: e.opt.GDrive, OnToken: e.saveDriveToken(c.ID)})
		if err != nil {
			return c, nil, fmt.Errorf("connect to Google Drive for %q: %w", c.Name, err)
		}
		return c, cl, nil
	default:
		return c, nil, apperr.New(apperr.Invalid, "archives cannot be stored on %s connections", c.Type)
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

// saveDriveToken returns the callback that stores a refreshed OAuth token of
// connection id, sealed, so the next process starts from it.
func (e *Engine) saveDriveToken(id int64) func(*oauth2.Token) {
	return func(tok *oauth2.Token) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, plain, err := e.connection(ctx, id)
		if err != nil {
			e.log.Warn("save refreshed Google Drive token", "connection", id, "err", err)
			return
		}
		var cfg gdrive.Config
		if err := json.Unmarshal(plain, &cfg); err != nil {
			return
		}
		cfg.AccessToken, cfg.Expiry = tok.AccessToken, tok.Expiry
		if tok.RefreshToken != "" {
			cfg.RefreshToken = tok.RefreshToken
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			return
		}
		if c.Credentials, err = e.keys.Seal(data); err != nil {
			return
		}
		if err := e.cat.UpdateConnection(ctx, c); err != nil {
			e.log.Warn("save refreshed Google Drive token", "connection", id, "err", err)
		}
	}
}

// markReauth flags a connection whose OAuth grant was revoked or expired.
func (e *Engine) markReauth(ctx context.Context, id int64) {
	c, err := e.cat.GetConnection(ctx, id)
	if err != nil {
		return
	}
	c.NeedsReauth = true
	_ = e.cat.UpdateConnection(ctx, c)
}
