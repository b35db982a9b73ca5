package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/sso"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/oidctest"
)

// The tests below sign in through a real OpenID provider (package
// oidctest, zitadel/oidc's op) on 127.0.0.1 and coffer's real routes.
// coffer's public URL is https://coffer.example.com, as a reverse proxy
// would make it; the test browser stops where the provider redirects there
// and delivers the callback to the test server instead.

const (
	ssoPublicURL = "https://coffer.example.com"
	ssoRedirect  = ssoPublicURL + "/api/v1/auth/oidc/callback"
	ssoClientID  = "coffer"
	ssoSecret    = "a-client-secret-for-the-tests"
)

var (
	idpAlice = oidctest.User{Subject: "sub-alice", Email: "alice@example.com", Password: "pw-alice", EmailVerified: true, Groups: []string{"admins"}}
	idpBob   = oidctest.User{Subject: "sub-bob", Email: "bob@example.com", Password: "pw-bob", EmailVerified: false, Groups: []string{"ops"}}
	idpCarol = oidctest.User{Subject: "sub-carol", Email: "carol@example.com", Password: "pw-carol", EmailVerified: true, Groups: []string{"guests"}}
	idpDave  = oidctest.User{Subject: "sub-dave", Email: "dave@example.com", Password: "pw-dave", EmailVerified: true, Groups: []string{"ops"}}
)

// ssoEnv is an API server with single sign-on at a test provider.
type ssoEnv struct {
	*env
	idp    *oidctest.Provider
	client *sso.Client
}

type ssoSetup struct {
	roleMap    string
	localLogin bool
	verified   bool   // COFFER_OIDC_REQUIRE_VERIFIED_EMAIL
	addr       string // where the provider will listen; "" = start it now on a free port
	users      []oidctest.User
	cat        *store.Store // the catalog (nil: a new SQLite one)
}

func newSSOEnv(t *testing.T, mutate ...func(*ssoSetup)) *ssoEnv {
	t.Helper()
	su := ssoSetup{roleMap: "admins=admin,ops=operator", localLogin: true, verified: true,
		users: []oidctest.User{idpAlice, idpBob, idpCarol, idpDave}}
	for _, f := range mutate {
		f(&su)
	}
	se := &ssoEnv{}
	issuer := "http://" + su.addr
	if su.addr == "" {
		se.idp = startIdP(t, "127.0.0.1:0", su.users)
		issuer = se.idp.Issuer
	}
	rm, err := sso.ParseRoleMap(su.roleMap)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sso.New(sso.Settings{
		Issuer: issuer, ClientID: ssoClientID, ClientSecret: ssoSecret,
		Scopes: []string{"openid", "email", "profile", "groups"}, RedirectURL: ssoRedirect,
		RoleClaim: "groups", RequireVerifiedEmail: su.verified,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	se.client = c
	se.env = newEnv(t, su.cat, func(s *envSetup) { s.deps.SSO = c }, withConfig(func(cfg *config.Config) {
		cfg.PublicURL = ssoPublicURL
		cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCName = issuer, ssoClientID, "Test IdP"
		cfg.OIDCRoleMap = rm
		cfg.LocalLogin = su.localLogin
	}))
	if se.idp != nil {
		se.waitReady()
	}
	return se
}

func startIdP(t *testing.T, addr string, users []oidctest.User) *oidctest.Provider {
	t.Helper()
	return oidctest.Start(t, oidctest.Options{Addr: addr, Users: users,
		Clients: []oidctest.Client{{ID: ssoClientID, Secret: ssoSecret, RedirectURIs: []string{ssoRedirect}}}})
}

func (se *ssoEnv) waitReady() {
	se.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !se.client.Ready() {
		if time.Now().After(deadline) {
			se.t.Fatalf("the provider was not discovered: %v", se.client.LastError())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is a cookie-keeping client that stops at coffer's public URL and
// at the UI of the test server (anything outside /api/).
func (se *ssoEnv) browser() *http.Client {
	se.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		se.t.Fatal(err)
	}
	srv := mustParse(se.t, se.srv.URL)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "coffer.example.com" || req.URL.Host == srv.Host && !strings.HasPrefix(req.URL.Path, "/api/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// providerLeg starts a sign-in at coffer in b and signs in at the
// provider; it returns the callback URL the provider sends the browser
// to, pointed at the test server.
func (se *ssoEnv) providerLeg(b *http.Client, u oidctest.User, next string) *url.URL {
	se.t.Helper()
	start := se.srv.URL + "/api/v1/auth/oidc/start"
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	res, err := se.idp.SignIn(b, start, u.Email, u.Password)
	if err != nil {
		se.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, ssoRedirect+"?") {
		se.t.Fatalf("the provider answered %d with Location %q, not a redirect to coffer's callback", res.StatusCode, loc)
	}
	cb := mustParse(se.t, loc)
	srv := mustParse(se.t, se.srv.URL)
	cb.Scheme, cb.Host = srv.Scheme, srv.Host
	return cb
}

// deliver opens the callback URL in b and returns where coffer sends the
// browser, and whether b now holds a session cookie for coffer.
func (se *ssoEnv) deliver(b *http.Client, cb *url.URL) (location string, session bool) {
	se.t.Helper()
	res, err := b.Get(cb.String())
	if err != nil {
		se.t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		se.t.Fatalf("callback answered %d, want 302", res.StatusCode)
	}
	for _, c := range b.Jar.Cookies(mustParse(se.t, se.srv.URL+"/")) {
		if c.Name == sessionCookie && c.Value != "" {
			session = true
		}
	}
	return res.Header.Get("Location"), session
}

// signIn runs the whole flow and returns where coffer sent the browser.
func (se *ssoEnv) signIn(b *http.Client, u oidctest.User, next string) (string, bool) {
	se.t.Helper()
	return se.deliver(b, se.providerLeg(b, u, next))
}

// me reads /auth/me with b's cookies.
func (se *ssoEnv) me(b *http.Client) map[string]any {
	se.t.Helper()
	res, err := b.Get(se.srv.URL + "/api/v1/auth/me")
	if err != nil {
		se.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
		se.t.Fatalf("GET /auth/me: %d %v %v", res.StatusCode, m, err)
	}
	return m
}

// audits returns the audit events with action, newest first.
func (se *ssoEnv) audits(action string) []store.AuditEvent {
	se.t.Helper()
	evs, _, err := se.cat.ListAudit(context.Background(), store.AuditFilter{Action: action}, store.Page{Page: 1, PerPage: 100})
	if err != nil {
		se.t.Fatal(err)
	}
	return evs
}

func details(t *testing.T, e store.AuditEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Details, &m); err != nil {
		t.Fatalf("details %s: %v", e.Details, err)
	}
	return m
}

func TestAuthProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.expect(e.do(cred{}, "GET", "/api/v1/auth/providers", ""), 200)
	if string(r.body) != `{"local":true,"oidc":null}`+"\n" {
		t.Fatalf("without single sign-on: %s", r.body)
	}
	// COFFER_LOCAL_LOGIN=false means nothing without a provider.
	e = newEnv(t, nil, withConfig(func(c *config.Config) { c.LocalLogin = false }))
	e.expect(e.do(cred{}, "GET", "/api/v1/auth/providers", ""), 200)
	e.user("a@example.com", store.RoleAdmin)
	e.login("a@example.com")

	se := newSSOEnv(t)
	r = se.expect(se.do(cred{}, "GET", "/api/v1/auth/providers", ""), 200)
	if string(r.body) != `{"local":true,"oidc":{"name":"Test IdP"}}`+"\n" {
		t.Fatalf("with single sign-on: %s", r.body)
	}
	se = newSSOEnv(t, func(s *ssoSetup) { s.localLogin = false })
	r = se.expect(se.do(cred{}, "GET", "/api/v1/auth/providers", ""), 200)
	if string(r.body) != `{"local":false,"oidc":{"name":"Test IdP"}}`+"\n" {
		t.Fatalf("with single sign-on only: %s", r.body)
	}
	e = newEnv(t, nil)
	e.expect(e.do(cred{}, "GET", "/api/v1/auth/oidc/start", ""), 404)
}

func TestSSOSignIn(t *testing.T) {
	t.Parallel()
	se := newSSOEnv(t)
	root := se.user("root@example.com", store.RoleAdmin) // a local admin, so alice is not the last one
	ctx := context.Background()

	// First sign-in: the user is created with the mapped role and no password.
	b := se.browser()
	loc, session := se.signIn(b, idpAlice, "")
	if loc != "/" || !session {
		t.Fatalf("signed in to %q (session %v)", loc, session)
	}
	me := se.me(b)
	if me["email"] != "alice@example.com" || me["role"] != "admin" {
		t.Fatalf("me = %v", me)
	}
	alice, err := se.cat.GetUserByIdentity(ctx, se.idp.Issuer, "sub-alice")
	if err != nil || alice.PasswordHash != "" || alice.Role != store.RoleAdmin {
		t.Fatalf("user %+v, %v", alice, err)
	}
	created := se.audits("user.create")
	if len(created) != 1 || details(t, created[0])["source"] != "oidc" || details(t, created[0])["group"] != "admins" {
		t.Fatalf("user.create audit: %+v", created)
	}
	logins := se.audits("auth.login")
	if len(logins) != 1 || *logins[0].ActorID != alice.ID || details(t, logins[0])["method"] != "oidc" {
		t.Fatalf("auth.login audit: %+v", logins)
	}
	// The session works like a password one: an admin route answers.
	res, err := b.Get(se.srv.URL + "/api/v1/users")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /users with the SSO session: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	// A password sign-in as alice fails cleanly: she has no password.
	se.expect(se.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"anything-at-all"}`), 401)

	// The role follows the groups on every sign-in.
	se.idp.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", Password: "pw-alice", EmailVerified: true, Groups: []string{"ops", "unmapped"}})
	b2 := se.browser()
	if loc, _ := se.signIn(b2, idpAlice, "/backups?status=failed"); loc != "/backups?status=failed" {
		t.Fatalf("next: signed in to %q", loc)
	}
	if me := se.me(b2); me["role"] != "operator" {
		t.Fatalf("after the group change: %v", me)
	}
	upd := se.audits("user.update")
	if len(upd) != 1 {
		t.Fatalf("user.update audits: %+v", upd)
	}
	d := details(t, upd[0])
	if d["source"] != "oidc" || d["role"].(map[string]any)["from"] != "admin" || d["role"].(map[string]any)["to"] != "operator" {
		t.Fatalf("role change audit: %v", d)
	}

	// An e-mail change at the provider finds the same user (by subject).
	renamed := oidctest.User{Subject: "sub-alice", Email: "alice.new@example.com", Password: "pw-alice", EmailVerified: true, Groups: []string{"ops"}}
	se.idp.SetUser(renamed)
	b3 := se.browser()
	se.signIn(b3, renamed, "")
	if me := se.me(b3); me["id"] != float64(alice.ID) {
		t.Fatalf("after the e-mail change: %v, want user %d", me, alice.ID)
	}
	if n, _ := se.cat.CountUsers(ctx); n != 2 {
		t.Fatalf("%d users, want root and alice", n)
	}

	// An unsafe next is ignored.
	if loc, _ := se.signIn(se.browser(), renamed, "//evil.example/"); loc != "/" {
		t.Fatalf("next //evil.example/: signed in to %q", loc)
	}

	// A local user with the same verified e-mail is linked on first sign-in.
	dave := se.user("dave@example.com", store.RoleViewer)
	b4 := se.browser()
	se.signIn(b4, idpDave, "")
	if me := se.me(b4); me["id"] != float64(dave.ID) || me["role"] != "operator" {
		t.Fatalf("linked user: %v", me)
	}
	if sub, err := se.cat.IdentityOf(ctx, dave.ID, se.idp.Issuer); err != nil || sub != "sub-dave" {
		t.Fatalf("dave's identity: %q %v", sub, err)
	}
	if len(se.audits("user.identity_link")) != 1 {
		t.Fatal("no user.identity_link audit")
	}
	_ = root
}

// TestSSOKeepsTheLastAdmin: a sign-in whose groups would demote the last
// active administrator keeps them admin and says so in the audit log.
func TestSSOKeepsTheLastAdmin(t *testing.T) {
	t.Parallel()
	se := newSSOEnv(t)
	se.signIn(se.browser(), idpAlice, "")
	se.idp.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", Password: "pw-alice", EmailVerified: true, Groups: []string{"ops"}})
	b := se.browser()
	se.signIn(b, idpAlice, "")
	if me := se.me(b); me["role"] != "admin" {
		t.Fatalf("the last admin became %v", me["role"])
	}
	kept := se.audits("user.role_kept")
	if len(kept) != 1 || details(t, kept[0])["mapped_role"] != "operator" || details(t, kept[0])["reason"] != "last_admin" {
		t.Fatalf("user.role_kept audits: %+v", kept)
	}
	// With another active admin, the same sign-in demotes.
	se.user("root@example.com", store.RoleAdmin)
	b = se.browser()
	se.signIn(b, idpAlice, "")
	if me := se.me(b); me["role"] != "operator" {
		t.Fatalf("with another admin: %v", me["role"])
	}
}

// TestSSOLastAdminAcrossHosts signs the last two active administrators in
// at the same moment through two API servers on one PostgreSQL catalog (as
// two hosts do), with groups that map both to operator, round after round:
// the catalog's transaction lets exactly one be demoted, the other stays
// admin with a user.role_kept audit event.
func TestSSOLastAdminAcrossHosts(t *testing.T) {
	t.Parallel()
	a1 := oidctest.User{Subject: "sub-a1", Email: "a1@example.com", Password: "pw-a1", EmailVerified: true, Groups: []string{"admins"}}
	a2 := oidctest.User{Subject: "sub-a2", Email: "a2@example.com", Password: "pw-a2", EmailVerified: true, Groups: []string{"admins"}}
	cat := storetest.Postgres(t)
	h1 := newSSOEnv(t, func(s *ssoSetup) { s.cat, s.users = cat, []oidctest.User{a1, a2} })
	h2 := newSSOEnv(t, func(s *ssoSetup) { s.cat, s.addr = cat, strings.TrimPrefix(h1.idp.Issuer, "http://") })
	h2.idp = h1.idp
	h2.waitReady()
	ctx := context.Background()
	ids := map[string]int64{}
	for _, u := range []oidctest.User{a1, a2} {
		b := h1.browser()
		h1.signIn(b, u, "")
		if me := h1.me(b); me["role"] != "admin" {
			t.Fatalf("first sign-in of %s: %v", u.Email, me)
		}
		ids[u.Email] = int64(h1.me(b)["id"].(float64))
	}
	for _, u := range []*oidctest.User{&a1, &a2} {
		u.Groups = []string{"ops"}
		h1.idp.SetUser(*u)
	}
	for round := range 8 {
		// The provider legs one after the other; the callbacks, where the
		// role is applied, at the same moment.
		b1, b2 := h1.browser(), h2.browser()
		cb1, cb2 := h1.providerLeg(b1, a1, ""), h2.providerLeg(b2, a2, "")
		start := make(chan struct{})
		codes, errs := make([]int, 2), make([]error, 2)
		var wg sync.WaitGroup
		for i, call := range []struct {
			b  *http.Client
			cb *url.URL
		}{{b1, cb1}, {b2, cb2}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := call.b.Get(call.cb.String())
				if err != nil {
					errs[i] = err
					return
				}
				res.Body.Close()
				codes[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		for i := range 2 {
			if errs[i] != nil || codes[i] != http.StatusFound {
				t.Fatalf("round %d, callback %d: %d %v", round, i+1, codes[i], errs[i])
			}
		}
		if n := storetest.ActiveAdmins(t, cat); n != 1 {
			t.Fatalf("round %d: %d active admins after two concurrent sign-ins that map both to operator", round, n)
		}
		if kept, demoted := len(h1.audits("user.role_kept")), len(h1.audits("user.update")); kept != round+1 || demoted != round+1 {
			t.Fatalf("round %d: %d user.role_kept and %d user.update audit events, want %d of each", round, kept, demoted, round+1)
		}
		for _, id := range ids {
			if _, _, err := cat.UpdateUserAccess(ctx, id, userAccess(store.RoleAdmin, false)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSSORefusals(t *testing.T) {
	t.Parallel()
	se := newSSOEnv(t)
	ctx := context.Background()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	resign := se.idp.Resign
	disabled := se.user("dave@example.com", store.RoleOperator)
	if _, _, err := se.cat.UpdateUserAccess(ctx, disabled.ID, userAccess(store.RoleOperator, true)); err != nil {
		t.Fatal(err)
	}

	// refused runs a case and checks the redirect, the missing session and the audit event.
	refused := func(t *testing.T, wantLoc, reason string, run func(b *http.Client) string) {
		t.Helper()
		before := len(se.audits("auth.login_failed"))
		b := se.browser()
		loc := run(b)
		if loc != wantLoc {
			t.Fatalf("sent to %q, want %q", loc, wantLoc)
		}
		for _, c := range b.Jar.Cookies(mustParse(t, se.srv.URL+"/")) {
			if c.Name == sessionCookie {
				t.Fatal("a refused sign-in set a session cookie")
			}
		}
		evs := se.audits("auth.login_failed")
		if len(evs) != before+1 || details(t, evs[0])["reason"] != reason || details(t, evs[0])["method"] != "oidc" {
			t.Fatalf("audit after refusal: %d events (was %d), newest %s", len(evs), before, evs[0].Details)
		}
	}
	loginErr := func(reason string) string { return "/login?sso_error=" + reason }

	for _, tc := range []struct {
		name    string
		user    oidctest.User
		rewrite func(string) (string, error)
		reason  string
	}{
		{"wrong audience", idpAlice, resign(func(m map[string]any) { m["aud"] = "someone-else" }), "token_invalid"},
		{"expired ID token", idpAlice, resign(func(m map[string]any) {
			m["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			m["exp"] = time.Now().Add(-time.Hour).Unix()
		}), "token_invalid"},
		{"signed by a second key under the provider's key id", idpAlice, oidctest.ResignWith(other, se.idp.KeyID()), "token_invalid"},
		{"signed by a second key under its own key id", idpAlice, oidctest.ResignWith(other, "second-provider"), "token_invalid"},
		{"claims tampered after signing", idpAlice, func(raw string) (string, error) {
			parts := strings.Split(raw, ".")
			cl, err := oidctest.Claims(raw)
			if err != nil {
				return "", err
			}
			cl["groups"] = []string{"admins", "ops"}
			forged, err := se.idp.Sign(cl)
			if err != nil {
				return "", err
			}
			return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2], nil
		}, "token_invalid"},
		{"unverified e-mail", idpBob, nil, "email_unverified"},
		{"disabled user", idpDave, nil, "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, loginErr(tc.reason), tc.reason, func(b *http.Client) string {
				cb := se.providerLeg(b, tc.user, "")
				if tc.rewrite != nil {
					se.idp.RewriteNextIDToken(tc.rewrite)
				}
				loc, _ := se.deliver(b, cb)
				return loc
			})
		})
	}

	t.Run("unmapped group", func(t *testing.T) {
		refused(t, "/no-access", "no_access", func(b *http.Client) string {
			loc, _ := se.signIn(b, idpCarol, "")
			return loc
		})
		if _, err := se.cat.GetUserByEmail(ctx, "carol@example.com"); err == nil {
			t.Fatal("a user without access was created")
		}
		ev := se.audits("auth.login_failed")[0]
		if g := details(t, ev)["groups"]; g == nil || g.([]any)[0] != "guests" {
			t.Fatalf("the refusal does not name the groups: %s", ev.Details)
		}
	})
	t.Run("bad state", func(t *testing.T) {
		refused(t, loginErr("state"), "state", func(b *http.Client) string {
			cb := se.providerLeg(b, idpAlice, "")
			q := cb.Query()
			q.Set("state", "not-the-state-coffer-sent")
			cb.RawQuery = q.Encode()
			loc, _ := se.deliver(b, cb)
			return loc
		})
	})
	t.Run("no state", func(t *testing.T) {
		refused(t, loginErr("state"), "state", func(b *http.Client) string {
			cb := se.providerLeg(b, idpAlice, "")
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			loc, _ := se.deliver(b, cb)
			return loc
		})
	})
	t.Run("callback in another browser", func(t *testing.T) {
		cb := se.providerLeg(se.browser(), idpAlice, "")
		refused(t, loginErr("state"), "state", func(b *http.Client) string {
			loc, _ := se.deliver(b, cb) // b never started a sign-in: no binding cookie
			return loc
		})
	})
	t.Run("state expired", func(t *testing.T) {
		refused(t, loginErr("state"), "state", func(b *http.Client) string {
			cb := se.providerLeg(b, idpAlice, "")
			se.clock.Advance(oidcLoginTTL + time.Second)
			loc, _ := se.deliver(b, cb)
			return loc
		})
	})
	t.Run("replayed callback", func(t *testing.T) {
		b := se.browser()
		cb := se.providerLeg(b, idpAlice, "")
		if loc, ok := se.deliver(b, cb); loc != "/" || !ok {
			t.Fatalf("first delivery: %q %v", loc, ok)
		}
		// The same browser, without the session the first delivery gave it.
		b.Jar.SetCookies(mustParse(t, se.srv.URL+"/"), []*http.Cookie{{Name: sessionCookie, Path: "/", MaxAge: -1}})
		refused(t, loginErr("state"), "state", func(b2 *http.Client) string {
			b2.Jar = b.Jar
			loc, _ := se.deliver(b2, cb)
			return loc
		})
	})
	t.Run("replayed code under a fresh state", func(t *testing.T) {
		b := se.browser()
		old := se.providerLeg(b, idpAlice, "")
		if loc, _ := se.deliver(b, old); loc != "/" {
			t.Fatalf("first use: %q", loc)
		}
		refused(t, loginErr("exchange_refused"), "exchange_refused", func(b *http.Client) string {
			fresh := se.providerLeg(b, idpAlice, "")
			q := fresh.Query()
			q.Set("code", old.Query().Get("code"))
			fresh.RawQuery = q.Encode()
			loc, _ := se.deliver(b, fresh)
			return loc
		})
	})
	t.Run("denied at the provider", func(t *testing.T) {
		refused(t, loginErr("denied"), "denied", func(b *http.Client) string {
			cb := se.providerLeg(b, idpAlice, "")
			q := url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}}
			cb.RawQuery = q.Encode()
			loc, _ := se.deliver(b, cb)
			return loc
		})
	})
	if n, err := se.cat.CountUsers(ctx); err != nil || n != 2 {
		t.Fatalf("users after the refusals: %d %v (want dave and alice)", n, err)
	}
}

// TestSSOUnverifiedEmailNeverLinks: with verified e-mails not required, an
// unverified address still never takes over an existing account.
func TestSSOUnverifiedEmailNeverLinks(t *testing.T) {
	t.Parallel()
	se := newSSOEnv(t, func(s *ssoSetup) { s.verified = false })
	se.user("bob@example.com", store.RoleAdmin)
	b := se.browser()
	if loc, ok := se.signIn(b, idpBob, ""); loc != "/login?sso_error=email_taken" || ok {
		t.Fatalf("unverified e-mail of an existing user: %q %v", loc, ok)
	}
	// An unverified e-mail nobody has is a new user.
	se.idp.SetUser(oidctest.User{Subject: "sub-frank", Email: "frank@example.com", Password: "pw", Groups: []string{"ops"}})
	b = se.browser()
	if loc, ok := se.signIn(b, oidctest.User{Email: "frank@example.com", Password: "pw"}, ""); loc != "/" || !ok {
		t.Fatalf("new unverified user: %q %v", loc, ok)
	}
}

// TestSSOProviderDown: coffer starts and works with the provider down;
// sign-in answers 503 (the button still shows) until the provider is up.
func TestSSOProviderDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	se := newSSOEnv(t, func(s *ssoSetup) { s.addr = addr })
	r := se.expect(se.do(cred{}, "GET", "/api/v1/auth/providers", ""), 200)
	if !strings.Contains(string(r.body), `"oidc":{"name":"Test IdP"}`) {
		t.Fatalf("providers while down: %s", r.body)
	}
	r = se.expect(se.do(cred{}, "GET", "/api/v1/auth/oidc/start", ""), 503)
	const sentence = "The identity provider (Test IdP) cannot be reached right now, so single sign-on is unavailable; try again in a minute, or sign in with your e-mail and password."
	if msg := r.json(t)["error"]; msg != sentence {
		t.Fatalf("503 says %q", msg)
	}
	r = se.do(cred{}, "GET", "/api/v1/auth/oidc/start", "", "Accept", "text/html,application/xhtml+xml")
	if r.StatusCode != 503 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "cannot be reached right now") {
		t.Fatalf("browser 503: %d %s %s", r.StatusCode, r.Header.Get("Content-Type"), r.body)
	}
	// Password sign-in goes on.
	se.user("root@example.com", store.RoleAdmin)
	se.login("root@example.com")

	se.idp = startIdP(t, addr, []oidctest.User{idpAlice})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = se.do(cred{}, "GET", "/api/v1/auth/oidc/start", "")
		if r.StatusCode != 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still 503 after the provider came up: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := se.browser()
	if loc, ok := se.signIn(b, idpAlice, ""); loc != "/" || !ok {
		t.Fatalf("after the provider came up: %q %v", loc, ok)
	}
}

// TestLocalLoginOff: with COFFER_LOCAL_LOGIN=false a password sign-in is
// refused with a sentence, except inside the break-glass window that
// `coffer users reset-password` opens.
func TestLocalLoginOff(t *testing.T) {
	t.Parallel()
	se := newSSOEnv(t, func(s *ssoSetup) { s.localLogin = false })
	root := se.user("root@example.com", store.RoleAdmin)
	body := `{"email":"root@example.com","password":"` + testPassword + `"}`
	r := se.expect(se.do(cred{}, "POST", "/api/v1/auth/login", body), 403)
	if msg := r.json(t)["error"]; msg != `Password sign-in is turned off on this server; use "Sign in with Test IdP" instead.` {
		t.Fatalf("403 says %q", msg)
	}
	se.expect(se.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"nobody@example.com","password":"whatever-it-is"}`), 403)
	ev := se.audits("auth.login_failed")
	if len(ev) != 2 || details(t, ev[1])["reason"] != "local_login_off" {
		t.Fatalf("audit: %+v", ev)
	}

	until := se.clock.Now().Add(time.Hour)
	if err := se.cat.SetPasswordLoginUntil(context.Background(), root.ID, &until); err != nil {
		t.Fatal(err)
	}
	se.expect(se.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"root@example.com","password":"wrong password"}`), 401)
	se.login("root@example.com")
	logins := se.audits("auth.login")
	if len(logins) != 1 || details(t, logins[0])["break_glass"] != true {
		t.Fatalf("break-glass sign-in audit: %+v", logins)
	}
	se.clock.Advance(time.Hour)
	se.expect(se.do(cred{}, "POST", "/api/v1/auth/login", body), 403)

	// Single sign-on works.
	b := se.browser()
	if loc, ok := se.signIn(b, idpAlice, ""); loc != "/" || !ok {
		t.Fatalf("single sign-on with local login off: %q %v", loc, ok)
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/backups?status=failed":        "/backups?status=failed",
		"/connections/3/edit":           "/connections/3/edit",
		"//evil.example/":               "/",
		"/\\evil.example":               "/",
		"/\t/evil.example":              "/",
		"/\n/evil.example":              "/",
		"https://evil.example/":         "/",
		"evil":                          "/",
		"/login":                        "/",
		"/login?next=/x":                "/",
		"/no-access":                    "/",
		"/api/v1/auth/oidc/start":       "/",
		"/api":                          "/",
		"/api/v2/x":                     "/",
		"/" + strings.Repeat("a", 1100): "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
