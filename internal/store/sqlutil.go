package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file keeps the dialect differences in one place: placeholders, how
// timestamps are bound and scanned, and how constraint errors are recognised.
// Queries are written once with ? placeholders.
//
// Timestamps: TIMESTAMPTZ on PostgreSQL, INTEGER Unix microseconds on SQLite.
// Every time is truncated to the microsecond (PostgreSQL's precision) before
// it is written, so what is read back equals what was written, in UTC.

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// q returns tx when it is not nil, else the pool.
func (s *Store) q(tx *sql.Tx) querier {
	if tx != nil {
		return tx
	}
	return s.db
}

// rebind turns ? placeholders into $1, $2... for PostgreSQL. Queries in this
// package never put a ? inside a string literal.
func (s *Store) rebind(query string) string {
	if s.dialect != DialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// exec runs a statement on q (the pool or a transaction). A statement on
// the pool that finds SQLite busy
// after the whole busy timeout is tried again, busyAttempts times in all:
// SQLITE_BUSY means it did nothing, so trying again is safe, and the writes
// of a running operation (progress, heartbeat, log lines) must not fail
// because other writers kept the lock on a loaded machine.
func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	_, inTx := q.(*sql.Tx)
	for attempt := 1; ; attempt++ {
		res, err := q.ExecContext(ctx, s.rebind(query), args...)
		if err == nil || inTx || !isBusy(err) || attempt >= busyAttempts || ctx.Err() != nil {
			return res, mapErr(err)
		}
	}
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	return rows, mapErr(err)
}

func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.rebind(query), args...)
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// inArgs returns the placeholders and arguments for an IN list of strings.
func inArgs(vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return placeholders(len(vals)), args
}

// now is the current time at the precision the catalog keeps.
func now() time.Time { return norm(time.Now()) }

// norm truncates t to microseconds in UTC.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normPtr is norm for optional times.
func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// ts converts t to the value bound for a timestamp column.
func (s *Store) ts(t time.Time) any {
	t = norm(t)
	if s.dialect == DialectSQLite {
		return t.UnixMicro()
	}
	return t
}

// tsPtr is ts for a nullable column.
func (s *Store) tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// timeCol scans a timestamp column of either dialect into a time.Time.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	case nil:
		return errors.New("timestamp column is NULL")
	default:
		return fmt.Errorf("unexpected timestamp value of type %T", src)
	}
	return nil
}

// nullTimeCol scans a nullable timestamp column into a *time.Time.
type nullTimeCol struct{ t **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// jsonCol scans a nullable JSON text column into a json.RawMessage (nil for NULL).
type jsonCol struct{ m *json.RawMessage }

// Scan implements sql.Scanner.
func (c jsonCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.m = nil
	case string:
		*c.m = json.RawMessage(v)
	case []byte:
		*c.m = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("unexpected JSON value of type %T", src)
	}
	return nil
}

// progressCol scans the progress JSON column.
type progressCol struct{ p *Progress }

// Scan implements sql.Scanner.
func (c progressCol) Scan(src any) error {
	var raw json.RawMessage
	if err := (jsonCol{&raw}).Scan(src); err != nil {
		return err
	}
	*c.p = Progress{}
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, c.p); err != nil {
		return fmt.Errorf("decode progress: %w", err)
	}
	return nil
}

// idCol scans a nullable id column (a foreign key set to NULL when the row it
// pointed at was deleted) into an int64, 0 for NULL.
type idCol struct{ id *int64 }

// Scan implements sql.Scanner.
func (c idCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.id = n.Int64
	return nil
}

// nullIntCol scans a nullable integer column into a *int64 (nil for NULL).
type nullIntCol struct{ n **int64 }

// Scan implements sql.Scanner.
func (c nullIntCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.n = nil
	if n.Valid {
		v := n.Int64
		*c.n = &v
	}
	return nil
}

// jsonArg returns the value bound for a nullable JSON column: NULL for an
// empty message, else its text. what names the field in the error.
func jsonArg(what string, m []byte) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if !json.Valid(m) {
		return nil, fmt.Errorf("%s is not valid JSON", what)
	}
	return string(m), nil
}

// jsonObjArg is jsonArg for a NOT NULL column that defaults to "{}"; it
// also returns the message as stored.
func jsonObjArg(what string, m json.RawMessage) (string, json.RawMessage, error) {
	if len(m) == 0 {
		return "{}", json.RawMessage("{}"), nil
	}
	if !json.Valid(m) {
		return "", nil, fmt.Errorf("%s is not valid JSON", what)
	}
	return string(m), m, nil
}

// progressArg encodes p for the progress column.
func progressArg(p Progress) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode progress: %w", err)
	}
	return string(b), nil
}

// Constraint errors of either dialect, recognised by mapErr.
var (
	errUnique     = errors.New("unique constraint violated")
	errForeignKey = errors.New("foreign key constraint violated")
)

// constraintError keeps the driver's error while marking which sentinel
// applies, so both errors.Is(err, ErrConflict) and the original text work.
type constraintError struct {
	kind error
	err  error
}

// Error returns the driver's message.
func (e *constraintError) Error() string { return e.err.Error() }

// Unwrap exposes both the sentinel and the driver error.
func (e *constraintError) Unwrap() []error {
	return []error{e.kind, e.err}
}

// mapErr tags uniqueness and foreign key violations so callers can tell them
// apart; other errors pass through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return &constraintError{kind: errUnique, err: err}
		case "23503":
			return &constraintError{kind: errForeignKey, err: err}
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &constraintError{kind: errUnique, err: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &constraintError{kind: errForeignKey, err: err}
		}
	}
	return err
}

// affected returns how many rows res changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// Page bounds.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// Normalized returns p with defaults applied: page 1 when below 1, per page
// 20 when below 1 and at most 100.
func (p Page) Normalized() Page {
	if p.Page < 1 {
		p.Page = 1
	}
	if p.PerPage < 1 {
		p.PerPage = DefaultPerPage
	}
	if p.PerPage > MaxPerPage {
		p.PerPage = MaxPerPage
	}
	return p
}

// Offset is the number of rows before the page (after Normalized).
func (p Page) Offset() int {
	p = p.Normalized()
	return (p.Page - 1) * p.PerPage
}

// where builds a WHERE clause from conditions joined by AND.
type where struct {
	conds []string
	args  []any
}

// add appends a condition and its arguments.
func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// String is the clause, empty when there are no conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// jsonValid reports whether m is one valid JSON value.
func jsonValid(m []byte) bool { return len(m) > 0 && json.Valid(m) }

// listNewest returns one page of table's rows matching w, newest first
// (created_at, then id), read by scan, and the number of all matching rows.
// what names the rows in errors ("backups").
func listNewest[T any](ctx context.Context, s *Store, what, cols, table string, w where, p Page, scan func(rowScanner) (*T, error)) ([]T, int64, error) {
	var total int64
	if err := s.queryRow(ctx, s.db, "SELECT COUNT(*) FROM "+table+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list %s: count: %w", what, err)
	}
	p = p.Normalized()
	rows, err := s.query(ctx, s.db, "SELECT "+cols+" FROM "+table+w.String()+
		" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", append(w.args, p.PerPage, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", what, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", what, err)
	}
	return out, total, nil
}

// busyAttempts is how often InTx tries to begin a transaction, and exec
// to run a statement outside one, while SQLite reports the database busy.
const busyAttempts = 3

// isBusy reports whether err is SQLite's SQLITE_BUSY (the busy timeout ran out).
func isBusy(err error) bool {
	var sqErr *sqlite.Error
	return errors.As(err, &sqErr) && sqErr.Code()&0xff == sqlite3.SQLITE_BUSY
}
