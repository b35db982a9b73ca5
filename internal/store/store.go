package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	// Drivers registered under "pgx" and "sqlite".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect names returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Store is the Catalog on a SQLite file or a PostgreSQL database. It is safe
// for concurrent use.
type Store struct {
	db      *sql.DB
	dialect string
	url     string
}

var _ Catalog = (*Store)(nil)

// IsPostgresURL reports whether s names a PostgreSQL database
// (postgres:// or postgresql://).
func IsPostgresURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// SQLiteDSN is the modernc.org/sqlite data source name coffer uses for the
// SQLite file at path: WAL, a 10 s busy timeout, foreign keys on and
// BEGIN IMMEDIATE transactions (so two writers queue instead of failing).
func SQLiteDSN(path string) string {
	return path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// SQLitePath returns the file path named by a SQLite database URL
// ("sqlite:<path>", "sqlite://<path>" or a plain path).
func SQLitePath(databaseURL string) string {
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		return strings.TrimPrefix(databaseURL, "sqlite://")
	case strings.HasPrefix(databaseURL, "sqlite:"):
		return strings.TrimPrefix(databaseURL, "sqlite:")
	}
	return databaseURL
}

// Open connects to the catalog named by databaseURL: postgres:// or
// postgresql:// is PostgreSQL, "sqlite:<path>" or a plain file path is SQLite
// (the file and its directory are created when missing). Open checks the
// connection but does not migrate; call Migrate for that.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	if strings.TrimSpace(databaseURL) == "" {
		return nil, errors.New("open catalog: the database URL is empty; set COFFER_DATABASE_URL or leave it unset for SQLite in the data directory")
	}
	s := &Store{url: databaseURL}
	if IsPostgresURL(databaseURL) {
		db, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open catalog: PostgreSQL URL is not valid: %w", err)
		}
		db.SetMaxOpenConns(25)
		db.SetMaxIdleConns(5)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.db, s.dialect = db, DialectPostgres
	} else {
		path := SQLitePath(databaseURL)
		if path == "" {
			return nil, errors.New("open catalog: the SQLite database URL names no file")
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open catalog: create directory for SQLite file: %w", err)
			}
		}
		db, err := sql.Open("sqlite", SQLiteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("open catalog: SQLite file %s: %w", path, err)
		}
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
		s.db, s.dialect = db, DialectSQLite
	}
	if err := s.db.PingContext(ctx); err != nil {
		_ = s.db.Close()
		return nil, fmt.Errorf("open catalog: cannot reach the %s database; check the database URL and that the server is running: %w", s.dialect, err)
	}
	return s, nil
}

// URL is the database URL the store was opened with.
func (s *Store) URL() string { return s.url }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// DB is the underlying pool.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping catalog: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// InTx runs fn in one transaction, committing when fn returns nil and rolling
// back when it returns an error or panics (the panic is re-raised).
//
// On SQLite a transaction begins by taking the write lock (BEGIN IMMEDIATE),
// waiting up to the busy timeout for another writer. When that wait runs
// out (a writer held the lock longer, as on a machine loaded far beyond its
// cores) the begin is tried again, up to busyAttempts times in all:
// nothing has happened yet, and a checkpoint or a status change should not
// fail a backup because the catalog was busy for a moment.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	var tx *sql.Tx
	for attempt := 1; ; attempt++ {
		tx, err = s.db.BeginTx(ctx, nil)
		if err == nil {
			break
		}
		if !isBusy(err) || attempt >= busyAttempts || ctx.Err() != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", mapErr(err))
	}
	committed = true
	return nil
}
