package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// fixture creates what most operation tests need: two connections.
type fixture struct {
	src, dst *store.Connection
}

func newFixture(t testing.TB, s *store.Store) fixture {
	t.Helper()
	ctx := t.Context()
	src := &store.Connection{Name: "src", Type: store.TypeS3, Credentials: []byte("sealed-src"), IsActive: true}
	dst := &store.Connection{Name: "dst", Type: store.TypeLocal, Credentials: []byte("sealed-dst"), IsActive: true}
	for _, c := range []*store.Connection{src, dst} {
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatalf("CreateConnection(%s): %v", c.Name, err)
		}
	}
	return fixture{src: src, dst: dst}
}

func (f fixture) backup(t testing.TB, s *store.Store, status string) *store.BackupOperation {
	t.Helper()
	op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
		Operation: store.Operation{Status: status}}
	if err := s.CreateBackup(t.Context(), nil, op); err != nil {
		t.Fatalf("CreateBackup: %v", err)
	}
	return op
}

func (f fixture) restore(t *testing.T, s *store.Store, backupID int64, status string) *store.RestoreOperation {
	t.Helper()
	op := &store.RestoreOperation{BackupOperationID: backupID, DestinationConnectionID: f.src.ID,
		Operation: store.Operation{Status: status}}
	if err := s.CreateRestore(t.Context(), nil, op); err != nil {
		t.Fatalf("CreateRestore: %v", err)
	}
	return op
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenAndURL(t *testing.T) {
	t.Parallel()
	if !store.IsPostgresURL("postgres://x/y") || !store.IsPostgresURL("postgresql://x/y") || store.IsPostgresURL("sqlite:/x.db") {
		t.Fatal("IsPostgresURL misclassifies")
	}
	dir := t.TempDir()
	for _, u := range []string{"sqlite:" + dir + "/a/one.db", dir + "/two.db"} {
		s, err := store.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if s.Dialect() != store.DialectSQLite || s.URL() != u {
			t.Errorf("Open(%q): dialect %q url %q", u, s.Dialect(), s.URL())
		}
		var fk, timeout int
		var mode string
		mustNil(t, s.DB().QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk))
		mustNil(t, s.DB().QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&timeout))
		mustNil(t, s.DB().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode))
		if fk != 1 || timeout != 10000 || mode != "wal" {
			t.Errorf("pragmas: foreign_keys=%d busy_timeout=%d journal_mode=%s", fk, timeout, mode)
		}
		mustNil(t, s.Close())
	}
	if _, err := store.Open(t.Context(), ""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	if got := store.SQLiteDSN("/d/c.db"); got != "/d/c.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate" {
		t.Fatalf("SQLiteDSN = %q", got)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		count := func(q string) int {
			var n int
			mustNil(t, s.DB().QueryRowContext(ctx, q).Scan(&n))
			return n
		}
		before := count("SELECT COUNT(*) FROM schema_migrations")
		if before < 1 {
			t.Fatalf("schema_migrations has %d rows after Migrate", before)
		}
		riverBefore := count("SELECT COUNT(*) FROM river_migration")
		// A second Migrate is a no-op and data survives it.
		u := &store.User{Email: "keep@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		mustNil(t, s.CreateUser(ctx, u))
		mustNil(t, s.Migrate(ctx))
		if got := count("SELECT COUNT(*) FROM schema_migrations"); got != before {
			t.Fatalf("schema_migrations: %d rows, then %d", before, got)
		}
		if got := count("SELECT COUNT(*) FROM river_migration"); got != riverBefore || got < 1 {
			t.Fatalf("river_migration: %d rows, then %d", riverBefore, got)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 1 {
			t.Fatalf("CountUsers after second Migrate = %d, %v", n, err)
		}
		// River's tables exist.
		for _, table := range []string{"river_job", "river_leader", "river_queue"} {
			count("SELECT COUNT(*) FROM " + table)
		}
	})
}

func TestMigrateConcurrentPostgres(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresDatabase(t)
	const n = 4
	stores := make([]*store.Store, n)
	for i := range stores {
		s, err := store.Open(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(t.Context())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate %d: %v", i, err)
		}
	}
	var applied int
	mustNil(t, stores[0].DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&applied))
	// Every migration file applied once (versions may have gaps).
	ents, err := os.ReadDir("migrations/postgres")
	mustNil(t, err)
	files := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".sql") {
			files++
		}
	}
	if applied != files {
		t.Fatalf("schema_migrations has %d rows for %d migration files", applied, files)
	}
	var riverJob int
	mustNil(t, stores[0].DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM river_job").Scan(&riverJob))
}

func TestUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := &store.User{Email: " Alice@Example.COM ", PasswordHash: "hash1", Role: store.RoleAdmin}
		mustNil(t, s.CreateUser(ctx, u))
		if u.ID == 0 || u.Email != "alice@example.com" || u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() {
			t.Fatalf("CreateUser did not fill fields: %+v", u)
		}
		if u.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt not UTC: %v", u.CreatedAt.Location())
		}
		for _, dup := range []string{"alice@example.com", "ALICE@example.com"} {
			wantErr(t, s.CreateUser(ctx, &store.User{Email: dup, PasswordHash: "x", Role: store.RoleViewer}), store.ErrConflict)
		}
		if err := s.CreateUser(ctx, &store.User{Email: "x@y", PasswordHash: "x", Role: "root"}); err == nil {
			t.Fatal("CreateUser with an unknown role succeeded")
		}

		got, err := s.GetUserByEmail(ctx, "ALICE@EXAMPLE.COM")
		mustNil(t, err)
		if *got != *u {
			t.Fatalf("GetUserByEmail = %+v, want %+v", got, u)
		}
		got, err = s.GetUser(ctx, u.ID)
		mustNil(t, err)
		if *got != *u {
			t.Fatalf("GetUser = %+v, want %+v", got, u)
		}
		_, err = s.GetUser(ctx, u.ID+100)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.GetUserByEmail(ctx, "nobody@example.com")
		wantErr(t, err, store.ErrNotFound)

		bob := &store.User{Email: "bob@example.com", PasswordHash: "h", Role: store.RoleViewer}
		mustNil(t, s.CreateUser(ctx, bob))

		users, err := s.ListUsers(ctx)
		mustNil(t, err)
		if len(users) != 2 || users[0].ID != u.ID || users[1].ID != bob.ID {
			t.Fatalf("ListUsers = %+v", users)
		}
		n, err := s.CountUsers(ctx)
		mustNil(t, err)
		if n != 2 {
			t.Fatalf("CountUsers = %d", n)
		}
	})
}

func TestSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := &store.User{Email: "s@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		mustNil(t, s.CreateUser(ctx, u))
		base := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
		ss := &store.Session{TokenHash: "hash-a", UserID: u.ID, IP: "127.0.0.1", UserAgent: "ua", ExpiresAt: base.Add(time.Hour)}
		mustNil(t, s.CreateSession(ctx, ss))
		if ss.ID == 0 || ss.LastSeenAt.IsZero() {
			t.Fatalf("CreateSession did not fill fields: %+v", ss)
		}
		got, err := s.GetSessionByTokenHash(ctx, "hash-a", base)
		mustNil(t, err)
		if *got != *ss {
			t.Fatalf("GetSessionByTokenHash = %+v, want %+v", got, ss)
		}
		if !got.ExpiresAt.Equal(base.Add(time.Hour).Truncate(time.Microsecond)) || got.ExpiresAt.Location() != time.UTC {
			t.Fatalf("ExpiresAt did not round-trip: %v", got.ExpiresAt)
		}
		// Expired at exactly the expiry instant.
		_, err = s.GetSessionByTokenHash(ctx, "hash-a", base.Add(time.Hour))
		wantErr(t, err, store.ErrNotFound)
		_, err = s.GetSessionByTokenHash(ctx, "nope", base)
		wantErr(t, err, store.ErrNotFound)

		seen := base.Add(30 * time.Minute)
		mustNil(t, s.TouchSession(ctx, ss.ID, seen, base.Add(3*time.Hour)))
		got, err = s.GetSessionByTokenHash(ctx, "hash-a", base.Add(2*time.Hour))
		mustNil(t, err)
		if !got.LastSeenAt.Equal(seen.Truncate(time.Microsecond)) {
			t.Fatalf("LastSeenAt = %v, want %v", got.LastSeenAt, seen)
		}
		wantErr(t, s.TouchSession(ctx, 9999, seen, seen), store.ErrNotFound)

		old := &store.Session{TokenHash: "hash-old", UserID: u.ID, ExpiresAt: base.Add(-time.Minute)}
		mustNil(t, s.CreateSession(ctx, old))
		other := &store.Session{TokenHash: "hash-b", UserID: u.ID, ExpiresAt: base.Add(time.Hour)}
		mustNil(t, s.CreateSession(ctx, other))
		wantErr(t, s.CreateSession(ctx, &store.Session{TokenHash: "hash-b", UserID: u.ID, ExpiresAt: base}), store.ErrConflict)
		n, err := s.DeleteExpiredSessions(ctx, base)
		mustNil(t, err)
		if n != 1 {
			t.Fatalf("DeleteExpiredSessions = %d, want 1", n)
		}
		mustNil(t, s.DeleteSession(ctx, other.ID))
		_, err = s.GetSessionByTokenHash(ctx, "hash-b", base)
		wantErr(t, err, store.ErrNotFound)
		mustNil(t, s.DeleteUserSessions(ctx, u.ID))
		_, err = s.GetSessionByTokenHash(ctx, "hash-a", base)
		wantErr(t, err, store.ErrNotFound)
	})
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := &store.User{Email: "t@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		v := &store.User{Email: "v@example.com", PasswordHash: "h", Role: store.RoleViewer}
		mustNil(t, s.CreateUser(ctx, u))
		mustNil(t, s.CreateUser(ctx, v))
		tok := &store.APIToken{UserID: u.ID, Name: "ci", TokenHash: "th1"}
		mustNil(t, s.CreateAPIToken(ctx, tok))
		wantErr(t, s.CreateAPIToken(ctx, &store.APIToken{UserID: u.ID, Name: "again", TokenHash: "th1"}), store.ErrConflict)
		mustNil(t, s.CreateAPIToken(ctx, &store.APIToken{UserID: u.ID, Name: "second", TokenHash: "th2"}))

		got, err := s.GetAPITokenByHash(ctx, "th1")
		mustNil(t, err)
		if got.ID != tok.ID || got.LastUsedAt != nil || got.Name != "ci" || !got.CreatedAt.Equal(tok.CreatedAt) {
			t.Fatalf("GetAPITokenByHash = %+v", got)
		}
		at := time.Now().Add(-time.Minute)
		mustNil(t, s.TouchAPIToken(ctx, tok.ID, at))
		got, err = s.GetAPITokenByHash(ctx, "th1")
		mustNil(t, err)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Truncate(time.Microsecond)) {
			t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
		}
		list, err := s.ListAPITokens(ctx, u.ID)
		mustNil(t, err)
		if len(list) != 2 || list[0].Name != "ci" || list[1].Name != "second" {
			t.Fatalf("ListAPITokens = %+v", list)
		}
		// Another user cannot delete it.
		wantErr(t, s.DeleteAPIToken(ctx, v.ID, tok.ID), store.ErrNotFound)
		mustNil(t, s.DeleteAPIToken(ctx, u.ID, tok.ID))
		_, err = s.GetAPITokenByHash(ctx, "th1")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteAPIToken(ctx, u.ID, tok.ID), store.ErrNotFound)
	})
}

func TestConnections(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := &store.Connection{Name: "prod-s3", Type: store.TypeS3, Credentials: []byte{0, 1, 2, 255}, IsActive: true}
		mustNil(t, s.CreateConnection(ctx, c))
		wantErr(t, s.CreateConnection(ctx, &store.Connection{Name: "prod-s3", Type: store.TypeLocal}), store.ErrConflict)
		got, err := s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		if got.Name != c.Name || string(got.Credentials) != string(c.Credentials) || !got.IsActive || got.LastValidatedAt != nil ||
			!got.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("GetConnection = %+v, want %+v", got, c)
		}
		_, err = s.GetConnection(ctx, c.ID+50)
		wantErr(t, err, store.ErrNotFound)

		at := time.Now()
		mustNil(t, s.SetConnectionValidation(ctx, c.ID, at, "access denied"))
		got, err = s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		if got.LastValidatedAt == nil || !got.LastValidatedAt.Equal(at.Truncate(time.Microsecond)) || got.LastValidationError != "access denied" {
			t.Fatalf("after SetConnectionValidation: %+v", got)
		}
		wantErr(t, s.SetConnectionValidation(ctx, 9999, at, ""), store.ErrNotFound)

		b := &store.Connection{Name: "a-drive", Type: store.TypeGoogleDrive, Credentials: []byte("x")}
		mustNil(t, s.CreateConnection(ctx, b))
		got.Name, got.Credentials, got.IsActive, got.NeedsReauth, got.LastValidationError = "renamed", []byte("new"), false, true, ""
		mustNil(t, s.UpdateConnection(ctx, got))
		again, err := s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		if again.Name != "renamed" || string(again.Credentials) != "new" || again.IsActive || !again.NeedsReauth ||
			again.LastValidationError != "" || again.Type != store.TypeS3 {
			t.Fatalf("after UpdateConnection: %+v", again)
		}
		got.Name = "a-drive"
		wantErr(t, s.UpdateConnection(ctx, got), store.ErrConflict)
		wantErr(t, s.UpdateConnection(ctx, &store.Connection{ID: 9999, Name: "q"}), store.ErrNotFound)

		list, err := s.ListConnections(ctx)
		mustNil(t, err)
		if len(list) != 2 || list[0].Name != "a-drive" || list[1].Name != "renamed" {
			t.Fatalf("ListConnections not ordered by name: %+v", list)
		}
		mustNil(t, s.DeleteConnection(ctx, b.ID))
		wantErr(t, s.DeleteConnection(ctx, b.ID), store.ErrNotFound)
	})
}

// TestConnectionTargetedUpdates checks that the background writes to a
// connection (a refreshed token, the needs_reauth mark) change only their
// own column, and that a refreshed token does not replace credentials the
// user changed since the refresh started.
func TestConnectionTargetedUpdates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := &store.Connection{Name: "drive", Type: store.TypeGoogleDrive, Credentials: []byte("sealed-v1"), IsActive: true}
		mustNil(t, s.CreateConnection(ctx, c))
		// A backup read v1 and refreshes its token; meanwhile the user
		// renames the connection and makes it inactive.
		read, err := s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		edit := *read
		edit.Name, edit.IsActive = "drive-renamed", false
		mustNil(t, s.UpdateConnection(ctx, &edit))
		mustNil(t, s.SwapConnectionCredentials(ctx, c.ID, read.Credentials, []byte("sealed-v2")))
		mustNil(t, s.SetConnectionNeedsReauth(ctx, c.ID, true))
		got, err := s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		if got.Name != "drive-renamed" || got.IsActive || string(got.Credentials) != "sealed-v2" || !got.NeedsReauth {
			t.Fatalf("after the background writes: %+v; the user's edit must stay and the token and mark be written", got)
		}

		// The user saves new credentials (v3) while another refresh, which
		// started from v2, finishes: the user's credentials stay.
		edit2 := *got
		edit2.Credentials, edit2.NeedsReauth = []byte("sealed-v3"), false
		mustNil(t, s.UpdateConnection(ctx, &edit2))
		wantErr(t, s.SwapConnectionCredentials(ctx, c.ID, []byte("sealed-v2"), []byte("sealed-v2b")), store.ErrConflict)
		got, err = s.GetConnection(ctx, c.ID)
		mustNil(t, err)
		if string(got.Credentials) != "sealed-v3" || got.NeedsReauth {
			t.Fatalf("a stale refresh replaced the user's credentials: %+v", got)
		}
		mustNil(t, s.SetConnectionNeedsReauth(ctx, c.ID, false))

		wantErr(t, s.SwapConnectionCredentials(ctx, 9999, []byte("a"), []byte("b")), store.ErrNotFound)
		wantErr(t, s.SetConnectionNeedsReauth(ctx, 9999, true), store.ErrNotFound)
	})
}

func TestDeleteConnectionInUse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		// role says which reference the operation makes to the connection under test.
		type role int
		const (
			asSource role = iota
			asDestination
			asRestoreTarget
		)
		roles := map[role]string{asSource: "backup source", asDestination: "backup destination", asRestoreTarget: "restore target"}
		i := 0
		for r, rname := range roles {
			statuses := append([]string{}, store.ActiveStatuses...)
			statuses = append(statuses, store.StatusCompleted, store.StatusFailed, store.StatusCancelled)
			for _, status := range statuses {
				if r == asRestoreTarget && status == store.StatusPaused {
					continue
				}
				i++
				other := &store.Connection{Name: fmt.Sprintf("other-%d", i), Type: store.TypeLocal}
				target := &store.Connection{Name: fmt.Sprintf("target-%d", i), Type: store.TypeS3}
				mustNil(t, s.CreateConnection(ctx, other))
				mustNil(t, s.CreateConnection(ctx, target))
				var backupID, restoreID int64
				switch r {
				case asSource, asDestination:
					op := &store.BackupOperation{SourceConnectionID: target.ID, DestinationConnectionID: other.ID, Operation: store.Operation{Status: status}}
					if r == asDestination {
						op.SourceConnectionID, op.DestinationConnectionID = other.ID, target.ID
					}
					mustNil(t, s.CreateBackup(ctx, nil, op))
					backupID = op.ID
				case asRestoreTarget:
					b := &store.BackupOperation{SourceConnectionID: other.ID, DestinationConnectionID: other.ID, Operation: store.Operation{Status: store.StatusCompleted}}
					mustNil(t, s.CreateBackup(ctx, nil, b))
					op := &store.RestoreOperation{BackupOperationID: b.ID, DestinationConnectionID: target.ID, Operation: store.Operation{Status: status}}
					mustNil(t, s.CreateRestore(ctx, nil, op))
					restoreID = op.ID
				}
				err := s.DeleteConnection(ctx, target.ID)
				active := status == store.StatusPending || status == store.StatusRunning || status == store.StatusPaused
				if active {
					if !errors.Is(err, store.ErrConflict) {
						t.Fatalf("%s %s: DeleteConnection = %v, want ErrConflict", rname, status, err)
					}
					if _, err := s.GetConnection(ctx, target.ID); err != nil {
						t.Fatalf("%s %s: connection gone after refused delete: %v", rname, status, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s %s: DeleteConnection = %v, want success", rname, status, err)
				}
				// The finished operation stays, its reference now empty.
				if backupID != 0 {
					b, err := s.GetBackup(ctx, backupID)
					mustNil(t, err)
					if (r == asSource && b.SourceConnectionID != 0) || (r == asDestination && b.DestinationConnectionID != 0) {
						t.Fatalf("%s %s: backup still refers to the deleted connection: %+v", rname, status, b)
					}
				}
				if restoreID != 0 {
					rs, err := s.GetRestore(ctx, restoreID)
					mustNil(t, err)
					if rs.DestinationConnectionID != 0 {
						t.Fatalf("%s %s: restore still refers to the deleted connection", rname, status)
					}
				}
			}
		}
	})
}

func TestRotateCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var ids []int64
		for i, cred := range []string{"one", "two", ""} {
			c := &store.Connection{Name: fmt.Sprintf("c%d", i), Type: store.TypeLocal, Credentials: []byte(cred)}
			mustNil(t, s.CreateConnection(ctx, c))
			ids = append(ids, c.ID)
		}
		ch := &store.Channel{Name: "hook", Type: "webhook", Config: []byte("chan"), Enabled: true}
		mustNil(t, s.CreateChannel(ctx, ch))
		// A failure on the second one rolls back the first.
		calls := 0
		_, err := s.RotateCredentials(ctx, func(id int64, sealed []byte) ([]byte, error) {
			calls++
			if id == ids[1] {
				return nil, errors.New("boom")
			}
			return append([]byte("v2:"), sealed...), nil
		})
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("RotateCredentials error = %v, want boom", err)
		}
		if calls != 2 {
			t.Fatalf("reseal called %d times before failing, want 2", calls)
		}
		c0, err := s.GetConnection(ctx, ids[0])
		mustNil(t, err)
		if string(c0.Credentials) != "one" {
			t.Fatalf("failed rotation left %q", c0.Credentials)
		}
		n, err := s.RotateCredentials(ctx, func(id int64, sealed []byte) ([]byte, error) {
			return append([]byte("v2:"), sealed...), nil
		})
		mustNil(t, err)
		if n != 3 {
			t.Fatalf("RotateCredentials = %d, want 3 (two connections, empty credentials skipped, and a channel)", n)
		}
		got, err := s.GetChannel(ctx, ch.ID)
		mustNil(t, err)
		if string(got.Config) != "v2:chan" {
			t.Fatalf("channel configuration %q after rotation, want v2:chan", got.Config)
		}
		for i, want := range []string{"v2:one", "v2:two", ""} {
			c, err := s.GetConnection(ctx, ids[i])
			mustNil(t, err)
			if string(c.Credentials) != want {
				t.Fatalf("connection %d credentials %q, want %q", i, c.Credentials, want)
			}
		}
	})
}

func TestBackupsCreateGetUpdate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		// Created inside a caller's transaction; a rollback leaves nothing.
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID}
			if err := s.CreateBackup(ctx, tx, op); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatalf("InTx = %v", err)
		}
		_, total, err := s.ListBackups(ctx, store.BackupFilter{}, store.Page{})
		mustNil(t, err)
		if total != 0 {
			t.Fatalf("rolled-back backup is visible (total %d)", total)
		}

		op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
			Options: json.RawMessage(`{"compression":"zstd"}`)}
		mustNil(t, s.InTx(ctx, func(tx *sql.Tx) error { return s.CreateBackup(ctx, tx, op) }))
		if op.ID == 0 || op.Status != store.StatusPending || string(op.Metadata) != "{}" {
			t.Fatalf("CreateBackup = %+v", op)
		}
		got, err := s.GetBackup(ctx, op.ID)
		mustNil(t, err)
		if string(got.Options) != `{"compression":"zstd"}` || got.Checkpoint != nil || got.Progress != (store.Progress{}) ||
			!got.CreatedAt.Equal(op.CreatedAt) || got.StartedAt != nil {
			t.Fatalf("GetBackup = %+v", got)
		}
		_, err = s.GetBackup(ctx, op.ID+10)
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.CreateBackup(ctx, nil, &store.BackupOperation{SourceConnectionID: 9999, DestinationConnectionID: f.dst.ID}), store.ErrNotFound)
		if err := s.CreateBackup(ctx, nil, &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
			Options: json.RawMessage("{bad")}); err == nil {
			t.Fatal("CreateBackup accepted invalid JSON options")
		}

		// Every column round-trips.
		total64 := int64(42)
		started := time.Now().Add(-time.Hour)
		done := time.Now()
		full := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID,
			ArchivePath: "p/src/20300101T000000Z-1.tar.gz", ArchiveSize: 1 << 40, SHA256: strings.Repeat("ab", 32),
			Operation: store.Operation{Status: store.StatusCompleted, StartedAt: &started, CompletedAt: &done,
				Progress:   store.Progress{ItemsDone: 42, ItemsTotal: &total64, BytesRead: 10, BytesWritten: 7},
				Checkpoint: json.RawMessage(`{"last_key":"a/b","parts":[1,2]}`)}}
		mustNil(t, s.CreateBackup(ctx, nil, full))
		again, err := s.GetBackup(ctx, full.ID)
		mustNil(t, err)
		if again.Status != store.StatusCompleted || again.ArchivePath != full.ArchivePath || again.ArchiveSize != 1<<40 ||
			again.SHA256 != full.SHA256 || !again.StartedAt.Equal(started.Truncate(time.Microsecond)) ||
			!again.CompletedAt.Equal(done.Truncate(time.Microsecond)) || again.Progress.ItemsTotal == nil ||
			*again.Progress.ItemsTotal != 42 || again.Progress.BytesWritten != 7 ||
			string(again.Checkpoint) != `{"last_key":"a/b","parts":[1,2]}` || !again.UpdatedAt.Equal(full.UpdatedAt) {
			t.Fatalf("after CreateBackup: %+v", again)
		}
		shared, err := s.GetOperation(ctx, store.KindBackup, full.ID)
		mustNil(t, err)
		if !reflect.DeepEqual(*shared, again.Operation) {
			t.Fatalf("GetOperation = %+v, GetBackup has %+v", shared, again.Operation)
		}
		_, err = s.GetOperation(ctx, store.KindBackup, 9999)
		wantErr(t, err, store.ErrNotFound)
		if _, err := s.GetOperation(ctx, "snapshot", full.ID); err == nil {
			t.Fatal("GetOperation accepted an unknown kind")
		}
	})
}

func TestListBackupsFiltersAndPaging(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		third := &store.Connection{Name: "third", Type: store.TypeS3}
		mustNil(t, s.CreateConnection(ctx, third))
		var ids []int64
		for i := range 25 {
			op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID, Operation: store.Operation{Status: store.StatusCompleted}}
			if i%5 == 0 {
				op.Status = store.StatusFailed
				op.SourceConnectionID = third.ID
			}
			mustNil(t, s.CreateBackup(ctx, nil, op))
			ids = append(ids, op.ID)
		}
		cases := []struct {
			name      string
			filter    store.BackupFilter
			page      store.Page
			wantTotal int64
			wantFirst int64
			wantLen   int
		}{
			{"defaults", store.BackupFilter{}, store.Page{}, 25, ids[24], 20},
			{"page 2", store.BackupFilter{}, store.Page{Page: 2, PerPage: 20}, 25, ids[4], 5},
			{"past the end", store.BackupFilter{}, store.Page{Page: 9, PerPage: 10}, 25, 0, 0},
			{"per page capped", store.BackupFilter{}, store.Page{PerPage: 1000}, 25, ids[24], 25},
			{"status", store.BackupFilter{Status: store.StatusFailed}, store.Page{}, 5, ids[20], 5},
			{"source", store.BackupFilter{SourceID: third.ID}, store.Page{PerPage: 2}, 5, ids[20], 2},
			{"destination", store.BackupFilter{DestinationID: f.dst.ID}, store.Page{}, 25, ids[24], 20},
			{"destination none", store.BackupFilter{DestinationID: f.src.ID}, store.Page{}, 0, 0, 0},
			{"status and source", store.BackupFilter{Status: store.StatusCompleted, SourceID: f.src.ID}, store.Page{Page: 2, PerPage: 15}, 20, ids[6], 5},
		}
		for _, tc := range cases {
			got, total, err := s.ListBackups(ctx, tc.filter, tc.page)
			mustNil(t, err)
			if total != tc.wantTotal || len(got) != tc.wantLen {
				t.Errorf("%s: total %d len %d, want %d and %d", tc.name, total, len(got), tc.wantTotal, tc.wantLen)
				continue
			}
			if tc.wantLen > 0 && got[0].ID != tc.wantFirst {
				t.Errorf("%s: first id %d, want %d", tc.name, got[0].ID, tc.wantFirst)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID >= got[i-1].ID {
					t.Errorf("%s: not newest first at %d", tc.name, i)
				}
			}
		}
		counts, err := s.CountBackupsByStatus(ctx)
		mustNil(t, err)
		if counts[store.StatusCompleted] != 20 || counts[store.StatusFailed] != 5 || counts[store.StatusRunning] != 0 {
			t.Fatalf("CountBackupsByStatus = %v", counts)
		}
		if _, ok := counts[store.StatusPaused]; !ok {
			t.Fatalf("CountBackupsByStatus lacks zero statuses: %v", counts)
		}
	})
}

func TestBackupTransitionsAndActions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		op := f.backup(t, s, "")

		// Request pause while pending: allowed from pending/running.
		got, err := s.RequestAction(ctx, store.KindBackup, op.ID, store.RequestCancel, []string{store.StatusPending, store.StatusRunning})
		mustNil(t, err)
		if got.RequestedAction != store.RequestCancel {
			t.Fatalf("RequestAction = %+v", got)
		}
		_, err = s.RequestAction(ctx, store.KindBackup, op.ID, store.RequestPause, []string{store.StatusRunning})
		wantErr(t, err, store.ErrConflict)
		_, err = s.RequestAction(ctx, store.KindBackup, 9999, store.RequestPause, []string{store.StatusRunning})
		wantErr(t, err, store.ErrNotFound)
		if _, err := s.RequestAction(ctx, store.KindBackup, op.ID, "explode", []string{store.StatusPending}); err == nil {
			t.Fatal("RequestAction accepted an unknown action")
		}

		// pending -> running keeps the request (the worker must see it) and sets started_at.
		got, err = s.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusPending}, store.StatusRunning)
		mustNil(t, err)
		if got.Status != store.StatusRunning || got.StartedAt == nil || got.RequestedAction != store.RequestCancel || got.CompletedAt != nil {
			t.Fatalf("to running: %+v", got)
		}
		startedAt := *got.StartedAt
		_, err = s.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusPending}, store.StatusRunning)
		wantErr(t, err, store.ErrConflict)
		_, err = s.TransitionOperation(ctx, nil, store.KindBackup, 9999, []string{store.StatusPending}, store.StatusRunning)
		wantErr(t, err, store.ErrNotFound)

		// running -> paused clears the request; paused -> running keeps started_at.
		got, err = s.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusRunning}, store.StatusPaused)
		mustNil(t, err)
		if got.Status != store.StatusPaused || got.RequestedAction != store.RequestNone {
			t.Fatalf("to paused: %+v", got)
		}
		// In a transaction that rolls back, nothing changes.
		err = s.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := s.TransitionOperation(ctx, tx, store.KindBackup, op.ID, []string{store.StatusPaused}, store.StatusPending); err != nil {
				return err
			}
			return errors.New("undo")
		})
		if err == nil || err.Error() != "undo" {
			t.Fatalf("InTx = %v", err)
		}
		cur, err := s.GetBackup(ctx, op.ID)
		mustNil(t, err)
		if cur.Status != store.StatusPaused {
			t.Fatalf("rolled-back transition is visible: %s", cur.Status)
		}
		got, err = s.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusPaused}, store.StatusRunning)
		mustNil(t, err)
		if got.StartedAt == nil || !got.StartedAt.Equal(startedAt) {
			t.Fatalf("started_at changed on resume: %v vs %v", got.StartedAt, startedAt)
		}
		got, err = s.TransitionOperation(ctx, nil, store.KindBackup, op.ID, store.ActiveStatuses, store.StatusCompleted)
		mustNil(t, err)
		if got.CompletedAt == nil || got.Status != store.StatusCompleted {
			t.Fatalf("to completed: %+v", got)
		}
		_, err = s.RequestAction(ctx, store.KindBackup, op.ID, store.RequestCancel, store.ActiveStatuses)
		wantErr(t, err, store.ErrConflict)
	})
}

func TestRestores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b1 := f.backup(t, s, store.StatusCompleted)
		b2 := f.backup(t, s, store.StatusCompleted)
		cfg := json.RawMessage(`{"bucket":"restored","overwrite":true}`)
		r := &store.RestoreOperation{BackupOperationID: b1.ID, DestinationConnectionID: f.src.ID, DestinationConfig: cfg}
		mustNil(t, s.InTx(ctx, func(tx *sql.Tx) error { return s.CreateRestore(ctx, tx, r) }))
		if r.ID == 0 || r.Status != store.StatusPending {
			t.Fatalf("CreateRestore = %+v", r)
		}
		wantErr(t, s.CreateRestore(ctx, nil, &store.RestoreOperation{BackupOperationID: 9999, DestinationConnectionID: f.src.ID}), store.ErrNotFound)
		got, err := s.GetRestore(ctx, r.ID)
		mustNil(t, err)
		if string(got.DestinationConfig) != string(cfg) || got.BackupOperationID != b1.ID || !got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("GetRestore = %+v", got)
		}
		_, err = s.GetRestore(ctx, 9999)
		wantErr(t, err, store.ErrNotFound)

		for range 3 {
			f.restore(t, s, b2.ID, store.StatusFailed)
		}
		list, total, err := s.ListRestores(ctx, store.RestoreFilter{BackupID: b2.ID}, store.Page{PerPage: 2})
		mustNil(t, err)
		if total != 3 || len(list) != 2 || list[0].ID < list[1].ID {
			t.Fatalf("ListRestores by backup: total %d %+v", total, list)
		}
		list, total, err = s.ListRestores(ctx, store.RestoreFilter{Status: store.StatusPending, DestinationID: f.src.ID}, store.Page{})
		mustNil(t, err)
		if total != 1 || len(list) != 1 || list[0].ID != r.ID {
			t.Fatalf("ListRestores by status: total %d %+v", total, list)
		}
		counts, err := s.CountRestoresByStatus(ctx)
		mustNil(t, err)
		if counts[store.StatusFailed] != 3 || counts[store.StatusPending] != 1 {
			t.Fatalf("CountRestoresByStatus = %v", counts)
		}

		shared, err := s.RequestAction(ctx, store.KindRestore, r.ID, store.RequestCancel, []string{store.StatusPending, store.StatusRunning})
		mustNil(t, err)
		if shared.RequestedAction != store.RequestCancel {
			t.Fatalf("RequestAction = %+v", shared)
		}
		_, err = s.RequestAction(ctx, store.KindRestore, r.ID, store.RequestCancel, []string{store.StatusRunning})
		wantErr(t, err, store.ErrConflict)
		_, err = s.RequestAction(ctx, store.KindRestore, 9999, store.RequestCancel, []string{store.StatusRunning})
		wantErr(t, err, store.ErrNotFound)
		shared, err = s.TransitionOperation(ctx, nil, store.KindRestore, r.ID, []string{store.StatusPending}, store.StatusCancelled)
		mustNil(t, err)
		if shared.Status != store.StatusCancelled || shared.CompletedAt == nil || shared.RequestedAction != "" {
			t.Fatalf("TransitionOperation = %+v", shared)
		}
		_, err = s.TransitionOperation(ctx, nil, store.KindRestore, r.ID, []string{store.StatusPending}, store.StatusRunning)
		wantErr(t, err, store.ErrConflict)
		_, err = s.TransitionOperation(ctx, nil, store.KindRestore, 9999, []string{store.StatusPending}, store.StatusRunning)
		wantErr(t, err, store.ErrNotFound)
	})
}

// TestEndOfRunWritesOnlyItsOwnFields checks the targeted, lease-fenced
// writes that end a worker's run. The engine once read a row, changed a
// field and wrote every column back, so a worker that had lost its lease
// could turn another worker's running backup into a failed one and put its
// old checkpoint back, and a request made meanwhile could be undone.
func TestEndOfRunWritesOnlyItsOwnFields(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		now := time.Now()
		running := func() (*store.BackupOperation, int64) {
			t.Helper()
			b := f.backup(t, s, store.StatusRunning)
			tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w1", now, time.Minute)
			mustNil(t, err)
			mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 3}, []byte(`{"by":"w1"}`), nil, nil, nil))
			return b, tok
		}

		// A worker that lost its lease writes nothing, whatever it reports.
		b, tok1 := running()
		tok2, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w2", now.Add(2*time.Minute), time.Minute)
		mustNil(t, err)
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok2, store.Progress{ItemsDone: 7}, []byte(`{"by":"w2"}`), nil, nil, nil))
		wantErr(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok1, store.RunEnd{Status: store.StatusFailed, ErrorMessage: "w1 broke"}), store.ErrLeaseLost)
		wantErr(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok1, store.RunEnd{Status: store.StatusPaused}), store.ErrLeaseLost)
		wantErr(t, s.CompleteBackup(ctx, b.ID, tok1, store.BackupResult{ArchivePath: "w1.tar.gz"}), store.ErrLeaseLost)
		got, err := s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Status != store.StatusRunning || got.ErrorMessage != "" || got.ArchivePath != "" || got.LeaseOwner != "w2" ||
			string(got.Checkpoint) != `{"by":"w2"}` || got.Progress.ItemsDone != 7 || got.CompletedAt != nil {
			t.Fatalf("a fenced-out worker changed the backup: %+v", got)
		}

		// The holder completes it: the archive and progress are written, the
		// checkpoint and options stay, the pending request and old error go.
		_, err = s.RequestAction(ctx, store.KindBackup, b.ID, store.RequestPause, []string{store.StatusRunning})
		mustNil(t, err)
		res := store.BackupResult{ArchivePath: "src/x-1.tar.gz", ArchiveSize: 99, SHA256: strings.Repeat("cd", 32),
			Progress: store.Progress{ItemsDone: 8, BytesRead: 800, BytesWritten: 99}}
		mustNil(t, s.CompleteBackup(ctx, b.ID, tok2, res))
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Status != store.StatusCompleted || got.ArchivePath != res.ArchivePath || got.ArchiveSize != 99 || got.SHA256 != res.SHA256 ||
			got.Progress != res.Progress || got.CompletedAt == nil || got.RequestedAction != "" || string(got.Options) != "{}" ||
			string(got.Checkpoint) != `{"by":"w2"}` {
			t.Fatalf("after CompleteBackup: %+v", got)
		}
		// Finished is finished: a second end is a conflict, not a change.
		wantErr(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok2, store.RunEnd{Status: store.StatusFailed, ErrorMessage: "late"}), store.ErrConflict)
		wantErr(t, s.CompleteBackup(ctx, b.ID, tok2, res), store.ErrConflict)

		// A request made while the worker runs survives its progress and
		// checkpoint writes; the end of the run clears it.
		b, tok := running()
		_, err = s.RequestAction(ctx, store.KindBackup, b.ID, store.RequestCancel, []string{store.StatusRunning})
		mustNil(t, err)
		mustNil(t, s.SaveProgress(ctx, store.KindBackup, b.ID, tok, store.Progress{ItemsDone: 4}))
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 5}, []byte(`{"n":5}`), nil, nil, nil))
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.RequestedAction != store.RequestCancel {
			t.Fatalf("the cancel request was lost: %+v", got)
		}
		mustNil(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok, store.RunEnd{Status: store.StatusFailed, ErrorMessage: "disk full"}))
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Status != store.StatusFailed || got.ErrorMessage != "disk full" || got.RequestedAction != "" || got.CompletedAt == nil ||
			got.Progress.ItemsDone != 5 || string(got.Checkpoint) != `{"n":5}` {
			t.Fatalf("after FinishRun(failed): %+v", got)
		}
		// Cancelling the failed backup clears its error.
		shared, err := s.TransitionOperation(ctx, nil, store.KindBackup, b.ID, []string{store.StatusFailed}, store.StatusCancelled)
		mustNil(t, err)
		if shared.Status != store.StatusCancelled || shared.ErrorMessage != "" {
			t.Fatalf("failed -> cancelled: %+v", shared)
		}

		// Paused: not final, so no end time, and no error message written.
		b, tok = running()
		mustNil(t, s.FinishRun(ctx, store.KindBackup, b.ID, tok, store.RunEnd{Status: store.StatusPaused, ErrorMessage: "ignored"}))
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Status != store.StatusPaused || got.CompletedAt != nil || got.ErrorMessage != "" {
			t.Fatalf("after FinishRun(paused): %+v", got)
		}

		// Restores: progress is written when given; a restore cannot pause.
		r := f.restore(t, s, b.ID, store.StatusRunning)
		rt, err := s.AcquireLease(ctx, store.KindRestore, r.ID, "w1", now, time.Minute)
		mustNil(t, err)
		if err := s.FinishRun(ctx, store.KindRestore, r.ID, rt, store.RunEnd{Status: store.StatusPaused}); err == nil {
			t.Fatal("FinishRun paused a restore")
		}
		if err := s.FinishRun(ctx, store.KindRestore, r.ID, rt, store.RunEnd{Status: store.StatusRunning}); err == nil {
			t.Fatal("FinishRun accepted running as an end")
		}
		mustNil(t, s.FinishRun(ctx, store.KindRestore, r.ID, rt, store.RunEnd{Status: store.StatusPending}))
		_, err = s.TransitionOperation(ctx, nil, store.KindRestore, r.ID, []string{store.StatusPending}, store.StatusRunning)
		mustNil(t, err)
		mustNil(t, s.FinishRun(ctx, store.KindRestore, r.ID, rt, store.RunEnd{Status: store.StatusCompleted, Progress: &store.Progress{ItemsDone: 12}}))
		rs, err := s.GetRestore(ctx, r.ID)
		mustNil(t, err)
		if rs.Status != store.StatusCompleted || rs.Progress.ItemsDone != 12 || rs.CompletedAt == nil || rs.StartedAt == nil {
			t.Fatalf("after FinishRun(completed): %+v", rs)
		}
		wantErr(t, s.FinishRun(ctx, store.KindRestore, 9999, rt, store.RunEnd{Status: store.StatusFailed}), store.ErrNotFound)
	})
}

func TestLeases(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusRunning)
		r := f.restore(t, s, b.ID, store.StatusRunning)
		const stale = 30 * time.Second
		t0 := time.Now()
		for _, tc := range []struct {
			kind string
			id   int64
		}{{store.KindBackup, b.ID}, {store.KindRestore, r.ID}} {
			tok1, err := s.AcquireLease(ctx, tc.kind, tc.id, "worker-a", t0, stale)
			mustNil(t, err)
			if tok1 != 1 {
				t.Fatalf("%s: first token %d, want 1", tc.kind, tok1)
			}
			// A second owner is refused while the heartbeat is fresh.
			_, err = s.AcquireLease(ctx, tc.kind, tc.id, "worker-b", t0.Add(10*time.Second), stale)
			wantErr(t, err, store.ErrLeaseLost)
			_, err = s.AcquireLease(ctx, tc.kind, 9999, "worker-b", t0, stale)
			wantErr(t, err, store.ErrNotFound)
			mustNil(t, s.Heartbeat(ctx, tc.kind, tc.id, tok1, t0.Add(20*time.Second)))
			mustNil(t, s.SaveProgress(ctx, tc.kind, tc.id, tok1, store.Progress{ItemsDone: 1}))
			// Renewed at t0+20s, so t0+40s is still fresh.
			_, err = s.AcquireLease(ctx, tc.kind, tc.id, "worker-b", t0.Add(40*time.Second), stale)
			wantErr(t, err, store.ErrLeaseLost)
			ids, err := s.StaleOperations(ctx, tc.kind, t0.Add(10*time.Second))
			mustNil(t, err)
			if len(ids) != 0 {
				t.Fatalf("%s: fresh lease listed stale: %v", tc.kind, ids)
			}
			ids, err = s.StaleOperations(ctx, tc.kind, t0.Add(21*time.Second))
			mustNil(t, err)
			if len(ids) != 1 || ids[0] != tc.id {
				t.Fatalf("%s: StaleOperations = %v, want [%d]", tc.kind, ids, tc.id)
			}
			// Stale: worker-b takes it and the token grows.
			tok2, err := s.AcquireLease(ctx, tc.kind, tc.id, "worker-b", t0.Add(51*time.Second), stale)
			mustNil(t, err)
			if tok2 <= tok1 {
				t.Fatalf("%s: token did not grow: %d then %d", tc.kind, tok1, tok2)
			}
			// The old holder is fenced out everywhere.
			wantErr(t, s.Heartbeat(ctx, tc.kind, tc.id, tok1, t0.Add(52*time.Second)), store.ErrLeaseLost)
			wantErr(t, s.SaveProgress(ctx, tc.kind, tc.id, tok1, store.Progress{ItemsDone: 99}), store.ErrLeaseLost)
			wantErr(t, s.ReleaseLease(ctx, tc.kind, tc.id, tok1), store.ErrLeaseLost)
			wantErr(t, s.Heartbeat(ctx, tc.kind, 9999, tok1, t0), store.ErrNotFound)
			// The same owner may re-acquire (e.g. after a restart with the same id).
			tok3, err := s.AcquireLease(ctx, tc.kind, tc.id, "worker-b", t0.Add(53*time.Second), stale)
			mustNil(t, err)
			if tok3 != tok2+1 {
				t.Fatalf("%s: re-acquire token %d, want %d", tc.kind, tok3, tok2+1)
			}
			mustNil(t, s.ReleaseLease(ctx, tc.kind, tc.id, tok3))
			wantErr(t, s.Heartbeat(ctx, tc.kind, tc.id, tok3, t0.Add(54*time.Second)), store.ErrLeaseLost)
			// Released: anyone takes it at once.
			tok4, err := s.AcquireLease(ctx, tc.kind, tc.id, "worker-c", t0.Add(55*time.Second), stale)
			mustNil(t, err)
			if tok4 != tok3+1 {
				t.Fatalf("%s: token after release %d, want %d", tc.kind, tok4, tok3+1)
			}
		}
		got, err := s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.LeaseOwner != "worker-c" || got.LeaseToken != 4 || got.HeartbeatAt == nil ||
			!got.HeartbeatAt.Equal(t0.Add(55*time.Second).Truncate(time.Microsecond)) || got.Progress.ItemsDone != 1 {
			t.Fatalf("backup lease fields: %+v", got)
		}
		if _, err := s.AcquireLease(ctx, "snapshot", b.ID, "w", t0, stale); err == nil {
			t.Fatal("AcquireLease accepted an unknown kind")
		}
	})
}

func TestCheckpointsAndArchiveEntries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusRunning)
		now := time.Now()
		tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w1", now, time.Minute)
		mustNil(t, err)

		entries := func(from, to int) []store.ArchiveEntry {
			var out []store.ArchiveEntry
			for i := from; i < to; i++ {
				out = append(out, store.ArchiveEntry{Seq: int64(i), Data: json.RawMessage(fmt.Sprintf(`{"name":"objects/k%04d","size":%d}`, i, i))})
			}
			return out
		}
		// More than one insert batch.
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 450}, []byte(`{"after":"k0449"}`), nil, nil, entries(0, 450)))
		got, err := s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Progress.ItemsDone != 450 || string(got.Checkpoint) != `{"after":"k0449"}` {
			t.Fatalf("after checkpoint: %+v", got)
		}
		// Paging through the entries.
		var all []store.ArchiveEntry
		after := int64(-1)
		for {
			page, err := s.ListArchiveEntries(ctx, b.ID, after, 100)
			mustNil(t, err)
			if len(page) == 0 {
				break
			}
			if len(page) > 100 {
				t.Fatalf("page of %d entries, limit 100", len(page))
			}
			all = append(all, page...)
			after = page[len(page)-1].Seq
		}
		if len(all) != 450 {
			t.Fatalf("paged %d entries, want 450", len(all))
		}
		for i, e := range all {
			if e.Seq != int64(i) || e.BackupID != b.ID || string(e.Data) != fmt.Sprintf(`{"name":"objects/k%04d","size":%d}`, i, i) {
				t.Fatalf("entry %d = %+v", i, e)
			}
		}
		// Replaying a checkpoint overwrites entries with the same seq.
		replay := []store.ArchiveEntry{{Seq: 449, Data: json.RawMessage(`{"name":"again"}`)}, {Seq: 450, Data: json.RawMessage(`{"name":"new"}`)}}
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 451}, []byte(`{"after":"k0450"}`), nil, nil, replay))
		tail, err := s.ListArchiveEntries(ctx, b.ID, 448, 0)
		mustNil(t, err)
		if len(tail) != 2 || string(tail[0].Data) != `{"name":"again"}` || string(tail[1].Data) != `{"name":"new"}` {
			t.Fatalf("tail after replay: %+v", tail)
		}
		// Going back to an older checkpoint drops later entries.
		mustNil(t, s.DeleteArchiveEntriesFrom(ctx, b.ID, 400))
		tail, err = s.ListArchiveEntries(ctx, b.ID, 390, 0)
		mustNil(t, err)
		if len(tail) != 9 || tail[8].Seq != 399 {
			t.Fatalf("after DeleteArchiveEntriesFrom: %d entries, last %+v", len(tail), tail[len(tail)-1])
		}

		// Another worker takes the lease: the old token writes nothing at all.
		tok2, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w2", now.Add(2*time.Minute), time.Minute)
		mustNil(t, err)
		err = s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 999}, []byte(`{"after":"zzz"}`), nil, nil, entries(400, 410))
		wantErr(t, err, store.ErrLeaseLost)
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Progress.ItemsDone != 451 || string(got.Checkpoint) != `{"after":"k0450"}` {
			t.Fatalf("fenced checkpoint was written: %+v", got)
		}
		tail, err = s.ListArchiveEntries(ctx, b.ID, 399, 0)
		mustNil(t, err)
		if len(tail) != 0 {
			t.Fatalf("fenced checkpoint stored %d entries", len(tail))
		}
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok2, store.Progress{ItemsDone: 410}, nil, nil, nil, entries(400, 410)))
		got, err = s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if got.Checkpoint != nil || got.Progress.ItemsDone != 410 {
			t.Fatalf("nil checkpoint not stored as NULL: %+v", got)
		}
		wantErr(t, s.SaveBackupCheckpoint(ctx, 9999, tok2, store.Progress{}, nil, nil, nil, nil), store.ErrNotFound)
		if err := s.SaveBackupCheckpoint(ctx, b.ID, tok2, store.Progress{}, []byte("not json"), nil, nil, nil); err == nil {
			t.Fatal("SaveBackupCheckpoint accepted a non-JSON checkpoint")
		}

		// Restores.
		r := f.restore(t, s, b.ID, store.StatusRunning)
		rt, err := s.AcquireLease(ctx, store.KindRestore, r.ID, "w1", now, time.Minute)
		mustNil(t, err)
		mustNil(t, s.SaveCheckpoint(ctx, store.KindRestore, r.ID, rt, store.Progress{ItemsDone: 5}, []byte(`{"seq":4}`)))
		rs, err := s.GetRestore(ctx, r.ID)
		mustNil(t, err)
		if rs.Progress.ItemsDone != 5 || string(rs.Checkpoint) != `{"seq":4}` {
			t.Fatalf("restore checkpoint: %+v", rs)
		}
		wantErr(t, s.SaveCheckpoint(ctx, store.KindRestore, r.ID, rt+1, store.Progress{ItemsDone: 6}, nil), store.ErrLeaseLost)
	})
}

func TestLogs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		old := time.Now().Add(-40 * 24 * time.Hour)
		var ids []int64
		for i := range 12 {
			l := &store.JobLog{OperationKind: store.KindBackup, OperationID: 7, Level: store.LevelInfo, Message: fmt.Sprintf("line %d", i)}
			if i < 3 {
				l.CreatedAt = old
			}
			if i == 5 {
				l.Level, l.Context = store.LevelWarning, json.RawMessage(`{"key":"a/b"}`)
			}
			mustNil(t, s.AppendLog(ctx, l))
			if l.ID == 0 || l.CreatedAt.IsZero() {
				t.Fatalf("AppendLog did not fill fields: %+v", l)
			}
			ids = append(ids, l.ID)
		}
		// Other operations' lines never show up.
		mustNil(t, s.AppendLog(ctx, &store.JobLog{OperationKind: store.KindRestore, OperationID: 7, Level: store.LevelError, Message: "restore"}))
		mustNil(t, s.AppendLog(ctx, &store.JobLog{OperationKind: store.KindBackup, OperationID: 8, Level: store.LevelInfo, Message: "other"}))
		if err := s.AppendLog(ctx, &store.JobLog{OperationKind: store.KindBackup, OperationID: 7, Level: "debug", Message: "x"}); err == nil {
			t.Fatal("AppendLog accepted an unknown level")
		}

		got, err := s.ListLogs(ctx, store.KindBackup, 7, 0, 0)
		mustNil(t, err)
		if len(got) != 12 {
			t.Fatalf("ListLogs returned %d lines, want 12", len(got))
		}
		for i, l := range got {
			if l.ID != ids[i] || l.Message != fmt.Sprintf("line %d", i) {
				t.Fatalf("line %d = %+v", i, l)
			}
		}
		if got[5].Level != store.LevelWarning || string(got[5].Context) != `{"key":"a/b"}` || got[4].Context != nil {
			t.Fatalf("level/context did not round-trip: %+v %+v", got[5], got[4])
		}
		if !got[0].CreatedAt.Equal(old.Truncate(time.Microsecond)) {
			t.Fatalf("CreatedAt = %v, want %v", got[0].CreatedAt, old)
		}
		page, err := s.ListLogs(ctx, store.KindBackup, 7, ids[3], 4)
		mustNil(t, err)
		if len(page) != 4 || page[0].ID != ids[4] || page[3].ID != ids[7] {
			t.Fatalf("ListLogs after/limit = %+v", page)
		}
		restoreLogs, err := s.ListLogs(ctx, store.KindRestore, 7, 0, 10)
		mustNil(t, err)
		if len(restoreLogs) != 1 || restoreLogs[0].Message != "restore" {
			t.Fatalf("restore logs = %+v", restoreLogs)
		}

		n, err := s.DeleteLogsBefore(ctx, time.Now().Add(-30*24*time.Hour))
		mustNil(t, err)
		if n != 3 {
			t.Fatalf("DeleteLogsBefore = %d, want 3", n)
		}
		got, err = s.ListLogs(ctx, store.KindBackup, 7, 0, 100)
		mustNil(t, err)
		if len(got) != 9 || got[0].ID != ids[3] {
			t.Fatalf("after DeleteLogsBefore: %d lines, first %+v", len(got), got[0])
		}
	})
}

func TestAudit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		actor := int64(3)
		base := time.Now().Add(-time.Hour)
		events := []store.AuditEvent{
			{ActorID: &actor, ActorEmail: "a@x", Action: "connection.create", TargetType: "connection", TargetID: "1", IP: "10.0.0.1",
				Details: json.RawMessage(`{"name":"prod"}`), CreatedAt: base},
			{ActorID: &actor, ActorEmail: "a@x", Action: "backup.pause", TargetType: "backup", TargetID: "9", CreatedAt: base.Add(time.Minute)},
			{Action: "auth.login_failed", ActorEmail: "who@x", IP: "10.0.0.2", CreatedAt: base.Add(2 * time.Minute)},
			{ActorID: &actor, Action: "connection.delete", TargetType: "connection", TargetID: "1"},
		}
		for i := range events {
			mustNil(t, s.AppendAudit(ctx, &events[i]))
			if events[i].ID == 0 {
				t.Fatal("AppendAudit did not set ID")
			}
		}
		since := base.Add(time.Minute)
		cases := []struct {
			name    string
			filter  store.AuditFilter
			page    store.Page
			want    []int // indexes into events, newest first
			wantTot int64
		}{
			{"all", store.AuditFilter{}, store.Page{}, []int{3, 2, 1, 0}, 4},
			{"paged", store.AuditFilter{}, store.Page{Page: 2, PerPage: 3}, []int{0}, 4},
			{"actor", store.AuditFilter{ActorID: actor}, store.Page{}, []int{3, 1, 0}, 3},
			{"action", store.AuditFilter{Action: "auth.login_failed"}, store.Page{}, []int{2}, 1},
			{"target type", store.AuditFilter{TargetType: "connection"}, store.Page{}, []int{3, 0}, 2},
			{"since", store.AuditFilter{Since: &since}, store.Page{}, []int{3, 2, 1}, 3},
			{"combined", store.AuditFilter{ActorID: actor, TargetType: "connection", Since: &since}, store.Page{}, []int{3}, 1},
		}
		for _, tc := range cases {
			got, total, err := s.ListAudit(ctx, tc.filter, tc.page)
			mustNil(t, err)
			if total != tc.wantTot || len(got) != len(tc.want) {
				t.Errorf("%s: total %d len %d, want %d and %d", tc.name, total, len(got), tc.wantTot, len(tc.want))
				continue
			}
			for i, idx := range tc.want {
				if got[i].ID != events[idx].ID {
					t.Errorf("%s: item %d is %d (%s), want %d", tc.name, i, got[i].ID, got[i].Action, events[idx].ID)
				}
			}
		}
		got, _, err := s.ListAudit(ctx, store.AuditFilter{Action: "connection.create"}, store.Page{})
		mustNil(t, err)
		e := got[0]
		if e.ActorID == nil || *e.ActorID != actor || e.ActorEmail != "a@x" || e.IP != "10.0.0.1" || string(e.Details) != `{"name":"prod"}` ||
			!e.CreatedAt.Equal(base.Truncate(time.Microsecond)) {
			t.Fatalf("audit event did not round-trip: %+v", e)
		}
		got, _, err = s.ListAudit(ctx, store.AuditFilter{Action: "auth.login_failed"}, store.Page{})
		mustNil(t, err)
		if got[0].ActorID != nil || got[0].Details != nil {
			t.Fatalf("NULL actor/details did not round-trip: %+v", got[0])
		}
	})
}

func TestInTxPanicRollsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic was swallowed")
				}
			}()
			_ = s.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "DELETE FROM users"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		// The pool still works (the transaction and its connection were released).
		ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		mustNil(t, s.CreateUser(ctx2, &store.User{Email: "after@panic", PasswordHash: "h", Role: store.RoleViewer}))
	})
}

func TestConcurrentLeaseAndWrites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusRunning)
		const workers = 8
		now := time.Now()
		var wg sync.WaitGroup
		tokens := make([]int64, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tokens[i], errs[i] = s.AcquireLease(ctx, store.KindBackup, b.ID, fmt.Sprintf("w%d", i), now, time.Minute)
			}()
		}
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				if tokens[i] != 1 {
					t.Errorf("winner token %d, want 1", tokens[i])
				}
			case !errors.Is(err, store.ErrLeaseLost):
				t.Errorf("worker %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d workers acquired the lease, want exactly 1", winners)
		}

		// Many writers at once: logs, checkpoints, transitions all succeed
		// (no SQLITE_BUSY) and nothing is lost.
		const perWorker = 40
		errCh := make(chan error, workers*perWorker)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					l := &store.JobLog{OperationKind: store.KindBackup, OperationID: b.ID, Level: store.LevelInfo, Message: fmt.Sprintf("w%d-%d", w, i)}
					if err := s.AppendLog(ctx, l); err != nil {
						errCh <- err
						return
					}
					err := s.InTx(ctx, func(tx *sql.Tx) error {
						op := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID}
						if err := s.CreateBackup(ctx, tx, op); err != nil {
							return err
						}
						_, err := s.TransitionOperation(ctx, tx, store.KindBackup, op.ID, []string{store.StatusPending}, store.StatusRunning)
						return err
					})
					if err != nil {
						errCh <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errCh)
		for err := range errCh {
			t.Fatalf("concurrent write: %v", err)
		}
		logs, err := s.ListLogs(ctx, store.KindBackup, b.ID, 0, store.MaxLogLimit)
		mustNil(t, err)
		if len(logs) != workers*perWorker {
			t.Fatalf("%d log lines, want %d", len(logs), workers*perWorker)
		}
		counts, err := s.CountBackupsByStatus(ctx)
		mustNil(t, err)
		if counts[store.StatusRunning] != workers*perWorker+1 {
			t.Fatalf("running backups = %d, want %d", counts[store.StatusRunning], workers*perWorker+1)
		}
	})
}

func TestCheckpointTail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusRunning)
		tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w1", time.Now(), time.Minute)
		mustNil(t, err)
		tail := make([]byte, 3<<20)
		for i := range tail {
			tail[i] = byte(i * 7)
		}
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 1}, []byte(`{"v":1}`), tail, nil, nil))
		got, err := s.BackupCheckpointTail(ctx, b.ID)
		mustNil(t, err)
		if !bytes.Equal(got, tail) {
			t.Fatalf("tail: %d bytes back, %d saved, equal=%v", len(got), len(tail), bytes.Equal(got, tail))
		}
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 2}, []byte(`{"v":2}`), nil, nil, nil))
		got, err = s.BackupCheckpointTail(ctx, b.ID)
		mustNil(t, err)
		if len(got) != 0 {
			t.Fatalf("tail after a checkpoint without one: %d bytes", len(got))
		}
		_, err = s.BackupCheckpointTail(ctx, 99999)
		wantErr(t, err, store.ErrNotFound)
	})
}
