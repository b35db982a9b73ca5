// Package httpapi is coffer's JSON API under /api/v1 (docs/api.md), its
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
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/metrics"
	"github.com/coffer-backup/coffer/internal/notification"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/sso"
	"github.com/coffer-backup/coffer/internal/store"
)

// apiPrefix is where every API route lives.
const apiPrefix = "/api/v1"

// Operations starts and steers backups and restores; the engine implements
// it. Errors are *apperr.Error values or store sentinels, which the API maps
// to statuses.
type Operations interface {
	StartBackup(ctx context.Context, actor engine.Actor, req engine.BackupRequest) (*store.BackupOperation, error)
	PauseBackup(ctx context.Context, actor engine.Actor, id int64) error
	ResumeBackup(ctx context.Context, actor engine.Actor, id int64) error
	StartRestore(ctx context.Context, actor engine.Actor, req engine.RestoreRequest) (*store.RestoreOperation, error)
	// Cancel cancels operation id of kind (store.KindBackup ...).
	Cancel(ctx context.Context, actor engine.Actor, kind string, id int64) error
	// DeleteArchive removes a completed backup's archive and sidecar and marks it pruned for reason.
	DeleteArchive(ctx context.Context, actor engine.Actor, id int64, reason string) error
	// QueueHealthy reports whether the job queue can take and run work.
	QueueHealthy(ctx context.Context) error
	// StartVerify records a verification of backup id (created false: the
	// one already running is answered).
	StartVerify(ctx context.Context, actor engine.Actor, backupID, planID int64) (op *store.VerifyOperation, created bool, err error)
	// ScanDestination imports the archives at a destination the catalog lacks.
	ScanDestination(ctx context.Context, actor engine.Actor, id int64, progress func(archive string)) (*engine.ScanResult, error)
}

// Deps is everything the API needs.
type Deps struct {
	Catalog     store.Catalog
	Connections *connection.Service
	Ops         Operations
	// Plans is the plan service (nil: the plan routes answer 404).
	Plans *plan.Service
	// Notifications is the notification service (nil: its routes answer 404).
	Notifications *notification.Service
	// Keys serves /encryption-keys (nil: 404 there).
	Keys   *encryption.Service
	Config config.Config
	Logger *slog.Logger
	// UI is the built web UI (web.Dist()); without an index.html, / explains how to build it.
	UI fs.FS
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Secrets is the registry of exact secret values hidden from logs and
	// error messages. When nil, the registry of Logger's redact.Handler is
	// used, or a new one. The server log is always passed through redact.
	Secrets *redact.Secrets
	// SSO is the OpenID Connect relying party (nil: single sign-on is off).
	// The role map, button name and COFFER_LOCAL_LOGIN come from Config.
	SSO *sso.Client
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

// route is one entry of the API route table: how it is reached, who may
// call it, what runs, and its documentation, from which the OpenAPI
// document (and from that the web UI's types) is built.
type route struct {
	method  string
	path    string // under apiPrefix, with ServeMux wildcards
	access  access
	handler handlerFunc
	doc     doc
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
	plans      *plan.Service
	notes      *notification.Service
	keys       *encryption.Service
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
	startLim   *auth.RateLimiter              // backup and restore initiations per user
	metrics    *metrics.Metrics               // GET /metrics and the HTTP latency histograms
	openapi    []byte                         // the OpenAPI document, built from the route table by mux
	backups    *opAPI[store.BackupOperation]  // the routes every operation kind has, for backups
	restores   *opAPI[store.RestoreOperation] // and for restores
	verifies   *opAPI[store.VerifyOperation]  // and for verifications
	sso        *sso.Client                    // nil: single sign-on is off
	localLogin bool                           // password sign-in allowed (always without SSO)
	ssoStarts  *auth.RateLimiter              // single sign-on starts per client IP
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
		plans:      d.Plans,
		notes:      d.Notifications,
		keys:       d.Keys,
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
	s.backups, s.restores, s.verifies = newBackupAPI(s), newRestoreAPI(s), newVerifyAPI(s)
	s.sso = d.SSO
	// Config refuses COFFER_LOCAL_LOGIN=false without an issuer; without a
	// provider, password sign-in stays on whatever the setting says.
	s.localLogin = d.Config.LocalLogin || d.SSO == nil
	s.ssoStarts = auth.NewRateLimiter(ssoStartsPerMinute, time.Minute)
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

// routes is the API route table: the one place every /api/v1 route is
// listed, with its documentation (see doc). To add a route, add its entry
// here with a doc, add any new schema to openapiSchemas, and run
// `go generate ./internal/httpapi` to update the web UI's types.
func (s *server) routes() []route {
	return []route{
		{"POST", "/auth/login", public, s.login, doc{tag: "auth", summary: "Sign in; sets the session cookie.", body: "LoginRequest", responses: obj{
			"200": jsonResponse("Signed in; the session cookie is set.", "User"),
			"400": respBadBody(), "401": errResponse("The email or password is incorrect."),
			"403": errResponse("The account is disabled, or password sign-in is turned off (COFFER_LOCAL_LOGIN=false) outside a break-glass window."),
			"422": respInvalid(), "429": respTooMany()}}},
		{"POST", "/auth/logout", reader, s.logout, doc{tag: "auth", summary: "Sign out: end the session and clear its cookie.", responses: obj{
			"204": noContent("Signed out.")}}},
		{"GET", "/auth/me", reader, s.me, doc{tag: "auth", summary: "The signed-in user.", responses: obj{
			"200": jsonResponse("The user.", "User")}}},
		{"POST", "/auth/password", reader, s.changeOwnPassword, doc{tag: "auth", summary: "Change your own password (other sessions end).", body: "PasswordChange", responses: obj{
			"204": noContent("Changed."), "400": respBadBody(), "422": respInvalid()}}},
		{"GET", "/auth/providers", public, s.authProviders, doc{tag: "auth", summary: "How users may sign in: with a password (local) and/or single sign-on (oidc).", responses: obj{
			"200": jsonResponse("The sign-in methods.", "AuthProviders")}}},
		{"GET", "/auth/oidc/start", public, s.oidcStart, doc{tag: "auth", summary: "Start single sign-on: redirects the browser to the identity provider.",
			params: []obj{query("next", "The UI path to return to after signing in (default /).", str(""))}, responses: obj{
				"302": noContent("Redirect to the identity provider; a short-lived cookie binds the sign-in to this browser."),
				"404": errResponse("Single sign-on is not set up on this server."), "429": respTooMany(),
				"503": errResponse("The identity provider cannot be reached (a small HTML page for browsers that ask for text/html)."),
			}}},
		{"GET", "/auth/oidc/callback", public, s.oidcCallback, doc{tag: "auth", summary: "Where the identity provider sends the browser back; signs in and redirects to the UI.",
			params: []obj{
				query("state", "The state issued by /auth/oidc/start.", str("")),
				query("code", "The authorization code.", str("")),
				query("error", "The provider's error code when it did not sign the user in.", str("")),
			}, responses: obj{
				"302": noContent("To the UI: the page to return to with the session cookie set (as POST /auth/login sets it), " +
					"/no-access when no group maps to a role, or /login?sso_error=<reason> (state, denied, provider_error, unreachable, " +
					"exchange_refused, token_invalid, email_missing, email_unverified, email_taken, disabled, internal)."),
				"404": errResponse("Single sign-on is not set up on this server."),
			}}},

		{"GET", "/notification-channels", reader, s.withNotes(listChannels), doc{tag: "notifications", summary: "List notification channels, by name; secrets masked.", responses: obj{
			"200": jsonResponse("The channels.", "ChannelList")}}},
		{"POST", "/notification-channels", admin, s.withNotes(s.createChannel), doc{tag: "notifications", summary: "Create a notification channel (e-mail, webhook or shoutrrr URL).", body: "ChannelInput", responses: obj{
			"201": jsonResponse("Created.", "Channel"), "400": respBadBody(), "422": respInvalid()}}},
		{"GET", "/notification-channels/{id}", reader, s.withNotes(getChannel), doc{tag: "notifications", summary: "One channel; secrets masked.", responses: obj{
			"200": jsonResponse("The channel.", "Channel"), "404": respNotFound()}}},
		{"PUT", "/notification-channels/{id}", admin, s.withNotes(s.updateChannel), doc{tag: "notifications", summary: "Replace a channel's settings; a secret sent back masked keeps its stored value.", body: "ChannelInput", responses: obj{
			"200": jsonResponse("Changed.", "Channel"), "400": respBadBody(), "404": respNotFound(), "422": respInvalid()}}},
		{"DELETE", "/notification-channels/{id}", admin, s.withNotes(s.deleteChannel), doc{tag: "notifications", summary: "Delete a channel and its delivery log.", responses: obj{
			"204": noContent("Deleted."), "404": respNotFound()}}},
		{"POST", "/notification-channels/{id}/test", admin, s.withNotes(s.testChannel), doc{tag: "notifications", summary: "Send a test message now and answer with the receiver's reply.", responses: obj{
			"200": jsonResponse("Delivered.", "ChannelTestResult"), "404": respNotFound(),
			"422": errResponse("Not delivered; the message says what failed.")}}},
		{"GET", "/notification-deliveries", reader, s.withNotes(listDeliveries), doc{tag: "notifications", summary: "The delivery log, newest first.",
			params: pageParams(
				query("channel_id", "Only deliveries to this channel.", obj{"type": "integer", "minimum": 0}),
				query("status", "Only deliveries in this status.", enum(store.DeliveryPending, store.DeliverySent, store.DeliveryFailed)),
			), responses: obj{
				"200": jsonResponse("One page of deliveries.", "DeliveryList"), "422": respInvalid()}}},

		{"GET", "/encryption-keys", reader, s.withKeys(listKeys), doc{tag: "encryption", summary: "List the age keys archives can be encrypted to, by name; no secret is ever shown.", responses: obj{
			"200": jsonResponse("The keys.", "EncryptionKeyList")}}},
		{"POST", "/encryption-keys", admin, s.withKeys(s.createKey), doc{tag: "encryption", summary: "Add an age key: generated by coffer (its identity is in this answer only), a pasted recipient, or a passphrase.", body: "EncryptionKeyInput", responses: obj{
			"201": jsonResponse("Created; a generated key carries its identity this once.", "EncryptionKey"), "400": respBadBody(), "422": respInvalid()}}},
		{"GET", "/encryption-keys/{id}", reader, s.withKeys(getKey), doc{tag: "encryption", summary: "One key.", responses: obj{
			"200": jsonResponse("The key.", "EncryptionKey"), "404": respNotFound()}}},
		{"DELETE", "/encryption-keys/{id}", admin, s.withKeys(s.deleteKey), doc{tag: "encryption", summary: "Delete a key no plan and no kept backup uses.", responses: obj{
			"204": noContent("Deleted."), "404": respNotFound(), "409": errResponse("A plan or a backup whose archive is kept uses the key.")}}},

		{"GET", "/plans", reader, s.withPlan(listPlans), doc{tag: "plans", summary: "List backup plans, by name, with their next and last runs.", responses: obj{
			"200": jsonResponse("The plans.", "PlanList"), "404": errResponse("Plans are not available on this server.")}}},
		{"POST", "/plans", operator, s.withPlan(s.createPlan), doc{tag: "plans", summary: "Create a backup plan.", body: "PlanInput", responses: obj{
			"201": jsonResponse("Created.", "Plan"), "400": respBadBody(), "422": respInvalid()}}},
		{"GET", "/plans/{id}", reader, s.withPlan(getPlan), doc{tag: "plans", summary: "One plan.", responses: obj{
			"200": jsonResponse("The plan.", "Plan"), "404": respNotFound()}}},
		{"PUT", "/plans/{id}", operator, s.withPlan(s.updatePlan), doc{tag: "plans", summary: "Replace a plan's settings (a field left out takes its default); the next run is worked out again.", body: "PlanInput", responses: obj{
			"200": jsonResponse("Changed.", "Plan"), "400": respBadBody(), "404": respNotFound(), "422": respInvalid()}}},
		{"DELETE", "/plans/{id}", operator, s.withPlan(s.deletePlan), doc{tag: "plans", summary: "Delete a plan and its history; its backups stay, as ad-hoc backups.", responses: obj{
			"204": noContent("Deleted."), "404": respNotFound(), "409": errResponse("A notification channel is limited to the plan.")}}},
		{"POST", "/plans/{id}/run", operator, s.withPlan(s.runPlan), doc{tag: "plans", summary: "Run a plan now.", responses: obj{
			"202": acceptedResponse("Queued; Location is the backup's URL.", "BackupOperation"), "404": respNotFound(),
			"409": errResponse("previous run still running"), "422": respInvalid()}}},
		{"POST", "/plans/{id}/prune", operator, s.withPlan(s.prunePlan), doc{tag: "plans", summary: "Apply the plan's retention policy now: delete the archives (and sidecars) of the backups it removes.", responses: obj{
			"200": jsonResponse("What was pruned; failures are in the plan's history and are tried again at the next prune.", "PruneResult"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/plans/{id}/events", reader, s.withPlan(planEvents), doc{tag: "plans", summary: "A plan's history, newest first: runs started, due times skipped or missed, and why.",
			params: pageParams(), responses: obj{
				"200": jsonResponse("One page of the history.", "PlanEventList"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/plans/{id}/retention", reader, s.withPlan(planRetention), doc{tag: "plans", summary: "Dry run of the plan's retention policy: every completed backup of the plan, kept or removed, and the rules that keep it.",
			params: []obj{query("retention", "A draft policy (JSON) to try instead of the plan's own.", str(""))}, responses: obj{
				"200": jsonResponse("The decisions, newest first.", "RetentionPreview"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/schedules/preview", reader, s.withPlan(previewSchedule), doc{tag: "plans", summary: "The next due times of a schedule being typed.",
			params: []obj{
				query("schedule", "A 5-field cron expression, @hourly, @daily, @weekly, @monthly or \"@every <duration>\".", str("")),
				query("timezone", "An IANA time zone (default UTC).", str("")),
				query("count", "How many due times (default 5, at most 50).", obj{"type": "integer", "minimum": 1, "maximum": 50}),
			}, responses: obj{
				"200": jsonResponse("The due times, in UTC.", "SchedulePreview"), "422": respInvalid()}}},

		{"GET", "/connections", reader, s.listConnections, doc{tag: "connections", summary: "List connections, credentials masked.", responses: obj{
			"200": jsonResponse("The connections, by name.", "ConnectionList")}}},
		{"POST", "/connections", operator, s.createConnection, doc{tag: "connections", summary: "Create a connection: its fields are validated, then it is checked live (unless save_unchecked).", body: "ConnectionInput", responses: obj{
			"201": jsonResponse("Created.", "Connection"), "400": respBadBody(),
			"409": errResponse("Another connection has this name."), "422": respUncheckedInvalid()}}},
		{"GET", "/connections/{id}", reader, s.getConnection, doc{tag: "connections", summary: "One connection, credentials masked.", responses: obj{
			"200": jsonResponse("The connection.", "Connection"), "404": respNotFound()}}},
		{"PUT", "/connections/{id}", operator, s.updateConnection, doc{tag: "connections", summary: "Change a connection; masked values sent back unchanged keep the stored secrets; changed credentials are checked live first (unless save_unchecked).", body: "ConnectionUpdate", responses: obj{
			"200": jsonResponse("Changed.", "Connection"), "400": respBadBody(), "404": respNotFound(),
			"409": errResponse("Another connection has this name."), "422": respUncheckedInvalid()}}},
		{"DELETE", "/connections/{id}", operator, s.deleteConnection, doc{tag: "connections", summary: "Delete a connection.", responses: obj{
			"204": noContent("Deleted."), "404": respNotFound(),
			"409": errResponse("A pending, running or paused operation uses the connection.")}}},
		{"POST", "/connections/{id}/test", operator, s.testConnection, doc{tag: "connections", summary: "Check a connection live (reach it, list, free space).", responses: obj{
			"200": jsonResponse("The outcome of the check (ok or not).", "ConnectionTestResult"), "404": respNotFound()}}},
		{"POST", "/connections/{id}/scan", operator, s.scanConnection, doc{tag: "connections", summary: "List a destination, read and check each archive coffer wrote there (with its .sha256) that the catalog lacks, and add it as an imported backup. It reads those archives whole before it answers.", responses: obj{
			"200": jsonResponse("What the scan found and did.", "ScanResult"), "400": respBadBody(), "404": respNotFound(), "422": respInvalid()}}},

		{"GET", "/oauth/google/start", operator, s.googleStart, doc{tag: "oauth", summary: "Start connecting a Google account to a google_drive connection; redirects to Google's consent page.",
			params: []obj{
				query("connection_id", "An existing google_drive connection to authorise again.", obj{"type": "integer", "minimum": 1}),
				query("name", "The name of a new connection (without connection_id).", str("")),
				query("folder_id", "The Drive folder of a new connection (without connection_id).", str("")),
			}, responses: obj{
				"302": noContent("Redirect to Google's consent page."), "400": errResponse("connection_id is not an id."),
				"404": respNotFound(), "422": respInvalid(), "503": errResponse("Google Drive is not configured on this server (COFFER_GDRIVE_CLIENT_ID/SECRET).")}}},
		{"GET", "/oauth/google/callback", operator, s.googleCallback, doc{tag: "oauth", summary: "Where Google sends the browser back; stores the tokens and redirects to the connection in the UI.",
			params: []obj{
				query("state", "The state issued by /oauth/google/start.", str("")),
				query("code", "The authorisation code from Google.", str("")),
				query("error", "Google's error code when access was not granted.", str("")),
			}, responses: obj{
				"302": noContent("Redirect to the web UI (with connected=1 or oauth_error=<message>)."),
				"400": errResponse("The state is missing, altered, expired, reused or from another session.")}}},

		{"GET", "/backups", reader, s.backups.list, doc{tag: "backups", summary: "List backups, newest first.",
			params: pageParams(
				query("status", "Only backups in this status.", ref("BackupStatus")),
				query("source_id", "Only backups of this source connection.", obj{"type": "integer", "minimum": 0}),
				query("destination_id", "Only backups to this destination connection.", obj{"type": "integer", "minimum": 0}),
				query("plan_id", "Only backups started by this plan.", obj{"type": "integer", "minimum": 0}),
			), responses: obj{
				"200": jsonResponse("One page of backups.", "BackupList"), "422": respInvalid()}}},
		{"POST", "/backups", operator, s.createBackup, doc{tag: "backups", summary: "Start a backup; it runs in the background.", body: "BackupInput", responses: obj{
			"202": acceptedResponse("Queued; Location is the backup's URL.", "BackupOperation"),
			"400": respBadBody(), "404": respNotFound(), "422": respInvalid(), "429": respTooMany()}}},
		{"DELETE", "/backups/{id}", operator, s.deleteBackup, doc{tag: "backups", summary: "Delete a backup's archive and sidecar at the destination; the backup stays in the catalog, marked pruned (reason deleted), and can no longer be restored.", responses: obj{
			"200": jsonResponse("Deleted (or there was nothing stored).", "BackupOperation"), "404": respNotFound(),
			"409": errResponse("The backup is pending, running or paused, or a restore reads it."), "503": errResponse("The destination could not delete it; nothing was marked.")}}},
		{"GET", "/backups/{id}", reader, s.backups.get, doc{tag: "backups", summary: "One backup.", responses: obj{
			"200": jsonResponse("The backup.", "BackupOperation"), "404": respNotFound()}}},
		{"POST", "/backups/{id}/pause", operator, s.backups.steer("pause", Operations.PauseBackup), doc{tag: "backups", summary: "Ask a pending or running backup to pause at its next checkpoint.", responses: obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "BackupOperation"), "404": respNotFound(), "409": respConflict()}}},
		{"POST", "/backups/{id}/resume", operator, s.backups.steer("resume", Operations.ResumeBackup), doc{tag: "backups", summary: "Resume a paused backup from its checkpoint.", responses: obj{
			"200": jsonResponse("Queued again.", "BackupOperation"), "404": respNotFound(), "409": respConflict()}}},
		{"POST", "/backups/{id}/cancel", operator, s.backups.cancel, doc{tag: "backups", summary: "Cancel a backup and remove its partial archive.", responses: obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "BackupOperation"), "404": respNotFound(), "409": respConflict()}}},
		{"GET", "/backups/{id}/logs", reader, s.backups.logs, doc{tag: "backups", summary: "A page of a backup's log lines, oldest first.", params: logParams(), responses: obj{
			"200": jsonResponse("Log lines.", "LogPage"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/backups/{id}/logs/stream", reader, s.backups.logStream, doc{tag: "backups", summary: "A backup's log lines as server-sent events, until it is final.", params: streamParams(), responses: obj{
			"200": sseResponse("The event stream."), "400": errResponse("Last-Event-ID is not a log id."), "404": respNotFound(), "422": respInvalid()}}},

		{"POST", "/backups/{id}/verify", operator, s.startVerify, doc{tag: "verifications", summary: "Verify a completed backup's archive where it is stored: read it whole and check it against its checksum file, the catalog and its manifest; nothing is written.", responses: obj{
			"200": jsonResponse("A verification of this backup is already pending or running: that one.", "Verification"),
			"202": acceptedResponse("Queued; Location is the verification's URL.", "Verification"),
			"404": respNotFound(), "409": respConflict(), "429": respTooMany()}}},
		{"GET", "/backups/{id}/entries", reader, s.backupEntries, doc{tag: "backups", summary: "Browse a completed backup's entries (the catalog's copy of its manifest): without q, the entries and folders directly under prefix; with q, every entry under prefix whose path contains q.",
			params: pageParams(
				query("prefix", "Only paths starting with this (a folder ends with /).", obj{"type": "string"}),
				query("q", "Only paths containing this, in any case; lists every level.", obj{"type": "string"}),
			), responses: obj{
				"200": jsonResponse("One page of entries and the folders.", "BackupEntries"), "404": respNotFound(), "409": respConflict(), "422": respInvalid()}}},

		{"GET", "/verifications", reader, s.verifies.list, doc{tag: "verifications", summary: "List verifications, newest first.",
			params: pageParams(
				query("status", "Only verifications in this status.", ref("VerificationStatus")),
				query("backup_operation_id", "Only verifications of this backup.", obj{"type": "integer", "minimum": 0}),
			), responses: obj{
				"200": jsonResponse("One page of verifications.", "VerificationList"), "422": respInvalid()}}},
		{"GET", "/verifications/{id}", reader, s.verifies.get, doc{tag: "verifications", summary: "One verification.", responses: obj{
			"200": jsonResponse("The verification.", "Verification"), "404": respNotFound()}}},
		{"POST", "/verifications/{id}/cancel", operator, s.verifies.cancel, doc{tag: "verifications", summary: "Cancel a verification.", responses: obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "Verification"), "404": respNotFound(), "409": respConflict()}}},
		{"GET", "/verifications/{id}/logs", reader, s.verifies.logs, doc{tag: "verifications", summary: "A page of a verification's log lines, oldest first.", params: logParams(), responses: obj{
			"200": jsonResponse("Log lines.", "LogPage"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/verifications/{id}/logs/stream", reader, s.verifies.logStream, doc{tag: "verifications", summary: "A verification's log lines as server-sent events, until it is final.", params: streamParams(), responses: obj{
			"200": sseResponse("The event stream."), "400": errResponse("Last-Event-ID is not a log id."), "404": respNotFound(), "422": respInvalid()}}},

		{"GET", "/restores", reader, s.restores.list, doc{tag: "restores", summary: "List restores, newest first.",
			params: pageParams(
				query("status", "Only restores in this status.", ref("RestoreStatus")),
				query("backup_operation_id", "Only restores of this backup.", obj{"type": "integer", "minimum": 0}),
				query("destination_id", "Only restores into this connection.", obj{"type": "integer", "minimum": 0}),
			), responses: obj{
				"200": jsonResponse("One page of restores.", "RestoreList"), "422": respInvalid()}}},
		{"POST", "/restores", operator, s.createRestore, doc{tag: "restores", summary: "Start a restore of a completed backup; it runs in the background.", body: "RestoreInput", responses: obj{
			"202": acceptedResponse("Queued; Location is the restore's URL.", "RestoreOperation"),
			"400": respBadBody(), "404": respNotFound(), "409": respConflict(), "422": respInvalid(), "429": respTooMany()}}},
		{"GET", "/restores/{id}", reader, s.restores.get, doc{tag: "restores", summary: "One restore.", responses: obj{
			"200": jsonResponse("The restore.", "RestoreOperation"), "404": respNotFound()}}},
		{"POST", "/restores/{id}/cancel", operator, s.restores.cancel, doc{tag: "restores", summary: "Cancel a restore.", responses: obj{
			"200": jsonResponse("Asked; the status changes within seconds.", "RestoreOperation"), "404": respNotFound(), "409": respConflict()}}},
		{"GET", "/restores/{id}/logs", reader, s.restores.logs, doc{tag: "restores", summary: "A page of a restore's log lines, oldest first.", params: logParams(), responses: obj{
			"200": jsonResponse("Log lines.", "LogPage"), "404": respNotFound(), "422": respInvalid()}}},
		{"GET", "/restores/{id}/logs/stream", reader, s.restores.logStream, doc{tag: "restores", summary: "A restore's log lines as server-sent events, until it is final.", params: streamParams(), responses: obj{
			"200": sseResponse("The event stream."), "400": errResponse("Last-Event-ID is not a log id."), "404": respNotFound(), "422": respInvalid()}}},

		{"GET", "/dashboard", reader, s.dashboard, doc{tag: "dashboard", summary: "Counts by status, running operations, recent failures and connection health.", responses: obj{
			"200": jsonResponse("The dashboard.", "Dashboard")}}},

		{"GET", "/tokens", reader, s.listTokens, doc{tag: "tokens", summary: "Your API tokens (never the token values).", responses: obj{
			"200": jsonResponse("The tokens.", "TokenList")}}},
		{"POST", "/tokens", reader, s.createToken, doc{tag: "tokens", summary: "Create an API token; its value is shown only in this answer.", body: "TokenRequest", responses: obj{
			"201": jsonResponse("Created.", "NewToken"), "400": respBadBody(), "422": respInvalid()}}},
		{"DELETE", "/tokens/{id}", reader, s.deleteToken, doc{tag: "tokens", summary: "Delete one of your API tokens.", responses: obj{
			"204": noContent("Deleted."), "404": respNotFound()}}},

		{"GET", "/users", admin, s.listUsers, doc{tag: "users", summary: "List users.", responses: obj{
			"200": jsonResponse("The users.", "UserList")}}},
		{"POST", "/users", admin, s.createUser, doc{tag: "users", summary: "Create a user.", body: "UserInput", responses: obj{
			"201": jsonResponse("Created.", "AdminUser"), "400": respBadBody(),
			"409": errResponse("A user has this email."), "422": respInvalid()}}},
		{"PUT", "/users/{id}", admin, s.updateUser, doc{tag: "users", summary: "Change a user's role or disable them (the last active admin cannot be demoted or disabled).", body: "UserUpdate", responses: obj{
			"200": jsonResponse("Changed.", "AdminUser"), "400": respBadBody(), "404": respNotFound(),
			"409": errResponse("The change would leave no active administrator."), "422": respInvalid()}}},
		{"POST", "/users/{id}/password", admin, s.resetUserPassword, doc{tag: "users", summary: "Set a user's password (their sessions end).", body: "PasswordRequest", responses: obj{
			"204": noContent("Set."), "400": respBadBody(), "404": respNotFound(), "422": respInvalid()}}},

		{"GET", "/audit", admin, s.listAudit, doc{tag: "audit", summary: "Audit events, newest first.",
			params: pageParams(
				query("actor_id", "Only events of this user.", obj{"type": "integer", "minimum": 0}),
				query("action", "Only this action, e.g. connection.create.", str("")),
				query("target_type", "Only events on this kind of target, e.g. connection.", str("")),
				query("since", "Only events at or after this time (RFC 3339).", obj{"type": "string", "format": "date-time"}),
			), responses: obj{
				"200": jsonResponse("One page of events.", "AuditList"), "422": respInvalid()}}},

		{"GET", "/healthz", public, s.healthz, doc{tag: "health", summary: "Whether the database and the job queue work.", responses: obj{
			"200": jsonResponse("Healthy.", "Health"), "503": jsonResponse("Not healthy; the causes are in the server log.", "Health")}}},

		{"GET", openapiPath, public, s.serveOpenAPI, doc{tag: "meta", summary: "This OpenAPI document.", responses: obj{
			"200": obj{"description": "The OpenAPI 3 document of /api/v1.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}}},
	}
}

// mux registers the route table, a JSON 405 for each path with a method it
// does not have, a JSON 404 for every other /api/ path, and the UI at /.
func (s *server) mux() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	routes := s.routes()
	spec, err := openapiJSON(routes)
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI document: %w", err)
	}
	s.openapi = spec
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
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
