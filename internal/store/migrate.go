package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migrateLockKey is the pg_advisory_lock key that serialises Migrate between
// processes sharing one PostgreSQL database ("coffer" in ASCII).
const migrateLockKey int64 = 0x636f66666572

// migration is one numbered schema file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations of dialect in version order.
func migrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	ents, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		num, name, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s does not start with a version number", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate brings the schema up to date: coffer's numbered migrations, each in
// its own transaction and recorded in schema_migrations, then River's. It is
// idempotent, and on PostgreSQL it holds an advisory lock so several
// processes may run it at once.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate catalog: get a connection: %w", err)
	}
	defer conn.Close()

	if s.dialect == DialectPostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("migrate catalog: take the migration lock: %w", err)
		}
		defer func() {
			// A fresh context: the lock must be released even when ctx is done.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
		}()
	}

	if err := s.migrateOwn(ctx, conn); err != nil {
		return err
	}
	if err := s.migrateRiver(ctx); err != nil {
		return err
	}
	return nil
}

func (s *Store) migrateOwn(ctx context.Context, conn *sql.Conn) error {
	tsType := "INTEGER"
	if s.dialect == DialectPostgres {
		tsType = "TIMESTAMPTZ"
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at ` + tsType + ` NOT NULL)`
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("migrate catalog: create schema_migrations: %w", err)
	}
	migs, err := migrations(s.dialect)
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	for _, m := range migs {
		if err := s.applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("migrate catalog: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&n); err != nil {
		return fmt.Errorf("check applied: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, s.ts(now())); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrateRiver applies River's own migrations (its job tables) up to the
// version this build of River needs.
func (s *Store) migrateRiver(ctx context.Context) error {
	var driver riverdriver.Driver[*sql.Tx] = riversqlite.New(s.db)
	if s.dialect == DialectPostgres {
		driver = riverdatabasesql.New(s.db)
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		return fmt.Errorf("migrate job queue tables: %w", err)
	}
	return nil
}
