package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/store"
)

// firstAdminStore is what bootstrapAdmin needs of the catalog.
type firstAdminStore interface {
	CountUsers(ctx context.Context) (int64, error)
	CreateUser(ctx context.Context, u *store.User) error
}

// bootstrapAdmin creates the first admin from COFFER_ADMIN_EMAIL when no user
// exists, with COFFER_ADMIN_PASSWORD or a generated password that it prints once.
func bootstrapAdmin(ctx context.Context, st firstAdminStore, set config.Config, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	if set.AdminEmail == "" {
		fmt.Fprintln(stdout, "No user exists yet. Set COFFER_ADMIN_EMAIL (and optionally COFFER_ADMIN_PASSWORD) and restart, or run: coffer users create --email you@example.com --role admin")
		return nil
	}
	pw, generated := set.AdminPassword, false
	if pw == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	u := &store.User{Email: strings.ToLower(strings.TrimSpace(set.AdminEmail)), PasswordHash: hash, Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stdout, "First admin created. Log in at %s with\n  email:    %s\n  password: %s\n(generated; it is shown only this once)\n", set.PublicURL, u.Email, pw)
	} else {
		fmt.Fprintf(stdout, "First admin created: %s (password from COFFER_ADMIN_PASSWORD). Log in at %s\n", u.Email, set.PublicURL)
	}
	return nil
}
