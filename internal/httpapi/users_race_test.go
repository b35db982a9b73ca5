package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// TestLastAdminAcrossHosts runs two API servers on one PostgreSQL catalog,
// as two hosts do, and has each of the two admins demote the other at the
// same moment, round after round: one admin must always stay.
func TestLastAdminAcrossHosts(t *testing.T) {
	cat := storetest.Postgres(t)
	e1, e2 := newEnv(t, cat), newEnv(t, cat)
	a, b := e1.user("a@example.com", store.RoleAdmin), e1.user("b@example.com", store.RoleAdmin)
	sa, sb := e1.login("a@example.com"), e2.login("b@example.com")
	put := func(e *env, c cred, id int64) (int, error) {
		req, err := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/users/%d", e.srv.URL, id), strings.NewReader(`{"role":"operator"}`))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
		res, err := e.srv.Client().Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	for round := range 20 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		codes, errs := make([]int, 2), make([]error, 2)
		for i, call := range []func() (int, error){
			func() (int, error) { return put(e1, sa, b.ID) },
			func() (int, error) { return put(e2, sb, a.ID) },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i], errs[i] = call()
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, request %d: %v", round, i, err)
			}
		}
		if active := storetest.ActiveAdmins(t, cat); active != 1 {
			t.Fatalf("round %d: %d active admins after two concurrent demotions (statuses %v)", round, active, codes)
		}
		for _, u := range []*store.User{a, b} {
			if _, _, err := cat.UpdateUserAccess(context.Background(), u.ID, userAccess(store.RoleAdmin, false)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// rehashRaceCatalog is the real catalog with one hook: right after a login
// has read its user, an administrator disables that user (what a concurrent
// request does in the window before the login upgrades the password hash).
type rehashRaceCatalog struct {
	store.Catalog
	disable func(u *store.User)
}

func (c rehashRaceCatalog) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := c.Catalog.GetUserByEmail(ctx, email)
	if err == nil {
		c.disable(u)
	}
	return u, err
}

// oldHash is testPassword hashed with cheaper argon2id parameters than the
// current ones, as an older coffer may have stored it.
func oldHash(t *testing.T) string {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(testPassword), salt, 1, 64, 1, 32)
	h := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if !auth.NeedsRehash(h) {
		t.Fatal("the old hash does not need a rehash")
	}
	return h
}

// TestLoginRehashKeepsDisable logs in with a password hash made with old
// parameters while an administrator disables the user: the login upgrades
// the hash, and the user stays disabled.
func TestLoginRehashKeepsDisable(t *testing.T) {
	t.Parallel()
	cat := storetest.SQLite(t)
	u := &store.User{Email: "old@example.com", PasswordHash: oldHash(t), Role: store.RoleOperator}
	if err := cat.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	hooked := rehashRaceCatalog{Catalog: cat, disable: func(got *store.User) {
		if _, _, err := cat.UpdateUserAccess(context.Background(), got.ID, userAccess(got.Role, true)); err != nil {
			t.Error(err)
		}
	}}
	e := newEnv(t, cat, func(s *envSetup) { s.deps.Catalog = hooked })
	e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"old@example.com","password":"`+testPassword+`"}`)
	got, err := cat.GetUser(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disabled {
		t.Fatal("the login's password upgrade enabled a user an administrator had just disabled")
	}
	if got.PasswordHash == u.PasswordHash || auth.NeedsRehash(got.PasswordHash) {
		t.Fatalf("the password hash was not upgraded: %s", got.PasswordHash)
	}
	if ok, err := auth.VerifyPassword(got.PasswordHash, testPassword); err != nil || !ok {
		t.Fatalf("the upgraded hash does not verify: %v %v", ok, err)
	}
}

// userAccess is the change to role and disabled.
func userAccess(role store.Role, disabled bool) store.UserAccess {
	return store.UserAccess{Role: &role, Disabled: &disabled}
}
