//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/syncbuf"
)

// The test identity provider's client and users for TestBrowserSSO.
const (
	ssoClientID = "coffer-e2e"
	ssoSecret   = "e2e-client-secret"
	ssoName     = "Test IdP"
)

var ssoUsers = []map[string]any{
	{"subject": "e2e-alice", "email": "alice@example.com", "password": "alice-at-the-idp", "email_verified": true, "groups": []string{"coffer-admins"}, "name": "Alice"},
	{"subject": "e2e-bob", "email": "bob@example.com", "password": "bob-at-the-idp", "email_verified": true, "groups": []string{"coffer-ops"}, "name": "Bob"},
	{"subject": "e2e-carol", "email": "carol@example.com", "password": "carol-at-the-idp", "email_verified": true, "groups": []string{"guests"}, "name": "Carol"},
}

// TestBrowserSSO signs in through the login form of a real OpenID provider
// (package oidctest, run as its own process) in Chromium, against a real
// `coffer serve` with COFFER_LOCAL_LOGIN=false. coffer starts while the
// provider is still down: sign-in answers 503 until discovery, retried in
// the background, succeeds.
func TestBrowserSSO(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required for the browser tests")
	}
	providerBin := buildTestProvider(t)
	idpPort := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", idpPort)

	n := newNode(t)
	p := n.start(t, "serve",
		"COFFER_OIDC_ISSUER="+issuer,
		"COFFER_OIDC_CLIENT_ID="+ssoClientID,
		"COFFER_OIDC_CLIENT_SECRET="+ssoSecret,
		"COFFER_OIDC_NAME="+ssoName,
		"COFFER_OIDC_ROLE_MAP=coffer-admins=admin,coffer-ops=operator",
		"COFFER_LOCAL_LOGIN=false",
	)

	// The provider is down: coffer runs, and sign-in says why it cannot start.
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, body := get(t, noFollow, p.url+"/api/v1/auth/oidc/start")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "The identity provider (Test IdP) cannot be reached right now") {
		t.Fatalf("sign-in with the provider down: %d %s", status, body)
	}
	if status, body := get(t, noFollow, p.url+"/api/v1/auth/providers"); status != 200 || body != `{"local":false,"oidc":{"name":"Test IdP"}}`+"\n" {
		t.Fatalf("providers with the provider down: %d %s", status, body)
	}

	startProvider(t, providerBin, idpPort, p.url+"/api/v1/auth/oidc/callback")
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body = get(t, noFollow, p.url+"/api/v1/auth/oidc/start") // each attempt also asks for another discovery
		if status == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in still answers %d %s after the provider came up:\n%s", status, body, p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	web, _ := filepath.Abs("../../web")
	cmd := exec.Command("npm", "run", "e2e:sso")
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"COFFER_E2E_URL="+p.url,
		"COFFER_E2E_EMAIL="+adminEmail,
		"COFFER_E2E_PASSWORD="+adminPassword,
		"COFFER_E2E_OIDC_ISSUER="+issuer,
		"COFFER_E2E_OIDC_NAME="+ssoName,
		"COFFER_E2E_OIDC_ADMIN="+userCreds(0),
		"COFFER_E2E_OIDC_OPERATOR="+userCreds(1),
		"COFFER_E2E_OIDC_NO_ACCESS="+userCreds(2),
		"CI=true",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("npm run e2e:sso:\n%s", out)
	if err != nil {
		t.Fatalf("browser single sign-on test failed: %v", err)
	}

	// Break-glass: `coffer users reset-password` (run beside the server)
	// lets that password sign in although local login is off.
	login := func(password string) int {
		res, err := http.Post(p.url+"/api/v1/auth/login", "application/json",
			strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, password)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := login(adminPassword); code != http.StatusForbidden {
		t.Fatalf("password sign-in with local login off: %d, want 403", code)
	}
	reset := exec.Command(binary, "users", "reset-password", "--email", adminEmail)
	reset.Env = append(os.Environ(), "COFFER_DATA_DIR="+n.dataDir)
	reset.Stdin = strings.NewReader("break-glass-password\n")
	out, err = reset.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "break-glass") {
		t.Fatalf("coffer users reset-password: %v\n%s", err, out)
	}
	if code := login("break-glass-password"); code != http.StatusOK {
		t.Fatalf("break-glass sign-in: %d, want 200", code)
	}
}

// userCreds is "email:password" of ssoUsers[i].
func userCreds(i int) string {
	return ssoUsers[i]["email"].(string) + ":" + ssoUsers[i]["password"].(string)
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// buildTestProvider builds the test provider's command into a temp dir.
func buildTestProvider(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(t.TempDir(), "oidc-test-provider")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/testutil/oidctest/cmd/oidc-test-provider")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test provider: %v\n%s", err, out)
	}
	return bin
}

// startProvider runs the test provider on port with coffer's redirect URI
// registered, waits until it serves, and stops it when the test ends.
func startProvider(t *testing.T, bin string, port int, redirect string) {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{
		"clients": []map[string]any{{"id": ssoClientID, "secret": ssoSecret, "redirect_uris": []string{redirect}}},
		"users":   ssoUsers,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "provider.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--config", cfgPath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "issuer="); ok {
				ready <- v
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- test provider log:\n%s", logs.String())
		}
	})
	select {
	case iss := <-ready:
		t.Logf("test provider serving at %s", iss)
	case <-exited:
		t.Fatalf("the test provider exited at start:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the test provider did not start:\n%s", logs.String())
	}
}
