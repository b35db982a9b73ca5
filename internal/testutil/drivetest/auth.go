// This file is the OAuth side: the consent and token endpoints, service
// account grants, and the bearer checks of every API call.

package drivetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Authorize mints a grant as the consent flow would: a valid access token
// (for an hour) and its refresh token.
func (s *Server) Authorize() (accessTok, refreshTok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refreshTok = s.newIDLocked("rt")
	s.refresh[refreshTok] = true
	return s.mintAccessLocked(refreshTok), refreshTok
}

// ExpireAccessTokens makes every access token issued so far invalid: API
// calls with them are answered 401.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.access {
		delete(s.access, k)
	}
}

// RevokeRefreshToken makes a refresh token (and the access tokens minted
// from it) invalid; the token endpoint answers invalid_grant.
func (s *Server) RevokeRefreshToken(refreshTok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, refreshTok)
	for k, a := range s.access {
		if a.refresh == refreshTok {
			delete(s.access, k)
		}
	}
}

// TokenRequests counts successful token grants (refreshes, code exchanges,
// service account assertions).
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// AddServiceAccount registers a service account and returns its JSON key
// file, whose token_uri is this server's token endpoint.
func (s *Server) AddServiceAccount(t testing.TB) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("drivetest: generating a service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("drivetest: encoding a service account key: %v", err)
	}
	s.mu.Lock()
	email := s.newIDLocked("sa") + "@coffer-test.iam.gserviceaccount.com"
	s.accounts[email] = serviceAccount{key: &key.PublicKey}
	s.mu.Unlock()
	doc, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "coffer-test",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1",
		"token_uri":      s.TokenURL(),
	})
	if err != nil {
		t.Fatalf("drivetest: %v", err)
	}
	return string(doc)
}

func (s *Server) mintAccessLocked(refreshTok string) string {
	tok := s.newIDLocked("at")
	s.access[tok] = accessToken{expiry: s.now().Add(time.Hour), refresh: refreshTok}
	return tok
}

// authorized checks the bearer token. Session URIs are capabilities and
// need none, but a token that is sent must be valid.
func (s *Server) authorized(r *http.Request, session bool) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		return session
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[tok]
	return ok && s.now().Before(a.expiry)
}

func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if q.Get("client_id") != s.ClientID || redirect == "" || err != nil || q.Get("response_type") != "code" {
		http.Error(w, "Error 400: invalid_request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := s.newIDLocked("code")
	s.codes[code] = redirect
	s.mu.Unlock()
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.jwtGrant(w, r.PostForm.Get("assertion"))
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch grant {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		s.tokenCalls++
		writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(rt), "token_type": "Bearer",
			"expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive"})
	case "authorization_code":
		code := r.PostForm.Get("code")
		redirect, ok := s.codes[code]
		delete(s.codes, code)
		if !ok || redirect != r.PostForm.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
			return
		}
		s.tokenCalls++
		rt := s.newIDLocked("rt")
		s.refresh[rt] = true
		writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(rt), "refresh_token": rt,
			"token_type": "Bearer", "expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive"})
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+grant)
	}
}

// jwtGrant checks a service account's RS256 assertion against its key.
func (s *Server) jwtGrant(w http.ResponseWriter, assertion string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT.")
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var claims struct {
		Iss string `json:"iss"`
		Exp int64  `json:"exp"`
	}
	if err != nil || err2 != nil || json.Unmarshal(payload, &claims) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.accounts[claims.Iss]
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || rsa.VerifyPKCS1v15(sa.key, crypto.SHA256, sum[:], sig) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if claims.Exp < s.now().Unix() {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token.")
		return
	}
	s.tokenCalls++
	writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(""), "token_type": "Bearer", "expires_in": 3599})
}
