// Package config resolves coffer's settings once, at start: for each
// setting a command-line flag (if given), else an environment variable (if
// not empty), else a documented default. Everything is validated in
// [Resolve]; the rest of coffer receives a [Config] and never reads the
// environment itself.
//
// Secrets (COFFER_SECRET_KEY, COFFER_ADMIN_PASSWORD,
// COFFER_GDRIVE_CLIENT_SECRET, COFFER_OIDC_CLIENT_SECRET) have no flag
// taking the value itself, since command lines are visible to other users
// of the machine; their flags (--secret-key-file, ...) name a file holding
// the value instead. No error
// message ever contains a secret or the database URL.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/sso"
)

// Config is coffer's resolved and validated configuration.
type Config struct {
	// DataDir is the absolute data directory (SQLite catalog, secret.key, default archives).
	DataDir string
	// DatabaseURL is "" for SQLite at <DataDir>/coffer.db, a postgres:// or
	// postgresql:// URL, or "sqlite:<absolute path>". It may hold a password:
	// log RedactedDatabaseURL instead.
	DatabaseURL string
	// Listen is the host:port the HTTP server listens on.
	Listen string
	// SecretKey is the value of COFFER_SECRET_KEY ("" = use <DataDir>/secret.key);
	// pass it to secret.Load.
	SecretKey string
	// Workers is the number of operations one process runs at once (1..64).
	Workers int
	// MongoParallelCollections is how many collections a MongoDB backup
	// measures at once, ahead of the one it copies (1..32).
	MongoParallelCollections int
	// MongoSpoolMiB bounds the compressed spool of one collection a MongoDB
	// backup keeps from its measuring pass (0: never spool).
	MongoSpoolMiB int
	// AdminEmail and AdminPassword create the first admin on first start if
	// no user exists; with an email alone a password is generated and printed once.
	AdminEmail string
	// AdminPassword is the first admin's password (a secret).
	AdminPassword string
	// PublicURL is the absolute http(s) URL users reach coffer at, without a
	// trailing slash.
	PublicURL string
	// GDriveClientID and GDriveClientSecret are the Google OAuth client; both
	// or neither are set.
	GDriveClientID string
	// GDriveClientSecret is the Google OAuth client secret (a secret).
	GDriveClientSecret string
	// GDriveAuthURL is the OAuth authorization endpoint.
	GDriveAuthURL string
	// GDriveTokenURL is the OAuth token endpoint.
	GDriveTokenURL string
	// GDriveAPIURL is the Drive API base URL; uploads go to /upload/drive/v3/ on its host.
	GDriveAPIURL string
	// OIDCIssuer is the OpenID provider's issuer URL; "" turns single sign-on off.
	OIDCIssuer string
	// OIDCClientID is coffer's client id at the provider (set with OIDCIssuer).
	OIDCClientID string
	// OIDCClientSecret is the client secret (a secret; "" for a public client).
	OIDCClientSecret string
	// OIDCScopes are the scopes asked for at sign-in; they include "openid".
	OIDCScopes []string
	// OIDCName is the provider's name on the sign-in button.
	OIDCName string
	// OIDCRoleClaim names the ID token claim holding the user's groups.
	OIDCRoleClaim string
	// OIDCRoleMap maps groups to roles (set with OIDCIssuer).
	OIDCRoleMap sso.RoleMap
	// OIDCRequireVerifiedEmail refuses users whose e-mail the provider has not verified.
	OIDCRequireVerifiedEmail bool
	// LocalLogin allows sign-in with a password; false leaves only single
	// sign-on (and the break-glass password of `coffer users reset-password`).
	LocalLogin bool
	// LogRetentionDays is how many days operation logs are kept (>= 1).
	LogRetentionDays int
	// MetricsPublic serves /metrics without an API token.
	MetricsPublic bool
	// TLSCert and TLSKey are absolute paths of the PEM certificate and key;
	// both or neither are set.
	TLSCert string
	// TLSKey is the absolute path of the PEM private key.
	TLSKey string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed;
	// single addresses are full-length prefixes.
	TrustedProxies []netip.Prefix
	// LocalRoots are the absolute, cleaned directories that local
	// destinations must lie under.
	LocalRoots []string
	// SessionTTL is how long a login session lasts.
	SessionTTL time.Duration
	// CheckpointInterval is the least time between two checkpoints taken
	// after uploaded parts (0: after every part).
	CheckpointInterval time.Duration
	// LeaseTimeout is how stale a running operation's heartbeat must be before
	// another worker takes it over.
	LeaseTimeout time.Duration
	// MinScheduleInterval is the shortest gap allowed between two due times
	// of a plan's schedule.
	MinScheduleInterval time.Duration
	// SchedulerTick is how often the plan scheduler looks for due plans.
	SchedulerTick time.Duration
	// LogLevel is the minimum level of the server's own log.
	LogLevel slog.Level
	// LogFormat is "text" or "json".
	LogFormat string
}

// Setting describes one setting for documentation: the README table and
// --help are generated from Table.
type Setting struct {
	Field       string // the Config field it sets
	Env         string // environment variable
	Flag        string // flag name without dashes; for secrets, a flag naming a file
	Default     string // the default, in words where it depends on other settings
	Description string // one sentence
	Secret      bool   // never shown in errors or logs
}

// Table returns every setting in the order Resolve reads them.
func Table() []Setting {
	specs := specs()
	out := make([]Setting, len(specs))
	for i, s := range specs {
		out[i] = s.Setting
	}
	return out
}

// MarkdownTable renders Table as a Markdown table for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Environment variable | Flag | Default | Description |\n")
	b.WriteString("|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, s := range Table() {
		def := "—"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", s.Env, s.Flag, cell(def), cell(s.Description))
	}
	return b.String()
}

// IsPostgres reports whether the catalog is on PostgreSQL.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// SQLitePath returns the SQLite database file, or "" when the catalog is on
// PostgreSQL.
func (c Config) SQLitePath() string {
	switch {
	case c.IsPostgres():
		return ""
	case c.DatabaseURL == "":
		return filepath.Join(c.DataDir, "coffer.db")
	default:
		return strings.TrimPrefix(c.DatabaseURL, "sqlite:")
	}
}

// TLS reports whether the server serves HTTPS itself.
func (c Config) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// OIDCRedirectURL is the single sign-on redirect (callback) URL.
func (c Config) OIDCRedirectURL() string {
	return c.PublicURL + "/api/v1/auth/oidc/callback"
}

// OAuthRedirectURL is the Google OAuth redirect (callback) URL.
func (c Config) OAuthRedirectURL() string {
	return c.PublicURL + "/api/v1/oauth/google/callback"
}

// RedactedDatabaseURL returns DatabaseURL with any password replaced, for
// logs and status pages.
func (c Config) RedactedDatabaseURL() string {
	if !c.IsPostgres() {
		return c.DatabaseURL
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres://(unparsable URL hidden)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// String prints the configuration with secrets hidden, so that logging a
// Config by accident reveals nothing.
func (c Config) String() string {
	secret := map[string]bool{}
	for _, s := range Table() {
		secret[s.Field] = s.Secret
	}
	v := reflect.ValueOf(c)
	t := v.Type()
	var b strings.Builder
	b.WriteString("config.Config{")
	for i := range t.NumField() {
		if i > 0 {
			b.WriteString(", ")
		}
		name := t.Field(i).Name
		b.WriteString(name)
		b.WriteString(": ")
		switch {
		case secret[name]:
			if v.Field(i).String() == "" {
				b.WriteString(`""`)
			} else {
				b.WriteString("(set, hidden)")
			}
		case name == "DatabaseURL":
			fmt.Fprintf(&b, "%q", c.RedactedDatabaseURL())
		case v.Field(i).Kind() == reflect.String:
			fmt.Fprintf(&b, "%q", v.Field(i).String())
		default:
			fmt.Fprintf(&b, "%v", v.Field(i).Interface())
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// IsTrustedProxy reports whether addr (the peer of an HTTP connection) is
// one of TrustedProxies, whose X-Forwarded-For may be believed.
func (c Config) IsTrustedProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range c.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
