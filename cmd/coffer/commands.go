package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/app"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
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

// cmdServe runs the server (withHTTP) or a worker-only process.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, withHTTP bool) error {
	name, mode := "worker", app.Worker
	if withHTTP {
		name, mode = "serve", app.Serve
	}
	cfg, _, err := loadConfig(name, args, stderr, nil)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Config{Settings: cfg, Mode: mode, Stdout: stdout, Log: stderr})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	st, err := app.OpenCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Dialect())
	return nil
}

// breakGlassWindow is how long after `coffer users reset-password` the new
// password signs in although COFFER_LOCAL_LOGIN is false.
const breakGlassWindow = time.Hour

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
	st, err := app.OpenCatalog(ctx, cfg)
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
	st, err := app.OpenCatalog(ctx, cfg)
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
		fmt.Fprintf(stdout, "Re-encrypted %d sealed value(s) (connection credentials, notification channels) under key %s.\nSet COFFER_SECRET_KEY to the value below on every host, then restart them:\n%s\n",
			n, final.ActiveKeyID(), final.EncodeEnv())
		return nil
	}
	if err := final.SaveFile(cfg.DataDir); err != nil {
		return fmt.Errorf("drop the old key from the key file (credentials already use the new key): %w", err)
	}
	fmt.Fprintf(stdout, "Re-encrypted %d sealed value(s) (connection credentials, notification channels) under key %s; the key file now holds only the new key.\n", n, final.ActiveKeyID())
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
	st, err := app.OpenCatalog(ctx, cfg)
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
	st, err := app.OpenCatalog(ctx, cfg)
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
	// Break-glass: with COFFER_LOCAL_LOGIN=false, this password still signs
	// in for breakGlassWindow (docs/sso.md).
	until := time.Now().Add(breakGlassWindow).UTC().Truncate(time.Second)
	if err := st.SetPasswordLoginUntil(ctx, u.ID, &until); err != nil {
		return fmt.Errorf("open the break-glass window of %s (the password is changed): %w", u.Email, err)
	}
	details := fmt.Appendf(nil, `{"break_glass_until":%q}`, until.Format(time.RFC3339))
	if err := st.AppendAudit(ctx, &store.AuditEvent{ActorEmail: "cli", Action: "user.password_reset", TargetType: "user", TargetID: strconv.FormatInt(u.ID, 10), Details: details}); err != nil {
		fmt.Fprintf(stderr, "warning: could not record the audit event: %v\n", err)
	}
	fmt.Fprintf(stdout, "password of %s reset; their sessions ended\n", u.Email)
	fmt.Fprintf(stdout, "where password sign-in is off (COFFER_LOCAL_LOGIN=false), this password still works until %s (break-glass): open /login?local=1 on coffer\n",
		until.Format(time.RFC3339))
	return nil
}
