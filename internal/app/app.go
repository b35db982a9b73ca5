// Package app assembles one coffer process from its settings: `coffer
// serve` (the HTTP API, the web UI and workers) or `coffer worker` (workers
// only, for more hosts on one PostgreSQL). It builds the redacting logger,
// the catalog, the keyring, the job queue, the connection service with
// Google Drive's OAuth client, the engine and its lease reaper, the single
// sign-on client, and the HTTP server (with TLS when configured), and stops
// them gracefully.
//
// cmd/coffer and scripts/bench both start processes through it, so each
// service is constructed in exactly one place: the new* functions of this
// file. See docs/architecture.md for how the parts work together.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/httpapi"
	"github.com/coffer-backup/coffer/internal/notification"
	"github.com/coffer-backup/coffer/internal/notify"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/sso"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
	"github.com/coffer-backup/coffer/web"
)

// Mode is what a process runs.
type Mode int

const (
	// Serve runs the HTTP API, the web UI and workers (`coffer serve`).
	Serve Mode = iota
	// Worker runs workers only (`coffer worker`).
	Worker
	// Tool runs nothing: an administrative command uses the services
	// (no workers, no HTTP, no first admin).
	Tool
)

// How long a graceful stop waits.
const (
	// queueStopTimeout bounds the wait for running operations to save a
	// checkpoint after the process is asked to stop.
	queueStopTimeout = 60 * time.Second
	// httpStopTimeout bounds the wait for open HTTP requests.
	httpStopTimeout = 15 * time.Second
)

// Config is what a process is built from.
type Config struct {
	// Settings are the resolved COFFER_* settings.
	Settings config.Config
	// Mode chooses serve or worker.
	Mode Mode
	// Stdout receives the lines meant for the person who started the
	// process: the address it listens on and the first admin's password.
	// Nil discards them.
	Stdout io.Writer
	// Log receives the server log (standard error for coffer); every line
	// passes through the redactor first. Nil discards it.
	Log io.Writer
	// Getenv reads GOGC and, in binaries built with the crashhook tag, the
	// crash tests' hook (os.Getenv when nil).
	Getenv func(string) string
	// Engine, when set, adjusts the engine's options just before the engine
	// is built (the bench's experiments with its knobs).
	Engine func(*engine.Options)
}

// App is one assembled process. Build it with New, run it with Run and
// release it with Close.
type App struct {
	cfg     Config
	set     config.Config
	stdout  io.Writer
	log     *slog.Logger
	secrets *redact.Secrets
	store   *store.Store
	keys    *secret.Keyring
	queue   *queue.Queue
	conns   *connection.Service
	engine  *engine.Engine
	plans   *plan.Service
	notes   *notification.Service
	enc     *encryption.Service
	sso     *sso.Client  // Serve with COFFER_OIDC_ISSUER only
	ln      net.Listener // Serve only
	server  *http.Server // Serve only

	stopQueueOnce sync.Once
}

// New builds every part of the process and checks what can be checked
// before it runs: the catalog is opened and migrated, the keys are loaded,
// the first admin is created (Serve, when no user exists), and the HTTP
// address is bound. Nothing runs until Run. On error everything opened so
// far is closed again.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	a := &App{cfg: cfg, set: cfg.Settings, stdout: cfg.Stdout}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	engine.SetGCPercent(cfg.Getenv)
	a.secrets, a.log = newLogger(a.set, cfg.Log)
	slog.SetDefault(a.log)

	if a.store, err = OpenCatalog(ctx, a.set); err != nil {
		return nil, err
	}
	if a.keys, err = secret.Load(a.set.DataDir, a.set.SecretKey); err != nil {
		return nil, err
	}
	if cfg.Mode == Serve {
		if err := bootstrapAdmin(ctx, a.store, a.set, a.stdout); err != nil {
			return nil, err
		}
	}
	if cfg.Mode == Tool {
		a.set.Workers = 0 // insert-only queue: nothing runs jobs here
	}
	if a.queue, err = newQueue(ctx, a.store, a.set, a.log); err != nil {
		return nil, err
	}
	// The connection service alone decrypts credentials; the engine opens
	// connections through it, in worker processes too.
	if a.conns, err = newConnections(a.store, a.keys, a.set, a.secrets); err != nil {
		return nil, err
	}
	a.engine = newEngine(a.store, a.conns, a.queue, cfg, a.log)
	a.queue.SetRunner(a.engine)
	// Every process with workers may run the scheduler's tick (River's
	// leader inserts it); the tick claims each due time once.
	a.plans = plan.New(a.store, a.engine, a.set.MinScheduleInterval, a.log)
	a.queue.SetTicker(a.plans)
	a.engine.OnBackupCompleted(a.plans.AfterBackup)
	// Every process records notifications where things happen; River's
	// workers (any process) deliver them.
	a.notes = notification.New(a.store, a.keys, a.queue, &notify.Sender{PublicURL: a.set.PublicURL, Redact: a.secrets.String}, a.log)
	a.engine.SetNotifier(a.notes)
	a.plans.SetNotifier(a.notes)
	a.queue.SetDeliverer(a.notes)
	// Encrypted archives: the keys, and the server key that seals what a
	// checkpoint or a restore keeps of them.
	a.enc = encryption.New(a.store, a.keys)
	a.engine.SetKeys(a.enc)
	if cfg.Mode != Serve {
		return a, nil
	}
	if a.sso, err = newSSO(a.set, a.log); err != nil {
		return nil, err
	}
	handler, err := newHandler(a.store, a.conns, a.engine, a.plans, a.notes, a.enc, a.sso, a.set, a.secrets, a.log)
	if err != nil {
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", a.set.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s (COFFER_LISTEN): %w", a.set.Listen, err)
	}
	a.server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// newLogger is the server log: the configured format and level, behind the
// redactor. Secret shapes (URI passwords, tokens, signatures) and the exact
// values registered in the returned registry (the Drive and single sign-on
// client secrets, the first admin's password, and the secrets of every
// connection this process opens) are replaced before a line is written.
func newLogger(set config.Config, w io.Writer) (*redact.Secrets, *slog.Logger) {
	opts := &slog.HandlerOptions{Level: set.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if set.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	secrets := redact.NewSecrets()
	secrets.Add(set.GDriveClientSecret, set.AdminPassword, set.OIDCClientSecret)
	return secrets, slog.New(redact.NewHandler(h, secrets))
}

// databaseURL is the catalog's URL: COFFER_DATABASE_URL or the SQLite file
// in the data directory.
func databaseURL(set config.Config) string {
	if set.DatabaseURL != "" {
		return set.DatabaseURL
	}
	return "sqlite:" + set.SQLitePath()
}

// OpenCatalog prepares the data directory, opens the catalog the settings
// name and migrates it. The administrative commands use it too.
func OpenCatalog(ctx context.Context, set config.Config) (*store.Store, error) {
	if err := os.MkdirAll(set.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data directory %s: %w", set.DataDir, err)
	}
	st, err := store.Open(ctx, databaseURL(set))
	if err != nil {
		return nil, fmt.Errorf("open the catalog database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("migrate the catalog database: %w", err)
	}
	return st, nil
}

// newQueue is the River client on the catalog's database.
func newQueue(ctx context.Context, st *store.Store, set config.Config, log *slog.Logger) (*queue.Queue, error) {
	return queue.New(ctx, st, queue.Options{
		DatabaseURL:  databaseURL(set),
		Workers:      set.Workers,
		ScheduleTick: set.SchedulerTick,
		Logger:       log,
	})
}

// driveOAuth is Google's OAuth client and endpoints from the settings.
func driveOAuth(set config.Config) gdrive.OAuth {
	return gdrive.OAuth{ClientID: set.GDriveClientID, ClientSecret: set.GDriveClientSecret,
		AuthURL: set.GDriveAuthURL, TokenURL: set.GDriveTokenURL, APIURL: set.GDriveAPIURL}
}

// newEngine is the engine that runs the queue's jobs and steers operations;
// it opens connections through conns.
func newEngine(st *store.Store, conns *connection.Service, q *queue.Queue, cfg Config, log *slog.Logger) *engine.Engine {
	set := cfg.Settings
	opt := engine.Options{
		LeaseTimeout:    set.LeaseTimeout,
		CheckpointEvery: set.CheckpointInterval,
		Heartbeat:       min(2*time.Second, set.LeaseTimeout/5),
		CrashAt:         crashHook(cfg.Getenv),
		LogRetention:    time.Duration(set.LogRetentionDays) * 24 * time.Hour,
		MongoParallel:   set.MongoParallelCollections,
		MongoSpoolLimit: spoolLimit(set.MongoSpoolMiB),
		Version:         version.Version,
	}
	if cfg.Engine != nil {
		cfg.Engine(&opt)
	}
	return engine.New(st, conns, q, opt, log)
}

// spoolLimit is COFFER_MONGO_SPOOL_MIB as the engine takes it: bytes, or
// -1 for never.
func spoolLimit(mib int) int64 {
	if mib <= 0 {
		return -1
	}
	return int64(mib) << 20
}

// newConnections is the connection service, with Google Drive's OAuth flow.
// It registers every secret it decrypts or is sent with secrets, for the
// workers and the API alike.
func newConnections(st *store.Store, keys *secret.Keyring, set config.Config, secrets *redact.Secrets) (*connection.Service, error) {
	conns, err := connection.New(st, keys, connection.Options{LocalRoots: set.LocalRoots, Secrets: secrets})
	if err != nil {
		return nil, err
	}
	conns.SetDrive(driveOAuth(set), set.OAuthRedirectURL())
	return conns, nil
}

// newSSO is the single sign-on client of the settings, nil when
// COFFER_OIDC_ISSUER is unset. Run discovers the provider in the
// background: a provider that is down never stops coffer.
func newSSO(set config.Config, log *slog.Logger) (*sso.Client, error) {
	if set.OIDCIssuer == "" {
		return nil, nil
	}
	c, err := sso.New(sso.Settings{
		Issuer: set.OIDCIssuer, ClientID: set.OIDCClientID, ClientSecret: set.OIDCClientSecret,
		Scopes: set.OIDCScopes, RedirectURL: set.OIDCRedirectURL(),
		RoleClaim: set.OIDCRoleClaim, RequireVerifiedEmail: set.OIDCRequireVerifiedEmail,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("set up single sign-on: %w", err)
	}
	return c, nil
}

// newHandler is the HTTP API with the embedded web UI.
func newHandler(st *store.Store, conns *connection.Service, eng *engine.Engine, plans *plan.Service, notes *notification.Service, keys *encryption.Service, ssoClient *sso.Client, set config.Config, secrets *redact.Secrets, log *slog.Logger) (http.Handler, error) {
	return httpapi.New(httpapi.Deps{
		Catalog:       st,
		Connections:   conns,
		Ops:           eng,
		Plans:         plans,
		Notifications: notes,
		Keys:          keys,
		Config:        set,
		Logger:        log,
		Secrets:       secrets,
		UI:            web.Dist(),
		SSO:           ssoClient,
	})
}

// Addr is the address the HTTP server listens on (nil for a worker).
func (a *App) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Logger is the process's redacting logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Run starts the workers and the lease reaper and, for Serve, the HTTP
// server, and blocks until ctx ends or the server fails. Then it stops
// gracefully: open requests get httpStopTimeout, running operations save a
// checkpoint (they continue after a restart, here or on another host).
// A stop asked for through ctx returns nil.
func (a *App) Run(ctx context.Context) error {
	if err := a.queue.Start(ctx); err != nil {
		return err
	}
	go a.engine.RunReaper(ctx, min(10*time.Second, a.set.LeaseTimeout/2))
	if a.sso != nil {
		go a.sso.Run(ctx)
	}

	if a.server == nil {
		a.log.Info("coffer worker started", "workers", a.set.Workers, "database", a.store.Dialect(), "version", version.Version)
		<-ctx.Done()
		a.log.Info("coffer worker stopping")
		a.stopQueue()
		return nil
	}

	errc := make(chan error, 1)
	go func() {
		if a.set.TLS() {
			errc <- a.server.ServeTLS(a.ln, a.set.TLSCert, a.set.TLSKey)
		} else {
			errc <- a.server.Serve(a.ln)
		}
	}()
	fmt.Fprintf(a.stdout, "coffer %s is listening on %s (open %s)\n", version.Version, a.ln.Addr(), a.set.PublicURL)
	if !web.Built() {
		fmt.Fprintln(a.stdout, "note: the web UI is not built into this binary; run `make build` for it (the API works without it)")
	}
	a.log.Info("coffer serve started", "listen", a.ln.Addr().String(), "workers", a.set.Workers, "database", a.store.Dialect(), "version", version.Version)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			a.stopQueue()
			return fmt.Errorf("serve HTTP: %w", err)
		}
	}
	a.log.Info("coffer serve stopping")
	sctx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	defer cancel()
	_ = a.server.Shutdown(sctx)
	a.stopQueue()
	return nil
}

// stopQueue asks running operations to stop at a checkpoint, waits for them
// (at most queueStopTimeout) and closes the queue's pools. It runs once.
func (a *App) stopQueue() {
	a.stopQueueOnce.Do(func() {
		if a.queue == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), queueStopTimeout)
		defer cancel()
		if err := a.queue.Stop(sctx); err != nil {
			a.log.Warn("stopping the job queue", "err", err)
		}
	})
}

// Close releases what New opened: the listener, the queue's pools and the
// catalog. Call it after Run returns (or instead of Run).
func (a *App) Close() error {
	if a.ln != nil {
		_ = a.ln.Close() // already closed when the server ran
	}
	a.stopQueue()
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			return fmt.Errorf("close the catalog: %w", err)
		}
	}
	return nil
}
