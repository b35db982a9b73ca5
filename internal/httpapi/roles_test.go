package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/store"
)

// minimumRole is, written out independently of the route table, the least
// role each route needs. A route missing here fails the test, so every new
// route gets a deliberate decision.
var minimumRole = map[string]access{
	"POST /auth/login":    public,
	"POST /auth/logout":   reader,
	"GET /auth/me":        reader,
	"POST /auth/password": reader,

	// Signing in with single sign-on needs no login, by nature.
	"GET /auth/providers":     public,
	"GET /auth/oidc/start":    public,
	"GET /auth/oidc/callback": public,

	"GET /connections":                      reader,
	"POST /connections":                     operator,
	"GET /connections/{id}":                 reader,
	"PUT /connections/{id}":                 operator,
	"DELETE /connections/{id}":              operator,
	"POST /connections/{id}/test":           operator,
	"GET /plans":                            reader,
	"GET /notification-channels":            reader,
	"POST /notification-channels":           admin,
	"GET /notification-channels/{id}":       reader,
	"PUT /notification-channels/{id}":       admin,
	"DELETE /notification-channels/{id}":    admin,
	"POST /notification-channels/{id}/test": admin,
	"GET /encryption-keys":                  reader,
	"POST /encryption-keys":                 admin,
	"GET /encryption-keys/{id}":             reader,
	"DELETE /encryption-keys/{id}":          admin,
	"GET /notification-deliveries":          reader,
	"POST /plans":                           operator,
	"GET /plans/{id}":                       reader,
	"PUT /plans/{id}":                       operator,
	"DELETE /plans/{id}":                    operator,
	"POST /plans/{id}/run":                  operator,
	"POST /plans/{id}/prune":                operator,
	"DELETE /backups/{id}":                  operator,
	"GET /plans/{id}/events":                reader,
	"GET /plans/{id}/retention":             reader,
	"GET /schedules/preview":                reader,
	"GET /oauth/google/start":               operator,
	"GET /oauth/google/callback":            operator,
	"GET /backups":                          reader,
	"POST /backups":                         operator,
	"GET /backups/{id}":                     reader,
	"POST /backups/{id}/pause":              operator,
	"POST /backups/{id}/resume":             operator,
	"POST /backups/{id}/cancel":             operator,
	"GET /backups/{id}/logs":                reader,
	"GET /backups/{id}/logs/stream":         reader,

	"GET /restores":                       reader,
	"POST /restores":                      operator,
	"GET /restores/{id}":                  reader,
	"POST /restores/{id}/cancel":          operator,
	"POST /backups/{id}/verify":           operator,
	"GET /backups/{id}/entries":           reader,
	"GET /verifications":                  reader,
	"GET /verifications/{id}":             reader,
	"POST /verifications/{id}/cancel":     operator,
	"GET /verifications/{id}/logs":        reader,
	"GET /verifications/{id}/logs/stream": reader,
	"POST /connections/{id}/scan":         operator,
	"GET /restores/{id}/logs":             reader,
	"GET /restores/{id}/logs/stream":      reader,

	"GET /dashboard": reader,

	// Tokens are the caller's own and carry the caller's role.
	"GET /tokens":         reader,
	"POST /tokens":        reader,
	"DELETE /tokens/{id}": reader,

	"GET /users":                admin,
	"POST /users":               admin,
	"PUT /users/{id}":           admin,
	"POST /users/{id}/password": admin,
	"GET /audit":                admin,
	"GET /healthz":              public,
	"GET /openapi.json":         public,
}

// TestRoleMatrix runs every route of the table with every role (through an
// API token of a user with that role): a route the role may use does not
// answer 403, one it may not answers 403 JSON.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s, err := newServer(Deps{Catalog: e.cat, Connections: e.conns, Ops: e.ops}, defaultTimings())
	if err != nil {
		t.Fatal(err)
	}
	routes := s.routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		want, ok := minimumRole[key]
		if !ok {
			t.Errorf("route %s is not in the test's minimumRole table; decide its role there", key)
			continue
		}
		if rt.access != want {
			t.Errorf("route %s needs %v in the route table, want %v", key, rt.access, want)
		}
		seen[key] = true
	}
	for key := range minimumRole {
		if !seen[key] {
			t.Errorf("minimumRole lists %s, which is not in the route table", key)
		}
	}

	roles := []store.Role{store.RoleViewer, store.RoleOperator, store.RoleAdmin}
	creds := map[store.Role]cred{}
	for _, role := range roles {
		u := e.user(string(role)+"@example.com", role)
		tok, hash, err := auth.NewToken(auth.APITokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.cat.CreateAPIToken(context.Background(), &store.APIToken{UserID: u.ID, Name: "matrix", TokenHash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		creds[role] = cred{bearer: tok}
	}

	checked := 0
	for _, rt := range routes {
		if rt.access == public {
			continue
		}
		// Ids that do not exist: allowed routes answer 404 or 422, never act.
		path := apiPrefix + strings.ReplaceAll(rt.path, "{id}", "999999")
		body := ""
		if rt.method == "POST" || rt.method == "PUT" {
			body = `{}`
		}
		for _, role := range roles {
			r := e.do(creds[role], rt.method, path, body)
			allowed := roleRank(role) >= rt.access
			switch {
			case allowed && r.StatusCode == http.StatusForbidden:
				t.Errorf("%s %s as %s: 403, want it allowed; body %s", rt.method, rt.path, role, r.body)
			case allowed && (r.StatusCode == http.StatusUnauthorized || r.StatusCode >= 500 && r.StatusCode != http.StatusServiceUnavailable):
				t.Errorf("%s %s as %s: %d; body %s", rt.method, rt.path, role, r.StatusCode, r.body)
			case !allowed:
				e.expect(r, http.StatusForbidden)
			}
			checked++
		}
	}
	if checked < 3*30 {
		t.Fatalf("checked only %d route × role pairs", checked)
	}
	// The checks above ran on tokens; the same rule holds for sessions.
	c := e.login("viewer@example.com")
	e.expect(e.do(c, "GET", "/api/v1/users", ""), http.StatusForbidden)
	e.expect(e.do(c, "POST", "/api/v1/connections", `{}`), http.StatusForbidden)
	e.expect(e.do(c, "GET", "/api/v1/connections", ""), http.StatusOK)
}

func TestCheckRoleUnknownRole(t *testing.T) {
	t.Parallel()
	if err := checkRole(reader, store.Role("root")); err == nil {
		t.Fatal("an unknown role passed a reader route")
	}
	if err := checkRole(admin, store.RoleOperator); err == nil || !strings.Contains(err.Error(), "administrators") {
		t.Fatalf("operator on an admin route: %v", err)
	}
}
