package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/sso"
	"github.com/coffer-backup/coffer/internal/store"
)

// Single sign-on with OpenID Connect (docs/sso.md): /auth/providers,
// /auth/oidc/start and /auth/oidc/callback.

const (
	// oidcCookie binds a started sign-in to the browser that started it.
	oidcCookie = "coffer_oidc"
	// oidcCookiePath limits that cookie to the sign-in routes.
	oidcCookiePath = apiPrefix + "/auth/oidc/"
	// oidcLoginTTL is how long a started sign-in can be finished.
	oidcLoginTTL = 10 * time.Minute
	// ssoStartsPerMinute bounds sign-ins started per client IP.
	ssoStartsPerMinute = 30
	// maxStateParam bounds the state accepted back from the provider.
	maxStateParam = 512
)

// UI pages the callback sends the browser to.
const (
	uiLogin    = "/login"
	uiNoAccess = "/no-access"
)

// Why a single sign-on was refused: the code the UI shows a sentence for
// (/login?sso_error=<code>), the audit event's reason and the log's.
const (
	refusedState       = "state"            // missing, unknown, used, expired, or from another browser
	refusedDenied      = "denied"           // the user or provider cancelled at the provider
	refusedProvider    = "provider_error"   // the provider answered with another error
	refusedUnreachable = "unreachable"      // the provider could not be reached
	refusedEmailTaken  = "email_taken"      // the e-mail belongs to a user linked otherwise, or is unverified
	refusedDisabled    = "disabled"         // the coffer user is disabled
	refusedNoAccess    = "no_access"        // no group maps to a role
	refusedInternal    = "internal"         // coffer failed (the log says why)
	refusedExchange    = sso.ReasonExchange // the code could not be exchanged
	refusedToken       = sso.ReasonToken    // the ID token failed verification
)

type providersView struct {
	Local bool              `json:"local"`
	OIDC  *oidcProviderView `json:"oidc"`
}

type oidcProviderView struct {
	Name string `json:"name"`
}

// authProviders tells the login page how users may sign in.
func (s *server) authProviders(w http.ResponseWriter, r *http.Request) error {
	v := providersView{Local: s.localLogin}
	if s.sso != nil {
		v.OIDC = &oidcProviderView{Name: s.cfg.OIDCName}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// safeNext keeps a UI path to return to after sign-in, refusing anything
// that could leave the site, point into the API or loop to the login page.
func safeNext(next string) string {
	// Browsers drop tabs and line breaks from URLs and read "\" as "/", so
	// "/\t/evil.example" would become "//evil.example": refuse them all.
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || len(next) > 1024 ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return "/"
	}
	for _, p := range []string{"/api", uiLogin, uiNoAccess} {
		if next == p || strings.HasPrefix(next, p+"/") || strings.HasPrefix(next, p+"?") {
			return "/"
		}
	}
	return next
}

// oidcStart begins a sign-in at the identity provider: it records the
// state (hashed), nonce and PKCE verifier, binds them to this browser with
// a short-lived cookie, and redirects to the provider. While the provider
// cannot be reached it answers 503 (and asks for another discovery attempt).
func (s *server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.sso == nil {
		return apperr.New(apperr.NotFound, "Single sign-on is not set up on this server; sign in with your e-mail and password.")
	}
	if ok, retry := s.ssoStarts.Allow("ip:"+s.clientIP(r), s.now()); !ok {
		secs := max(1, int(retry.Seconds()+0.999))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return apperr.New(apperr.TooManyRequests, "Too many sign-ins started from your address; try again in %d seconds.", secs)
	}
	if !s.sso.Ready() {
		s.sso.Kick()
		return s.ssoUnreachable(w, r)
	}
	state, stateHash, err := auth.NewToken("")
	if err != nil {
		return err
	}
	browser, browserHash, err := auth.NewToken("")
	if err != nil {
		return err
	}
	nonce, _, err := auth.NewToken("")
	if err != nil {
		return err
	}
	verifier := sso.NewVerifier()
	authURL, err := s.sso.AuthCodeURL(state, nonce, verifier)
	if err != nil {
		return s.ssoUnreachable(w, r)
	}
	expires := s.now().Add(oidcLoginTTL)
	l := &store.OIDCLogin{StateHash: stateHash, BrowserHash: browserHash, Nonce: nonce, CodeVerifier: verifier,
		NextPath: safeNext(r.URL.Query().Get("next")), ExpiresAt: expires}
	if err := s.cat.SaveOIDCLogin(r.Context(), l); err != nil {
		return fmt.Errorf("record the started sign-in: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: browser, Path: oidcCookiePath,
		Expires: expires.UTC(), MaxAge: int(oidcLoginTTL.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

var unreachablePage = template.Must(template.New("unreachable").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Single sign-on unavailable — coffer</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1 style="font-size: 1.25rem">Single sign-on is unavailable</h1>
<p role="alert">{{.}}</p>
<p><a href="/login">Back to sign-in</a></p>
</body></html>
`))

// ssoUnreachable answers 503 with a sentence saying the provider cannot be
// reached: a small HTML page for a browser that navigated here, the JSON
// error otherwise.
func (s *server) ssoUnreachable(w http.ResponseWriter, r *http.Request) error {
	msg := fmt.Sprintf("The identity provider (%s) cannot be reached right now, so single sign-on is unavailable; try again in a minute", s.cfg.OIDCName)
	if s.localLogin {
		msg += ", or sign in with your e-mail and password"
	}
	msg += "."
	if err := s.sso.LastError(); err != nil {
		s.log.WarnContext(r.Context(), "single sign-on refused: the identity provider cannot be reached", "err", err)
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = unreachablePage.Execute(w, msg)
		return nil
	}
	w.Header().Set("Retry-After", "30")
	return apperr.New(apperr.Unavailable, "%s", msg)
}

// refusal is a single sign-on that did not sign anyone in.
type refusal struct {
	reason string
	err    error          // what exactly happened, for the log
	id     *sso.Identity  // who, when known
	user   *store.User    // the coffer user, when known
	extra  map[string]any // more audit details
}

// oidcCallback finishes a sign-in: it takes the started sign-in named by
// state (once), checks that this browser started it, exchanges the code
// (with the PKCE verifier), verifies the ID token (and its nonce), finds or
// creates the user and applies the role map, then creates the session
// exactly as a password sign-in does and returns to the UI. A refusal
// returns to the UI's sign-in page (or the no-access page) with a reason.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	if s.sso == nil {
		return apperr.New(apperr.NotFound, "Single sign-on is not set up on this server; sign in with your e-mail and password.")
	}
	next, u, ref := s.finishSignIn(r)
	if ref != nil {
		s.refuse(w, r, ref)
		return nil
	}
	if err := s.startSession(w, r, u); err != nil {
		s.refuse(w, r, &refusal{reason: refusedInternal, err: err, user: u})
		return nil
	}
	s.audit(r, &u.ID, u.Email, "auth.login", "user", strconv.FormatInt(u.ID, 10), auditDetails(map[string]any{"method": "oidc"}))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusFound)
	return nil
}

// finishSignIn does the work of the callback up to the session.
func (s *server) finishSignIn(r *http.Request) (next string, u *store.User, ref *refusal) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > maxStateParam {
		return "", nil, &refusal{reason: refusedState, err: errors.New("the callback carries no usable state")}
	}
	l, err := s.cat.TakeOIDCLogin(ctx, auth.HashToken(state), s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil, &refusal{reason: refusedState, err: fmt.Errorf("the state is unknown, used or expired: %w", err)}
		}
		return "", nil, &refusal{reason: refusedInternal, err: err}
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil || c.Value == "" || auth.HashToken(c.Value) != l.BrowserHash {
		return "", nil, &refusal{reason: refusedState, err: errors.New("the sign-in was started by another browser (its cookie is missing or differs)")}
	}
	if code := q.Get("error"); code != "" {
		reason := refusedProvider
		if code == "access_denied" {
			reason = refusedDenied
		}
		desc := q.Get("error_description")
		if len(desc) > 300 {
			desc = desc[:300]
		}
		return "", nil, &refusal{reason: reason, err: fmt.Errorf("the provider answered %q: %q", trimTo(code, 100), desc)}
	}
	code := q.Get("code")
	if code == "" {
		return "", nil, &refusal{reason: refusedProvider, err: errors.New("the provider sent neither a code nor an error")}
	}
	id, err := s.sso.Exchange(ctx, code, l.CodeVerifier, l.Nonce)
	if err != nil {
		var sr *sso.Refusal
		switch {
		case errors.As(err, &sr):
			return "", nil, &refusal{reason: sr.Reason, err: sr.Err}
		case errors.Is(err, sso.ErrUnreachable):
			return "", nil, &refusal{reason: refusedUnreachable, err: err}
		}
		return "", nil, &refusal{reason: refusedInternal, err: err}
	}
	u, ref = s.ssoUser(ctx, r, id)
	if ref != nil {
		ref.id = id
		return "", nil, ref
	}
	return l.NextPath, u, nil
}

// auditDetails encodes the details of an audit event (plain maps of
// strings, numbers and lists: encoding cannot fail).
func auditDetails(v map[string]any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ssoUser finds the user of a verified identity (by subject; on a first
// sign-in by e-mail, linking an existing user only when the provider
// verified that e-mail), refuses disabled users and users no group gives a
// role, creates a new user with the mapped role, and otherwise brings the
// stored role in line with the map. The role of the last active
// administrator is never lowered this way (see docs/sso.md).
func (s *server) ssoUser(ctx context.Context, r *http.Request, id *sso.Identity) (*store.User, *refusal) {
	internal := func(err error) (*store.User, *refusal) { return nil, &refusal{reason: refusedInternal, err: err} }
	role, matched, mapped := s.cfg.OIDCRoleMap.Resolve(id.Groups)
	u, err := s.cat.GetUserByIdentity(ctx, id.Issuer, id.Subject)
	linked := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		u, err = s.cat.GetUserByEmail(ctx, id.Email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u = nil
		case err != nil:
			return internal(fmt.Errorf("look up user by e-mail: %w", err))
		case !id.EmailVerified:
			return nil, &refusal{reason: refusedEmailTaken, user: u,
				err: fmt.Errorf("user %d has the e-mail %s, which the provider has not verified, so it is not linked", u.ID, id.Email)}
		}
	case err != nil:
		return internal(fmt.Errorf("look up user by identity: %w", err))
	default:
		linked = true
	}
	if u != nil && u.Disabled {
		return nil, &refusal{reason: refusedDisabled, user: u, err: fmt.Errorf("user %d is disabled", u.ID)}
	}
	if !mapped {
		return nil, &refusal{reason: refusedNoAccess, user: u, extra: map[string]any{"groups": id.Groups},
			err: fmt.Errorf("no group of %q is in COFFER_OIDC_ROLE_MAP and it has no *", id.Groups)}
	}
	if u == nil {
		return s.createSSOUser(ctx, r, id, role, matched)
	}
	if !linked {
		if err := s.cat.LinkIdentity(ctx, u.ID, id.Issuer, id.Subject); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil, &refusal{reason: refusedEmailTaken, user: u,
					err: fmt.Errorf("user %d (%s) is linked to another subject of this provider", u.ID, u.Email)}
			}
			return internal(err)
		}
		s.audit(r, &u.ID, u.Email, "user.identity_link", "user", strconv.FormatInt(u.ID, 10),
			auditDetails(map[string]any{"issuer": id.Issuer, "subject": id.Subject}))
	}
	u, err = s.syncRole(ctx, r, u, role, matched)
	if err != nil {
		return internal(err)
	}
	if u.Disabled { // disabled by an administrator during this sign-in
		return nil, &refusal{reason: refusedDisabled, user: u, err: fmt.Errorf("user %d is disabled", u.ID)}
	}
	return u, nil
}

// createSSOUser creates the user of a first sign-in, without a password.
func (s *server) createSSOUser(ctx context.Context, r *http.Request, id *sso.Identity, role store.Role, matched string) (*store.User, *refusal) {
	u := &store.User{Email: id.Email, Role: role}
	if err := s.cat.CreateUserWithIdentity(ctx, u, id.Issuer, id.Subject); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return nil, &refusal{reason: refusedInternal, err: err}
		}
		// A first sign-in of the same person in another tab won the race: use that user.
		if again, gerr := s.cat.GetUserByIdentity(ctx, id.Issuer, id.Subject); gerr == nil {
			return again, nil
		}
		return nil, &refusal{reason: refusedEmailTaken, err: fmt.Errorf("create the user of %s: %w", id.Email, err)}
	}
	s.audit(r, &u.ID, u.Email, "user.create", "user", strconv.FormatInt(u.ID, 10),
		auditDetails(map[string]any{"email": u.Email, "role": string(u.Role), "source": "oidc", "group": matched}))
	return u, nil
}

// syncRole gives u the role the provider's groups map to, unless that
// would leave no active administrator: the catalog refuses such a change in
// the transaction that makes it (store.ErrLastAdmin, on every host at
// once), u stays admin and the audit log says so (user.role_kept).
func (s *server) syncRole(ctx context.Context, r *http.Request, u *store.User, role store.Role, matched string) (*store.User, error) {
	if u.Role == role {
		return u, nil
	}
	before, after, err := s.cat.UpdateUserAccess(ctx, u.ID, store.UserAccess{Role: &role})
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		cur, err := s.cat.GetUser(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("read user %d: %w", u.ID, err)
		}
		s.log.WarnContext(ctx, "single sign-on kept the last active administrator an admin", "user_id", cur.ID, "mapped_role", role)
		s.audit(r, &cur.ID, cur.Email, "user.role_kept", "user", strconv.FormatInt(cur.ID, 10),
			auditDetails(map[string]any{"role": string(cur.Role), "mapped_role": string(role), "group": matched, "source": "oidc", "reason": "last_admin"}))
		return cur, nil
	case err != nil:
		return nil, fmt.Errorf("change the role of user %d: %w", u.ID, err)
	}
	if before.Role != after.Role { // else another sign-in made the same change first
		s.audit(r, &after.ID, after.Email, "user.update", "user", strconv.FormatInt(after.ID, 10),
			auditDetails(map[string]any{"role": map[string]string{"from": string(before.Role), "to": string(after.Role)}, "source": "oidc", "group": matched}))
	}
	return after, nil
}

// refuse records a refused sign-in (log and audit) and sends the browser
// to the page that explains it.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, ref *refusal) {
	details := map[string]any{"method": "oidc", "reason": ref.reason}
	for k, v := range ref.extra {
		details[k] = v
	}
	var actorID *int64
	email, target := "", ""
	if ref.id != nil {
		email = ref.id.Email
		details["subject"] = ref.id.Subject
	}
	if ref.user != nil {
		actorID, email, target = &ref.user.ID, ref.user.Email, strconv.FormatInt(ref.user.ID, 10)
	}
	if ref.reason == refusedInternal {
		s.log.ErrorContext(r.Context(), "single sign-on failed", "err", ref.err)
	} else {
		s.log.WarnContext(r.Context(), "single sign-on refused", "reason", ref.reason, "email", email, "err", ref.err)
	}
	s.audit(r, actorID, email, "auth.login_failed", "user", target, auditDetails(details))
	w.Header().Set("Cache-Control", "no-store")
	if ref.reason == refusedNoAccess {
		http.Redirect(w, r, uiNoAccess, http.StatusFound)
		return
	}
	http.Redirect(w, r, uiLogin+"?"+url.Values{"sso_error": {ref.reason}}.Encode(), http.StatusFound)
}
