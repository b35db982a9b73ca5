package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// publicRoutes are the routes that need no login: signing in (password and
// single sign-on), health and the OpenAPI document.
var publicRoutes = map[string]bool{
	"/auth/login": true, "/auth/providers": true, "/auth/oidc/start": true, "/auth/oidc/callback": true,
	"/healthz": true, openapiPath: true,
}

// TestEveryRouteNeedsAuth walks the route table: every route but sign-in,
// health and the OpenAPI document answers 401 JSON without a session, and
// with a bad token or cookie.
func TestEveryRouteNeedsAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s, err := newServer(Deps{Catalog: e.cat, Connections: e.conns, Ops: e.ops}, defaultTimings())
	if err != nil {
		t.Fatal(err)
	}
	routes := s.routes()
	if len(routes) < 25 {
		t.Fatalf("route table has only %d routes", len(routes))
	}
	publics := 0
	for _, rt := range routes {
		path := apiPrefix + strings.ReplaceAll(rt.path, "{id}", "1")
		body := ""
		if rt.method == "POST" || rt.method == "PUT" {
			body = `{}`
		}
		if rt.access == public {
			publics++
			if !publicRoutes[rt.path] {
				t.Errorf("%s %s is public", rt.method, rt.path)
			}
			continue
		}
		for _, c := range []cred{{}, {cookie: "not-a-session"}, {bearer: "cof_not-a-token"}} {
			e.expect(e.do(c, rt.method, path, body), http.StatusUnauthorized)
		}
	}
	if publics != len(publicRoutes) {
		t.Fatalf("%d public routes, want %d (sign-in, health and the OpenAPI document)", publics, len(publicRoutes))
	}
	e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusOK)
	// A malformed Authorization header is refused, not ignored.
	e.expect(e.do(cred{}, "GET", "/api/v1/auth/me", "", "Authorization", "Basic Zm9vOmJhcg=="), http.StatusUnauthorized)
}

func TestLoginLogoutMe(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newEnv(t, cat)
		u := e.user("Alice@Example.com", store.RoleOperator)

		wrong := e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"nope"}`), http.StatusUnauthorized)
		unknown := e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"bob@example.com","password":"nope"}`), http.StatusUnauthorized)
		if wrong.json(t)["error"] != unknown.json(t)["error"] {
			t.Fatalf("unknown email and wrong password differ: %s vs %s", wrong.body, unknown.body)
		}
		if len(wrong.Cookies()) != 0 {
			t.Fatal("failed login set a cookie")
		}

		r := e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+testPassword+`"}`), http.StatusOK)
		if m := r.json(t); !strings.EqualFold(m["email"].(string), "alice@example.com") || m["role"] != "operator" || m["id"] != float64(u.ID) {
			t.Fatalf("login body %s", r.body)
		}
		var c *http.Cookie
		for _, ck := range r.Cookies() {
			if ck.Name == sessionCookie {
				c = ck
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge != int(testTTL.Seconds()) {
			t.Fatalf("session cookie %+v", c)
		}
		// Only the hash is stored.
		if _, err := cat.GetSessionByTokenHash(context.Background(), c.Value, time.Now()); err == nil {
			t.Fatal("the raw cookie value is stored")
		}
		me := e.expect(e.do(cred{cookie: c.Value}, "GET", "/api/v1/auth/me", ""), http.StatusOK)
		if !strings.EqualFold(me.json(t)["email"].(string), "alice@example.com") {
			t.Fatalf("me %s", me.body)
		}
		out := e.expect(e.do(cred{cookie: c.Value}, "POST", "/api/v1/auth/logout", ""), http.StatusNoContent)
		if ck := out.Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
			t.Fatalf("logout cookies %v", ck)
		}
		e.expect(e.do(cred{cookie: c.Value}, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)

		// A disabled user is refused at login and loses open sessions.
		sess := e.login("alice@example.com")
		if _, _, err := cat.UpdateUserAccess(context.Background(), u.ID, userAccess(u.Role, true)); err != nil {
			t.Fatal(err)
		}
		e.expect(e.do(sess, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+testPassword+`"}`), http.StatusForbidden)

		if !strings.Contains(e.serverLog(), "path=/api/v1/auth/login status=401") {
			t.Fatalf("request log missing: %s", e.serverLog())
		}
		if strings.Contains(e.serverLog(), testPassword) || strings.Contains(e.serverLog(), c.Value) {
			t.Fatal("a secret reached the log")
		}
	})
}

func TestSessionSlidingAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("a@example.com", store.RoleViewer)
	c := e.login("a@example.com")

	e.clock.Advance(30 * time.Second)
	r := e.expect(e.do(c, "GET", "/api/v1/auth/me", ""), http.StatusOK)
	if len(r.Cookies()) != 0 {
		t.Fatal("session renewed twice within a minute")
	}
	e.clock.Advance(50 * time.Minute)
	r = e.expect(e.do(c, "GET", "/api/v1/auth/me", ""), http.StatusOK)
	if ck := r.Cookies(); len(ck) != 1 || ck[0].Value != c.cookie || ck[0].MaxAge != int(testTTL.Seconds()) {
		t.Fatalf("no sliding renewal: %v", ck)
	}
	// 50 minutes after the renewal the session still lives (TTL 1h from renewal)...
	e.clock.Advance(50 * time.Minute)
	e.expect(e.do(c, "GET", "/api/v1/auth/me", ""), http.StatusOK)
	// ...and expires an hour after the last use.
	e.clock.Advance(testTTL + time.Second)
	r = e.expect(e.do(c, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
	if !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expiry message %s", r.body)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newEnv(t, cat)
		c := e.admin()
		e.expect(e.do(c, "POST", "/api/v1/tokens", `{"name":""}`), http.StatusUnprocessableEntity)
		r := e.expect(e.do(c, "POST", "/api/v1/tokens", `{"name":"ci"}`), http.StatusCreated)
		m := r.json(t)
		tok, _ := m["token"].(string)
		if !strings.HasPrefix(tok, "cof_") || m["name"] != "ci" {
			t.Fatalf("token body %s", r.body)
		}
		id := int64(m["id"].(float64))
		list := e.expect(e.do(c, "GET", "/api/v1/tokens", ""), http.StatusOK)
		if strings.Contains(string(list.body), tok) || !strings.Contains(string(list.body), `"name":"ci"`) {
			t.Fatalf("token list %s", list.body)
		}
		me := e.expect(e.do(cred{bearer: tok}, "GET", "/api/v1/auth/me", ""), http.StatusOK)
		if me.json(t)["email"] != "admin@example.com" {
			t.Fatalf("bearer me %s", me.body)
		}
		// Tokens are not sent across origins by browsers, so they may POST.
		e.expect(e.do(cred{bearer: tok}, "POST", "/api/v1/connections", `{"name":"x","type":"nope","credentials":{}}`), http.StatusUnprocessableEntity)
		e.expect(e.do(c, "DELETE", "/api/v1/tokens/"+strconv.FormatInt(id, 10), ""), http.StatusNoContent)
		e.expect(e.do(c, "DELETE", "/api/v1/tokens/"+strconv.FormatInt(id, 10), ""), http.StatusNotFound)
		e.expect(e.do(cred{bearer: tok}, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
	})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("a@example.com", store.RoleAdmin)
	bad := `{"email":"a@example.com","password":"wrong"}`
	for range loginFailuresPerAccount {
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", bad), http.StatusUnauthorized)
	}
	r := e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", bad), http.StatusTooManyRequests)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(loginWindow.Seconds()) {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Even the right password waits.
	e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"A@example.com","password":"`+testPassword+`"}`), http.StatusTooManyRequests)
	// After the window the account can sign in again.
	e.clock.Advance(loginWindow + time.Second)
	e.login("a@example.com")
	// The server is still healthy.
	e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusOK)
}

func TestViewerCannotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("v@example.com", store.RoleViewer)
	c := e.login("v@example.com")
	e.expect(e.do(c, "GET", "/api/v1/connections", ""), http.StatusOK)
	e.expect(e.do(c, "POST", "/api/v1/connections", `{"name":"x","type":"local","credentials":{"path":"/tmp"}}`), http.StatusForbidden)
	e.expect(e.do(c, "POST", "/api/v1/backups/1/cancel", ""), http.StatusForbidden)
}

func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.admin()
	body := `{"name":"x","type":"local","credentials":{"path":"/nowhere"}}`
	r := e.expect(e.do(c, "POST", "/api/v1/connections", body, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	if !strings.Contains(string(r.body), "Cross-origin") {
		t.Fatalf("body %s", r.body)
	}
	e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"admin@example.com","password":"`+testPassword+`"}`, "Origin", "https://evil.example"), http.StatusForbidden)
	// The public URL's origin is trusted even though the Host differs.
	e.expect(e.do(c, "POST", "/api/v1/connections", body, "Origin", "https://coffer.example.com", "Sec-Fetch-Site", "cross-site"), http.StatusUnprocessableEntity)
	// Same-origin browser requests pass.
	e.expect(e.do(c, "POST", "/api/v1/connections", body, "Sec-Fetch-Site", "same-origin"), http.StatusUnprocessableEntity)
	// Reads are safe methods and pass.
	e.expect(e.do(c, "GET", "/api/v1/connections", "", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusOK)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tlsEnv := newEnv(t, nil, withConfig(func(c *config.Config) { c.TLSCert, c.TLSKey = "/cert.pem", "/key.pem" }))
	for _, r := range []resp{
		e.do(cred{}, "GET", "/api/v1/healthz", ""),
		e.do(cred{}, "GET", "/api/v1/connections", ""),
		e.do(cred{}, "GET", "/api/v1/nope", ""),
		e.do(cred{}, "GET", "/", ""),
		e.do(cred{}, "POST", "/api/v1/auth/login", "x", "Content-Type", "text/plain"),
	} {
		h := r.Header
		if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", r.Request.URL.Path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("HSTS without TLS on %s", r.Request.URL.Path)
		}
	}
	r := tlsEnv.do(cred{}, "GET", "/api/v1/healthz", "")
	if !strings.HasPrefix(r.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("no HSTS with TLS: %v", r.Header)
	}
	tlsEnv.user("a@example.com", store.RoleAdmin)
	lr := tlsEnv.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"a@example.com","password":"`+testPassword+`"}`)
	if ck := lr.Cookies(); len(ck) != 1 || !ck[0].Secure {
		t.Fatalf("cookie not Secure with TLS: %v", ck)
	}
}
