package httpapi

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// catalogOps starts and steers operations by writing them to the real
// catalog, as the engine does, without running them: enough for tests of
// auditing and rate limits, which happen in the HTTP layer.
type catalogOps struct{ cat store.Catalog }

func withCatalogOps() envOption {
	return withOps(func(cat *store.Store, _ *connection.Service, _ string) Operations { return catalogOps{cat} })
}

func (o catalogOps) StartBackup(ctx context.Context, _ engine.Actor, req engine.BackupRequest) (*store.BackupOperation, error) {
	op := &store.BackupOperation{SourceConnectionID: req.SourceConnectionID, DestinationConnectionID: req.DestinationConnectionID, Options: req.Options}
	err := o.cat.InTx(ctx, func(tx *sql.Tx) error { return o.cat.CreateBackup(ctx, tx, op) })
	return op, err
}
func (o catalogOps) PauseBackup(ctx context.Context, _ engine.Actor, id int64) error {
	_, err := o.cat.TransitionOperation(ctx, nil, store.KindBackup, id, []string{store.StatusPending, store.StatusRunning}, store.StatusPaused)
	return err
}
func (o catalogOps) ResumeBackup(ctx context.Context, _ engine.Actor, id int64) error {
	_, err := o.cat.TransitionOperation(ctx, nil, store.KindBackup, id, []string{store.StatusPaused}, store.StatusPending)
	return err
}
func (o catalogOps) StartRestore(ctx context.Context, _ engine.Actor, req engine.RestoreRequest) (*store.RestoreOperation, error) {
	op := &store.RestoreOperation{BackupOperationID: req.BackupOperationID, DestinationConnectionID: req.DestinationConnectionID, DestinationConfig: req.Config}
	err := o.cat.InTx(ctx, func(tx *sql.Tx) error { return o.cat.CreateRestore(ctx, tx, op) })
	return op, err
}
func (o catalogOps) Cancel(ctx context.Context, _ engine.Actor, kind string, id int64) error {
	_, err := o.cat.TransitionOperation(ctx, nil, kind, id, []string{store.StatusPending, store.StatusPaused}, store.StatusCancelled)
	return err
}
func (o catalogOps) DeleteArchive(ctx context.Context, _ engine.Actor, id int64, reason string) error {
	return o.cat.MarkPruned(ctx, id, reason, time.Now())
}
func (o catalogOps) StartVerify(ctx context.Context, _ engine.Actor, backupID, planID int64) (*store.VerifyOperation, bool, error) {
	op := &store.VerifyOperation{BackupOperationID: backupID, PlanID: planID}
	return op, true, o.cat.CreateVerification(ctx, nil, op)
}
func (o catalogOps) ScanDestination(context.Context, engine.Actor, int64, func(string)) (*engine.ScanResult, error) {
	return &engine.ScanResult{BackupIDs: []int64{}, Problems: []engine.ScanProblem{}}, nil
}
func (o catalogOps) QueueHealthy(context.Context) error { return nil }

func idOf(t *testing.T, r resp) int64 {
	t.Helper()
	id, ok := r.json(t)["id"].(float64)
	if !ok {
		t.Fatalf("no id in %s", r.body)
	}
	return int64(id)
}

func cookieOf(r resp) string {
	for _, c := range r.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// TestUsersAPI covers the users API and own password changes on SQLite and
// PostgreSQL: create, list, disable (sessions and tokens stop at once),
// enable, the last-admin rule, admin reset and own change, and what the
// audit log keeps of it.
func TestUsersAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newEnv(t, cat)
		adm := e.admin()
		admID := idOf(t, e.expect(e.do(adm, "GET", "/api/v1/auth/me", ""), http.StatusOK))

		r := e.expect(e.do(adm, "POST", "/api/v1/users", `{"email":" Op@Example.com ","role":"operator","password":"`+testPassword+`"}`), http.StatusCreated)
		op := r.json(t)
		opID := idOf(t, r)
		if op["email"] != "op@example.com" || op["role"] != "operator" || op["disabled"] != false || op["created_at"] == nil {
			t.Fatalf("created user %s", r.body)
		}
		if strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "$argon2") {
			t.Fatalf("user view shows the password: %s", r.body)
		}
		dup := e.expect(e.do(adm, "POST", "/api/v1/users", `{"email":"op@example.com","role":"viewer","password":"`+testPassword+`"}`), http.StatusConflict)
		if dup.json(t)["fields"].(map[string]any)["email"] == nil {
			t.Fatalf("duplicate: %s", dup.body)
		}
		bad := e.expect(e.do(adm, "POST", "/api/v1/users", `{"email":"nope","role":"root","password":"short"}`), http.StatusUnprocessableEntity)
		if f := bad.json(t)["fields"].(map[string]any); f["email"] == nil || f["role"] == nil || f["password"] == nil {
			t.Fatalf("invalid user: %s", bad.body)
		}
		e.expect(e.do(adm, "POST", "/api/v1/users", `{"email":"x@example.com","role":"viewer","password":"`+testPassword+`","admin":true}`), http.StatusBadRequest)

		list := e.expect(e.do(adm, "GET", "/api/v1/users", ""), http.StatusOK).json(t)["items"].([]any)
		if len(list) != 2 || list[0].(map[string]any)["email"] != "admin@example.com" || list[1].(map[string]any)["role"] != "operator" {
			t.Fatalf("users %v", list)
		}

		// The operator signs in and makes an API token.
		opSess := e.login("op@example.com")
		tok := e.expect(e.do(opSess, "POST", "/api/v1/tokens", `{"name":"ci"}`), http.StatusCreated).json(t)["token"].(string)
		opTok := cred{bearer: tok}
		e.expect(e.do(opTok, "GET", "/api/v1/connections", ""), http.StatusOK)

		// Disabling ends the session and refuses the token at once.
		r = e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", opID), `{"disabled":true}`), http.StatusOK)
		if r.json(t)["disabled"] != true {
			t.Fatalf("disable: %s", r.body)
		}
		e.expect(e.do(opSess, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(opTok, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"op@example.com","password":"`+testPassword+`"}`), http.StatusForbidden)
		// Enabled again, the token works; the old session stays ended.
		e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", opID), `{"disabled":false}`), http.StatusOK)
		e.expect(e.do(opTok, "GET", "/api/v1/auth/me", ""), http.StatusOK)
		e.expect(e.do(opSess, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)

		// The last active admin can be neither demoted nor disabled.
		for _, body := range []string{`{"role":"operator"}`, `{"disabled":true}`, `{"role":"viewer","disabled":true}`} {
			e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", admID), body), http.StatusConflict)
		}
		e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", admID), `{"role":"superuser"}`), http.StatusUnprocessableEntity)
		e.expect(e.do(adm, "PUT", "/api/v1/users/424242", `{"role":"viewer"}`), http.StatusNotFound)
		// With a second admin, the first can step down.
		e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", opID), `{"role":"admin"}`), http.StatusOK)
		r = e.expect(e.do(adm, "PUT", fmt.Sprintf("/api/v1/users/%d", admID), `{"role":"operator"}`), http.StatusOK)
		if r.json(t)["role"] != "operator" {
			t.Fatalf("demote: %s", r.body)
		}
		e.expect(e.do(adm, "GET", "/api/v1/users", ""), http.StatusForbidden) // the change applies at once
		e.expect(e.do(opTok, "PUT", fmt.Sprintf("/api/v1/users/%d", opID), `{"disabled":true}`), http.StatusConflict)

		// Admin reset: the user's sessions end and only the new password works.
		opSess = e.login("op@example.com")
		e.expect(e.do(opTok, "POST", fmt.Sprintf("/api/v1/users/%d/password", admID), `{"password":"short"}`), http.StatusUnprocessableEntity)
		e.expect(e.do(opTok, "POST", fmt.Sprintf("/api/v1/users/%d/password", admID), `{"password":"Reset-Password-Value-1"}`), http.StatusNoContent)
		e.expect(e.do(adm, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"admin@example.com","password":"`+testPassword+`"}`), http.StatusUnauthorized)
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"admin@example.com","password":"Reset-Password-Value-1"}`), http.StatusOK)

		// Own change: the current password is checked, other sessions end,
		// the caller gets a fresh session.
		wrong := e.expect(e.do(opSess, "POST", "/api/v1/auth/password", `{"current_password":"not it","new_password":"Own-New-Password-2"}`), http.StatusUnprocessableEntity)
		if wrong.json(t)["fields"].(map[string]any)["current_password"] == nil {
			t.Fatalf("wrong current password: %s", wrong.body)
		}
		other := e.login("op@example.com")
		r = e.expect(e.do(opSess, "POST", "/api/v1/auth/password", `{"current_password":"`+testPassword+`","new_password":"Own-New-Password-2"}`), http.StatusNoContent)
		fresh := cookieOf(r)
		if fresh == "" {
			t.Fatal("no new session after a password change")
		}
		e.expect(e.do(other, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(opSess, "GET", "/api/v1/auth/me", ""), http.StatusUnauthorized)
		e.expect(e.do(cred{cookie: fresh}, "GET", "/api/v1/auth/me", ""), http.StatusOK)
		e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"op@example.com","password":"Own-New-Password-2"}`), http.StatusOK)

		// The audit log has all of it, newest first, and no password.
		a := e.expect(e.do(opTok, "GET", "/api/v1/audit?per_page=100", ""), http.StatusOK)
		for _, pw := range []string{testPassword, "Reset-Password-Value-1", "Own-New-Password-2", tok} {
			if strings.Contains(string(a.body), pw) {
				t.Fatalf("audit log holds a secret %q: %s", pw, a.body)
			}
		}
		body := a.json(t)
		items := body["items"].([]any)
		if body["total"] != float64(len(items)) || body["page"] != float64(1) || body["per_page"] != float64(100) {
			t.Fatalf("audit paging: %v", body)
		}
		actions := map[string]int{}
		for _, it := range items {
			m := it.(map[string]any)
			actions[m["action"].(string)]++
			if m["ip"] != "127.0.0.1" || m["created_at"] == nil {
				t.Fatalf("audit event %v", m)
			}
		}
		for action, n := range map[string]int{
			"user.create": 1, "user.disable": 1, "user.enable": 1, "user.update": 2, "user.password_reset": 1,
			"user.password_change": 1, "user.password_change_failed": 1, "token.create": 1, "auth.login_failed": 2,
		} {
			if actions[action] != n {
				t.Errorf("audit has %d %s events, want %d (all: %v)", actions[action], action, n, actions)
			}
		}
		if actions["auth.login"] < 5 {
			t.Errorf("audit has %d logins: %v", actions["auth.login"], actions)
		}

		// Filters and paging.
		f := e.expect(e.do(opTok, "GET", "/api/v1/audit?action=user.create", ""), http.StatusOK).json(t)
		if f["total"] != float64(1) {
			t.Fatalf("action filter: %v", f)
		}
		ev := f["items"].([]any)[0].(map[string]any)
		if ev["actor_id"] != float64(admID) || ev["actor_email"] != "admin@example.com" || ev["target_type"] != "user" || ev["target_id"] != strconv.FormatInt(opID, 10) {
			t.Fatalf("user.create event %v", ev)
		}
		if d := ev["details"].(map[string]any); d["email"] != "op@example.com" || d["role"] != "operator" {
			t.Fatalf("user.create details %v", d)
		}
		byActor := e.expect(e.do(opTok, "GET", fmt.Sprintf("/api/v1/audit?actor_id=%d&per_page=100", opID), ""), http.StatusOK).json(t)
		for _, it := range byActor["items"].([]any) {
			if it.(map[string]any)["actor_id"] != float64(opID) {
				t.Fatalf("actor filter returned %v", it)
			}
		}
		if byActor["total"].(float64) < 3 {
			t.Fatalf("actor filter: %v", byActor)
		}
		tt := e.expect(e.do(opTok, "GET", "/api/v1/audit?target_type=api_token", ""), http.StatusOK).json(t)
		if tt["total"] != float64(1) {
			t.Fatalf("target_type filter: %v", tt)
		}
		p2 := e.expect(e.do(opTok, "GET", "/api/v1/audit?per_page=2&page=2", ""), http.StatusOK).json(t)
		if len(p2["items"].([]any)) != 2 || p2["total"] != float64(len(items)) || p2["page"] != float64(2) {
			t.Fatalf("page 2: %v", p2)
		}
		if p2["items"].([]any)[0].(map[string]any)["id"] != items[2].(map[string]any)["id"] {
			t.Fatalf("page 2 does not continue page 1")
		}
		future := url.QueryEscape(e.clock.Now().Add(time.Hour).Format(time.RFC3339))
		if n := e.expect(e.do(opTok, "GET", "/api/v1/audit?since="+future, ""), http.StatusOK).json(t)["total"]; n != float64(0) {
			t.Fatalf("since in the future: %v events", n)
		}
		past := url.QueryEscape(e.clock.Now().Add(-time.Hour).Format(time.RFC3339))
		if n := e.expect(e.do(opTok, "GET", "/api/v1/audit?since="+past, ""), http.StatusOK).json(t)["total"]; n != float64(len(items)) {
			t.Fatalf("since an hour ago: %v events", n)
		}
		e.expect(e.do(opTok, "GET", "/api/v1/audit?since=yesterday", ""), http.StatusUnprocessableEntity)
		e.expect(e.do(opTok, "GET", "/api/v1/audit?actor_id=x", ""), http.StatusBadRequest)
	})
}

// TestAuditOfConnectionsAndOperations checks that every connection change
// and test, every backup and restore start/pause/resume/cancel, and token
// changes leave an audit event naming the actor, the target and the address.
func TestAuditOfConnectionsAndOperations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newEnv(t, cat, withCatalogOps())
		c := e.admin()
		path := e.roots + "/archives"
		conn := idOf(t, e.expect(e.do(c, "POST", "/api/v1/connections", `{"name":"disk","type":"local","credentials":{"path":"`+path+`"}}`), http.StatusCreated))
		e.expect(e.do(c, "PUT", fmt.Sprintf("/api/v1/connections/%d", conn), `{"name":"disk2"}`), http.StatusOK)
		e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/connections/%d/test", conn), ""), http.StatusOK)
		b := idOf(t, e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d}`, conn, conn)), http.StatusAccepted))
		for _, act := range []string{"pause", "resume", "cancel"} {
			e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/backups/%d/%s", b, act), ""), http.StatusOK)
		}
		e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/backups/%d/pause", b), ""), http.StatusConflict) // refused: no event
		rs := idOf(t, e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d}`, b, conn)), http.StatusAccepted))
		e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/restores/%d/cancel", rs), ""), http.StatusOK)
		tok := idOf(t, e.expect(e.do(c, "POST", "/api/v1/tokens", `{"name":"t"}`), http.StatusCreated))
		e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok), ""), http.StatusNoContent)
		e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/connections/%d", conn), ""), http.StatusNoContent)

		items := e.expect(e.do(c, "GET", "/api/v1/audit?per_page=100", ""), http.StatusOK).json(t)["items"].([]any)
		got := map[string]map[string]any{}
		for _, it := range items {
			m := it.(map[string]any)
			got[m["action"].(string)] = m
			if m["actor_email"] != "admin@example.com" || m["ip"] != "127.0.0.1" {
				t.Errorf("event without actor or address: %v", m)
			}
		}
		want := map[string]string{
			"connection.create": strconv.FormatInt(conn, 10), "connection.delete": strconv.FormatInt(conn, 10), "connection.update": strconv.FormatInt(conn, 10), "connection.test": strconv.FormatInt(conn, 10),
			"backup.start": strconv.FormatInt(b, 10), "backup.pause": strconv.FormatInt(b, 10), "backup.resume": strconv.FormatInt(b, 10), "backup.cancel": strconv.FormatInt(b, 10),
			"restore.start": strconv.FormatInt(rs, 10), "restore.cancel": strconv.FormatInt(rs, 10),
			"token.create": strconv.FormatInt(tok, 10), "token.delete": strconv.FormatInt(tok, 10), "auth.login": "",
		}
		for action, target := range want {
			ev, ok := got[action]
			if !ok {
				t.Errorf("no %s event; have %v", action, keys(got))
				continue
			}
			if target != "" && ev["target_id"] != target {
				t.Errorf("%s targets %v, want %s", action, ev["target_id"], target)
			}
		}
		if d, _ := got["connection.create"]["details"].(map[string]any); d["name"] != "disk" || d["type"] != "local" {
			t.Errorf("connection.create details %v", got["connection.create"]["details"])
		}
		if d, _ := got["backup.start"]["details"].(map[string]any); d["source_connection_id"] != float64(conn) {
			t.Errorf("backup.start details %v", got["backup.start"]["details"])
		}
		pauses := 0
		for _, it := range items {
			if it.(map[string]any)["action"] == "backup.pause" {
				pauses++
			}
		}
		if pauses != 1 {
			t.Errorf("%d backup.pause events; a refused pause must not be recorded", pauses)
		}
	})
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStartRateLimit: one user may start 30 backups and restores a minute;
// the next answers 429 with Retry-After, others are not affected, and the
// budget comes back with time.
func TestStartRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, withCatalogOps())
	c := e.admin()
	e.user("other@example.com", store.RoleOperator)
	other := e.login("other@example.com")
	conn := e.connection("disk", "local", `{"path":"`+e.roots+`/a"}`)
	start := fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d}`, conn, conn)
	var last int64
	for i := 0; i < startsPerMinute; i++ {
		last = idOf(t, e.expect(e.do(c, "POST", "/api/v1/backups", start), http.StatusAccepted))
	}
	r := e.expect(e.do(c, "POST", "/api/v1/backups", start), http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Restores share the budget; reading and steering do not use it.
	e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d}`, last, conn)), http.StatusTooManyRequests)
	e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/backups/%d/cancel", last), ""), http.StatusOK)
	e.expect(e.do(c, "GET", "/api/v1/backups", ""), http.StatusOK)
	// Invalid requests are refused before they count.
	e.expect(e.do(other, "POST", "/api/v1/backups", `{}`), http.StatusUnprocessableEntity)
	e.expect(e.do(other, "POST", "/api/v1/backups", start), http.StatusAccepted)
	e.clock.Advance(time.Minute / startsPerMinute)
	e.expect(e.do(c, "POST", "/api/v1/backups", start), http.StatusAccepted)
	e.expect(e.do(c, "POST", "/api/v1/backups", start), http.StatusTooManyRequests)
}
