package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/testutil/oidctest"
)

const (
	testClientID = "coffer"
	testSecret   = "client-secret-for-tests"
	testRedirect = "http://127.0.0.1:1/api/v1/auth/oidc/callback" // never reached: the test client stops there
)

var (
	alice = oidctest.User{Subject: "u-alice", Email: "alice@example.com", Password: "alice-pass", EmailVerified: true, Groups: []string{"admins", "staff"}}
	bob   = oidctest.User{Subject: "u-bob", Email: "bob@example.com", Password: "bob-pass", EmailVerified: false, Groups: []string{"staff"}}
)

// setup starts a provider with alice and bob and a discovered client of it.
func setup(t *testing.T, mutate ...func(*Settings)) (*oidctest.Provider, *Client) {
	t.Helper()
	p := oidctest.Start(t, oidctest.Options{
		Clients: []oidctest.Client{
			{ID: testClientID, Secret: testSecret, RedirectURIs: []string{testRedirect}},
			{ID: "userinfo-only", Secret: testSecret, RedirectURIs: []string{testRedirect}, ClaimsFromUserinfoOnly: true},
		},
		Users: []oidctest.User{alice, bob},
	})
	return p, newClient(t, p.Issuer, mutate...)
}

func newClient(t *testing.T, issuer string, mutate ...func(*Settings)) *Client {
	t.Helper()
	s := Settings{
		Issuer: issuer, ClientID: testClientID, ClientSecret: testSecret,
		Scopes: []string{"openid", "email", "profile", "groups"}, RedirectURL: testRedirect,
		RoleClaim: "groups", RequireVerifiedEmail: true, RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}
	for _, f := range mutate {
		f(&s)
	}
	c, err := New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	return c
}

func waitReady(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("the provider was not discovered: %v", c.LastError())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is an HTTP client with cookies that stops at the redirect URI.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), testRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// signIn runs the browser leg for user and returns the code.
func signIn(t *testing.T, p *oidctest.Provider, c *Client, u oidctest.User, state, nonce, verifier string) string {
	t.Helper()
	waitReady(t, c)
	authURL, err := c.AuthCodeURL(state, nonce, verifier)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.SignIn(browser(t), authURL, u.Email, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), testRedirect) {
		t.Fatalf("the provider answered %d to %q, not a redirect to coffer", res.StatusCode, res.Header.Get("Location"))
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("state %q came back as %q", state, got)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	p, c := setup(t)
	verifier := oauth2.GenerateVerifier()
	code := signIn(t, p, c, alice, "state-1", "nonce-1", verifier)
	id, err := c.Exchange(context.Background(), code, verifier, "nonce-1")
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Issuer: p.Issuer, Subject: "u-alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"admins", "staff"}}
	if id.Issuer != want.Issuer || id.Subject != want.Subject || id.Email != want.Email || !id.EmailVerified || strings.Join(id.Groups, ",") != "admins,staff" {
		t.Fatalf("identity %+v, want %+v", *id, want)
	}

	// The authorization URL carries PKCE (S256), state and nonce.
	u, err := c.AuthCodeURL("s", "n", verifier)
	if err != nil {
		t.Fatal(err)
	}
	q := mustURL(t, u).Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
		q.Get("state") != "s" || q.Get("nonce") != "n" || q.Get("response_type") != "code" || q.Get("scope") != "openid email profile groups" {
		t.Fatalf("authorization URL %s", u)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestClaimsFromUserinfo(t *testing.T) {
	t.Parallel()
	p, c := setup(t, func(s *Settings) { s.ClientID = "userinfo-only" })
	verifier := oauth2.GenerateVerifier()
	code := signIn(t, p, c, alice, "st", "nonce", verifier)
	id, err := c.Exchange(context.Background(), code, verifier, "nonce")
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != alice.Email || !id.EmailVerified || strings.Join(id.Groups, ",") != "admins,staff" {
		t.Fatalf("identity from userinfo: %+v", *id)
	}
}

// refusal asserts err is a *Refusal with reason.
func refusal(t *testing.T, err error, reason, detail string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != reason {
		t.Fatalf("error %v, want a refusal %q", err, reason)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Fatalf("refusal %q does not say %q", err, detail)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	p, c := setup(t)
	ctx := context.Background()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// resign re-signs the provider's real token with its own key after changing claims.
	resign := p.Resign
	for _, tc := range []struct {
		name    string
		user    oidctest.User
		rewrite func(string) (string, error)
		nonce   string // nonce expected by Exchange ("" = the one sent)
		reason  string
		detail  string
	}{
		{name: "wrong audience", user: alice, rewrite: resign(func(m map[string]any) { m["aud"] = "another-client" }),
			reason: ReasonToken, detail: `expected audience "coffer"`},
		{name: "several audiences without azp", user: alice, rewrite: resign(func(m map[string]any) { m["aud"] = []string{"coffer", "x"}; m["azp"] = "x" }),
			reason: ReasonToken, detail: "azp"},
		{name: "expired", user: alice, rewrite: resign(func(m map[string]any) { m["exp"] = time.Now().Add(-time.Minute).Unix() }),
			reason: ReasonToken, detail: "expired"},
		{name: "other issuer", user: alice, rewrite: resign(func(m map[string]any) { m["iss"] = "http://evil.example" }),
			reason: ReasonToken, detail: "different provider"},
		{name: "signed by another key with the provider's key id", user: alice,
			rewrite: oidctest.ResignWith(other, p.KeyID()),
			reason:  ReasonToken, detail: "signature"},
		{name: "signed by another key with its own key id", user: alice,
			rewrite: oidctest.ResignWith(other, "other-key"),
			reason:  ReasonToken, detail: "signature"},
		{name: "payload tampered", user: alice,
			rewrite: func(raw string) (string, error) {
				parts := strings.Split(raw, ".")
				forged, err := p.Sign(map[string]any{"sub": "u-mallory"})
				if err != nil {
					return "", err
				}
				return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2], nil
			},
			reason: ReasonToken, detail: "signature"},
		{name: "no id_token", user: alice, rewrite: func(string) (string, error) { return "", nil }, reason: ReasonToken, detail: "no id_token"},
		{name: "nonce of another sign-in", user: alice, nonce: "other-nonce", reason: ReasonToken, detail: "nonce"},
		{name: "unverified e-mail", user: bob, reason: ReasonEmailUnverified, detail: "bob@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			code := signIn(t, p, c, tc.user, "st", "nonce", verifier)
			if tc.rewrite != nil {
				p.RewriteNextIDToken(tc.rewrite)
			}
			nonce := "nonce"
			if tc.nonce != "" {
				nonce = tc.nonce
			}
			_, err := c.Exchange(ctx, code, verifier, nonce)
			refusal(t, err, tc.reason, tc.detail)
		})
	}

	t.Run("replayed code", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := signIn(t, p, c, alice, "st", "nonce", verifier)
		if _, err := c.Exchange(ctx, code, verifier, "nonce"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exchange(ctx, code, verifier, "nonce")
		refusal(t, err, ReasonExchange, "invalid_grant")
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		code := signIn(t, p, c, alice, "st", "nonce", oauth2.GenerateVerifier())
		_, err := c.Exchange(ctx, code, oauth2.GenerateVerifier(), "nonce")
		refusal(t, err, ReasonExchange, "invalid_grant")
	})
	t.Run("unverified e-mail allowed when not required", func(t *testing.T) {
		c2 := newClient(t, p.Issuer, func(s *Settings) { s.RequireVerifiedEmail = false })
		verifier := oauth2.GenerateVerifier()
		code := signIn(t, p, c2, bob, "st", "nonce", verifier)
		id, err := c2.Exchange(ctx, code, verifier, "nonce")
		if err != nil || id.EmailVerified || id.Email != bob.Email {
			t.Fatalf("identity %+v, %v", id, err)
		}
	})
	t.Run("no e-mail", func(t *testing.T) {
		c2 := newClient(t, p.Issuer, func(s *Settings) { s.Scopes = []string{"openid", "groups"} })
		verifier := oauth2.GenerateVerifier()
		code := signIn(t, p, c2, alice, "st", "nonce", verifier)
		_, err := c2.Exchange(ctx, code, verifier, "nonce")
		// The userinfo endpoint is asked too, but the scope did not grant the e-mail.
		refusal(t, err, ReasonEmailMissing, "u-alice")
	})
}

// TestProviderDownThenUp: a provider that cannot be reached at start is
// retried in the background; meanwhile the client says so.
func TestProviderDownThenUp(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newClient(t, "http://"+addr)
	time.Sleep(100 * time.Millisecond) // a few attempts fail
	if c.Ready() {
		t.Fatal("ready without a provider")
	}
	if _, err := c.AuthCodeURL("s", "n", "v"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("AuthCodeURL while down: %v", err)
	}
	if _, err := c.Exchange(context.Background(), "code", "v", "n"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Exchange while down: %v", err)
	}
	if err := c.LastError(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("LastError = %v", err)
	}
	p := oidctest.Start(t, oidctest.Options{Addr: addr,
		Clients: []oidctest.Client{{ID: testClientID, Secret: testSecret, RedirectURIs: []string{testRedirect}}},
		Users:   []oidctest.User{alice}})
	c.Kick()
	waitReady(t, c)
	verifier := oauth2.GenerateVerifier()
	code := signIn(t, p, c, alice, "st", "nonce", verifier)
	if _, err := c.Exchange(context.Background(), code, verifier, "nonce"); err != nil {
		t.Fatal(err)
	}

	// Down again after discovery: the exchange says the provider cannot be reached.
	code = signIn(t, p, c, alice, "st", "nonce", verifier)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exchange(context.Background(), code, verifier, "nonce"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Exchange with the provider gone: %v", err)
	}
}
