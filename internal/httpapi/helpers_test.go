package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// refusingOps stands in for the engine, which is not part of this package:
// it starts and steers nothing (every call is a 503 saying so) and reports
// the queue health a test sets. Tests of backup and restore routes through
// it cover authentication, validation and reading only.
type refusingOps struct {
	mu        sync.Mutex
	queueErr  error
	lastActor engine.Actor
}

func (o *refusingOps) refuse(actor engine.Actor) error {
	o.mu.Lock()
	o.lastActor = actor
	o.mu.Unlock()
	return apperr.New(apperr.Unavailable, "The engine is not part of this test.")
}

func (o *refusingOps) StartBackup(_ context.Context, a engine.Actor, _ engine.BackupRequest) (*store.BackupOperation, error) {
	return nil, o.refuse(a)
}
func (o *refusingOps) PauseBackup(_ context.Context, a engine.Actor, _ int64) error {
	return o.refuse(a)
}
func (o *refusingOps) ResumeBackup(_ context.Context, a engine.Actor, _ int64) error {
	return o.refuse(a)
}
func (o *refusingOps) StartRestore(_ context.Context, a engine.Actor, _ engine.RestoreRequest) (*store.RestoreOperation, error) {
	return nil, o.refuse(a)
}
func (o *refusingOps) Cancel(_ context.Context, a engine.Actor, _ string, _ int64) error {
	return o.refuse(a)
}
func (o *refusingOps) DeleteArchive(_ context.Context, a engine.Actor, _ int64, _ string) error {
	return o.refuse(a)
}
func (o *refusingOps) StartVerify(_ context.Context, a engine.Actor, _, _ int64) (*store.VerifyOperation, bool, error) {
	return nil, false, o.refuse(a)
}
func (o *refusingOps) ScanDestination(_ context.Context, a engine.Actor, _ int64, _ func(string)) (*engine.ScanResult, error) {
	return nil, o.refuse(a)
}
func (o *refusingOps) QueueHealthy(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queueErr
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one API server over a real catalog.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	cat   *store.Store
	conns *connection.Service
	keys  *secret.Keyring
	ops   *refusingOps
	clock *clock
	roots string
	logs  *bytes.Buffer
	logMu *sync.Mutex
}

// envSetup is what an envOption may change before the server starts.
type envSetup struct {
	deps  *Deps
	tm    *timings
	cat   *store.Store
	keys  *secret.Keyring
	roots string
	// ops, when set, builds the Operations once the connection service exists.
	ops func(cat *store.Store, conns *connection.Service, roots string) Operations
	// plans adds the plan service on the engine that ops built.
	plans bool
}

type envOption func(*envSetup)

func withUI(ui fs.FS) envOption { return func(s *envSetup) { s.deps.UI = ui } }

func withConfig(f func(*config.Config)) envOption {
	return func(s *envSetup) { f(&s.deps.Config) }
}

// withOps replaces the refusing Operations with what build returns.
func withOps(build func(cat *store.Store, conns *connection.Service, roots string) Operations) envOption {
	return func(s *envSetup) { s.ops = build }
}

// withEngine serves the real engine, with a River queue on the catalog
// running workers jobs at once and logging to log.
func withEngine(t *testing.T, workers int, log *slog.Logger) envOption {
	return withOps(func(cat *store.Store, conns *connection.Service, _ string) Operations {
		ctx := context.Background()
		q, err := queue.New(ctx, cat, queue.Options{DatabaseURL: cat.URL(), Workers: workers, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(cat, conns, q, engine.Options{Heartbeat: 200 * time.Millisecond}, log)
		q.SetRunner(eng)
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = q.Stop(sctx)
		})
		return eng
	})
}

// withPlans serves the plan routes, on the engine withOps builds.
func withPlans() envOption { return func(s *envSetup) { s.plans = true } }

const testTTL = time.Hour

func newEnv(t *testing.T, cat *store.Store, opts ...envOption) *env {
	t.Helper()
	if cat == nil {
		cat = storetest.SQLite(t)
	}
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	roots := t.TempDir()
	e := &env{t: t, cat: cat, keys: keys, ops: &refusingOps{}, clock: clk, roots: roots, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	d := Deps{
		Catalog: cat,
		Ops:     e.ops,
		Config:  config.Config{PublicURL: "https://coffer.example.com", SessionTTL: testTTL, LocalRoots: []string{roots}},
		Logger:  slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.logs}, nil)),
		Secrets: redact.NewSecrets(),
		Now:     clk.Now,
	}
	tm := timings{pollInterval: 20 * time.Millisecond, heartbeatInterval: 100 * time.Millisecond, touchEvery: time.Minute}
	setup := envSetup{deps: &d, tm: &tm, cat: cat, keys: keys, roots: roots}
	for _, o := range opts {
		o(&setup)
	}
	// The connection service registers the secrets it sees with the
	// server's registry, as cmd/coffer wires them.
	conns, err := connection.New(cat, keys, connection.Options{LocalRoots: []string{roots}, Secrets: d.Secrets, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.conns, d.Connections = conns, conns
	if setup.ops != nil {
		d.Ops = setup.ops(cat, conns, roots)
	}
	d.Keys = encryption.New(cat, keys)
	d.Keys.SetScryptWorkFactor(10)
	if eng, ok := d.Ops.(*engine.Engine); ok {
		eng.SetKeys(d.Keys)
	}
	if setup.plans {
		eng, ok := d.Ops.(*engine.Engine)
		if !ok {
			t.Fatal("withPlans needs withOps to build a real engine")
		}
		d.Plans = plan.New(cat, eng, time.Second, nil)
		eng.OnBackupCompleted(d.Plans.AfterBackup)
	}
	h, err := newHandler(d, tm)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// storedCreds decrypts what the catalog holds for connection id into v
// (the tests look at what was stored; the server never shows it).
func storedCreds[C any](t *testing.T, e *env, id int64) (C, error) {
	t.Helper()
	var v C
	row, err := e.cat.GetConnection(context.Background(), id)
	if err != nil {
		return v, err
	}
	plain, err := e.keys.Open(row.Credentials)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(plain, &v)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) serverLog() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

// resp is a finished response.
type resp struct {
	*http.Response
	body []byte
}

// json decodes the body into a generic map.
func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// auth is how a request authenticates.
type cred struct {
	cookie string
	bearer string
}

// do sends a request; a non-empty body is sent as application/json unless
// hdr says otherwise.
func (e *env) do(c cred, method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res, b}
}

// expect asserts the status and, for API errors, the JSON error shape.
func (e *env) expect(r resp, status int) resp {
	e.t.Helper()
	if r.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	if status >= 400 && strings.HasPrefix(r.Request.URL.Path, "/api/") {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			e.t.Fatalf("%s %s: error with Content-Type %q", r.Request.Method, r.Request.URL.Path, ct)
		}
		m := r.json(e.t)
		if msg, _ := m["error"].(string); msg == "" {
			e.t.Fatalf("%s %s: error body without a message: %s", r.Request.Method, r.Request.URL.Path, r.body)
		}
	}
	return r
}

const testPassword = "correct horse battery staple"

// user creates a user with testPassword.
func (e *env) user(email string, role store.Role) *store.User {
	e.t.Helper()
	h, err := auth.HashPassword(testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &store.User{Email: email, PasswordHash: h, Role: role}
	if err := e.cat.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login signs in and returns the session cookie value.
func (e *env) login(email string) cred {
	e.t.Helper()
	r := e.expect(e.do(cred{}, "POST", "/api/v1/auth/login", `{"email":"`+email+`","password":"`+testPassword+`"}`), http.StatusOK)
	for _, c := range r.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return cred{cookie: c.Value}
		}
	}
	e.t.Fatalf("login set no session cookie: %v", r.Header)
	return cred{}
}

// admin creates an admin and signs in.
func (e *env) admin() cred {
	e.t.Helper()
	e.user("admin@example.com", store.RoleAdmin)
	return e.login("admin@example.com")
}

// backupRow inserts a backup operation directly through the catalog.
func (e *env) backupRow(src, dst int64, status string) *store.BackupOperation {
	e.t.Helper()
	op := &store.BackupOperation{SourceConnectionID: src, DestinationConnectionID: dst, Operation: store.Operation{Status: status}}
	ctx := context.Background()
	if err := e.cat.InTx(ctx, func(tx *sql.Tx) error { return e.cat.CreateBackup(ctx, tx, op) }); err != nil {
		e.t.Fatal(err)
	}
	return op
}

// connection creates a connection through the service, without its live
// check (the tests that use it need a row, not a server), and returns its id.
func (e *env) connection(name, typ, creds string) int64 {
	e.t.Helper()
	v, err := e.conns.Create(context.Background(), connection.NewConnection{Name: name, Type: typ, Credentials: json.RawMessage(creds), SaveUnchecked: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return v.ID
}
