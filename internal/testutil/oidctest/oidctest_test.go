package oidctest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const redirect = "http://127.0.0.1:1/callback"

func start(t *testing.T) *Provider {
	t.Helper()
	return Start(t, Options{
		Clients: []Client{{ID: "app", Secret: "app-secret", RedirectURIs: []string{redirect}}},
		Users:   []User{{Subject: "s1", Email: "u@example.com", Password: "pw", EmailVerified: true, Groups: []string{"g1", "g2"}}},
	})
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// TestCodeFlow drives the provider with plain oauth2 and go-oidc: the
// discovery document, the login form, a PKCE code exchange, an ID token
// with the user's claims, and a code that works once.
func TestCodeFlow(t *testing.T) {
	t.Parallel()
	p := start(t)
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Endpoint: prov.Endpoint(), RedirectURL: redirect,
		Scopes: []string{"openid", "email", "groups"}}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st", oidc.Nonce("n1"), oauth2.S256ChallengeOption(verifier))

	// A wrong password shows the form again with a sentence.
	res, err := p.SignIn(browser(t), authURL, "u@example.com", "nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "wrong e-mail or password") {
		t.Fatalf("wrong password: %d %s", res.StatusCode, body)
	}

	res, err = p.SignIn(browser(t), authURL, "u@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if err != nil || loc.Query().Get("state") != "st" {
		t.Fatalf("redirect %v %v", loc, err)
	}
	code := loc.Query().Get("code")
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("a wrong PKCE verifier was accepted")
	}
	// The failed attempt used the code up.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code worked after a failed exchange")
	}

	res, err = p.SignIn(browser(t), authURL, "u@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ = res.Location()
	code = loc.Query().Get("code")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email    string   `json:"email"`
		Verified bool     `json:"email_verified"`
		Groups   []string `json:"groups"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "s1" || idt.Nonce != "n1" || claims.Email != "u@example.com" || !claims.Verified || strings.Join(claims.Groups, ",") != "g1,g2" {
		t.Fatalf("ID token: sub %q nonce %q claims %+v", idt.Subject, idt.Nonce, claims)
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was exchanged twice")
	}
}

// TestRewriteNextIDToken: the hook changes one token response only.
func TestRewriteNextIDToken(t *testing.T) {
	t.Parallel()
	p := start(t)
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Endpoint: prov.Endpoint(), RedirectURL: redirect, Scopes: []string{"openid"}}
	exchange := func() string {
		verifier := oauth2.GenerateVerifier()
		res, err := p.SignIn(browser(t), cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "u@example.com", "pw")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, _ := res.Location()
		tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok.Extra("id_token").(string)
	}
	p.RewriteNextIDToken(func(raw string) (string, error) {
		cl, err := Claims(raw)
		if err != nil {
			return "", err
		}
		cl["aud"] = "other"
		return p.Sign(cl)
	})
	cl, err := Claims(exchange())
	if err != nil || cl["aud"] != "other" {
		t.Fatalf("rewritten token: %v %v", cl, err)
	}
	raw := exchange()
	if _, err := prov.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, raw); err != nil {
		t.Fatalf("the next token is the provider's own again: %v", err)
	}
	// The discovery document names the issuer and the key set holds the signing key.
	res, err := http.Get(p.Issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kid != p.KeyID() {
		t.Fatalf("JWKS %+v %v", jwks, err)
	}
}
