package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

const issuer = "https://id.example.com"

func TestIdentities(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		local := &store.User{Email: "Local@Example.com", PasswordHash: "h", Role: store.RoleAdmin}
		mustNil(t, s.CreateUser(ctx, local))

		// A new user with an identity, in one go; no password.
		u := &store.User{Email: " SSO@example.com", Role: store.RoleViewer}
		mustNil(t, s.CreateUserWithIdentity(ctx, u, issuer, "sub-1"))
		if u.ID == 0 || u.Email != "sso@example.com" || u.CreatedAt.IsZero() {
			t.Fatalf("CreateUserWithIdentity did not fill fields: %+v", u)
		}
		got, err := s.GetUserByIdentity(ctx, issuer, "sub-1")
		mustNil(t, err)
		if *got != *u {
			t.Fatalf("GetUserByIdentity = %+v, want %+v", got, u)
		}
		sub, err := s.IdentityOf(ctx, u.ID, issuer)
		mustNil(t, err)
		if sub != "sub-1" {
			t.Fatalf("IdentityOf = %q", sub)
		}
		_, err = s.GetUserByIdentity(ctx, "https://other.example.com", "sub-1")
		wantErr(t, err, store.ErrNotFound)
		_, err = s.IdentityOf(ctx, local.ID, issuer)
		wantErr(t, err, store.ErrNotFound)

		// A taken e-mail or subject creates nothing (the transaction rolls back).
		wantErr(t, s.CreateUserWithIdentity(ctx, &store.User{Email: "local@example.com", Role: store.RoleViewer}, issuer, "sub-2"), store.ErrConflict)
		_, err = s.GetUserByIdentity(ctx, issuer, "sub-2")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.CreateUserWithIdentity(ctx, &store.User{Email: "new@example.com", Role: store.RoleViewer}, issuer, "sub-1"), store.ErrConflict)
		_, err = s.GetUserByEmail(ctx, "new@example.com")
		wantErr(t, err, store.ErrNotFound)

		// Linking an existing user: once per provider, a subject once.
		mustNil(t, s.LinkIdentity(ctx, local.ID, issuer, "sub-local"))
		got, err = s.GetUserByIdentity(ctx, issuer, "sub-local")
		mustNil(t, err)
		if got.ID != local.ID {
			t.Fatalf("linked user = %+v", got)
		}
		wantErr(t, s.LinkIdentity(ctx, local.ID, issuer, "sub-other"), store.ErrConflict)
		wantErr(t, s.LinkIdentity(ctx, u.ID, issuer, "sub-local"), store.ErrConflict)
		mustNil(t, s.LinkIdentity(ctx, local.ID, "https://other.example.com", "sub-local"))
		wantErr(t, s.LinkIdentity(ctx, 99999, "https://third.example.com", "x"), store.ErrNotFound)
	})
}

func TestOIDCLogins(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now().UTC()
		l := &store.OIDCLogin{StateHash: "state-1", BrowserHash: "browser-1", Nonce: "n", CodeVerifier: "v", ExpiresAt: now.Add(10 * time.Minute)}
		mustNil(t, s.SaveOIDCLogin(ctx, l))
		if l.NextPath != "/" || l.CreatedAt.IsZero() {
			t.Fatalf("SaveOIDCLogin did not fill fields: %+v", l)
		}
		wantErr(t, s.SaveOIDCLogin(ctx, &store.OIDCLogin{StateHash: "state-1", BrowserHash: "b", ExpiresAt: now.Add(time.Minute)}), store.ErrConflict)

		got, err := s.TakeOIDCLogin(ctx, "state-1", now)
		mustNil(t, err)
		if *got != *l {
			t.Fatalf("TakeOIDCLogin = %+v, want %+v", got, l)
		}
		_, err = s.TakeOIDCLogin(ctx, "state-1", now) // once only
		wantErr(t, err, store.ErrNotFound)
		_, err = s.TakeOIDCLogin(ctx, "never-saved", now)
		wantErr(t, err, store.ErrNotFound)

		// Expired: refused, and gone.
		mustNil(t, s.SaveOIDCLogin(ctx, &store.OIDCLogin{StateHash: "state-2", BrowserHash: "b", NextPath: "/backups", ExpiresAt: now.Add(time.Minute)}))
		_, err = s.TakeOIDCLogin(ctx, "state-2", now.Add(time.Minute))
		wantErr(t, err, store.ErrNotFound)
		_, err = s.TakeOIDCLogin(ctx, "state-2", now)
		wantErr(t, err, store.ErrNotFound)

		// Expired rows are cleared when the next sign-in starts.
		mustNil(t, s.SaveOIDCLogin(ctx, &store.OIDCLogin{StateHash: "state-3", BrowserHash: "b", ExpiresAt: now.Add(-time.Second)}))
		mustNil(t, s.SaveOIDCLogin(ctx, &store.OIDCLogin{StateHash: "state-4", BrowserHash: "b", ExpiresAt: now.Add(time.Minute)}))
		_, err = s.TakeOIDCLogin(ctx, "state-3", now.Add(-time.Hour))
		wantErr(t, err, store.ErrNotFound)

		// Two callbacks racing for one state: exactly one wins.
		mustNil(t, s.SaveOIDCLogin(ctx, &store.OIDCLogin{StateHash: "race", BrowserHash: "b", ExpiresAt: now.Add(time.Minute)}))
		var wg sync.WaitGroup
		wins := make(chan bool, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.TakeOIDCLogin(ctx, "race", now)
				wins <- err == nil
			}()
		}
		wg.Wait()
		close(wins)
		n := 0
		for w := range wins {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d callbacks took the same state", n)
		}
	})
}

func TestPasswordLoginUntil(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := &store.User{Email: "a@example.com", PasswordHash: "h", Role: store.RoleOperator}
		mustNil(t, s.CreateUser(ctx, u))
		got, err := s.PasswordLoginUntil(ctx, u.ID)
		mustNil(t, err)
		if got != nil {
			t.Fatalf("a new user has a break-glass window: %v", got)
		}
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		mustNil(t, s.SetPasswordLoginUntil(ctx, u.ID, &until))
		got, err = s.PasswordLoginUntil(ctx, u.ID)
		mustNil(t, err)
		if got == nil || !got.Equal(until) {
			t.Fatalf("PasswordLoginUntil = %v, want %v", got, until)
		}
		// Other writes to the user leave it alone.
		_, _, err = s.UpdateUserAccess(ctx, u.ID, access(store.RoleViewer, true))
		mustNil(t, err)
		mustNil(t, s.SetUserPassword(ctx, u.ID, "h2"))
		got, err = s.PasswordLoginUntil(ctx, u.ID)
		mustNil(t, err)
		if got == nil || !got.Equal(until) {
			t.Fatalf("after UpdateUserAccess and SetUserPassword: %v", got)
		}
		mustNil(t, s.SetPasswordLoginUntil(ctx, u.ID, nil))
		got, err = s.PasswordLoginUntil(ctx, u.ID)
		mustNil(t, err)
		if got != nil {
			t.Fatalf("cleared window = %v", got)
		}
		wantErr(t, s.SetPasswordLoginUntil(ctx, 9999, &until), store.ErrNotFound)
		_, err = s.PasswordLoginUntil(ctx, 9999)
		wantErr(t, err, store.ErrNotFound)
	})
}
