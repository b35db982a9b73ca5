package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Single sign-on: identities at providers, sign-ins in flight, and the
// break-glass window for password sign-in (docs/sso.md).

// OIDCLogin is a sign-in started at an identity provider and not finished.
// Only hashes of the state and of the browser cookie are kept.
type OIDCLogin struct {
	StateHash    string
	BrowserHash  string
	Nonce        string
	CodeVerifier string
	// NextPath is the UI path to go to after signing in.
	NextPath  string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// GetUserByIdentity returns the user linked to subject at issuer;
// ErrNotFound when none is.
func (s *Store) GetUserByIdentity(ctx context.Context, issuer, subject string) (*User, error) {
	u, err := scanUser(s.queryRow(ctx, s.db,
		"SELECT "+prefixed("u.", userCols)+" FROM users u JOIN user_identities i ON i.user_id = u.id WHERE i.issuer = ? AND i.subject = ?",
		issuer, subject))
	if err != nil {
		return nil, notFound(err, "get user by identity")
	}
	return u, nil
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// LinkIdentity links subject at issuer to an existing user. ErrConflict
// when that subject belongs to a user already, or the user is linked to
// another subject of issuer; ErrNotFound for an unknown user.
func (s *Store) LinkIdentity(ctx context.Context, userID int64, issuer, subject string) error {
	return s.linkIdentity(ctx, s.db, userID, issuer, subject)
}

func (s *Store) linkIdentity(ctx context.Context, q querier, userID int64, issuer, subject string) error {
	if issuer == "" || subject == "" {
		return errors.New("link identity: the issuer or subject is empty")
	}
	_, err := s.exec(ctx, q, "INSERT INTO user_identities (user_id, issuer, subject, created_at) VALUES (?, ?, ?, ?)",
		userID, issuer, subject, s.ts(now()))
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("link identity of user %d: %w", userID, ErrConflict)
	case errors.Is(err, errForeignKey):
		return fmt.Errorf("link identity: user %d: %w", userID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("link identity of user %d: %w", userID, err)
	}
	return nil
}

// CreateUserWithIdentity inserts u (as CreateUser does) and links subject
// at issuer to it, in one transaction. ErrConflict when the e-mail is
// taken or the subject is linked already.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *User, issuer, subject string) error {
	before := *u
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.linkIdentity(ctx, tx, u.ID, issuer, subject)
	})
	if err != nil {
		*u = before
		return err
	}
	return nil
}

// IdentityOf returns the subject linked to a user at issuer; ErrNotFound
// when the user has none there.
func (s *Store) IdentityOf(ctx context.Context, userID int64, issuer string) (string, error) {
	var sub string
	err := s.queryRow(ctx, s.db, "SELECT subject FROM user_identities WHERE user_id = ? AND issuer = ?", userID, issuer).Scan(&sub)
	if err != nil {
		return "", notFound(err, "identity of user %d", userID)
	}
	return sub, nil
}

// SaveOIDCLogin stores a started sign-in, and removes those that expired.
// ErrConflict when the state hash exists (a repeated random state).
func (s *Store) SaveOIDCLogin(ctx context.Context, l *OIDCLogin) error {
	if l.StateHash == "" || l.BrowserHash == "" {
		return errors.New("save sign-in: the state or browser hash is empty")
	}
	t := now()
	if _, err := s.exec(ctx, s.db, "DELETE FROM oidc_logins WHERE expires_at <= ?", s.ts(t)); err != nil {
		return fmt.Errorf("remove expired sign-ins: %w", err)
	}
	next := l.NextPath
	if next == "" {
		next = "/"
	}
	_, err := s.exec(ctx, s.db,
		"INSERT INTO oidc_logins (state_hash, browser_hash, nonce, code_verifier, next_path, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		l.StateHash, l.BrowserHash, l.Nonce, l.CodeVerifier, next, s.ts(norm(l.ExpiresAt)), s.ts(t))
	if err != nil {
		if errors.Is(err, errUnique) {
			return fmt.Errorf("save sign-in: %w", ErrConflict)
		}
		return fmt.Errorf("save sign-in: %w", err)
	}
	l.NextPath, l.ExpiresAt, l.CreatedAt = next, norm(l.ExpiresAt), t
	return nil
}

// TakeOIDCLogin removes and returns the sign-in whose state hashes to
// stateHash. ErrNotFound when there is none (never started, already
// taken) or it expired at or before now: a state works once.
func (s *Store) TakeOIDCLogin(ctx context.Context, stateHash string, at time.Time) (*OIDCLogin, error) {
	var l OIDCLogin
	err := s.queryRow(ctx, s.db,
		"DELETE FROM oidc_logins WHERE state_hash = ? RETURNING state_hash, browser_hash, nonce, code_verifier, next_path, expires_at, created_at",
		stateHash).Scan(&l.StateHash, &l.BrowserHash, &l.Nonce, &l.CodeVerifier, &l.NextPath, timeCol{&l.ExpiresAt}, timeCol{&l.CreatedAt})
	if err != nil {
		return nil, notFound(mapErr(err), "take sign-in")
	}
	if !l.ExpiresAt.After(at) {
		return nil, fmt.Errorf("take sign-in: it expired at %s: %w", l.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	return &l, nil
}

// SetPasswordLoginUntil sets (or, with nil, clears) until when a user may
// sign in with a password although local login is off. ErrNotFound for an
// unknown user.
func (s *Store) SetPasswordLoginUntil(ctx context.Context, userID int64, until *time.Time) error {
	res, err := s.exec(ctx, s.db, "UPDATE users SET password_login_until = ? WHERE id = ?", s.tsPtr(until), userID)
	if err != nil {
		return fmt.Errorf("set the break-glass window of user %d: %w", userID, err)
	}
	return oneRow(res, "set the break-glass window of user %d", userID)
}

// PasswordLoginUntil returns until when a user may sign in with a password
// although local login is off (nil when never set). ErrNotFound for an
// unknown user.
func (s *Store) PasswordLoginUntil(ctx context.Context, userID int64) (*time.Time, error) {
	var until *time.Time
	if err := s.queryRow(ctx, s.db, "SELECT password_login_until FROM users WHERE id = ?", userID).Scan(nullTimeCol{&until}); err != nil {
		return nil, notFound(err, "break-glass window of user %d", userID)
	}
	return until, nil
}
