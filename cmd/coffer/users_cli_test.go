package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/app"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/store"
)

// runUsers runs `coffer users <args>` against the SQLite catalog in dir.
func runUsers(t *testing.T, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{args[0], "-data-dir", dir}, args[1:]...)
	err := cmdUsers(context.Background(), full, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUsersCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := runUsers(t, dir, "first-admin-pw\n", "create", "--email", "Root@Example.com", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := runUsers(t, dir, "operator-pw-1\n", "create", "--email", "op@example.com", "--role", "operator"); err != nil {
		t.Fatal(err)
	}
	out, err := runUsers(t, dir, "", "list")
	if err != nil || !strings.Contains(out, "root@example.com") || !strings.Contains(out, "operator") || strings.Count(out, "active") != 2 {
		t.Fatalf("list: %v\n%s", err, out)
	}

	// The last active admin cannot be disabled.
	if out, err := runUsers(t, dir, "", "disable", "--email", "root@example.com"); err == nil || !strings.Contains(err.Error(), "last active administrator") {
		t.Fatalf("disabling the last admin: %v %s", err, out)
	}
	if _, err := runUsers(t, dir, "", "disable", "--email", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("unknown user: %v", err)
	}

	// Disabling ends the user's sessions.
	st, err := openCatalogForTest(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op, err := st.GetUserByEmail(ctx, "op@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sess := &store.Session{TokenHash: auth.HashToken("cli-test-session"), UserID: op.ID}
	sess.CreatedAt = op.CreatedAt
	sess.LastSeenAt = op.CreatedAt
	sess.ExpiresAt = op.CreatedAt.Add(1 << 40)
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if out, err := runUsers(t, dir, "", "disable", "--email", "OP@example.com"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %v %s", err, out)
	}
	if u, _ := st.GetUserByEmail(ctx, "op@example.com"); u == nil || !u.Disabled {
		t.Fatalf("user not disabled: %+v", u)
	}
	if _, err := st.GetSessionByTokenHash(ctx, sess.TokenHash, op.CreatedAt); err == nil {
		t.Fatal("the disabled user's session still exists")
	}
	if out, _ := runUsers(t, dir, "", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("list after disable:\n%s", out)
	}

	// Reset: the password comes from stdin, must be long enough, and replaces the old one.
	if _, err := runUsers(t, dir, "short\n", "reset-password", "--email", "root@example.com"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if out, err := runUsers(t, dir, "brand-new-password\n", "reset-password", "--email", "root@example.com"); err != nil || strings.Contains(out, "brand-new-password") {
		t.Fatalf("reset: %v %s", err, out)
	}
	root, err := st.GetUserByEmail(ctx, "root@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(root.PasswordHash, "brand-new-password"); !ok {
		t.Fatal("the new password does not verify")
	}
	if ok, _ := auth.VerifyPassword(root.PasswordHash, "first-admin-pw"); ok {
		t.Fatal("the old password still verifies")
	}
	events, _, err := st.ListAudit(ctx, store.AuditFilter{}, store.Page{Page: 1, PerPage: 10})
	if err != nil || len(events) != 2 || events[0].Action != "user.password_reset" || events[1].Action != "user.disable" {
		t.Fatalf("audit %v %+v", err, events)
	}

	if _, err := runUsers(t, dir, "", "frobnicate"); err == nil || !strings.Contains(err.Error(), "reset-password") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

func openCatalogForTest(t *testing.T, dir string) (*store.Store, error) {
	t.Helper()
	cfg, _, err := loadConfig("test", []string{"-data-dir", dir}, &bytes.Buffer{}, nil)
	if err != nil {
		return nil, err
	}
	st, err := app.OpenCatalog(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	return st, nil
}
