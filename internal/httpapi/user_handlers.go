package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/store"
)

// minPasswordLen is the shortest password accepted for a new or changed password.
const minPasswordLen = 8

// maxEmailLen is the longest email address accepted.
const maxEmailLen = 254

// userAdminView is the API shape of a user in the users API.
type userAdminView struct {
	ID        int64      `json:"id"`
	Email     string     `json:"email"`
	Role      store.Role `json:"role"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func viewUserAdmin(u *store.User) userAdminView {
	return userAdminView{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

type createUserRequest struct {
	Email    string `json:"email"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

type updateUserRequest struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
}

type passwordRequest struct {
	Password string `json:"password"`
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// passwordProblem says why pw cannot be a password ("" when it can).
func passwordProblem(pw string) string {
	switch {
	case pw == "":
		return "is required"
	case len(pw) < minPasswordLen:
		return fmt.Sprintf("must be at least %d characters long", minPasswordLen)
	case len(pw) > auth.MaxPasswordLen:
		return fmt.Sprintf("must be at most %d bytes long", auth.MaxPasswordLen)
	}
	return ""
}

// emailProblem says why email cannot be a user's email ("" when it can).
func emailProblem(email string) string {
	switch {
	case email == "":
		return "is required"
	case len(email) > maxEmailLen:
		return fmt.Sprintf("must be at most %d characters long", maxEmailLen)
	case strings.ContainsAny(email, " \t\r\n") || strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@"):
		return "must be an email address such as name@example.com"
	}
	return ""
}

func roleProblem(role string) string {
	if !store.Role(role).Valid() {
		return "must be admin, operator or viewer"
	}
	return ""
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.cat.ListUsers(r.Context())
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	items := make([]userAdminView, 0, len(users))
	for i := range users {
		items = append(items, viewUserAdmin(&users[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	fields := map[string]string{}
	if why := emailProblem(email); why != "" {
		fields["email"] = why
	}
	if why := roleProblem(req.Role); why != "" {
		fields["role"] = why
	}
	if why := passwordProblem(req.Password); why != "" {
		fields["password"] = why
	}
	if len(fields) > 0 {
		return apperr.InvalidFields("The user was not created; correct the fields marked.", fields)
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return fmt.Errorf("hash the new user's password: %w", err)
	}
	u := &store.User{Email: email, PasswordHash: hash, Role: store.Role(req.Role)}
	if err := s.cat.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &apperr.Error{Code: apperr.Conflict, Err: err,
				Message: fmt.Sprintf("A user with the email %s already exists.", email),
				Fields:  map[string]string{"email": "is already registered"}}
		}
		return fmt.Errorf("create user: %w", err)
	}
	s.auditBy(r, "user.create", "user", u.ID, map[string]string{"email": u.Email, "role": string(u.Role)})
	writeJSON(w, http.StatusCreated, viewUserAdmin(u))
	return nil
}

// user reads one user, with a 404 sentence when it does not exist.
func (s *server) user(ctx context.Context, id int64) (*store.User, error) {
	u, err := s.cat.GetUser(ctx, id)
	if err != nil {
		if e, ok := notFoundAs(err, "User %d does not exist.", id); ok {
			return nil, e
		}
		return nil, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Role != nil {
		if why := roleProblem(*req.Role); why != "" {
			return apperr.InvalidFields("The user was not changed; correct the fields marked.", map[string]string{"role": why})
		}
	}
	// The catalog applies the change and the last-admin rule in one
	// transaction, so two hosts (or serve and the command line) cannot both
	// remove one of the last two admins.
	change := store.UserAccess{Disabled: req.Disabled}
	if req.Role != nil {
		role := store.Role(*req.Role)
		change.Role = &role
	}
	b, u, err := s.cat.UpdateUserAccess(r.Context(), id, change)
	if err != nil {
		if errors.Is(err, store.ErrLastAdmin) {
			who := "This user"
			if cur, gerr := s.cat.GetUser(r.Context(), id); gerr == nil {
				who = cur.Email
			}
			return apperr.New(apperr.Conflict, "%s is the last active administrator and cannot be demoted or disabled; make another user an administrator first.", who)
		}
		if e, ok := notFoundAs(err, "User %d does not exist.", id); ok {
			return e
		}
		return fmt.Errorf("update user %d: %w", id, err)
	}
	before := *b
	if u.Role == before.Role && u.Disabled == before.Disabled {
		writeJSON(w, http.StatusOK, viewUserAdmin(u))
		return nil
	}
	if u.Disabled && !before.Disabled {
		// Sessions end at once; API tokens are refused while the account is disabled.
		if err := s.cat.DeleteUserSessions(r.Context(), u.ID); err != nil {
			return fmt.Errorf("end the sessions of disabled user %d: %w", u.ID, err)
		}
	}
	details := map[string]any{}
	if u.Role != before.Role {
		details["role"] = map[string]string{"from": string(before.Role), "to": string(u.Role)}
	}
	if u.Disabled != before.Disabled {
		details["disabled"] = u.Disabled
	}
	action := "user.update"
	switch {
	case u.Disabled && !before.Disabled:
		action = "user.disable"
	case !u.Disabled && before.Disabled:
		action = "user.enable"
	}
	s.auditBy(r, action, "user", u.ID, details)
	writeJSON(w, http.StatusOK, viewUserAdmin(u))
	return nil
}

// resetUserPassword is an administrator setting another user's password;
// the user's sessions end.
func (s *server) resetUserPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req passwordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if why := passwordProblem(req.Password); why != "" {
		return apperr.InvalidFields("The password was not changed; correct the fields marked.", map[string]string{"password": why})
	}
	u, err := s.user(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.setPassword(r.Context(), u, req.Password); err != nil {
		return err
	}
	s.auditBy(r, "user.password_reset", "user", u.ID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setPassword stores a new password for u and ends all of u's sessions.
func (s *server) setPassword(ctx context.Context, u *store.User, pw string) error {
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hash the new password: %w", err)
	}
	if err := s.cat.SetUserPassword(ctx, u.ID, hash); err != nil {
		if e, ok := notFoundAs(err, "User %d does not exist.", u.ID); ok {
			return e
		}
		return fmt.Errorf("store the new password of user %d: %w", u.ID, err)
	}
	if err := s.cat.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("end the sessions of user %d: %w", u.ID, err)
	}
	return nil
}

// changeOwnPassword lets any user change their password, given the current
// one. Every session of the user ends; a caller signed in by session gets a
// new one.
func (s *server) changeOwnPassword(w http.ResponseWriter, r *http.Request) error {
	var req changePasswordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.CurrentPassword == "" {
		fields["current_password"] = "is required"
	}
	if why := passwordProblem(req.NewPassword); why != "" {
		fields["new_password"] = why
	}
	if len(fields) > 0 {
		return apperr.InvalidFields("The password was not changed; correct the fields marked.", fields)
	}
	p := principalOf(r)
	now := s.now()
	key := "email:" + strings.ToLower(p.user.Email)
	if ok, retry := s.accountLim.Allow(key, now); !ok {
		secs := max(1, int(retry.Seconds()+0.999))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		return apperr.New(apperr.TooManyRequests, "Too many wrong passwords; try again in %d seconds.", secs)
	}
	ok, err := auth.VerifyPassword(p.user.PasswordHash, req.CurrentPassword)
	if err != nil {
		return fmt.Errorf("verify the current password of user %d: %w", p.user.ID, err)
	}
	if !ok {
		s.accountLim.Fail(key, now)
		s.auditBy(r, "user.password_change_failed", "user", p.user.ID, nil)
		return apperr.InvalidFields("The current password is not correct.", map[string]string{"current_password": "is not correct"})
	}
	if err := s.setPassword(r.Context(), p.user, req.NewPassword); err != nil {
		return err
	}
	if p.session != nil {
		tok, hash, err := auth.NewToken("")
		if err != nil {
			return fmt.Errorf("make session token: %w", err)
		}
		expires := now.Add(s.sessionTTL)
		sess := &store.Session{TokenHash: hash, UserID: p.user.ID, IP: p.ip, UserAgent: p.session.UserAgent, ExpiresAt: expires, CreatedAt: now, LastSeenAt: now}
		if err := s.cat.CreateSession(r.Context(), sess); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		s.setSessionCookie(w, tok, expires)
	}
	s.auditBy(r, "user.password_change", "user", p.user.ID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
