package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

const userCols = "id, email, password_hash, role, disabled, created_at, updated_at"

func scanUser(r rowScanner) (*User, error) {
	var u User
	var role string
	if err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}); err != nil {
		return nil, err
	}
	u.Role = Role(role)
	return &u, nil
}

// normalizeEmail is how emails are stored: trimmed and lower case.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// CreateUser inserts u (its email stored in lower case) and sets ID,
// CreatedAt and UpdatedAt. ErrConflict when the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	return s.insertUser(ctx, s.db, u)
}

// insertUser is CreateUser through q (the pool or a transaction).
func (s *Store) insertUser(ctx context.Context, q querier, u *User) error {
	email := normalizeEmail(u.Email)
	if email == "" {
		return errors.New("create user: the email is empty")
	}
	if !u.Role.Valid() {
		return fmt.Errorf("create user: unknown role %q", u.Role)
	}
	t := now()
	err := s.queryRow(ctx, q,
		"INSERT INTO users (email, password_hash, role, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		email, u.PasswordHash, string(u.Role), u.Disabled, s.ts(t), s.ts(t)).Scan(&u.ID)
	if err != nil {
		if errors.Is(mapErr(err), errUnique) {
			return fmt.Errorf("create user: email %s is already registered: %w", email, ErrConflict)
		}
		return fmt.Errorf("create user: %w", err)
	}
	u.Email, u.CreatedAt, u.UpdatedAt = email, t, t
	return nil
}

// GetUser returns the user with id, ErrNotFound when there is none.
func (s *Store) GetUser(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.queryRow(ctx, s.db, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get user %d", id)
	}
	return u, nil
}

// GetUserByEmail finds a user by email, ignoring case.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.queryRow(ctx, s.db, "SELECT "+userCols+" FROM users WHERE lower(email) = ?", normalizeEmail(email)))
	if err != nil {
		return nil, notFound(err, "get user by email")
	}
	return u, nil
}

// ListUsers returns every user ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.query(ctx, s.db, "SELECT "+userCols+" FROM users ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.queryRow(ctx, s.db, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// adminLockKey is the pg_advisory_xact_lock key that serialises changes of
// roles and disabled flags on PostgreSQL ("admins" in ASCII). On SQLite every
// write transaction is BEGIN IMMEDIATE, which serialises them already.
const adminLockKey int64 = 0x61646d696e73

// UserAccess is a change of a user's role and disabled flag; a nil field
// keeps the stored value.
type UserAccess struct {
	Role     *Role
	Disabled *bool
}

// UpdateUserAccess applies change to user id in one transaction and returns
// the user before and after it. It refuses with ErrLastAdmin when the change
// would leave no active (not disabled) administrator, and holds a lock while
// it counts, so two processes (two hosts, or serve and the command line)
// cannot both remove one of the last two. ErrNotFound for an unknown id.
// Nothing is written when the role and flag stay as they are.
func (s *Store) UpdateUserAccess(ctx context.Context, id int64, change UserAccess) (before, after *User, err error) {
	if change.Role != nil && !change.Role.Valid() {
		return nil, nil, fmt.Errorf("update user %d: unknown role %q", id, *change.Role)
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == DialectPostgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", adminLockKey); err != nil {
				return fmt.Errorf("lock the administrators: %w", err)
			}
		}
		u, err := scanUser(s.queryRow(ctx, tx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if err != nil {
			return notFound(err, "update user %d", id)
		}
		before = u
		a := *u
		after = &a
		role, disabled := u.Role, u.Disabled
		if change.Role != nil {
			role = *change.Role
		}
		if change.Disabled != nil {
			disabled = *change.Disabled
		}
		if u.Role == role && u.Disabled == disabled {
			return nil
		}
		if u.Role == RoleAdmin && !u.Disabled && (role != RoleAdmin || disabled) {
			var others int64
			if err := s.queryRow(ctx, tx, "SELECT COUNT(*) FROM users WHERE role = ? AND NOT disabled AND id <> ?",
				string(RoleAdmin), id).Scan(&others); err != nil {
				return fmt.Errorf("count the active administrators: %w", err)
			}
			if others == 0 {
				return fmt.Errorf("update user %d: %w", id, ErrLastAdmin)
			}
		}
		t := now()
		if _, err := s.exec(ctx, tx, "UPDATE users SET role = ?, disabled = ?, updated_at = ? WHERE id = ?",
			string(role), disabled, s.ts(t), id); err != nil {
			return fmt.Errorf("update user %d: %w", id, err)
		}
		after.Role, after.Disabled, after.UpdatedAt = role, disabled, t
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// SetUserPassword stores a new password hash for user id and nothing else,
// so a concurrent change of role or disabled flag is kept. ErrNotFound for
// an unknown id.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) error {
	if hash == "" {
		return fmt.Errorf("set the password of user %d: the hash is empty", id)
	}
	res, err := s.exec(ctx, s.db, "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", hash, s.ts(now()), id)
	if err != nil {
		return fmt.Errorf("set the password of user %d: %w", id, err)
	}
	return oneRow(res, "set the password of user %d", id)
}

// UpgradePasswordHash replaces user id's password hash with newHash only
// while it is still oldHash (a login upgrading a hash made with older
// parameters), and touches no other column. It reports whether it wrote:
// false means the password changed meanwhile or the user is gone, and the
// newer value stays.
func (s *Store) UpgradePasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error) {
	if newHash == "" {
		return false, fmt.Errorf("upgrade the password hash of user %d: the new hash is empty", id)
	}
	res, err := s.exec(ctx, s.db, "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", newHash, id, oldHash)
	if err != nil {
		return false, fmt.Errorf("upgrade the password hash of user %d: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("upgrade the password hash of user %d: %w", id, err)
	}
	return n == 1, nil
}

// notFound turns sql.ErrNoRows into ErrNotFound; either way the error gets
// the context format/args.
func notFound(err error, format string, args ...any) error {
	ctx := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", ctx, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", ctx, err)
}

// oneRow returns ErrNotFound when res changed no row.
func oneRow(res sql.Result, format string, args ...any) error {
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
	}
	return nil
}

// Sessions

const sessionCols = "id, token_hash, user_id, ip, user_agent, expires_at, created_at, last_seen_at"

func scanSession(r rowScanner) (*Session, error) {
	var ss Session
	if err := r.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &ss.IP, &ss.UserAgent,
		timeCol{&ss.ExpiresAt}, timeCol{&ss.CreatedAt}, timeCol{&ss.LastSeenAt}); err != nil {
		return nil, err
	}
	return &ss, nil
}

// CreateSession inserts ss and sets ID, CreatedAt and (when zero) LastSeenAt.
func (s *Store) CreateSession(ctx context.Context, ss *Session) error {
	if ss.TokenHash == "" {
		return errors.New("create session: the token hash is empty")
	}
	t := now()
	last := ss.LastSeenAt
	if last.IsZero() {
		last = t
	}
	last = norm(last)
	exp := norm(ss.ExpiresAt)
	err := s.queryRow(ctx, s.db,
		"INSERT INTO sessions (token_hash, user_id, ip, user_agent, expires_at, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
		ss.TokenHash, ss.UserID, ss.IP, ss.UserAgent, s.ts(exp), s.ts(t), s.ts(last)).Scan(&ss.ID)
	if err != nil {
		err = mapErr(err)
		switch {
		case errors.Is(err, errUnique):
			return fmt.Errorf("create session: %w", ErrConflict)
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("create session: user %d: %w", ss.UserID, ErrNotFound)
		}
		return fmt.Errorf("create session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = t, last, exp
	return nil
}

// GetSessionByTokenHash returns the session whose token hashes to hash,
// ErrNotFound when there is none or it expired at or before now.
func (s *Store) GetSessionByTokenHash(ctx context.Context, hash string, now time.Time) (*Session, error) {
	ss, err := scanSession(s.queryRow(ctx, s.db,
		"SELECT "+sessionCols+" FROM sessions WHERE token_hash = ? AND expires_at > ?", hash, s.ts(now)))
	if err != nil {
		return nil, notFound(err, "get session")
	}
	return ss, nil
}

// TouchSession records activity on a session and moves its expiry.
func (s *Store) TouchSession(ctx context.Context, id int64, lastSeen, expiresAt time.Time) error {
	res, err := s.exec(ctx, s.db, "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?",
		s.ts(lastSeen), s.ts(expiresAt), id)
	if err != nil {
		return fmt.Errorf("touch session %d: %w", id, err)
	}
	return oneRow(res, "touch session %d", id)
}

// DeleteSession removes a session; deleting one that is gone is not an error.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	if _, err := s.exec(ctx, s.db, "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete session %d: %w", id, err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.exec(ctx, s.db, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired at or before now and
// returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, s.db, "DELETE FROM sessions WHERE expires_at <= ?", s.ts(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return affected(res)
}

// API tokens

const tokenCols = "id, user_id, name, token_hash, last_used_at, created_at"

func scanToken(r rowScanner) (*APIToken, error) {
	var t APIToken
	if err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.TokenHash, nullTimeCol{&t.LastUsedAt}, timeCol{&t.CreatedAt}); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateAPIToken inserts t and sets ID and CreatedAt.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if t.TokenHash == "" {
		return errors.New("create API token: the token hash is empty")
	}
	c := now()
	err := s.queryRow(ctx, s.db,
		"INSERT INTO api_tokens (user_id, name, token_hash, last_used_at, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		t.UserID, t.Name, t.TokenHash, s.tsPtr(t.LastUsedAt), s.ts(c)).Scan(&t.ID)
	if err != nil {
		err = mapErr(err)
		switch {
		case errors.Is(err, errUnique):
			return fmt.Errorf("create API token: %w", ErrConflict)
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("create API token: user %d: %w", t.UserID, ErrNotFound)
		}
		return fmt.Errorf("create API token: %w", err)
	}
	t.CreatedAt, t.LastUsedAt = c, normPtr(t.LastUsedAt)
	return nil
}

// GetAPITokenByHash returns the token whose SHA-256 is hash.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	t, err := scanToken(s.queryRow(ctx, s.db, "SELECT "+tokenCols+" FROM api_tokens WHERE token_hash = ?", hash))
	if err != nil {
		return nil, notFound(err, "get API token")
	}
	return t, nil
}

// ListAPITokens returns a user's tokens ordered by id.
func (s *Store) ListAPITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := s.query(ctx, s.db, "SELECT "+tokenCols+" FROM api_tokens WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list API tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return out, nil
}

// DeleteAPIToken removes token id of userID; ErrNotFound when the user has
// no such token.
func (s *Store) DeleteAPIToken(ctx context.Context, userID, id int64) error {
	res, err := s.exec(ctx, s.db, "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete API token %d: %w", id, err)
	}
	return oneRow(res, "delete API token %d", id)
}

// TouchAPIToken records when a token was last used.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	res, err := s.exec(ctx, s.db, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", s.ts(at), id)
	if err != nil {
		return fmt.Errorf("touch API token %d: %w", id, err)
	}
	return oneRow(res, "touch API token %d", id)
}
