// Package httpapi is coffer's JSON API under /api/v1 (DESIGN §5), its
// authentication (session cookies and bearer API tokens), the security
// headers and cross-origin protection around it, and the embedded web UI.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/metrics"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
)

// apiPrefix is where every API route lives.
const apiPrefix = "/api/v1"

// Operations starts and steers backups and restores; the engine implements
// it. Errors are *apperr.Error values or store sentinels, which the API maps
// to statuses.
type Operations interface {
	StartBackup(ctx context.Context, actor engine.Actor, req engine.BackupRequest) (*store.BackupOperation, error)
	PauseBackup(ctx context.Context, actor engine.Actor, id int64) (*store.BackupOperation, error)
	ResumeBackup(ctx context.Context, actor engine.Actor, id int64) (*store.BackupOperation, error)
	CancelBackup(ctx context.Context, actor engine.Actor, id int64) (*store.BackupOperation, error)
	StartRestore(ctx context.Context, actor engine.Actor, req engine.RestoreRequest) (*store.RestoreOperation, error)
	CancelRestore(ctx context.Context, actor engine.Actor, id int64) (*store.RestoreOperation, error)
	// QueueHealthy reports whether the job queue can take and run work.
	QueueHealthy(ctx context.Context) error
}

// Deps is everything the API needs.
type Deps struct {
	Catalog     store.Catalog
	Connections *connection.Service
	Ops         Operations
	Config      config.Config
	Logger      *slog.Logger
	// UI is the built web UI (web.Dist()); without an index.html, / explains how to build it.
	UI fs.FS
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Secrets is the registry of exact secret values hidden from logs and
	// error messages. When nil, the registry of Logger's redact.Handler is
	// used, or a new one. The server log is always passed through redact.
	Secrets *redact.Secrets
}

// access is who may call a route.
type access int

const (
	// public routes need no login (login, health).
	public access = iota
	// reader routes need any logged-in user or API token.
	reader
	// operator routes change connections and operations: admins and operators only.
	operator
	// admin routes manage users and read the audit log: admins only.
	admin
)

// handlerFunc is an API handler; a returned error is written by writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the API route table.
type route struct {
	method  string
	path    string // under apiPrefix, with ServeMux wildcards
	access  access
	handler handlerFunc
}

// Tunables that tests shorten.
type timings struct {
	pollInterval      time.Duration // SSE: how often the catalog is polled for new lines
	heartbeatInterval time.Duration // SSE: comment lines that keep proxies from closing
	touchEvery        time.Duration // sliding session renewal and token last-used granularity
}

func defaultTimings() timings {
	return timings{pollInterval: 500 * time.Millisecond, heartbeatInterval: 15 * time.Second, touchEvery: time.Minute}
}

// Limits on login failures before 429.
const (
	loginFailuresPerAccount = 5
	loginFailuresPerIP      = 20
	loginWindow             = 15 * time.Minute
	defaultSessionTTL       = 12 * time.Hour
)

// server holds the handlers' dependencies.
type server struct {
	cat        store.Catalog
	conns      *connection.Service
	ops        Operations
	cfg        config.Config
	log        *slog.Logger
	ui         fs.FS
	now        func() time.Time
	t          timings
	sessionTTL time.Duration
	secure     bool // TLS: Secure cookies and HSTS
	proxies    proxySet
	accountLim *auth.Limiter
	ipLim      *auth.Limiter
	secrets    *redact.Secrets
	startLim   *auth.RateLimiter // backup and restore initiations per user
	metrics    *metrics.Metrics  // GET /metrics and the HTTP latency histograms
}

// New returns the HTTP handler serving the API, the UI and everything
// around them (security headers, cross-origin protection, request logs).
func New(d Deps) (http.Handler, error) {
	return newHandler(d, defaultTimings())
}

func newHandler(d Deps, t timings) (http.Handler, error) {
	s, err := newServer(d, t)
	if err != nil {
		return nil, err
	}
	mux, err := s.mux()
	if err != nil {
		return nil, err
	}
	cop := http.NewCrossOriginProtection()
	if d.Config.PublicURL != "" {
		origin, err := originOf(d.Config.PublicURL)
		if err != nil {
			return nil, err
		}
		if err := cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("trust public URL origin %q: %w", origin, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "Cross-origin requests are refused; use coffer from its own address."})
	}))
	return s.observeRequests(s.logRequests(s.securityHeaders(cop.Handler(mux)))), nil
}

func newServer(d Deps, t timings) (*server, error) {
	switch {
	case d.Catalog == nil:
		return nil, errors.New("httpapi: Deps.Catalog is nil")
	case d.Connections == nil:
		return nil, errors.New("httpapi: Deps.Connections is nil")
	case d.Ops == nil:
		return nil, errors.New("httpapi: Deps.Ops is nil")
	}
	s := &server{
		cat:        d.Catalog,
		conns:      d.Connections,
		ops:        d.Ops,
		cfg:        d.Config,
		log:        d.Logger,
		ui:         d.UI,
		now:        d.Now,
		t:          t,
		sessionTTL: d.Config.SessionTTL,
		secure:     d.Config.TLS(),
		accountLim: auth.NewLimiter(loginFailuresPerAccount, loginWindow),
		ipLim:      auth.NewLimiter(loginFailuresPerIP, loginWindow),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = metrics.New(d.Catalog, s.log)
	s.secrets = d.Secrets
	if s.secrets == nil {
		s.secrets = redact.SecretsOf(s.log.Handler())
	}
	if s.secrets == nil {
		s.secrets = redact.NewSecrets()
	}
	s.log = slog.New(redact.NewHandler(s.log.Handler(), s.secrets))
	s.startLim = auth.NewRateLimiter(startsPerMinute, time.Minute)
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = defaultSessionTTL
	}
	s.proxies = newProxySet(d.Config.TrustedProxies)
	return s, nil
}

// originOf returns the scheme://host[:port] of a URL.
func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("public URL %q is not an absolute URL", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// routes is the API route table: the one place every /api/v1 route is listed.
func (s *server) routes() []route {
	return []route{
		{"POST", "/auth/login", public, s.login},
		{"POST", "/auth/logout", reader, s.logout},
		{"GET", "/auth/me", reader, s.me},
		{"POST", "/auth/password", reader, s.changeOwnPassword},

		{"GET", "/connections", reader, s.listConnections},
		{"POST", "/connections", operator, s.createConnection},
		{"GET", "/connections/{id}", reader, s.getConnection},
		{"PUT", "/connections/{id}", operator, s.updateConnection},
		{"DELETE", "/connections/{id}", operator, s.deleteConnection},
		{"POST", "/connections/{id}/test", operator, s.testConnection},

		{"GET", "/oauth/google/start", operator, s.googleStart},
		{"GET", "/oauth/google/callback", operator, s.googleCallback},

		{"GET", "/backups", reader, s.listBackups},
		{"POST", "/backups", operator, s.createBackup},
		{"GET", "/backups/{id}", reader, s.getBackup},
		{"POST", "/backups/{id}/pause", operator, s.pauseBackup},
		{"POST", "/backups/{id}/resume", operator, s.resumeBackup},
		{"POST", "/backups/{id}/cancel", operator, s.cancelBackup},
		{"GET", "/backups/{id}/logs", reader, s.backupLogs},
		{"GET", "/backups/{id}/logs/stream", reader, s.backupLogStream},

		{"GET", "/restores", reader, s.listRestores},
		{"POST", "/restores", operator, s.createRestore},
		{"GET", "/restores/{id}", reader, s.getRestore},
		{"POST", "/restores/{id}/cancel", operator, s.cancelRestore},
		{"GET", "/restores/{id}/logs", reader, s.restoreLogs},
		{"GET", "/restores/{id}/logs/stream", reader, s.restoreLogStream},

		{"GET", "/dashboard", reader, s.dashboard},

		{"GET", "/tokens", reader, s.listTokens},
		{"POST", "/tokens", reader, s.createToken},
		{"DELETE", "/tokens/{id}", reader, s.deleteToken},

		{"GET", "/users", admin, s.listUsers},
		{"POST", "/users", admin, s.createUser},
		{"PUT", "/users/{id}", admin, s.updateUser},
		{"POST", "/users/{id}/password", admin, s.resetUserPassword},

		{"GET", "/audit", admin, s.listAudit},

		{"GET", "/healthz", public, s.healthz},
	}
}

// mux registers the route table, a JSON 405 for each path with a method it
// does not have, a JSON 404 for every other /api/ path, and the UI at /.
func (s *server) mux() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		full := apiPrefix + rt.path
		mux.Handle(rt.method+" "+full, s.wrap(rt))
		if _, ok := allowed[full]; !ok {
			paths = append(paths, full)
		}
		allowed[full] = append(allowed[full], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: fmt.Sprintf("%s is not allowed here; use %s.", r.Method, allow)})
		})
	}
	apiNotFound := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "There is no API endpoint at this path."})
	}
	mux.Handle("GET /metrics", s.metricsHandler())
	oa, err := s.openapiHandler()
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI document: %w", err)
	}
	mux.Handle("GET "+apiPrefix+openapiPath, oa)
	mux.HandleFunc("/api/", apiNotFound)
	mux.HandleFunc("/api", apiNotFound)
	ui, err := s.uiHandler()
	if err != nil {
		return nil, err
	}
	mux.Handle("/", ui)
	return mux, nil
}

// wrap applies authentication and the role check of rt, then runs its
// handler and writes any error it returns.
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access != public {
			p, err := s.authenticate(w, r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if err := checkRole(rt.access, p.user.Role); err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(withPrincipal(r.Context(), p))
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
