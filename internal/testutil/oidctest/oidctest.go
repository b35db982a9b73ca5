// Package oidctest is a real OpenID Connect provider for tests, built on
// zitadel/oidc's certified op package: discovery, JWKS, the authorization
// code flow with PKCE, the token and userinfo endpoints, and its own HTML
// login form, serving static users (e-mail, password, verified flag,
// groups) on 127.0.0.1. Tests start it in-process with Start; the browser
// tests run it as a separate process (cmd/oidc-test-provider).
//
// Besides behaving like a provider, it can be told to hand out one doctored
// ID token (RewriteNextIDToken), so that tests can feed tokens that no
// honest provider issues (wrong audience, expired, signed with another key)
// through the relying party's real callback path.
package oidctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ScopeGroups is the scope that asks for the "groups" claim.
const ScopeGroups = "groups"

// loginPath is the provider's login form.
const loginPath = "/login"

// User is a static account at the provider.
type User struct {
	// Subject is the stable id ("sub").
	Subject string `json:"subject"`
	// Email and Password sign in at the login form.
	Email    string `json:"email"`
	Password string `json:"password"`
	// EmailVerified is sent as email_verified.
	EmailVerified bool `json:"email_verified"`
	// Groups are sent as the "groups" claim when the scope asks for it.
	Groups []string `json:"groups"`
	// Name is sent as "name" with the profile scope.
	Name string `json:"name"`
}

// Client is a registered relying party.
type Client struct {
	ID     string `json:"id"`
	Secret string `json:"secret"` // "" for a public client (PKCE required)
	// RedirectURIs are the allowed redirect URIs, exactly.
	RedirectURIs []string `json:"redirect_uris"`
	// ClaimsFromUserinfoOnly leaves e-mail and groups out of the ID token:
	// the relying party must read them from the userinfo endpoint.
	ClaimsFromUserinfoOnly bool `json:"claims_from_userinfo_only"`
}

// Options configure a provider.
type Options struct {
	// Addr is where to listen (default 127.0.0.1:0, a free port).
	Addr    string
	Clients []Client
	Users   []User
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is the issuer URL (http://127.0.0.1:<port>), also its base URL.
	Issuer string

	ln   net.Listener
	srv  *http.Server
	op   *op.Provider
	st   *storage
	key  *signingKey
	done chan struct{}

	mu      sync.Mutex
	rewrite func(idToken string) (string, error)
}

// Start runs a provider for the test and stops it when the test ends.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// New listens on opts.Addr and serves the provider until Close.
func New(opts Options) (*Provider, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	p, err := newOn(ln, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func newOn(ln net.Listener, opts Options) (*Provider, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("make the signing key: %w", err)
	}
	p := &Provider{
		Issuer: "http://" + ln.Addr().String(),
		ln:     ln,
		key:    &signingKey{id: randomID(), key: rsaKey},
		done:   make(chan struct{}),
	}
	p.st = newStorage(p.key, opts.Clients, opts.Users)
	var crypt [32]byte
	if _, err := rand.Read(crypt[:]); err != nil {
		return nil, err
	}
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:      crypt,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, p.st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("make the provider: %w", err)
	}
	mux := http.NewServeMux()
	intercept := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux.Handle(loginPath, intercept.Handler(http.HandlerFunc(p.login)))
	mux.Handle(p.op.TokenEndpoint().Relative(), p.tokenRewriter(p.op))
	mux.Handle("/", p.op)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}

// SetUser adds a user or replaces the one with the same subject (a changed
// e-mail, other groups).
func (p *Provider) SetUser(u User) { p.st.setUser(u) }

// RewriteNextIDToken makes the next successful token response carry
// f(the real ID token) instead of the real one. The hook is used once.
func (p *Provider) RewriteNextIDToken(f func(idToken string) (string, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

func (p *Provider) takeRewrite() func(string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.rewrite
	p.rewrite = nil
	return f
}

// tokenRewriter serves the token endpoint and, when a rewrite is pending,
// replaces the id_token of a successful answer.
func (p *Provider) tokenRewriter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			if f := p.takeRewrite(); f != nil {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					http.Error(w, "oidctest: token response is not JSON", http.StatusInternalServerError)
					return
				}
				raw, _ := m["id_token"].(string)
				doctored, err := f(raw)
				if err != nil {
					http.Error(w, "oidctest: rewrite the ID token: "+err.Error(), http.StatusInternalServerError)
					return
				}
				m["id_token"] = doctored
				body, _ = json.Marshal(m)
				rec.Header().Del("Content-Length")
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// Claims decodes the payload of a JWT without verifying it.
func Claims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("decode the payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse the payload: %w", err)
	}
	return m, nil
}

// Sign signs claims as a JWT with the provider's own key (and key id), as
// it signs its ID tokens.
func (p *Provider) Sign(claims map[string]any) (string, error) {
	return SignWith(p.key.key, p.key.id, claims)
}

// SignWith signs claims as an RS256 JWT with key, naming kid in the header.
func SignWith(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// Resign returns an ID token rewrite (for RewriteNextIDToken) that changes
// the real token's claims with change and signs them again with the
// provider's own key: a token the provider could have issued.
func (p *Provider) Resign(change func(claims map[string]any)) func(idToken string) (string, error) {
	return resign(change, p.Sign)
}

// ResignWith returns an ID token rewrite that signs the real token's
// claims, unchanged, with key under kid: a forged signature.
func ResignWith(key *rsa.PrivateKey, kid string) func(idToken string) (string, error) {
	return resign(func(map[string]any) {}, func(claims map[string]any) (string, error) { return SignWith(key, kid, claims) })
}

func resign(change func(map[string]any), sign func(map[string]any) (string, error)) func(string) (string, error) {
	return func(idToken string) (string, error) {
		claims, err := Claims(idToken)
		if err != nil {
			return "", err
		}
		change(claims)
		return sign(claims)
	}
}

// KeyID is the id of the provider's signing key.
func (p *Provider) KeyID() string { return p.key.id }

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider — sign in</title></head>
<body>
<h1>Test identity provider</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<p><label for="email">E-mail</label> <input id="email" name="email" type="email" autocomplete="username" required></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in to the test provider</button></p>
</form>
</body></html>
`))

// login is the provider's own login form: GET shows it, POST checks the
// e-mail and password and returns to the op's callback, which redirects to
// the client with a code.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse the form", http.StatusBadRequest)
		return
	}
	show := func(status int, id, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = loginPage.Execute(w, struct{ ID, Error string }{id, msg})
	}
	switch r.Method {
	case http.MethodGet:
		show(http.StatusOK, r.Form.Get("authRequestID"), "")
	case http.MethodPost:
		id := r.Form.Get("id")
		if err := p.st.checkLogin(id, r.Form.Get("email"), r.Form.Get("password")); err != nil {
			show(http.StatusUnauthorized, id, "Sign-in failed: "+err.Error()+".")
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]*)"`)

// SignIn plays the browser at the provider: it opens authURL with c (which
// follows redirects to the login form), submits email and password, and
// returns the response c ends on after the provider redirects back to the
// client (where c's CheckRedirect stops it). The caller closes the body.
func (p *Provider) SignIn(c *http.Client, authURL, email, password string) (*http.Response, error) {
	res, err := c.Get(authURL)
	if err != nil {
		return nil, fmt.Errorf("open the authorization URL: %w", err)
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`action="/login"`)) {
		return nil, fmt.Errorf("the authorization URL led to %s (status %d), not the login form: %.300s", res.Request.URL, res.StatusCode, page)
	}
	m := hiddenID.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("the login form has no request id")
	}
	form := url.Values{"id": {string(m[1])}, "email": {email}, "password": {password}}
	return c.PostForm(p.Issuer+loginPath, form)
}
