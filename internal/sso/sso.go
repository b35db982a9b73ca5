// Package sso is coffer's OpenID Connect relying party: it discovers the
// identity provider (retrying in the background while it cannot be
// reached), builds the authorization-code request with PKCE, state and
// nonce, exchanges the code, verifies the ID token (signature against the
// provider's JWKS, issuer, audience, expiry, nonce) and reads the user's
// identity and groups from it. It knows nothing of HTTP routes, sessions or
// the catalog: the API keeps state between the two legs and turns an
// Identity into a coffer user (see docs/sso.md).
package sso

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Defaults of Settings.
const (
	// DefaultRetryMin is the first wait before discovery is tried again.
	DefaultRetryMin = 2 * time.Second
	// DefaultRetryMax is the longest wait between two discovery attempts.
	DefaultRetryMax = time.Minute
	// requestTimeout bounds one request to the provider.
	requestTimeout = 15 * time.Second
	// maxClaimValues bounds how many values of the role claim are read.
	maxClaimValues = 1000
)

// Settings configure the relying party; the caller builds them from the
// COFFER_OIDC_* settings.
type Settings struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document states it.
	Issuer string
	// ClientID and ClientSecret are coffer's client at the provider; the
	// secret may be empty for a public client (PKCE still protects the code).
	ClientID     string
	ClientSecret string
	// Scopes are requested at sign-in; they include "openid".
	Scopes []string
	// RedirectURL is <public url>/api/v1/auth/oidc/callback.
	RedirectURL string
	// RoleClaim names the claim holding the user's groups; a dotted path
	// (realm_access.roles) reaches into nested objects.
	RoleClaim string
	// RequireVerifiedEmail refuses users whose email_verified is not true.
	RequireVerifiedEmail bool
	// HTTPClient talks to the provider (nil: one with a 15 s timeout).
	HTTPClient *http.Client
	// RetryMin and RetryMax bound the backoff of discovery retries (0: the defaults).
	RetryMin, RetryMax time.Duration
	// Now is the clock for token expiry (nil: time.Now).
	Now func() time.Time
}

// ErrUnreachable means the identity provider cannot be reached (discovery
// has not succeeded yet, or a request to it failed on the network).
var ErrUnreachable = errors.New("the identity provider cannot be reached")

// Reasons a sign-in is refused; the API sends the browser to a page that
// explains each.
const (
	// ReasonExchange: the provider refused to exchange the code (used,
	// expired, or issued for another request).
	ReasonExchange = "exchange_refused"
	// ReasonToken: the ID token failed verification (signature, issuer,
	// audience, expiry or nonce).
	ReasonToken = "token_invalid"
	// ReasonEmailMissing: the provider sent no e-mail address.
	ReasonEmailMissing = "email_missing"
	// ReasonEmailUnverified: the e-mail address is not verified.
	ReasonEmailUnverified = "email_unverified"
)

// Refusal is a sign-in refused because of what the provider answered.
type Refusal struct {
	// Reason is one of the Reason* codes.
	Reason string
	// Err says what exactly failed, for the server log; never shown to users.
	Err error
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Err.Error() }

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(reason string, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Identity is a verified user at the provider.
type Identity struct {
	// Issuer and Subject identify the user for good (an e-mail may change).
	Issuer  string
	Subject string
	// Email is the address the provider gave, trimmed.
	Email string
	// EmailVerified is the provider's email_verified claim.
	EmailVerified bool
	// Groups are the values of the role claim (none when it is absent).
	Groups []string
}

// discovered is what discovery yields.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	userinfo bool // the provider has a userinfo endpoint
}

// Client is the relying party of one provider. It is safe for concurrent use.
type Client struct {
	set  Settings
	log  *slog.Logger
	kick chan struct{}

	mu   sync.RWMutex
	disc *discovered
	last error // the last discovery failure
}

// New checks the settings and returns a client that has not discovered the
// provider yet: call Run (in a goroutine) to do so.
func New(s Settings, log *slog.Logger) (*Client, error) {
	switch {
	case s.Issuer == "":
		return nil, errors.New("sso: the issuer is empty")
	case s.ClientID == "":
		return nil, errors.New("sso: the client id is empty")
	case s.RedirectURL == "":
		return nil, errors.New("sso: the redirect URL is empty")
	case !slices.Contains(s.Scopes, oidc.ScopeOpenID):
		return nil, errors.New(`sso: the scopes lack "openid"`)
	}
	if s.RoleClaim == "" {
		s.RoleClaim = "groups"
	}
	if s.HTTPClient == nil {
		s.HTTPClient = &http.Client{Timeout: requestTimeout}
	}
	if s.RetryMin <= 0 {
		s.RetryMin = DefaultRetryMin
	}
	if s.RetryMax < s.RetryMin {
		s.RetryMax = max(DefaultRetryMax, s.RetryMin)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{set: s, log: log, kick: make(chan struct{}, 1)}, nil
}

// Run discovers the provider, retrying with a growing wait (RetryMin
// doubling up to RetryMax, or at once after Kick) until it succeeds or ctx
// ends. Coffer runs it in the background: while the provider is down,
// everything else works and sign-ins answer that it cannot be reached.
func (c *Client) Run(ctx context.Context) {
	wait := c.set.RetryMin
	for {
		err := c.discover(ctx)
		if err == nil {
			c.log.Info("identity provider discovered", "issuer", c.set.Issuer)
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.last = err
		c.mu.Unlock()
		c.log.Warn("the identity provider cannot be reached; single sign-on waits for it", "issuer", c.set.Issuer, "retry_in", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.kick:
			t.Stop()
		case <-t.C:
			wait = min(2*wait, c.set.RetryMax)
		}
	}
}

// Kick asks a waiting Run to try discovery again now.
func (c *Client) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Ready reports whether the provider has been discovered.
func (c *Client) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.disc != nil
}

// LastError is why the last discovery attempt failed (nil once discovered
// or before the first attempt).
func (c *Client) LastError() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.disc != nil {
		return nil
	}
	return c.last
}

// httpContext carries the client's HTTP client to go-oidc and oauth2.
func (c *Client) httpContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.set.HTTPClient)
}

func (c *Client) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	p, err := oidc.NewProvider(c.httpContext(ctx), c.set.Issuer)
	if err != nil {
		return err
	}
	var meta struct {
		UserInfo string   `json:"userinfo_endpoint"`
		JWKS     string   `json:"jwks_uri"`
		Algs     []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("read the discovery document: %w", err)
	}
	if meta.JWKS == "" {
		return errors.New("the discovery document has no jwks_uri")
	}
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(signingAlgs, a) {
			algs = append(algs, a)
		}
	}
	keys := netKeySet{oidc.NewRemoteKeySet(c.httpContext(context.Background()), meta.JWKS)}
	d := &discovered{
		provider: p,
		verifier: oidc.NewVerifier(c.set.Issuer, keys, &oidc.Config{ClientID: c.set.ClientID, Now: c.set.Now, SupportedSigningAlgs: algs}),
		oauth: &oauth2.Config{
			ClientID:     c.set.ClientID,
			ClientSecret: c.set.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  c.set.RedirectURL,
			Scopes:       c.set.Scopes,
		},
		userinfo: meta.UserInfo != "",
	}
	c.mu.Lock()
	c.disc = d
	c.last = nil
	c.mu.Unlock()
	return nil
}

func (c *Client) discovered() (*discovered, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.disc == nil {
		return nil, ErrUnreachable
	}
	return c.disc, nil
}

// AuthCodeURL is the provider's authorization URL for one sign-in: the
// code flow with state, nonce and a PKCE (S256) challenge of verifier.
// ErrUnreachable until discovery has succeeded.
func (c *Client) AuthCodeURL(state, nonce, verifier string) (string, error) {
	d, err := c.discovered()
	if err != nil {
		return "", err
	}
	return d.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange trades a code for tokens (sending verifier), verifies the ID
// token and its nonce, and returns the identity in it (completed from the
// userinfo endpoint when the ID token lacks the e-mail or the role claim).
// Errors: ErrUnreachable (wrapped) when the provider cannot be reached, a
// *Refusal when its answer is refused, anything else is internal.
func (c *Client) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	d, err := c.discovered()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*requestTimeout)
	defer cancel()
	hctx := c.httpContext(ctx)
	tok, err := d.oauth.Exchange(hctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 500 {
			return nil, fmt.Errorf("exchange the code: %w (the token endpoint answered %d)", ErrUnreachable, re.Response.StatusCode)
		}
		if errors.As(err, &re) {
			return nil, refuse(ReasonExchange, "the token endpoint answered %d %s: %s", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
		}
		if isNetwork(err) {
			return nil, fmt.Errorf("exchange the code: %w (%w)", ErrUnreachable, err)
		}
		return nil, refuse(ReasonExchange, "exchange the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, refuse(ReasonToken, "the token response has no id_token")
	}
	var keysErr error
	idt, err := d.verifier.Verify(context.WithValue(hctx, keysErrKey{}, &keysErr), raw)
	if err != nil {
		if keysErr != nil {
			return nil, fmt.Errorf("fetch the provider's keys: %w (%w)", ErrUnreachable, keysErr)
		}
		return nil, refuse(ReasonToken, "verify the ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return nil, refuse(ReasonToken, "the ID token's nonce is not the one this sign-in sent")
	}
	if idt.Subject == "" {
		return nil, refuse(ReasonToken, "the ID token has no subject")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, refuse(ReasonToken, "read the ID token's claims: %w", err)
	}
	// With several audiences, the token must name coffer as its authorized party.
	if len(idt.Audience) > 1 {
		if azp, _ := claims["azp"].(string); azp != c.set.ClientID {
			return nil, refuse(ReasonToken, "the ID token has several audiences and its azp is %q, not coffer's client id", azp)
		}
	}
	if d.userinfo && (claims["email"] == nil || lookup(claims, c.set.RoleClaim) == nil) {
		if err := c.mergeUserInfo(hctx, d, tok, idt.Subject, claims); err != nil {
			return nil, err
		}
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	id.Email, _ = claims["email"].(string)
	id.Email = strings.TrimSpace(id.Email)
	id.EmailVerified = truthy(claims["email_verified"])
	id.Groups = stringsOf(lookup(claims, c.set.RoleClaim))
	switch {
	case id.Email == "" || !strings.Contains(id.Email, "@"):
		return nil, refuse(ReasonEmailMissing, "the provider sent no usable e-mail address for subject %q", id.Subject)
	case c.set.RequireVerifiedEmail && !id.EmailVerified:
		return nil, refuse(ReasonEmailUnverified, "the e-mail address %s of subject %q is not verified", id.Email, id.Subject)
	}
	return id, nil
}

// mergeUserInfo fills the claims the ID token lacks from the userinfo
// endpoint, whose subject must be the ID token's.
func (c *Client) mergeUserInfo(ctx context.Context, d *discovered, tok *oauth2.Token, subject string, claims map[string]any) error {
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if isNetwork(err) {
			return fmt.Errorf("read userinfo: %w (%w)", ErrUnreachable, err)
		}
		return refuse(ReasonToken, "read userinfo: %w", err)
	}
	if ui.Subject != subject {
		return refuse(ReasonToken, "the userinfo subject %q is not the ID token's %q", ui.Subject, subject)
	}
	more := map[string]any{}
	if err := ui.Claims(&more); err != nil {
		return refuse(ReasonToken, "read the userinfo claims: %w", err)
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// signingAlgs are the ID token algorithms go-oidc verifies.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// keysErrKey carries, through Verify, where netKeySet reports a failure to
// fetch the provider's keys (go-oidc's own error drops the cause).
type keysErrKey struct{}

// netKeySet is the provider's remote key set, noting network failures.
type netKeySet struct{ inner oidc.KeySet }

// VerifySignature verifies jwt with the provider's keys.
func (k netKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.inner.VerifySignature(ctx, jwt)
	if err != nil && isNetwork(err) {
		if p, ok := ctx.Value(keysErrKey{}).(*error); ok {
			*p = err
		}
	}
	return payload, err
}

// isNetwork reports whether err is a failure to reach the provider rather
// than an answer from it.
func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.As(err, &oe) ||
		errors.Is(err, context.DeadlineExceeded)
}

// lookup finds a claim by name, or by a dotted path into nested objects
// when no claim has the whole name.
func lookup(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok {
		return v
	}
	var cur any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

// stringsOf reads a claim that is a list of strings or a single string.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case []any:
		out := make([]string, 0, min(len(t), maxClaimValues))
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" && len(out) < maxClaimValues {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// truthy reads a boolean claim, which some providers send as a string.
func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

// NewVerifier returns a new random PKCE code verifier.
func NewVerifier() string { return oauth2.GenerateVerifier() }
