package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/sso"
)

// Defaults that are fixed values.
const (
	DefaultDataDir = "./data"
	DefaultListen  = "127.0.0.1:8080"
	DefaultWorkers = 4
	// DefaultMongoParallelCollections is mongodump's default too.
	DefaultMongoParallelCollections = 4
	// DefaultMongoSpoolMiB is 1 GiB.
	DefaultMongoSpoolMiB       = 1024
	DefaultGDriveAuthURL       = "https://accounts.google.com/o/oauth2/auth"
	DefaultGDriveTokenURL      = "https://oauth2.googleapis.com/token"
	DefaultGDriveAPIURL        = "https://www.googleapis.com/"
	DefaultLogRetentionDays    = 30
	DefaultSessionTTL          = 12 * time.Hour
	DefaultLeaseTimeout        = 30 * time.Second
	DefaultCheckpointInterval  = 5 * time.Second
	DefaultMinScheduleInterval = time.Minute
	DefaultSchedulerTick       = 5 * time.Second
	DefaultOIDCScopes          = "openid email profile groups"
	DefaultOIDCName            = "SSO"
	DefaultOIDCRoleClaim       = "groups"
)

// Limits on numeric settings.
const (
	MaxWorkers                  = 64
	MaxMongoParallelCollections = 32
	MaxMongoSpoolMiB            = 1 << 20
	MaxLogRetentionDays         = 36500
	MinSessionTTL               = time.Minute
	MaxSessionTTL               = 366 * 24 * time.Hour
	minAdminPassword            = 8
	maxAdminPassword            = 1024
)

// input is one setting's raw value and where it came from.
type input struct {
	raw   string            // "" when the setting was not given
	name  string            // how the user gave it: "--workers" or "COFFER_WORKERS" (the env name when defaulted)
	names map[string]string // Config field -> name, for settings resolved before this one
}

// set reports whether the setting was given.
func (in input) set() bool { return in.raw != "" }

// errorf builds the one-sentence error for this setting.
func (in input) errorf(format string, args ...any) error {
	return fmt.Errorf("%s "+format, append([]any{in.name}, args...)...)
}

// spec is a setting and how to apply it to a Config.
type spec struct {
	Setting
	isBool bool
	apply  func(c *Config, in input) error
}

// specs lists every setting in resolution order: a setting may depend on
// any listed before it.
func specs() []spec {
	return []spec{
		{Setting: Setting{Field: "DataDir", Env: "COFFER_DATA_DIR", Flag: "data-dir", Default: DefaultDataDir,
			Description: "Directory for the SQLite catalog, the secret key file and, by default, local archives."},
			apply: applyDataDir},
		{Setting: Setting{Field: "DatabaseURL", Env: "COFFER_DATABASE_URL", Flag: "database-url", Default: "SQLite at <data dir>/coffer.db",
			Description: "Catalog database: postgres://… or postgresql://… for PostgreSQL, sqlite:<path> for SQLite elsewhere."},
			apply: applyDatabaseURL},
		{Setting: Setting{Field: "Listen", Env: "COFFER_LISTEN", Flag: "listen", Default: DefaultListen,
			Description: "Address (host:port) the web UI and API listen on."},
			apply: applyListen},
		{Setting: Setting{Field: "TLSCert", Env: "COFFER_TLS_CERT", Flag: "tls-cert",
			Description: "PEM certificate file to serve HTTPS with; set together with the key."},
			apply: applyTLSCert},
		{Setting: Setting{Field: "TLSKey", Env: "COFFER_TLS_KEY", Flag: "tls-key",
			Description: "PEM private key file for the certificate; set together with the certificate."},
			apply: applyTLSKey},
		{Setting: Setting{Field: "PublicURL", Env: "COFFER_PUBLIC_URL", Flag: "public-url", Default: "http://<listen address>",
			Description: "URL users reach coffer at; the Google OAuth redirect is <public url>/api/v1/oauth/google/callback, and notification messages link to pages under it."},
			apply: applyPublicURL},
		{Setting: Setting{Field: "SecretKey", Env: "COFFER_SECRET_KEY", Flag: "secret-key-file", Default: "<data dir>/secret.key, created on first start", Secret: true,
			Description: "Key for credentials at rest: base64 of 32 random bytes, or id:base64 entries separated by commas with the active key first; the flag names a file holding the value."},
			apply: applySecretKey},
		{Setting: Setting{Field: "Workers", Env: "COFFER_WORKERS", Flag: "workers", Default: strconv.Itoa(DefaultWorkers),
			Description: "Backups and restores one process runs at once (1 to 64)."},
			apply: applyWorkers},
		{Setting: Setting{Field: "MongoParallelCollections", Env: "COFFER_MONGO_PARALLEL_COLLECTIONS", Flag: "mongo-parallel-collections", Default: strconv.Itoa(DefaultMongoParallelCollections),
			Description: "MongoDB collections a backup measures at once, ahead of the one it copies (1 to 32), like mongodump's --numParallelCollections."},
			apply: applyMongoParallel},
		{Setting: Setting{Field: "MongoSpoolMiB", Env: "COFFER_MONGO_SPOOL_MIB", Flag: "mongo-spool-mib", Default: strconv.Itoa(DefaultMongoSpoolMiB),
			Description: "MiB of one collection (compressed) a MongoDB backup may keep in the temporary directory from its measuring pass, so that a server that cannot sum document sizes (FerretDB) is read once, not twice; 0 never keeps any."},
			apply: applyMongoSpool},
		{Setting: Setting{Field: "AdminEmail", Env: "COFFER_ADMIN_EMAIL", Flag: "admin-email",
			Description: "E-mail of the first admin, created on first start when no user exists; without a password one is generated and printed once."},
			apply: applyAdminEmail},
		{Setting: Setting{Field: "AdminPassword", Env: "COFFER_ADMIN_PASSWORD", Flag: "admin-password-file", Secret: true,
			Description: "Password of the first admin (at least 8 characters); the flag names a file holding the value."},
			apply: applyAdminPassword},
		{Setting: Setting{Field: "GDriveClientID", Env: "COFFER_GDRIVE_CLIENT_ID", Flag: "gdrive-client-id",
			Description: "Google OAuth client id for Google Drive destinations; set together with the client secret."},
			apply: applyGDriveClientID},
		{Setting: Setting{Field: "GDriveClientSecret", Env: "COFFER_GDRIVE_CLIENT_SECRET", Flag: "gdrive-client-secret-file", Secret: true,
			Description: "Google OAuth client secret; the flag names a file holding the value."},
			apply: applyGDriveClientSecret},
		{Setting: Setting{Field: "GDriveAuthURL", Env: "COFFER_GDRIVE_AUTH_URL", Flag: "gdrive-auth-url", Default: DefaultGDriveAuthURL,
			Description: "Google OAuth authorization endpoint."},
			apply: urlSetting(DefaultGDriveAuthURL, func(c *Config, v string) { c.GDriveAuthURL = v })},
		{Setting: Setting{Field: "GDriveTokenURL", Env: "COFFER_GDRIVE_TOKEN_URL", Flag: "gdrive-token-url", Default: DefaultGDriveTokenURL,
			Description: "Google OAuth token endpoint."},
			apply: urlSetting(DefaultGDriveTokenURL, func(c *Config, v string) { c.GDriveTokenURL = v })},
		{Setting: Setting{Field: "GDriveAPIURL", Env: "COFFER_GDRIVE_API_URL", Flag: "gdrive-api-url", Default: DefaultGDriveAPIURL,
			Description: "Google Drive API base URL; uploads go to /upload/drive/v3/ on its host."},
			apply: urlSetting(DefaultGDriveAPIURL, func(c *Config, v string) { c.GDriveAPIURL = v })},
		{Setting: Setting{Field: "OIDCIssuer", Env: "COFFER_OIDC_ISSUER", Flag: "oidc-issuer",
			Description: "Issuer URL of the OpenID Connect provider for single sign-on (https://, or http:// on this machine only); unset turns single sign-on off."},
			apply: applyOIDCIssuer},
		{Setting: Setting{Field: "OIDCClientID", Env: "COFFER_OIDC_CLIENT_ID", Flag: "oidc-client-id",
			Description: "Client id of coffer at the OpenID provider; required with the issuer."},
			apply: applyOIDCClientID},
		{Setting: Setting{Field: "OIDCClientSecret", Env: "COFFER_OIDC_CLIENT_SECRET", Flag: "oidc-client-secret-file", Secret: true,
			Description: "Client secret of coffer at the OpenID provider (unset for a public client); the flag names a file holding the value."},
			apply: applyOIDCClientSecret},
		{Setting: Setting{Field: "OIDCScopes", Env: "COFFER_OIDC_SCOPES", Flag: "oidc-scopes", Default: DefaultOIDCScopes,
			Description: "Scopes asked for at single sign-on, separated by spaces or commas; openid is required."},
			apply: applyOIDCScopes},
		{Setting: Setting{Field: "OIDCName", Env: "COFFER_OIDC_NAME", Flag: "oidc-name", Default: DefaultOIDCName,
			Description: "Name of the identity provider on the sign-in button (\"Sign in with <name>\")."},
			apply: applyOIDCName},
		{Setting: Setting{Field: "OIDCRoleClaim", Env: "COFFER_OIDC_ROLE_CLAIM", Flag: "oidc-role-claim", Default: DefaultOIDCRoleClaim,
			Description: "ID token claim holding the user's groups (a string or a list; a dotted path such as realm_access.roles reaches into objects)."},
			apply: applyOIDCRoleClaim},
		{Setting: Setting{Field: "OIDCRoleMap", Env: "COFFER_OIDC_ROLE_MAP", Flag: "oidc-role-map",
			Description: "Groups to roles, such as admins=admin,ops=operator,*=viewer (* = everyone else; no match and no * = no access); required with the issuer."},
			apply: applyOIDCRoleMap},
		{Setting: Setting{Field: "OIDCRequireVerifiedEmail", Env: "COFFER_OIDC_REQUIRE_VERIFIED_EMAIL", Flag: "oidc-require-verified-email", Default: "true",
			Description: "Refuse single sign-on to users whose e-mail address the provider has not verified."},
			isBool: true, apply: boolSetting(true, func(c *Config, v bool) { c.OIDCRequireVerifiedEmail = v })},
		{Setting: Setting{Field: "LocalLogin", Env: "COFFER_LOCAL_LOGIN", Flag: "local-login", Default: "true",
			Description: "Allow sign-in with e-mail and password; false leaves single sign-on only (and the one-hour break-glass password of coffer users reset-password)."},
			isBool: true, apply: applyLocalLogin},
		{Setting: Setting{Field: "LogRetentionDays", Env: "COFFER_LOG_RETENTION_DAYS", Flag: "log-retention-days", Default: strconv.Itoa(DefaultLogRetentionDays),
			Description: "Days to keep operation logs."},
			apply: applyLogRetentionDays},
		{Setting: Setting{Field: "MetricsPublic", Env: "COFFER_METRICS_PUBLIC", Flag: "metrics-public", Default: "false",
			Description: "Serve /metrics without an API token."},
			isBool: true, apply: applyMetricsPublic},
		{Setting: Setting{Field: "TrustedProxies", Env: "COFFER_TRUSTED_PROXIES", Flag: "trusted-proxies",
			Description: "Comma-separated IP addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is trusted."},
			apply: applyTrustedProxies},
		{Setting: Setting{Field: "LocalRoots", Env: "COFFER_LOCAL_ROOTS", Flag: "local-roots", Default: "<data dir>/archives",
			Description: "Absolute directories (comma- or path-list-separated) that local destinations must lie under."},
			apply: applyLocalRoots},
		{Setting: Setting{Field: "SessionTTL", Env: "COFFER_SESSION_TTL", Flag: "session-ttl", Default: "12h",
			Description: "How long a login session lasts, as a Go duration such as 12h or 90m."},
			apply: applySessionTTL},
		{Setting: Setting{Field: "CheckpointInterval", Env: "COFFER_CHECKPOINT_INTERVAL", Flag: "checkpoint-interval", Default: "5s",
			Description: "Least time between two checkpoints after uploaded parts (0 = after every part); a crash re-reads at most this much work. Pause and stop always checkpoint."},
			apply: applyCheckpointInterval},
		{Setting: Setting{Field: "LeaseTimeout", Env: "COFFER_LEASE_TIMEOUT", Flag: "lease-timeout", Default: "30s",
			Description: "How long a running operation may go without a heartbeat before another worker continues it from its last checkpoint (2s to 10m)."},
			apply: applyLeaseTimeout},
		{Setting: Setting{Field: "MinScheduleInterval", Env: "COFFER_MIN_SCHEDULE_INTERVAL", Flag: "min-schedule-interval", Default: "1m",
			Description: "The shortest time allowed between two due times of a plan's schedule (1s to 24h); plans whose schedule runs more often are refused."},
			apply: durationIn("MinScheduleInterval", time.Second, 24*time.Hour, DefaultMinScheduleInterval, func(c *Config, d time.Duration) { c.MinScheduleInterval = d })},
		{Setting: Setting{Field: "SchedulerTick", Env: "COFFER_SCHEDULER_TICK", Flag: "scheduler-tick", Default: "5s",
			Description: "How often the plan scheduler looks for due plans (1s to 1m): the most a run starts after its due time."},
			apply: durationIn("SchedulerTick", time.Second, time.Minute, DefaultSchedulerTick, func(c *Config, d time.Duration) { c.SchedulerTick = d })},
		{Setting: Setting{Field: "LogLevel", Env: "COFFER_LOG_LEVEL", Flag: "log-level", Default: "info",
			Description: "Server log level: debug, info, warn or error."},
			apply: applyLogLevel},
		{Setting: Setting{Field: "LogFormat", Env: "COFFER_LOG_FORMAT", Flag: "log-format", Default: "text",
			Description: "Server log format: text or json."},
			apply: applyLogFormat},
	}
}

// Flags holds the flag values registered by Register.
type Flags struct {
	strs  map[string]*string // by flag name
	bools map[string]*bool   // by flag name
}

// Register adds one flag per setting to fs (kebab-case names such as
// --data-dir and --workers; for secrets a flag naming a file, such as
// --secret-key-file) and returns the values for Resolve.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{strs: map[string]*string{}, bools: map[string]*bool{}}
	for _, s := range specs() {
		usage := s.Description + " (env " + s.Env
		if s.Default != "" {
			usage += ", default " + s.Default
		}
		usage += ")"
		if s.isBool {
			f.bools[s.Flag] = fs.Bool(s.Flag, false, usage)
		} else {
			f.strs[s.Flag] = fs.String(s.Flag, "", usage)
		}
	}
	return f
}

// Resolve builds the Config: for each setting the flag if it was given on
// the command line (fs.Visit tells), else the environment variable from
// getenv if not empty, else the default. f and fs may be nil (no flags),
// getenv may be nil (no environment). Everything is validated here; an
// invalid value yields an error that is one sentence naming the flag or
// variable, never containing a secret.
func Resolve(f *Flags, fs *flag.FlagSet, getenv func(string) string) (Config, error) {
	given := map[string]bool{}
	if fs != nil && f != nil {
		fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var c Config
	names := map[string]string{}
	for _, s := range specs() {
		in := input{name: s.Env, names: names}
		switch {
		case given[s.Flag]:
			in.name = "--" + s.Flag
			raw, err := f.value(s)
			if err != nil {
				return Config{}, err
			}
			in.raw = raw
		default:
			in.raw = getenv(s.Env)
		}
		if !s.Secret {
			in.raw = strings.TrimSpace(in.raw)
		}
		if err := s.apply(&c, in); err != nil {
			return Config{}, err
		}
		names[s.Field] = in.name
	}
	return c, nil
}

// value returns the raw command-line value of s; for a secret, the contents
// of the file the flag names, without a final line break.
func (f *Flags) value(s spec) (string, error) {
	if s.isBool {
		return strconv.FormatBool(*f.bools[s.Flag]), nil
	}
	v := *f.strs[s.Flag]
	if !s.Secret {
		return v, nil
	}
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("--%s must name a file holding the %s value, but it is empty", s.Flag, s.Env)
	}
	data, err := os.ReadFile(v)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is v, already in the message
		}
		return "", fmt.Errorf("--%s names the file %q, which cannot be read (%v); check the path and its permissions", s.Flag, v, err)
	}
	val := strings.TrimRight(string(data), "\r\n")
	clear(data)
	if val == "" {
		return "", fmt.Errorf("--%s names the file %q, which is empty; put the %s value in it", s.Flag, v, s.Env)
	}
	return val, nil
}

func applyDataDir(c *Config, in input) error {
	dir := in.raw
	if !in.set() {
		dir = DefaultDataDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return in.errorf("must be a directory path that can be made absolute, got %q (%v)", dir, err)
	}
	c.DataDir = abs
	return nil
}

func applyDatabaseURL(c *Config, in input) error {
	v := in.raw
	switch {
	case !in.set():
		c.DatabaseURL = ""
	case strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://"):
		// The value may hold a password: never repeat it in a message.
		if _, err := url.Parse(v); err != nil {
			return in.errorf("is not a valid URL; check it for characters such as @, / or %% in the password that need percent-encoding")
		}
		c.DatabaseURL = v
	case strings.HasPrefix(v, "sqlite:"):
		p := strings.TrimPrefix(v, "sqlite:")
		p = strings.TrimPrefix(p, "//") // sqlite:///abs/path or sqlite://rel/path
		if p == "" || strings.ContainsAny(p, "?#\x00") {
			return in.errorf("must be sqlite: followed by a file path without ? or #, got %q", v)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return in.errorf("names a SQLite file path that cannot be made absolute, got %q (%v)", v, err)
		}
		c.DatabaseURL = "sqlite:" + abs
	default:
		scheme, _, found := strings.Cut(v, ":")
		if !found || strings.ContainsAny(scheme, "/@ ") {
			scheme = "(none)"
		}
		return in.errorf("must start with postgres://, postgresql:// or sqlite: (MySQL is not supported), but its scheme is %q", scheme)
	}
	return nil
}

func applyListen(c *Config, in input) error {
	v := in.raw
	if !in.set() {
		v = DefaultListen
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return in.errorf("must be host:port, such as 127.0.0.1:8080 or :8080, got %q", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return in.errorf("must end in a port number from 0 to 65535, got %q", v)
	}
	if strings.ContainsAny(host, " /\\@") {
		return in.errorf("must be host:port with a host name or IP address, got %q", v)
	}
	c.Listen = v
	return nil
}

// existingFile makes path absolute and checks that it is a readable regular file.
func existingFile(in input) (string, error) {
	abs, err := filepath.Abs(in.raw)
	if err != nil {
		return "", in.errorf("must be a file path, got %q (%v)", in.raw, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", in.errorf("must name an existing file, but %q cannot be found or read", abs)
	}
	if !info.Mode().IsRegular() {
		return "", in.errorf("must name a regular file, but %q is not one", abs)
	}
	return abs, nil
}

func applyTLSCert(c *Config, in input) error {
	if !in.set() {
		return nil
	}
	p, err := existingFile(in)
	c.TLSCert = p
	return err
}

func applyTLSKey(c *Config, in input) error {
	certName := in.names["TLSCert"]
	if !in.set() {
		if c.TLSCert != "" {
			return fmt.Errorf("%s must be set together with %s, but only %s is set", in.name, certName, certName)
		}
		return nil
	}
	if c.TLSCert == "" {
		return fmt.Errorf("%s must be set together with %s, but only %s is set", certName, in.name, in.name)
	}
	p, err := existingFile(in)
	c.TLSKey = p
	return err
}

// checkHTTPURL parses v as an absolute http(s) URL. Messages about a URL
// with a user name or password do not repeat it.
func checkHTTPURL(in input, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" {
		if strings.Contains(v, "@") {
			return nil, in.errorf("must be an absolute http:// or https:// URL")
		}
		return nil, in.errorf("must be an absolute http:// or https:// URL, got %q", v)
	}
	if u.User != nil {
		return nil, in.errorf("must not contain a user name or password")
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return nil, in.errorf("must be an absolute http:// or https:// URL, got %q", v)
	}
	return u, nil
}

func applyPublicURL(c *Config, in input) error {
	if !in.set() {
		host, port, _ := net.SplitHostPort(c.Listen) // validated by applyListen
		if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
			host = "localhost"
		}
		scheme := "http"
		if c.TLS() {
			scheme = "https"
		}
		c.PublicURL = scheme + "://" + net.JoinHostPort(host, port)
		return nil
	}
	u, err := checkHTTPURL(in, in.raw)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(in.raw, "?") || strings.HasSuffix(in.raw, "#") {
		return in.errorf("must be a base URL without ? or #, got %q", in.raw)
	}
	c.PublicURL = strings.TrimRight(in.raw, "/")
	return nil
}

func urlSetting(def string, set func(*Config, string)) func(*Config, input) error {
	return func(c *Config, in input) error {
		if !in.set() {
			set(c, def)
			return nil
		}
		if _, err := checkHTTPURL(in, in.raw); err != nil {
			return err
		}
		set(c, in.raw)
		return nil
	}
}

func applySecretKey(c *Config, in input) error {
	if !in.set() {
		return nil
	}
	if _, err := secret.ParseKeys(in.raw); err != nil {
		// ParseKeys never repeats any part of the value.
		return in.errorf("must be the base64 of 32 random bytes (e.g. from `openssl rand -base64 32`) or id:base64 entries separated by commas, but %v", err)
	}
	c.SecretKey = in.raw
	return nil
}

func applyMongoParallel(c *Config, in input) error {
	if !in.set() {
		c.MongoParallelCollections = DefaultMongoParallelCollections
		return nil
	}
	n, err := strconv.Atoi(in.raw)
	if err != nil || n < 1 || n > MaxMongoParallelCollections {
		return in.errorf("must be a whole number from 1 to %d, got %q", MaxMongoParallelCollections, in.raw)
	}
	c.MongoParallelCollections = n
	return nil
}

func applyMongoSpool(c *Config, in input) error {
	if !in.set() {
		c.MongoSpoolMiB = DefaultMongoSpoolMiB
		return nil
	}
	n, err := strconv.Atoi(in.raw)
	if err != nil || n < 0 || n > MaxMongoSpoolMiB {
		return in.errorf("must be a whole number of MiB from 0 to %d, got %q", MaxMongoSpoolMiB, in.raw)
	}
	c.MongoSpoolMiB = n
	return nil
}

func applyWorkers(c *Config, in input) error {
	if !in.set() {
		c.Workers = DefaultWorkers
		return nil
	}
	n, err := strconv.Atoi(in.raw)
	if err != nil || n < 1 || n > MaxWorkers {
		return in.errorf("must be a whole number from 1 to %d, got %q", MaxWorkers, in.raw)
	}
	c.Workers = n
	return nil
}

func applyAdminEmail(c *Config, in input) error {
	if !in.set() {
		return nil
	}
	a, err := mail.ParseAddress(in.raw)
	if err != nil || a.Address != in.raw || a.Name != "" {
		return in.errorf("must be a plain e-mail address such as admin@example.com, got %q", in.raw)
	}
	c.AdminEmail = in.raw
	return nil
}

func applyAdminPassword(c *Config, in input) error {
	emailName := in.names["AdminEmail"]
	if !in.set() {
		// An email alone is fine: the first start generates a password and prints it once.
		return nil
	}
	if c.AdminEmail == "" {
		return fmt.Errorf("%s must be set together with %s, but only %s is set", emailName, in.name, in.name)
	}
	if n := len([]rune(in.raw)); n < minAdminPassword || len(in.raw) > maxAdminPassword {
		return in.errorf("must be from %d characters to %d bytes long", minAdminPassword, maxAdminPassword)
	}
	c.AdminPassword = in.raw
	return nil
}

func applyGDriveClientID(c *Config, in input) error {
	c.GDriveClientID = in.raw
	return nil
}

func applyGDriveClientSecret(c *Config, in input) error {
	idName := in.names["GDriveClientID"]
	if !in.set() {
		if c.GDriveClientID != "" {
			return fmt.Errorf("%s must be set together with %s, but only %s is set", in.name, idName, idName)
		}
		return nil
	}
	if c.GDriveClientID == "" {
		return fmt.Errorf("%s must be set together with %s, but only %s is set", idName, in.name, in.name)
	}
	c.GDriveClientSecret = in.raw
	return nil
}

// withoutIssuer is the error for an OIDC setting given without COFFER_OIDC_ISSUER.
func withoutIssuer(in input) error {
	issuer := in.names["OIDCIssuer"]
	return fmt.Errorf("%s is set but %s is not; set the issuer too, or unset %s", in.name, issuer, in.name)
}

func applyOIDCIssuer(c *Config, in input) error {
	if !in.set() {
		return nil
	}
	u, err := checkHTTPURL(in, in.raw)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(in.raw, "?") || strings.HasSuffix(in.raw, "#") {
		return in.errorf("must be the issuer URL without ? or #, got %q", in.raw)
	}
	if strings.EqualFold(u.Scheme, "http") && !isLoopback(u.Hostname()) {
		return in.errorf("must be an https:// URL (http:// only for a provider on this machine), got %q", in.raw)
	}
	// Kept as written: the provider's discovery document must state the same issuer, trailing slash included.
	c.OIDCIssuer = in.raw
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func applyOIDCClientID(c *Config, in input) error {
	switch {
	case in.set() && c.OIDCIssuer == "":
		return withoutIssuer(in)
	case !in.set() && c.OIDCIssuer != "":
		return fmt.Errorf("%s must be set together with %s, but only %s is set", in.name, in.names["OIDCIssuer"], in.names["OIDCIssuer"])
	}
	c.OIDCClientID = in.raw
	return nil
}

func applyOIDCClientSecret(c *Config, in input) error {
	if in.set() && c.OIDCIssuer == "" {
		return withoutIssuer(in)
	}
	c.OIDCClientSecret = in.raw
	return nil
}

// scopeToken matches an OAuth scope (RFC 6749 §3.3).
var scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)

func applyOIDCScopes(c *Config, in input) error {
	raw := in.raw
	if !in.set() {
		raw = DefaultOIDCScopes
	}
	c.OIDCScopes = nil
	for _, sc := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		if !scopeToken.MatchString(sc) {
			return in.errorf("must be scopes separated by spaces or commas, but %q is not a scope", sc)
		}
		if !slices.Contains(c.OIDCScopes, sc) {
			c.OIDCScopes = append(c.OIDCScopes, sc)
		}
	}
	if !slices.Contains(c.OIDCScopes, "openid") {
		return in.errorf("must include openid, got %q", raw)
	}
	return nil
}

func applyOIDCName(c *Config, in input) error {
	if !in.set() {
		c.OIDCName = DefaultOIDCName
		return nil
	}
	if n := len([]rune(in.raw)); n > 60 || strings.ContainsFunc(in.raw, unicode.IsControl) {
		return in.errorf("must be a name of at most 60 characters without control characters, got %q", in.raw)
	}
	c.OIDCName = in.raw
	return nil
}

func applyOIDCRoleClaim(c *Config, in input) error {
	if !in.set() {
		c.OIDCRoleClaim = DefaultOIDCRoleClaim
		return nil
	}
	if strings.ContainsFunc(in.raw, unicode.IsSpace) || strings.HasPrefix(in.raw, ".") || strings.HasSuffix(in.raw, ".") {
		return in.errorf("must be a claim name such as groups or realm_access.roles, got %q", in.raw)
	}
	c.OIDCRoleClaim = in.raw
	return nil
}

func applyOIDCRoleMap(c *Config, in input) error {
	switch {
	case in.set() && c.OIDCIssuer == "":
		return withoutIssuer(in)
	case !in.set() && c.OIDCIssuer != "":
		return fmt.Errorf("%s must be set together with %s (for example admins=admin,*=viewer), since without it nobody could sign in with single sign-on", in.name, in.names["OIDCIssuer"])
	case !in.set():
		c.OIDCRoleMap = sso.RoleMap{}
		return nil
	}
	m, err := sso.ParseRoleMap(in.raw)
	if err != nil {
		return in.errorf("%v", err)
	}
	c.OIDCRoleMap = m
	return nil
}

// boolSetting parses true/false (and the other forms strconv accepts).
func boolSetting(def bool, set func(*Config, bool)) func(*Config, input) error {
	return func(c *Config, in input) error {
		if !in.set() {
			set(c, def)
			return nil
		}
		b, err := strconv.ParseBool(in.raw)
		if err != nil {
			return in.errorf("must be true or false, got %q", in.raw)
		}
		set(c, b)
		return nil
	}
}

func applyLocalLogin(c *Config, in input) error {
	if err := boolSetting(true, func(c *Config, v bool) { c.LocalLogin = v })(c, in); err != nil {
		return err
	}
	if !c.LocalLogin && c.OIDCIssuer == "" {
		return in.errorf("is false but %s is not set, so nobody could sign in; set up single sign-on or leave local login on", in.names["OIDCIssuer"])
	}
	return nil
}

func applyLogRetentionDays(c *Config, in input) error {
	if !in.set() {
		c.LogRetentionDays = DefaultLogRetentionDays
		return nil
	}
	n, err := strconv.Atoi(in.raw)
	if err != nil || n < 1 || n > MaxLogRetentionDays {
		return in.errorf("must be a whole number of days from 1 to %d, got %q", MaxLogRetentionDays, in.raw)
	}
	c.LogRetentionDays = n
	return nil
}

func applyMetricsPublic(c *Config, in input) error {
	if !in.set() {
		c.MetricsPublic = false
		return nil
	}
	b, err := strconv.ParseBool(in.raw)
	if err != nil {
		return in.errorf("must be true or false, got %q", in.raw)
	}
	c.MetricsPublic = b
	return nil
}

func applyTrustedProxies(c *Config, in input) error {
	c.TrustedProxies = nil
	if !in.set() {
		return nil
	}
	for _, e := range strings.Split(in.raw, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(e, "/") {
			var err error
			if p, err = netip.ParsePrefix(e); err != nil {
				return in.errorf("must be a comma-separated list of IP addresses or CIDR ranges, but %q is neither", e)
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return in.errorf("must be a comma-separated list of IP addresses or CIDR ranges, but %q is neither", e)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	return nil
}

func applyLocalRoots(c *Config, in input) error {
	if !in.set() {
		c.LocalRoots = []string{filepath.Join(c.DataDir, "archives")}
		return nil
	}
	seen := map[string]bool{}
	c.LocalRoots = nil
	for _, e := range strings.FieldsFunc(in.raw, func(r rune) bool { return r == ',' || r == os.PathListSeparator }) {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !filepath.IsAbs(e) {
			return in.errorf("must list absolute directories, but %q is relative", e)
		}
		e = filepath.Clean(e)
		if !seen[e] {
			seen[e] = true
			c.LocalRoots = append(c.LocalRoots, e)
		}
	}
	if len(c.LocalRoots) == 0 {
		return in.errorf("must list at least one absolute directory, got %q", in.raw)
	}
	return nil
}

func applySessionTTL(c *Config, in input) error {
	if !in.set() {
		c.SessionTTL = DefaultSessionTTL
		return nil
	}
	d, err := time.ParseDuration(in.raw)
	if err != nil || d < MinSessionTTL || d > MaxSessionTTL {
		return in.errorf("must be a duration from 1m to %s, such as 12h or 90m, got %q", strings.TrimSuffix(MaxSessionTTL.String(), "0m0s"), in.raw)
	}
	c.SessionTTL = d
	return nil
}

func applyCheckpointInterval(c *Config, in input) error {
	if !in.set() {
		c.CheckpointInterval = DefaultCheckpointInterval
		return nil
	}
	d, err := time.ParseDuration(in.raw)
	if err != nil || d < 0 || d > time.Hour {
		return in.errorf("must be a duration from 0s to 1h, such as 5s, got %q", in.raw)
	}
	c.CheckpointInterval = d
	return nil
}

func applyLeaseTimeout(c *Config, in input) error {
	if !in.set() {
		c.LeaseTimeout = DefaultLeaseTimeout
		return nil
	}
	d, err := time.ParseDuration(in.raw)
	if err != nil || d < 2*time.Second || d > 10*time.Minute {
		return in.errorf("must be a duration from 2s to 10m, such as 30s, got %q", in.raw)
	}
	c.LeaseTimeout = d
	return nil
}

// durationIn applies a duration setting that must lie in [lo, hi], def when unset.
func durationIn(_ string, lo, hi, def time.Duration, set func(*Config, time.Duration)) func(*Config, input) error {
	return func(c *Config, in input) error {
		if !in.set() {
			set(c, def)
			return nil
		}
		d, err := time.ParseDuration(in.raw)
		if err != nil || d < lo || d > hi {
			return in.errorf("must be a duration from %s to %s, such as %s, got %q", fmtDur(lo), fmtDur(hi), fmtDur(def), in.raw)
		}
		set(c, d)
		return nil
	}
}

// fmtDur writes d the way people type it: 1m rather than 1m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func applyLogLevel(c *Config, in input) error {
	switch strings.ToLower(in.raw) {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return in.errorf("must be debug, info, warn or error, got %q", in.raw)
	}
	return nil
}

func applyLogFormat(c *Config, in input) error {
	switch v := strings.ToLower(in.raw); v {
	case "", "text":
		c.LogFormat = "text"
	case "json":
		c.LogFormat = "json"
	default:
		return in.errorf("must be text or json, got %q", in.raw)
	}
	return nil
}
