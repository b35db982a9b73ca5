package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/httpapi"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
	"github.com/coffer-backup/coffer/web"
)

// loadConfig parses a command's flags and the environment into a Config.
func loadConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("coffer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := config.Register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, fs, err
	}
	cfg, err := config.Resolve(f, fs, os.Getenv)
	return cfg, fs, err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func databaseURL(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL
	}
	return "sqlite:" + cfg.SQLitePath()
}

// openCatalog prepares the data dir, opens the catalog and migrates it.
func openCatalog(ctx context.Context, cfg config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data directory %s: %w", cfg.DataDir, err)
	}
	st, err := store.Open(ctx, databaseURL(cfg))
	if err != nil {
		return nil, fmt.Errorf("open the catalog database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate the catalog database: %w", err)
	}
	return st, nil
}

// cmdServe runs the server (withHTTP) or a worker-only process.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, withHTTP bool) error {
	name := "worker"
	if withHTTP {
		name = "serve"
	}
	cfg, _, err := loadConfig(name, args, stderr, nil)
	if err != nil {
		return err
	}
	engine.SetGCPercent(os.Getenv)
	// Every line the server logs passes through the redactor: secret shapes
	// (URI passwords, tokens, signatures) and the exact secret values of the
	// connections this process opened are replaced before they are written.
	secrets := redact.NewSecrets()
	secrets.Add(cfg.GDriveClientSecret, cfg.AdminPassword)
	log := slog.New(redact.NewHandler(newLogger(cfg, stderr).Handler(), secrets))
	slog.SetDefault(log)

	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := secret.Load(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return err
	}
	if withHTTP {
		if err := bootstrapAdmin(ctx, st, cfg, stdout); err != nil {
			return err
		}
	}

	q, err := queue.New(ctx, st, queue.Options{
		DatabaseURL: databaseURL(cfg),
		Workers:     cfg.Workers,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	eng := engine.New(st, keys, q, engine.Options{
		LeaseTimeout:    cfg.LeaseTimeout,
		CheckpointEvery: cfg.CheckpointInterval,
		Heartbeat:       min(2*time.Second, cfg.LeaseTimeout/5),
		CrashAt:         crashHook(os.Getenv("COFFER_TEST_CRASH_AT")),
		GDrive:          driveOAuth(cfg),
		Secrets:         secrets,
		LocalRoots:      cfg.LocalRoots,
		LogRetention:    time.Duration(cfg.LogRetentionDays) * 24 * time.Hour,
		Version:         version.Version,
	}, log)
	q.SetRunner(eng)
	if err := q.Start(ctx); err != nil {
		return err
	}
	go eng.RunReaper(ctx, min(10*time.Second, cfg.LeaseTimeout/2))
	stopQueue := func() {
		// Running operations stop at a checkpoint and continue after the restart.
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := q.Stop(sctx); err != nil {
			log.Warn("stopping the job queue", "err", err)
		}
	}

	if !withHTTP {
		log.Info("coffer worker started", "workers", cfg.Workers, "database", st.Dialect(), "version", version.Version)
		<-ctx.Done()
		log.Info("coffer worker stopping")
		stopQueue()
		return nil
	}

	conns, err := connection.New(st, keys, cfg.LocalRoots, nil)
	if err != nil {
		stopQueue()
		return err
	}
	conns.SetDrive(driveOAuth(cfg), cfg.OAuthRedirectURL())
	handler, err := httpapi.New(httpapi.Deps{
		Catalog:     st,
		Connections: conns,
		Ops:         eng,
		Config:      cfg,
		Logger:      log,
		Secrets:     secrets,
		UI:          web.Dist(),
	})
	if err != nil {
		stopQueue()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		stopQueue()
		return fmt.Errorf("listen on %s (COFFER_LISTEN): %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	fmt.Fprintf(stdout, "coffer %s is listening on %s (open %s)\n", version.Version, ln.Addr(), cfg.PublicURL)
	if !web.Built() {
		fmt.Fprintln(stdout, "note: the web UI is not built into this binary; run `make build` for it (the API works without it)")
	}
	log.Info("coffer serve started", "listen", ln.Addr().String(), "workers", cfg.Workers, "database", st.Dialect(), "version", version.Version)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			stopQueue()
			return fmt.Errorf("serve HTTP: %w", err)
		}
	}
	log.Info("coffer serve stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	stopQueue()
	return nil
}

// driveOAuth is the Google OAuth client and endpoints from the configuration.
func driveOAuth(cfg config.Config) gdrive.OAuth {
	return gdrive.OAuth{ClientID: cfg.GDriveClientID, ClientSecret: cfg.GDriveClientSecret,
		AuthURL: cfg.GDriveAuthURL, TokenURL: cfg.GDriveTokenURL, APIURL: cfg.GDriveAPIURL}
}

// crashHook returns the engine's crash hook for the crash tests: with
// COFFER_TEST_CRASH_AT=point:n the process kills itself with SIGKILL the
// n-th time it reaches point. It is never set in normal operation.
func crashHook(spec string) func(string) {
	point, nth, ok := strings.Cut(spec, ":")
	if spec == "" || !ok {
		return nil
	}
	want, err := strconv.Atoi(nth)
	if err != nil || want < 1 {
		return nil
	}
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		mu.Lock()
		seen++
		hit := seen == want
		mu.Unlock()
		if hit {
			fmt.Fprintf(os.Stderr, "COFFER_TEST_CRASH_AT: killing the process at %s #%d\n", p, want)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// bootstrapAdmin creates the first admin from COFFER_ADMIN_EMAIL when no user
// exists, with COFFER_ADMIN_PASSWORD or a generated password that it prints once.
func bootstrapAdmin(ctx context.Context, st store.Catalog, cfg config.Config, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	if cfg.AdminEmail == "" {
		fmt.Fprintln(stdout, "No user exists yet. Set COFFER_ADMIN_EMAIL (and optionally COFFER_ADMIN_PASSWORD) and restart, or run: coffer users create --email you@example.com --role admin")
		return nil
	}
	pw, generated := cfg.AdminPassword, false
	if pw == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	u := &store.User{Email: strings.ToLower(strings.TrimSpace(cfg.AdminEmail)), PasswordHash: hash, Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stdout, "First admin created. Log in at %s with\n  email:    %s\n  password: %s\n(generated; it is shown only this once)\n", cfg.PublicURL, u.Email, pw)
	} else {
		fmt.Fprintf(stdout, "First admin created: %s (password from COFFER_ADMIN_PASSWORD). Log in at %s\n", u.Email, cfg.PublicURL)
	}
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Dialect())
	return nil
}

// usersUsage lists the users subcommands.
const usersUsage = `usage:
  coffer users list
  coffer users create --email E [--role admin|operator|viewer]   (the password is read from standard input)
  coffer users disable --email E
  coffer users reset-password --email E                          (the new password is read from standard input)`

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return cmdUsersList(ctx, args[1:], stdout, stderr)
		case "disable":
			return cmdUsersDisable(ctx, args[1:], stdout, stderr)
		case "reset-password":
			return cmdUsersResetPassword(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "create" {
		return errors.New(usersUsage)
	}
	var email, role string
	cfg, _, err := loadConfig("users create", args[1:], stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the new user's email")
		fs.StringVar(&role, "role", "admin", "admin, operator or viewer")
	})
	if err != nil {
		return err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || !strings.Contains(email, "@") {
		return errors.New("--email must be an email address")
	}
	if !store.Role(role).Valid() {
		return fmt.Errorf("--role must be admin, operator or viewer, got %q", role)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return errors.New("the password (read from standard input) must have at least 8 characters")
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	u := &store.User{Email: email, PasswordHash: hash, Role: store.Role(role)}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("a user with email %s already exists", email)
		}
		return err
	}
	fmt.Fprintf(stdout, "user %s created (role %s, id %d)\n", email, role, u.ID)
	return nil
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: coffer keys rotate")
	}
	cfg, _, err := loadConfig("keys rotate", args[1:], stderr, nil)
	if err != nil {
		return err
	}
	old, err := secret.Load(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return err
	}
	next, err := old.Rotate()
	if err != nil {
		return err
	}
	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fromEnv := cfg.SecretKey != ""
	if !fromEnv {
		// Both keys on disk first: a crash from here on leaves every row readable.
		if err := next.SaveFile(cfg.DataDir); err != nil {
			return fmt.Errorf("save the new key: %w", err)
		}
	}
	n, err := st.RotateCredentials(ctx, func(_ int64, sealed []byte) ([]byte, error) { return next.Reseal(sealed) })
	if err != nil {
		return fmt.Errorf("re-encrypt credentials (nothing was changed): %w", err)
	}
	final := next.WithoutOldKeys()
	if fromEnv {
		fmt.Fprintf(stdout, "Re-encrypted %d connection(s) under key %s.\nSet COFFER_SECRET_KEY to the value below on every host, then restart them:\n%s\n",
			n, final.ActiveKeyID(), final.EncodeEnv())
		return nil
	}
	if err := final.SaveFile(cfg.DataDir); err != nil {
		return fmt.Errorf("drop the old key from the key file (credentials already use the new key): %w", err)
	}
	fmt.Fprintf(stdout, "Re-encrypted %d connection(s) under key %s; the key file now holds only the new key.\n", n, final.ActiveKeyID())
	return nil
}

func cmdVersion(stdout io.Writer) error {
	fmt.Fprintf(stdout, "coffer %s\n", version.Version)
	return nil
}

// readPassword reads one line from stdin as a password of at least 8 characters.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return "", errors.New("the password (read from standard input) must have at least 8 characters")
	}
	if len(pw) > auth.MaxPasswordLen {
		return "", fmt.Errorf("the password (read from standard input) must have at most %d bytes", auth.MaxPasswordLen)
	}
	return pw, nil
}

// userByEmailFlag parses --email for a users subcommand, opens the catalog
// and loads that user. The caller closes the returned store.
func userByEmailFlag(ctx context.Context, name string, args []string, stderr io.Writer) (*store.Store, *store.User, error) {
	var email string
	cfg, _, err := loadConfig(name, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email")
	})
	if err != nil {
		return nil, nil, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, nil, errors.New("--email is required")
	}
	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	u, err := st.GetUserByEmail(ctx, email)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("there is no user with email %s; see `coffer users list`", email)
		}
		return nil, nil, fmt.Errorf("look up user %s: %w", email, err)
	}
	return st, u, nil
}

func cmdUsersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("users list", args, stderr, nil)
	if err != nil {
		return err
	}
	st, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if len(users) == 0 {
		fmt.Fprintln(stdout, "No users yet; create one with: coffer users create --email you@example.com --role admin")
		return nil
	}
	fmt.Fprintf(stdout, "%-6s %-40s %-9s %-8s %s\n", "ID", "EMAIL", "ROLE", "STATUS", "CREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(stdout, "%-6d %-40s %-9s %-8s %s\n", u.ID, u.Email, u.Role, status, u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func cmdUsersDisable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	st, u, err := userByEmailFlag(ctx, "users disable", args, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if u.Disabled {
		fmt.Fprintf(stdout, "user %s is already disabled\n", u.Email)
		return nil
	}
	disabled := true
	if _, _, err := st.UpdateUserAccess(ctx, u.ID, store.UserAccess{Disabled: &disabled}); err != nil {
		if errors.Is(err, store.ErrLastAdmin) {
			return fmt.Errorf("%s is the last active administrator and cannot be disabled; make another user an administrator first", u.Email)
		}
		return fmt.Errorf("disable user %s: %w", u.Email, err)
	}
	if err := st.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("end the sessions of %s (the user is disabled): %w", u.Email, err)
	}
	if err := st.AppendAudit(ctx, &store.AuditEvent{ActorEmail: "cli", Action: "user.disable", TargetType: "user", TargetID: strconv.FormatInt(u.ID, 10), Details: []byte(`{"disabled":true}`)}); err != nil {
		fmt.Fprintf(stderr, "warning: could not record the audit event: %v\n", err)
	}
	fmt.Fprintf(stdout, "user %s disabled; their sessions ended and their API tokens are refused\n", u.Email)
	return nil
}

func cmdUsersResetPassword(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, u, err := userByEmailFlag(ctx, "users reset-password", args, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if err := st.SetUserPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("store the new password of %s: %w", u.Email, err)
	}
	if err := st.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("end the sessions of %s (the password is changed): %w", u.Email, err)
	}
	if err := st.AppendAudit(ctx, &store.AuditEvent{ActorEmail: "cli", Action: "user.password_reset", TargetType: "user", TargetID: strconv.FormatInt(u.ID, 10)}); err != nil {
		fmt.Fprintf(stderr, "warning: could not record the audit event: %v\n", err)
	}
	fmt.Fprintf(stdout, "password of %s reset; their sessions ended\n", u.Email)
	return nil
}
