package config

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/sso"
)

// Distinctive secret values: no error message may contain them.
var (
	testSecretKey   = "k1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	testAdminPass   = "Sup3r-Secret-Admin-Pass"
	testGDriveSec   = "GOCSPX-very-secret-client"
	testDBPassword  = "db-Pa55word-xyz"
	testOIDCSecret  = "oidc-Client-Secret-42"
	secretsToHide   = []string{testSecretKey, testAdminPass, testGDriveSec, testDBPassword, testOIDCSecret, "0123456789abcdef"}
	testSecretKeyB4 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// resolveArgs registers the flags on a fresh FlagSet, parses args and resolves.
func resolveArgs(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("coffer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return Resolve(f, fs, envFunc(env))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := resolveArgs(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(wd, "data")
	want := Config{
		DataDir:                  dataDir,
		Listen:                   "127.0.0.1:8080",
		Workers:                  4,
		MongoParallelCollections: 4,
		MongoSpoolMiB:            1024,
		PublicURL:                "http://127.0.0.1:8080",
		GDriveAuthURL:            "https://accounts.google.com/o/oauth2/auth",
		GDriveTokenURL:           "https://oauth2.googleapis.com/token",
		GDriveAPIURL:             "https://www.googleapis.com/",
		LogRetentionDays:         30,
		LocalRoots:               []string{filepath.Join(dataDir, "archives")},
		SessionTTL:               12 * time.Hour,
		LeaseTimeout:             30 * time.Second,
		MinScheduleInterval:      time.Minute,
		SchedulerTick:            5 * time.Second,
		CheckpointInterval:       5 * time.Second,
		LogLevel:                 slog.LevelInfo,
		LogFormat:                "text",

		OIDCScopes:               []string{"openid", "email", "profile", "groups"},
		OIDCName:                 "SSO",
		OIDCRoleClaim:            "groups",
		OIDCRequireVerifiedEmail: true,
		LocalLogin:               true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %#v\nwant %#v", c, want)
	}
	if c.IsPostgres() || c.TLS() {
		t.Fatal("defaults should be SQLite without TLS")
	}
	if got := c.SQLitePath(); got != filepath.Join(dataDir, "coffer.db") {
		t.Fatalf("SQLitePath = %q", got)
	}
	if got := c.OAuthRedirectURL(); got != "http://127.0.0.1:8080/api/v1/oauth/google/callback" {
		t.Fatalf("OAuthRedirectURL = %q", got)
	}
	// No flags and no environment at all gives the same.
	c2, err := Resolve(nil, nil, nil)
	if err != nil || !reflect.DeepEqual(c2, want) {
		t.Fatalf("Resolve(nil, nil, nil) = %#v, %v", c2, err)
	}
}

// fullEnv returns an environment setting every variable to a valid,
// non-default value, and the Config it must produce.
func fullEnv(t *testing.T) (map[string]string, Config) {
	t.Helper()
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", "cert")
	key := writeFile(t, dir, "key.pem", "key")
	env := map[string]string{
		"COFFER_DATA_DIR":                   dir + "/d",
		"COFFER_DATABASE_URL":               "postgres://coffer:" + testDBPassword + "@db.example:5432/coffer?sslmode=disable",
		"COFFER_LISTEN":                     "0.0.0.0:9443",
		"COFFER_TLS_CERT":                   cert,
		"COFFER_TLS_KEY":                    key,
		"COFFER_PUBLIC_URL":                 "https://backup.example.com/coffer/",
		"COFFER_SECRET_KEY":                 testSecretKey,
		"COFFER_WORKERS":                    " 16 ",
		"COFFER_MONGO_PARALLEL_COLLECTIONS": "8",
		"COFFER_MONGO_SPOOL_MIB":            "0",
		"COFFER_ADMIN_EMAIL":                "admin@example.com",
		"COFFER_ADMIN_PASSWORD":             testAdminPass,
		"COFFER_GDRIVE_CLIENT_ID":           "client-id.apps.googleusercontent.com",
		"COFFER_GDRIVE_CLIENT_SECRET":       testGDriveSec,
		"COFFER_GDRIVE_AUTH_URL":            "http://127.0.0.1:7000/auth",
		"COFFER_GDRIVE_TOKEN_URL":           "http://127.0.0.1:7000/token",
		"COFFER_GDRIVE_API_URL":             "http://127.0.0.1:7000/",
		"COFFER_LOG_RETENTION_DAYS":         "90",
		"COFFER_METRICS_PUBLIC":             "true",
		"COFFER_TRUSTED_PROXIES":            "10.0.0.0/8, 192.168.1.7,::1, 2001:db8::1/32",
		"COFFER_LOCAL_ROOTS":                "/srv/backups," + "/mnt/nas/" + string(os.PathListSeparator) + "/srv/backups",
		"COFFER_SESSION_TTL":                "30m",
		"COFFER_LEASE_TIMEOUT":              "45s",
		"COFFER_MIN_SCHEDULE_INTERVAL":      "10s",
		"COFFER_SCHEDULER_TICK":             "2s",
		"COFFER_CHECKPOINT_INTERVAL":        "0s",
		"COFFER_LOG_LEVEL":                  "DEBUG",
		"COFFER_LOG_FORMAT":                 "json",

		"COFFER_OIDC_ISSUER":                 "https://id.example.com/realms/main",
		"COFFER_OIDC_CLIENT_ID":              "coffer",
		"COFFER_OIDC_CLIENT_SECRET":          testOIDCSecret,
		"COFFER_OIDC_SCOPES":                 "openid, email groups openid",
		"COFFER_OIDC_NAME":                   "Keycloak",
		"COFFER_OIDC_ROLE_CLAIM":             "realm_access.roles",
		"COFFER_OIDC_ROLE_MAP":               "admins=admin, *=viewer",
		"COFFER_OIDC_REQUIRE_VERIFIED_EMAIL": "false",
		"COFFER_LOCAL_LOGIN":                 "false",
	}
	want := Config{
		DataDir:                  dir + "/d",
		DatabaseURL:              env["COFFER_DATABASE_URL"],
		Listen:                   "0.0.0.0:9443",
		SecretKey:                testSecretKey,
		Workers:                  16,
		MongoParallelCollections: 8,
		MongoSpoolMiB:            0,
		AdminEmail:               "admin@example.com",
		AdminPassword:            testAdminPass,
		PublicURL:                "https://backup.example.com/coffer",
		GDriveClientID:           "client-id.apps.googleusercontent.com",
		GDriveClientSecret:       testGDriveSec,
		GDriveAuthURL:            "http://127.0.0.1:7000/auth",
		GDriveTokenURL:           "http://127.0.0.1:7000/token",
		GDriveAPIURL:             "http://127.0.0.1:7000/",
		LogRetentionDays:         90,
		MetricsPublic:            true,
		TLSCert:                  cert,
		TLSKey:                   key,
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"),
		},
		LocalRoots:          []string{"/srv/backups", "/mnt/nas"},
		SessionTTL:          30 * time.Minute,
		LeaseTimeout:        45 * time.Second,
		MinScheduleInterval: 10 * time.Second,
		SchedulerTick:       2 * time.Second,
		CheckpointInterval:  0,
		LogLevel:            slog.LevelDebug,
		LogFormat:           "json",

		OIDCIssuer:               "https://id.example.com/realms/main",
		OIDCClientID:             "coffer",
		OIDCClientSecret:         testOIDCSecret,
		OIDCScopes:               []string{"openid", "email", "groups"},
		OIDCName:                 "Keycloak",
		OIDCRoleClaim:            "realm_access.roles",
		OIDCRoleMap:              mustRoleMap(t, "admins=admin,*=viewer"),
		OIDCRequireVerifiedEmail: false,
		LocalLogin:               false,
	}
	return env, want
}

func mustRoleMap(t *testing.T, s string) sso.RoleMap {
	t.Helper()
	m, err := sso.ParseRoleMap(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnvOverDefault(t *testing.T) {
	t.Parallel()
	env, want := fullEnv(t)
	c, err := resolveArgs(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("from env:\n got %#v\nwant %#v", c, want)
	}
	if !c.IsPostgres() || c.SQLitePath() != "" || !c.TLS() {
		t.Fatalf("IsPostgres=%v SQLitePath=%q TLS=%v", c.IsPostgres(), c.SQLitePath(), c.TLS())
	}
	if got := c.OAuthRedirectURL(); got != "https://backup.example.com/coffer/api/v1/oauth/google/callback" {
		t.Fatalf("OAuthRedirectURL = %q", got)
	}
	// Every setting was taken from the environment: none kept its default.
	def, err := Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dv, cv := reflect.ValueOf(def), reflect.ValueOf(c)
	for i := range dv.NumField() {
		if reflect.DeepEqual(dv.Field(i).Interface(), cv.Field(i).Interface()) {
			t.Errorf("field %s is still its default; the test environment should change it", dv.Type().Field(i).Name)
		}
	}
}

func TestFlagOverEnv(t *testing.T) {
	t.Parallel()
	env, _ := fullEnv(t)
	dir := t.TempDir()
	cert := writeFile(t, dir, "c.pem", "c")
	key := writeFile(t, dir, "k.pem", "k")
	keyFile := writeFile(t, dir, "secret", "flag:"+testSecretKeyB4+"\n")
	passFile := writeFile(t, dir, "pass", "flag-password-123\r\n")
	gdFile := writeFile(t, dir, "gd", "flag-gdrive-secret\n")
	oidcFile := writeFile(t, dir, "oidc", "flag-oidc-secret\n")
	args := []string{
		"--data-dir", dir + "/flagdata",
		"--database-url", "sqlite:" + dir + "/cat.db",
		"--listen", "[::]:7000",
		"--tls-cert", cert, "--tls-key", key,
		"--public-url", "http://flag.example",
		"--secret-key-file", keyFile,
		"--workers", "2",
		"--mongo-parallel-collections", "1",
		"--mongo-spool-mib", "64",
		"--admin-email", "flag@example.com",
		"--admin-password-file", passFile,
		"--gdrive-client-id", "flag-id",
		"--gdrive-client-secret-file", gdFile,
		"--gdrive-auth-url", "https://a.example/auth",
		"--gdrive-token-url", "https://a.example/token",
		"--gdrive-api-url", "https://a.example/",
		"--log-retention-days", "7",
		"--metrics-public=false",
		"--trusted-proxies", "172.16.0.0/12",
		"--local-roots", "/flag/root",
		"--session-ttl", "2h",
		"--lease-timeout", "1m",
		"--min-schedule-interval", "30s",
		"--scheduler-tick", "3s",
		"--checkpoint-interval", "2s",
		"--log-level", "error",
		"--log-format", "text",
		"--oidc-issuer", "http://127.0.0.1:9000/",
		"--oidc-client-id", "flag-client",
		"--oidc-client-secret-file", oidcFile,
		"--oidc-scopes", "openid",
		"--oidc-name", "Flag IdP",
		"--oidc-role-claim", "roles",
		"--oidc-role-map", "ops=operator",
		"--oidc-require-verified-email=true",
		"--local-login=true",
	}
	c, err := resolveArgs(t, args, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir:                  dir + "/flagdata",
		DatabaseURL:              "sqlite:" + dir + "/cat.db",
		Listen:                   "[::]:7000",
		SecretKey:                "flag:" + testSecretKeyB4,
		Workers:                  2,
		MongoParallelCollections: 1,
		MongoSpoolMiB:            64,
		AdminEmail:               "flag@example.com",
		AdminPassword:            "flag-password-123",
		PublicURL:                "http://flag.example",
		GDriveClientID:           "flag-id",
		GDriveClientSecret:       "flag-gdrive-secret",
		GDriveAuthURL:            "https://a.example/auth",
		GDriveTokenURL:           "https://a.example/token",
		GDriveAPIURL:             "https://a.example/",
		LogRetentionDays:         7,
		MetricsPublic:            false,
		TLSCert:                  cert,
		TLSKey:                   key,
		TrustedProxies:           []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")},
		LocalRoots:               []string{"/flag/root"},
		SessionTTL:               2 * time.Hour,
		LeaseTimeout:             time.Minute,
		MinScheduleInterval:      30 * time.Second,
		SchedulerTick:            3 * time.Second,
		CheckpointInterval:       2 * time.Second,
		LogLevel:                 slog.LevelError,
		LogFormat:                "text",

		OIDCIssuer:               "http://127.0.0.1:9000/",
		OIDCClientID:             "flag-client",
		OIDCClientSecret:         "flag-oidc-secret",
		OIDCScopes:               []string{"openid"},
		OIDCName:                 "Flag IdP",
		OIDCRoleClaim:            "roles",
		OIDCRoleMap:              mustRoleMap(t, "ops=operator"),
		OIDCRequireVerifiedEmail: true,
		LocalLogin:               true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("flags over env:\n got %#v\nwant %#v", c, want)
	}
	if c.SQLitePath() != dir+"/cat.db" || c.IsPostgres() {
		t.Fatalf("SQLitePath %q IsPostgres %v", c.SQLitePath(), c.IsPostgres())
	}
	// Every setting has a flag in args: the test covers them all.
	for _, s := range Table() {
		if !slices.ContainsFunc(args, func(a string) bool { return a == "--"+s.Flag || strings.HasPrefix(a, "--"+s.Flag+"=") }) {
			t.Errorf("flag --%s is not exercised", s.Flag)
		}
	}
}

func TestFlagNotGivenKeepsEnv(t *testing.T) {
	t.Parallel()
	// Registered but not given on the command line: the env value stands,
	// even where the flag's zero value would differ from it.
	c, err := resolveArgs(t, []string{"--workers", "3"}, map[string]string{
		"COFFER_WORKERS":        "9",
		"COFFER_METRICS_PUBLIC": "1",
		"COFFER_LOG_LEVEL":      "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 3 || !c.MetricsPublic || c.LogLevel != slog.LevelWarn {
		t.Fatalf("Workers=%d MetricsPublic=%v LogLevel=%v", c.Workers, c.MetricsPublic, c.LogLevel)
	}
}

func TestDerivedDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := writeFile(t, dir, "c.pem", "c")
	key := writeFile(t, dir, "k.pem", "k")
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"COFFER_LISTEN": ":9000"}, "http://localhost:9000"},
		{map[string]string{"COFFER_LISTEN": "0.0.0.0:80"}, "http://localhost:80"},
		{map[string]string{"COFFER_LISTEN": "[::]:8080"}, "http://localhost:8080"},
		{map[string]string{"COFFER_LISTEN": "[::1]:8080"}, "http://[::1]:8080"},
		{map[string]string{"COFFER_LISTEN": "backup.lan:8443", "COFFER_TLS_CERT": cert, "COFFER_TLS_KEY": key}, "https://backup.lan:8443"},
	} {
		c, err := Resolve(nil, nil, envFunc(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.PublicURL != tc.want {
			t.Errorf("%v: PublicURL %q, want %q", tc.env, c.PublicURL, tc.want)
		}
	}
	c, err := Resolve(nil, nil, envFunc(map[string]string{"COFFER_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SQLitePath() != filepath.Join(dir, "coffer.db") || !reflect.DeepEqual(c.LocalRoots, []string{filepath.Join(dir, "archives")}) {
		t.Fatalf("derived from data dir: SQLitePath %q LocalRoots %v", c.SQLitePath(), c.LocalRoots)
	}
	c, err = Resolve(nil, nil, envFunc(map[string]string{"COFFER_DATABASE_URL": "sqlite:///var/lib/coffer/x.db"}))
	if err != nil || c.SQLitePath() != "/var/lib/coffer/x.db" {
		t.Fatalf("sqlite:/// form: %q, %v", c.SQLitePath(), err)
	}
	c, err = Resolve(nil, nil, envFunc(map[string]string{"COFFER_DATABASE_URL": "postgresql://localhost/coffer"}))
	if err != nil || !c.IsPostgres() {
		t.Fatalf("postgresql:// form: %v, %v", c.IsPostgres(), err)
	}
}

func TestInvalidValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := writeFile(t, dir, "c.pem", "c")
	// The secrets are set (validly) in every case; none may leak into a message.
	base := map[string]string{
		"COFFER_SECRET_KEY":           testSecretKey,
		"COFFER_ADMIN_EMAIL":          "admin@example.com",
		"COFFER_ADMIN_PASSWORD":       testAdminPass,
		"COFFER_GDRIVE_CLIENT_ID":     "id",
		"COFFER_GDRIVE_CLIENT_SECRET": testGDriveSec,
	}
	cases := []struct {
		env       string // variable set to value
		value     string
		name      string // the setting the message must start with
		wantInMsg string
	}{
		{"COFFER_WORKERS", "abc", "COFFER_WORKERS", `must be a whole number from 1 to 64, got "abc"`},
		{"COFFER_WORKERS", "0", "COFFER_WORKERS", "from 1 to 64"},
		{"COFFER_WORKERS", "65", "COFFER_WORKERS", "from 1 to 64"},
		{"COFFER_MONGO_PARALLEL_COLLECTIONS", "0", "COFFER_MONGO_PARALLEL_COLLECTIONS", "from 1 to 32"},
		{"COFFER_MONGO_PARALLEL_COLLECTIONS", "33", "COFFER_MONGO_PARALLEL_COLLECTIONS", "from 1 to 32"},
		{"COFFER_MONGO_SPOOL_MIB", "-1", "COFFER_MONGO_SPOOL_MIB", "from 0 to"},
		{"COFFER_MONGO_SPOOL_MIB", "1g", "COFFER_MONGO_SPOOL_MIB", "whole number of MiB"},
		{"COFFER_WORKERS", "2.5", "COFFER_WORKERS", "whole number"},
		{"COFFER_DATABASE_URL", "mysql://root:" + testDBPassword + "@h/db", "COFFER_DATABASE_URL", `scheme is "mysql"`},
		{"COFFER_DATABASE_URL", "postgres://u:" + testDBPassword + "@h:5432:x/db%zz", "COFFER_DATABASE_URL", "not a valid URL"},
		{"COFFER_DATABASE_URL", testDBPassword, "COFFER_DATABASE_URL", "must start with postgres://"},
		{"COFFER_DATABASE_URL", "sqlite:", "COFFER_DATABASE_URL", "file path"},
		{"COFFER_DATABASE_URL", "sqlite:x.db?mode=ro", "COFFER_DATABASE_URL", "without ? or #"},
		{"COFFER_LISTEN", "8080", "COFFER_LISTEN", "host:port"},
		{"COFFER_LISTEN", "localhost:http", "COFFER_LISTEN", "port number"},
		{"COFFER_LISTEN", "localhost:70000", "COFFER_LISTEN", "port number"},
		{"COFFER_PUBLIC_URL", "example.com", "COFFER_PUBLIC_URL", "absolute http:// or https:// URL"},
		{"COFFER_PUBLIC_URL", "ftp://example.com", "COFFER_PUBLIC_URL", "absolute http:// or https:// URL"},
		{"COFFER_PUBLIC_URL", "https://u:" + testDBPassword + "@example.com", "COFFER_PUBLIC_URL", "user name or password"},
		{"COFFER_PUBLIC_URL", "https://example.com/?a=b", "COFFER_PUBLIC_URL", "without ? or #"},
		{"COFFER_GDRIVE_AUTH_URL", "/relative", "COFFER_GDRIVE_AUTH_URL", "absolute"},
		{"COFFER_GDRIVE_TOKEN_URL", "token", "COFFER_GDRIVE_TOKEN_URL", "absolute"},
		{"COFFER_GDRIVE_API_URL", "gopher://x", "COFFER_GDRIVE_API_URL", "absolute"},
		{"COFFER_SECRET_KEY", "c2hvcnQ=", "COFFER_SECRET_KEY", "instead of 32"},
		{"COFFER_SECRET_KEY", "not base64 " + testAdminPass, "COFFER_SECRET_KEY", "base64"},
		{"COFFER_ADMIN_EMAIL", "not-an-email", "COFFER_ADMIN_EMAIL", "e-mail address"},
		{"COFFER_ADMIN_EMAIL", "Admin <a@example.com>", "COFFER_ADMIN_EMAIL", "plain e-mail"},
		{"COFFER_ADMIN_PASSWORD", "short", "COFFER_ADMIN_PASSWORD", "from 8 characters"},
		{"COFFER_LOG_RETENTION_DAYS", "0", "COFFER_LOG_RETENTION_DAYS", "from 1 to 36500"},
		{"COFFER_LOG_RETENTION_DAYS", "a week", "COFFER_LOG_RETENTION_DAYS", "whole number of days"},
		{"COFFER_METRICS_PUBLIC", "maybe", "COFFER_METRICS_PUBLIC", `true or false, got "maybe"`},
		{"COFFER_TLS_CERT", dir + "/missing.pem", "COFFER_TLS_CERT", "existing file"},
		{"COFFER_TLS_CERT", dir, "COFFER_TLS_CERT", "regular file"},
		{"COFFER_TLS_CERT", cert, "COFFER_TLS_KEY", "set together with COFFER_TLS_CERT"},
		{"COFFER_TLS_KEY", cert, "COFFER_TLS_CERT", "set together with COFFER_TLS_KEY"},
		{"COFFER_TRUSTED_PROXIES", "10.0.0.0/8,proxy.lan", "COFFER_TRUSTED_PROXIES", `"proxy.lan" is neither`},
		{"COFFER_TRUSTED_PROXIES", "10.0.0.0/33", "COFFER_TRUSTED_PROXIES", "CIDR"},
		{"COFFER_LOCAL_ROOTS", "/ok,relative/dir", "COFFER_LOCAL_ROOTS", `"relative/dir" is relative`},
		{"COFFER_LOCAL_ROOTS", ",,", "COFFER_LOCAL_ROOTS", "at least one"},
		{"COFFER_SESSION_TTL", "forever", "COFFER_SESSION_TTL", `such as 12h or 90m, got "forever"`},
		{"COFFER_SESSION_TTL", "30s", "COFFER_SESSION_TTL", "from 1m"},
		{"COFFER_LEASE_TIMEOUT", "1s", "COFFER_LEASE_TIMEOUT", "from 2s to 10m"},
		{"COFFER_MIN_SCHEDULE_INTERVAL", "500ms", "COFFER_MIN_SCHEDULE_INTERVAL", "from 1s to 24h, such as 1m"},
		{"COFFER_SCHEDULER_TICK", "fast", "COFFER_SCHEDULER_TICK", "from 1s to 1m, such as 5s"},
		{"COFFER_CHECKPOINT_INTERVAL", "-1s", "COFFER_CHECKPOINT_INTERVAL", "from 0s to 1h"},
		{"COFFER_SESSION_TTL", "10000h", "COFFER_SESSION_TTL", "to 8784h"},
		{"COFFER_LOG_LEVEL", "verbose", "COFFER_LOG_LEVEL", "debug, info, warn or error"},
		{"COFFER_LOG_FORMAT", "xml", "COFFER_LOG_FORMAT", "text or json"},
		{"COFFER_OIDC_ISSUER", "id.example.com", "COFFER_OIDC_ISSUER", "absolute http:// or https:// URL"},
		{"COFFER_OIDC_ISSUER", "http://id.example.com", "COFFER_OIDC_ISSUER", "must be an https:// URL"},
		{"COFFER_OIDC_ISSUER", "https://id.example.com/?tenant=1", "COFFER_OIDC_ISSUER", "without ? or #"},
		{"COFFER_OIDC_SCOPES", "email profile", "COFFER_OIDC_SCOPES", "must include openid"},
		{"COFFER_OIDC_SCOPES", `openid "email"`, "COFFER_OIDC_SCOPES", `"\"email\"" is not a scope`},
		{"COFFER_OIDC_NAME", strings.Repeat("x", 61), "COFFER_OIDC_NAME", "at most 60 characters"},
		{"COFFER_OIDC_ROLE_CLAIM", "my groups", "COFFER_OIDC_ROLE_CLAIM", "claim name"},
		{"COFFER_OIDC_REQUIRE_VERIFIED_EMAIL", "yes please", "COFFER_OIDC_REQUIRE_VERIFIED_EMAIL", "true or false"},
	}
	for _, tc := range cases {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		env[tc.env] = tc.value
		_, err := Resolve(nil, nil, envFunc(env))
		if err == nil {
			t.Errorf("%s=%q accepted", tc.env, tc.value)
			continue
		}
		checkMessage(t, err.Error(), tc.name, tc.wantInMsg)
	}

	// Pairs: one half given without the other.
	oidc := func(kv ...string) map[string]string {
		m := map[string]string{"COFFER_OIDC_ISSUER": "https://id.example.com", "COFFER_OIDC_CLIENT_ID": "coffer", "COFFER_OIDC_ROLE_MAP": "admins=admin"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		env       map[string]string
		name, msg string
	}{
		{oidc("COFFER_OIDC_CLIENT_ID", ""), "COFFER_OIDC_CLIENT_ID", "set together with COFFER_OIDC_ISSUER"},
		{oidc("COFFER_OIDC_ROLE_MAP", ""), "COFFER_OIDC_ROLE_MAP", "set together with COFFER_OIDC_ISSUER (for example admins=admin,*=viewer)"},
		{oidc("COFFER_OIDC_ROLE_MAP", "admins=root"), "COFFER_OIDC_ROLE_MAP", `maps to "root"`},
		{oidc("COFFER_OIDC_ROLE_MAP", "admins"), "COFFER_OIDC_ROLE_MAP", "group=role entries"},
		{map[string]string{"COFFER_OIDC_CLIENT_ID": "coffer"}, "COFFER_OIDC_CLIENT_ID", "is set but COFFER_OIDC_ISSUER is not"},
		{map[string]string{"COFFER_OIDC_CLIENT_SECRET": testOIDCSecret}, "COFFER_OIDC_CLIENT_SECRET", "is set but COFFER_OIDC_ISSUER is not"},
		{map[string]string{"COFFER_OIDC_ROLE_MAP": "admins=admin"}, "COFFER_OIDC_ROLE_MAP", "is set but COFFER_OIDC_ISSUER is not"},
		{map[string]string{"COFFER_LOCAL_LOGIN": "false"}, "COFFER_LOCAL_LOGIN", "is false but COFFER_OIDC_ISSUER is not set, so nobody could sign in"},
		{map[string]string{"COFFER_LOCAL_LOGIN": "nope"}, "COFFER_LOCAL_LOGIN", `true or false, got "nope"`},
		{map[string]string{"COFFER_ADMIN_PASSWORD": testAdminPass}, "COFFER_ADMIN_EMAIL", "set together with COFFER_ADMIN_PASSWORD"},
		{map[string]string{"COFFER_GDRIVE_CLIENT_ID": "id"}, "COFFER_GDRIVE_CLIENT_SECRET", "set together with COFFER_GDRIVE_CLIENT_ID"},
		{map[string]string{"COFFER_GDRIVE_CLIENT_SECRET": testGDriveSec}, "COFFER_GDRIVE_CLIENT_ID", "set together with COFFER_GDRIVE_CLIENT_SECRET"},
	} {
		_, err := Resolve(nil, nil, envFunc(tc.env))
		if err == nil {
			t.Errorf("%v accepted", tc.env)
			continue
		}
		checkMessage(t, err.Error(), tc.name, tc.msg)
	}
}

func TestInvalidFlagsNameTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "\n")
	badKey := writeFile(t, dir, "badkey", "c2hvcnQ=\n")
	env := map[string]string{"COFFER_WORKERS": "8", "COFFER_ADMIN_EMAIL": "a@example.com", "COFFER_ADMIN_PASSWORD": testAdminPass}
	for _, tc := range []struct {
		args      []string
		name, msg string
	}{
		{[]string{"--workers", "abc"}, "--workers", `must be a whole number from 1 to 64, got "abc"`},
		{[]string{"--listen", "nope"}, "--listen", "host:port"},
		{[]string{"--database-url", "mysql://x"}, "--database-url", "must start with postgres://"},
		{[]string{"--secret-key-file", dir + "/nope"}, "--secret-key-file", "cannot be read"},
		{[]string{"--secret-key-file", empty}, "--secret-key-file", "is empty"},
		{[]string{"--secret-key-file", badKey}, "--secret-key-file", "instead of 32"},
		{[]string{"--admin-password-file", ""}, "--admin-password-file", "must name a file"},
		{[]string{"--admin-email", "x"}, "--admin-email", "e-mail address"},
		{[]string{"--tls-key", empty}, "COFFER_TLS_CERT", "set together with --tls-key"},
		{[]string{"--gdrive-client-id", "id"}, "COFFER_GDRIVE_CLIENT_SECRET", "set together with --gdrive-client-id"},
	} {
		_, err := resolveArgs(t, tc.args, env)
		if err == nil {
			t.Errorf("%v accepted", tc.args)
			continue
		}
		checkMessage(t, err.Error(), tc.name, tc.msg)
	}
}

var oneSentence = regexp.MustCompile(`[.!?]\s+[A-Z]`)

func checkMessage(t *testing.T, msg, name, want string) {
	t.Helper()
	if !strings.HasPrefix(msg, name+" ") {
		t.Errorf("message %q does not start with the setting %s", msg, name)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}
	if strings.Contains(msg, "\n") || oneSentence.MatchString(msg) {
		t.Errorf("message %q is not one sentence", msg)
	}
	for _, s := range secretsToHide {
		if strings.Contains(msg, s) {
			t.Errorf("message %q reveals a secret", msg)
		}
	}
}

func TestTableCoversEveryField(t *testing.T) {
	t.Parallel()
	table := Table()
	byField := map[string]Setting{}
	envs, flags := map[string]bool{}, map[string]bool{}
	kebab := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	for _, s := range table {
		if _, dup := byField[s.Field]; dup {
			t.Errorf("field %s appears twice in Table", s.Field)
		}
		byField[s.Field] = s
		if !strings.HasPrefix(s.Env, "COFFER_") || envs[s.Env] {
			t.Errorf("setting %s: bad or duplicate env %q", s.Field, s.Env)
		}
		envs[s.Env] = true
		if !kebab.MatchString(s.Flag) || flags[s.Flag] {
			t.Errorf("setting %s: bad or duplicate flag %q", s.Field, s.Flag)
		}
		flags[s.Flag] = true
		if s.Secret != strings.HasSuffix(s.Flag, "-file") {
			t.Errorf("setting %s: secrets and only secrets take their flag value from a file (%q)", s.Field, s.Flag)
		}
		if len(s.Description) < 10 || !strings.HasSuffix(s.Description, ".") {
			t.Errorf("setting %s: description %q is not a sentence", s.Field, s.Description)
		}
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		if _, ok := byField[typ.Field(i).Name]; !ok {
			t.Errorf("Config.%s is not in Table", typ.Field(i).Name)
		}
	}
	if len(table) != typ.NumField() {
		t.Errorf("Table has %d settings, Config %d fields", len(table), typ.NumField())
	}
	for _, want := range []string{"SecretKey", "AdminPassword", "GDriveClientSecret", "OIDCClientSecret"} {
		if !byField[want].Secret {
			t.Errorf("%s is not marked secret", want)
		}
	}

	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	Register(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !flags[f.Name] {
			t.Errorf("flag --%s is registered but not in Table", f.Name)
		}
	})
	if n != len(table) {
		t.Errorf("Register added %d flags for %d settings", n, len(table))
	}

	md := MarkdownTable()
	for _, s := range table {
		if !strings.Contains(md, "`"+s.Env+"`") || !strings.Contains(md, "`--"+s.Flag+"`") {
			t.Errorf("MarkdownTable lacks %s", s.Env)
		}
	}
	if got := strings.Count(md, "\n"); got != len(table)+2 {
		t.Errorf("MarkdownTable has %d lines, want %d", got, len(table)+2)
	}
}

func TestStringHidesSecrets(t *testing.T) {
	t.Parallel()
	env, _ := fullEnv(t)
	env["COFFER_DATABASE_URL"] = "postgres://coffer:" + testDBPassword + "@db/coffer?password=" + testDBPassword
	c, err := Resolve(nil, nil, envFunc(env))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v %#v %s", c, c, c), c.RedactedDatabaseURL()} {
		for _, s := range secretsToHide {
			if strings.Contains(out, s) {
				t.Fatalf("%q reveals a secret", out)
			}
		}
		if !strings.Contains(out, "db") {
			t.Fatalf("%q lost the database host", out)
		}
	}
	if !strings.Contains(c.String(), "Workers: 16") || !strings.Contains(c.String(), "SecretKey: (set, hidden)") {
		t.Fatalf("String = %s", c)
	}
}

func TestTableDefaultsMatchResolve(t *testing.T) {
	t.Parallel()
	c, err := Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(c)
	for _, s := range Table() {
		if s.Default == "" || strings.Contains(s.Default, "<") {
			continue // no default, or one described in words
		}
		got := v.FieldByName(s.Field).Interface()
		var same bool
		switch g := got.(type) {
		case time.Duration:
			d, err := time.ParseDuration(s.Default)
			same = err == nil && d == g
		case slog.Level:
			same = strings.EqualFold(g.String(), s.Default)
		case []string:
			same = strings.Join(g, " ") == s.Default
		case string:
			if s.Field == "DataDir" {
				abs, err := filepath.Abs(s.Default)
				same = err == nil && abs == g
			} else {
				same = g == s.Default
			}
		default:
			same = fmt.Sprint(g) == s.Default
		}
		if !same {
			t.Errorf("%s: Table says default %q, Resolve gives %v", s.Env, s.Default, got)
		}
	}
}

func TestIsTrustedProxy(t *testing.T) {
	t.Parallel()
	c, err := Resolve(nil, nil, envFunc(map[string]string{"COFFER_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7, fd00::/8"}))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3":         true,
		"::ffff:10.9.9.9":  true,
		"192.168.1.7":      true,
		"192.168.1.8":      false,
		"fd12::1":          true,
		"2001:db8::1":      false,
		"127.0.0.1":        false,
		"::ffff:127.0.0.1": false,
	} {
		if got := c.IsTrustedProxy(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsTrustedProxy(%s) = %v, want %v", addr, got, want)
		}
	}
	def, err := Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.IsTrustedProxy(netip.MustParseAddr("127.0.0.1")) {
		t.Error("no proxy is trusted by default")
	}
}
