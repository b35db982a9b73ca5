package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/oidctest"
	"github.com/coffer-backup/coffer/internal/testutil/syncbuf"
	"github.com/coffer-backup/coffer/internal/testutil/tlstest"
)

const adminPassword = "correct horse battery staple"

// settings resolves the settings as `coffer serve` would, from env on top
// of a fresh data directory and a free local port.
func settings(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	var k [32]byte
	_, _ = rand.Read(k[:])
	base := map[string]string{
		"COFFER_DATA_DIR":       t.TempDir(),
		"COFFER_LISTEN":         "127.0.0.1:0",
		"COFFER_SECRET_KEY":     base64.StdEncoding.EncodeToString(k[:]),
		"COFFER_ADMIN_EMAIL":    "admin@example.com",
		"COFFER_ADMIN_PASSWORD": adminPassword,
		"COFFER_WORKERS":        "1",
	}
	for k, v := range env {
		base[k] = v
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Resolve(f, fs, func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// running is an App whose Run goroutine the test stops.
type running struct {
	app    *App
	stdout *syncbuf.Buffer
	log    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{stdout: &syncbuf.Buffer{}, log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cfg.Stdout, cfg.Log = r.stdout, r.log
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	a, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.app = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		_ = a.Close()
	})
	return r
}

// stop cancels Run and waits for its graceful end (once).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30 s of the stop")
		}
	})
}

// waitFor polls until the process's stdout holds want.
func (r *running) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.stdout.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stdout never showed %q:\n%s\nlog:\n%s", want, r.stdout.String(), r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends a request (a JSON body when body is not empty) and returns
// the status and the body of the answer.
func call(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServe runs a whole serve process on SQLite: the first admin is
// created and announced, the API answers and logs in, every log line goes
// through the redactor, and a stop is graceful.
func TestServe(t *testing.T) {
	t.Parallel()
	engineTuned := false
	r := start(t, Config{Settings: settings(t, nil), Mode: Serve, Engine: func(o *engine.Options) {
		engineTuned = o.LeaseTimeout > 0 && o.Heartbeat > 0 && o.CrashAt == nil
	}})
	if !engineTuned {
		t.Fatal("the engine options hook did not see the options built from the settings")
	}
	r.waitFor(t, "is listening on "+r.app.Addr().String())
	if !strings.Contains(r.stdout.String(), "First admin created: admin@example.com (password from COFFER_ADMIN_PASSWORD)") {
		t.Fatalf("stdout: %s", r.stdout.String())
	}
	base := "http://" + r.app.Addr().String()
	if code, body := call(t, http.DefaultClient, "GET", base+"/api/v1/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz: %d %s", code, body)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if code, body := call(t, c, "POST", base+"/api/v1/auth/login", `{"email":"admin@example.com","password":"`+adminPassword+`"}`); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	// The connection service shares the log's secret registry: a secret it
	// was sent is replaced in every later line.
	const connSecret = "the-s3-secret-key-of-TestServe"
	if code, body := call(t, c, "POST", base+"/api/v1/connections", `{"name":"s3","type":"s3","save_unchecked":true,"credentials":{`+
		`"access_key":"AKIDTESTSERVE","secret_key":"`+connSecret+`","region":"us-east-1","bucket":"bucket","endpoint":"http://127.0.0.1:9","force_path_style":true}}`); code != http.StatusCreated {
		t.Fatalf("create a connection: %d %s", code, body)
	}

	// The first admin's password is a registered secret of the process log.
	r.app.Logger().Info("a line that mentions " + adminPassword + " and " + connSecret)
	r.stop(t)
	log := r.log.String()
	if strings.Contains(log, adminPassword) || strings.Contains(log, connSecret) {
		t.Fatalf("a secret reached the log:\n%s", log)
	}
	for _, want := range []string{"a line that mentions", "coffer serve started", "coffer serve stopping"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestServeSSO wires single sign-on when COFFER_OIDC_ISSUER is set: Run
// discovers the provider, its client secret is a secret of the log, and a
// sign-in starts with a redirect to the provider.
func TestServeSSO(t *testing.T) {
	t.Parallel()
	const clientSecret = "the-oidc-client-secret-of-TestServeSSO"
	set := settings(t, nil)
	idp := oidctest.Start(t, oidctest.Options{Clients: []oidctest.Client{{ID: "coffer", Secret: clientSecret,
		RedirectURIs: []string{set.PublicURL + "/api/v1/auth/oidc/callback"}}}})
	set = settings(t, map[string]string{
		"COFFER_DATA_DIR":           set.DataDir,
		"COFFER_OIDC_ISSUER":        idp.Issuer,
		"COFFER_OIDC_CLIENT_ID":     "coffer",
		"COFFER_OIDC_CLIENT_SECRET": clientSecret,
		"COFFER_OIDC_ROLE_MAP":      "admins=admin",
	})
	r := start(t, Config{Settings: set, Mode: Serve})
	r.waitFor(t, "is listening on")
	base := "http://" + r.app.Addr().String()
	if code, body := call(t, http.DefaultClient, "GET", base+"/api/v1/auth/providers", ""); code != http.StatusOK || !strings.Contains(body, `"oidc":{`) {
		t.Fatalf("providers: %d %s", code, body)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := noRedirect.Get(base + "/api/v1/auth/oidc/start")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusFound && strings.HasPrefix(res.Header.Get("Location"), idp.Issuer) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sign-in never went to the provider: %d %q\nlog:\n%s", res.StatusCode, res.Header.Get("Location"), r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.app.Logger().Info("a line that mentions " + clientSecret)
	r.stop(t)
	if strings.Contains(r.log.String(), clientSecret) {
		t.Fatalf("the client secret reached the log:\n%s", r.log.String())
	}
}

// TestServeTLS serves HTTPS when a certificate and key are configured.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewAuthority(t)
	certFile, keyFile := tlstest.WriteFiles(t, ca.Server(t))
	r := start(t, Config{Settings: settings(t, map[string]string{
		"COFFER_TLS_CERT": certFile, "COFFER_TLS_KEY": keyFile,
	}), Mode: Serve})
	r.waitFor(t, "is listening on")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 10 * time.Second}
	if code, body := call(t, c, "GET", "https://"+r.app.Addr().String()+"/api/v1/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz over TLS: %d %s", code, body)
	}
	// Go's TLS server answers plain HTTP with 400.
	if code, _ := call(t, http.DefaultClient, "GET", "http://"+r.app.Addr().String()+"/api/v1/healthz", ""); code == http.StatusOK {
		t.Fatal("the TLS server also served plain HTTP")
	}
}

// TestWorker runs a worker-only process on PostgreSQL: no HTTP address, no
// first admin, a clean stop.
func TestWorker(t *testing.T) {
	t.Parallel()
	set := settings(t, map[string]string{"COFFER_DATABASE_URL": storetest.PostgresDatabase(t)})
	r := start(t, Config{Settings: set, Mode: Worker})
	if r.app.Addr() != nil {
		t.Fatalf("a worker listens on %s", r.app.Addr())
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.log.String(), "coffer worker started") {
		if time.Now().After(deadline) {
			t.Fatalf("log: %s", r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop(t)
	if out := r.stdout.String(); out != "" {
		t.Fatalf("a worker printed %q", out)
	}
	if !strings.Contains(r.log.String(), "coffer worker stopping") {
		t.Fatalf("log: %s", r.log.String())
	}
}

// TestNewListenError reports a taken address in the words of the setting
// and leaves nothing open: the same data directory opens again at once.
func TestNewListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	set := settings(t, map[string]string{"COFFER_LISTEN": ln.Addr().String()})
	_, err = New(t.Context(), Config{Settings: set, Mode: Serve, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "(COFFER_LISTEN)") {
		t.Fatalf("New on a taken address: %v", err)
	}
	set.Listen = "127.0.0.1:0"
	r := start(t, Config{Settings: set, Mode: Serve})
	r.waitFor(t, "is listening on")
	if strings.Contains(r.stdout.String(), "First admin created") {
		t.Fatal("the first admin was created twice")
	}
}
