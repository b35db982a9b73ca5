package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestResetPasswordOpensBreakGlass: `coffer users reset-password` lets the
// new password sign in for an hour even where COFFER_LOCAL_LOGIN is false.
func TestResetPasswordOpensBreakGlass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := runUsers(t, dir, "first-admin-pw\n", "create", "--email", "root@example.com", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	st, err := openCatalogForTest(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, err := st.GetUserByEmail(ctx, "root@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if until, err := st.PasswordLoginUntil(ctx, root.ID); err != nil || until != nil {
		t.Fatalf("a created user has a break-glass window: %v %v", until, err)
	}
	before := time.Now()
	out, err := runUsers(t, dir, "break-glass-password\n", "reset-password", "--email", "root@example.com")
	if err != nil || !strings.Contains(out, "break-glass") || !strings.Contains(out, "/login?local=1") {
		t.Fatalf("reset: %v %s", err, out)
	}
	until, err := st.PasswordLoginUntil(ctx, root.ID)
	if err != nil || until == nil {
		t.Fatalf("no break-glass window: %v", err)
	}
	if d := until.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("the window ends %s after the reset, want an hour", d)
	}
	if !strings.Contains(out, until.Format(time.RFC3339)) {
		t.Fatalf("the output does not say when the window ends:\n%s", out)
	}
}
