package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
)

// sessionCookie is the name of the login session cookie.
const sessionCookie = "coffer_session"

// principal is who is calling: a user, through a session or an API token.
type principal struct {
	user    *store.User
	session *store.Session  // nil for token calls
	token   *store.APIToken // nil for session calls
	ip      string
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the caller of an authenticated route.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// actor is the caller in the engine's terms.
func actorOf(r *http.Request) engine.Actor {
	p := principalOf(r)
	if p == nil {
		return engine.Actor{}
	}
	return engine.Actor{UserID: p.user.ID, Email: p.user.Email, IP: p.ip}
}

func errUnauthenticated() error {
	return apperr.New(apperr.Unauthorized, "Sign in first: send the session cookie or an Authorization: Bearer token.")
}

// authenticate finds the caller from the Authorization header or the session
// cookie, renews a session at most once per touchEvery, and refuses unknown,
// expired and disabled callers with 401.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*principal, error) {
	now := s.now()
	ip := s.clientIP(r)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, apperr.New(apperr.Unauthorized, "The Authorization header must be \"Bearer <API token>\".")
		}
		t, err := s.cat.GetAPITokenByHash(r.Context(), auth.HashToken(strings.TrimSpace(tok)))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, apperr.New(apperr.Unauthorized, "The API token is not valid; it may have been deleted.")
			}
			return nil, fmt.Errorf("look up API token: %w", err)
		}
		u, err := s.activeUser(r.Context(), t.UserID)
		if err != nil {
			return nil, err
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= s.t.touchEvery {
			if err := s.cat.TouchAPIToken(r.Context(), t.ID, now); err != nil {
				return nil, fmt.Errorf("record use of API token %d: %w", t.ID, err)
			}
		}
		return &principal{user: u, token: t, ip: ip}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errUnauthenticated()
	}
	sess, err := s.cat.GetSessionByTokenHash(r.Context(), auth.HashToken(c.Value), now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.clearSessionCookie(w)
			return nil, apperr.New(apperr.Unauthorized, "Your session has expired; sign in again.")
		}
		return nil, fmt.Errorf("look up session: %w", err)
	}
	u, err := s.activeUser(r.Context(), sess.UserID)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Code == apperr.Unauthorized {
			if derr := s.cat.DeleteSession(r.Context(), sess.ID); derr != nil && !errors.Is(derr, store.ErrNotFound) {
				return nil, fmt.Errorf("end session of refused user: %w", derr)
			}
			s.clearSessionCookie(w)
		}
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) >= s.t.touchEvery {
		expires := now.Add(s.sessionTTL)
		if err := s.cat.TouchSession(r.Context(), sess.ID, now, expires); err != nil {
			return nil, fmt.Errorf("renew session: %w", err)
		}
		sess.LastSeenAt, sess.ExpiresAt = now, expires
		s.setSessionCookie(w, c.Value, expires)
	}
	return &principal{user: u, session: sess, ip: ip}, nil
}

// activeUser loads a user and refuses a disabled or deleted one with 401.
func (s *server) activeUser(ctx context.Context, id int64) (*store.User, error) {
	u, err := s.cat.GetUser(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apperr.New(apperr.Unauthorized, "The account no longer exists; sign in with another one.")
		}
		return nil, fmt.Errorf("load user %d: %w", id, err)
	}
	if u.Disabled {
		return nil, apperr.New(apperr.Unauthorized, "This account is disabled; ask an administrator to enable it.")
	}
	return u, nil
}

func (s *server) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires.UTC(),
		MaxAge:   int(math.Ceil(expires.Sub(s.now()).Seconds())),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// userView is the API shape of the logged-in user.
type userView struct {
	ID    int64      `json:"id"`
	Email string     `json:"email"`
	Role  store.Role `json:"role"`
}

func viewUser(u *store.User) userView { return userView{ID: u.ID, Email: u.Email, Role: u.Role} }

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// errBadLogin is the one answer for an unknown email and a wrong password.
func errBadLogin() error {
	return apperr.New(apperr.Unauthorized, "The email or password is incorrect.")
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.TrimSpace(req.Email)
	fields := map[string]string{}
	switch {
	case email == "":
		fields["email"] = "is required"
	case len(email) > 254:
		fields["email"] = "must be at most 254 characters long"
	}
	switch {
	case req.Password == "":
		fields["password"] = "is required"
	case len(req.Password) > auth.MaxPasswordLen:
		fields["password"] = fmt.Sprintf("must be at most %d bytes long", auth.MaxPasswordLen)
	}
	if len(fields) > 0 {
		return apperr.InvalidFields("Enter your email and password.", fields)
	}
	now := s.now()
	ip := s.clientIP(r)
	ipKey, accountKey := "ip:"+ip, "email:"+strings.ToLower(email)
	for _, lim := range []struct {
		l   *auth.Limiter
		key string
	}{{s.ipLim, ipKey}, {s.accountLim, accountKey}} {
		if ok, retry := lim.l.Allow(lim.key, now); !ok {
			secs := int(math.Ceil(retry.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			return apperr.New(apperr.TooManyRequests, "Too many failed sign-in attempts; try again in %d seconds.", secs)
		}
	}
	u, err := s.cat.GetUserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("look up user for login: %w", err)
	}
	breakGlass, err := s.passwordLoginAllowed(r, u, email)
	if err != nil {
		return err
	}
	ok := false
	if u == nil || u.PasswordHash == "" { // unknown, or a single sign-on user without a password
		auth.DummyVerify(req.Password)
	} else {
		ok, err = auth.VerifyPassword(u.PasswordHash, req.Password)
		if err != nil {
			s.log.ErrorContext(r.Context(), "stored password hash is unusable", "user_id", u.ID, "err", err)
			ok = false
		}
	}
	if !ok {
		s.ipLim.Fail(ipKey, now)
		s.accountLim.Fail(accountKey, now)
		details, _ := json.Marshal(map[string]string{"email": email})
		s.audit(r, nil, email, "auth.login_failed", "user", "", details)
		return errBadLogin()
	}
	if u.Disabled {
		details, _ := json.Marshal(map[string]string{"email": u.Email, "reason": "disabled"})
		s.audit(r, &u.ID, u.Email, "auth.login_failed", "user", strconv.FormatInt(u.ID, 10), details)
		return apperr.New(apperr.Forbidden, "This account is disabled; ask an administrator to enable it.")
	}
	s.accountLim.Reset(accountKey)
	if auth.NeedsRehash(u.PasswordHash) {
		// Only the hash, and only while it is the one just verified: a
		// concurrent disable or password reset stays as it was written.
		if h, err := auth.HashPassword(req.Password); err == nil {
			if ok, err := s.cat.UpgradePasswordHash(r.Context(), u.ID, u.PasswordHash, h); err != nil {
				s.log.WarnContext(r.Context(), "could not upgrade password hash", "user_id", u.ID, "err", err)
			} else if ok {
				u.PasswordHash = h
			}
		}
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	var details json.RawMessage
	if breakGlass {
		details, _ = json.Marshal(map[string]any{"method": "password", "break_glass": true})
	}
	s.audit(r, &u.ID, u.Email, "auth.login", "user", strconv.FormatInt(u.ID, 10), details)
	writeJSON(w, http.StatusOK, viewUser(u))
	return nil
}

// startSession creates a login session for u and sets its cookie: the one
// way both password and single sign-on sign-ins end.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, u *store.User) error {
	now := s.now()
	tok, hash, err := auth.NewToken("")
	if err != nil {
		return fmt.Errorf("make session token: %w", err)
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	expires := now.Add(s.sessionTTL)
	sess := &store.Session{TokenHash: hash, UserID: u.ID, IP: s.clientIP(r), UserAgent: ua, ExpiresAt: expires, CreatedAt: now, LastSeenAt: now}
	if err := s.cat.CreateSession(r.Context(), sess); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	s.setSessionCookie(w, tok, expires)
	return nil
}

// passwordLoginAllowed refuses a password sign-in with 403 when local
// login is off, unless u is inside the break-glass window that `coffer
// users reset-password` opens; breakGlass reports that case.
func (s *server) passwordLoginAllowed(r *http.Request, u *store.User, email string) (breakGlass bool, err error) {
	if s.localLogin {
		return false, nil
	}
	if u != nil {
		until, err := s.cat.PasswordLoginUntil(r.Context(), u.ID)
		if err != nil {
			return false, fmt.Errorf("read the break-glass window of user %d: %w", u.ID, err)
		}
		if until != nil && s.now().Before(*until) {
			return true, nil
		}
	}
	details, _ := json.Marshal(map[string]string{"email": email, "reason": "local_login_off"})
	var id *int64
	target := ""
	if u != nil {
		id, target = &u.ID, strconv.FormatInt(u.ID, 10)
	}
	s.audit(r, id, email, "auth.login_failed", "user", target, details)
	return false, apperr.New(apperr.Forbidden, "Password sign-in is turned off on this server; use \"Sign in with %s\" instead.", s.cfg.OIDCName)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	if p.session != nil {
		if err := s.cat.DeleteSession(r.Context(), p.session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete session: %w", err)
		}
		s.audit(r, &p.user.ID, p.user.Email, "auth.logout", "user", strconv.FormatInt(p.user.ID, 10), nil)
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, viewUser(principalOf(r).user))
	return nil
}

// audit records an event; a failure to record is logged, not shown, since
// the action itself already happened.
func (s *server) audit(r *http.Request, actorID *int64, actorEmail, action, targetType, targetID string, details json.RawMessage) {
	e := &store.AuditEvent{
		ActorID:    actorID,
		ActorEmail: actorEmail,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		IP:         s.clientIP(r),
		Details:    details,
		CreatedAt:  s.now(),
	}
	if err := s.cat.AppendAudit(r.Context(), e); err != nil {
		s.log.ErrorContext(r.Context(), "could not record audit event", "action", action, "err", err)
	}
}

// auditBy records an event done by the caller of an authenticated route.
func (s *server) auditBy(r *http.Request, action, targetType string, targetID int64, details any) {
	p := principalOf(r)
	var raw json.RawMessage
	if details != nil {
		raw, _ = json.Marshal(details)
	}
	s.audit(r, &p.user.ID, p.user.Email, action, targetType, strconv.FormatInt(targetID, 10), raw)
}
