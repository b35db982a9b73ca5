// Package storetest gives tests a fresh, migrated catalog on SQLite (a file
// in t.TempDir()) or PostgreSQL (a new database per call, dropped on
// cleanup), runs a test against both, and reads what tests of several
// packages check of a catalog.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
)

// DefaultPostgresURL is the server tests use when COFFER_TEST_POSTGRES_URL
// is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SQLite returns a migrated catalog in a fresh SQLite file under
// t.TempDir(), closed when the test ends.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "coffer.db"))
	if err != nil {
		t.Fatalf("storetest: open SQLite catalog: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate SQLite catalog: %v", err)
	}
	return s
}

// PostgresURL is the admin URL of the test server: COFFER_TEST_POSTGRES_URL
// or DefaultPostgresURL.
func PostgresURL() string {
	if u := os.Getenv("COFFER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// unavailable skips the test, or fails it when CI=true (CI must have the server).
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// PostgresDatabase creates an empty database coffer_test_<random> on the
// test server and returns its URL; the database is dropped WITH (FORCE) when
// the test ends. It skips the test when the server cannot be reached (fails
// it when CI=true).
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adminURL := PostgresURL()
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL URL %q is not valid: %v", adminURL, err)
	}
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		unavailable(t, "storetest: PostgreSQL is not reachable at %s (set COFFER_TEST_POSTGRES_URL): %v", redact(adminURL), err)
		return ""
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "coffer_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL URL is not valid: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a migrated catalog in a fresh PostgreSQL database (see
// PostgresDatabase), closed and dropped when the test ends.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	dbURL := PostgresDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("storetest: open PostgreSQL catalog: %v", err)
	}
	// Registered after the drop, so it runs before it.
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate PostgreSQL catalog: %v", err)
	}
	return s
}

// Each runs fn as the subtests "sqlite" and "postgres", each with its own
// fresh catalog. The subtests run one after the other (so deferred calls in
// the caller still run after them); fn may call t.Parallel itself.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// ActiveAdmins counts the users of cat who are administrators and not
// disabled (what the last-admin rule keeps above zero).
func ActiveAdmins(t testing.TB, cat store.Catalog) int {
	t.Helper()
	users, err := cat.ListUsers(context.Background())
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	n := 0
	for _, u := range users {
		if u.Role == store.RoleAdmin && !u.Disabled {
			n++
		}
	}
	return n
}
