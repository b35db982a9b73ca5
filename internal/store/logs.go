package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Log page bounds for ListLogs.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
)

// AppendLog inserts l and sets ID and, when it is zero, CreatedAt (to now).
func (s *Store) AppendLog(ctx context.Context, l *JobLog) error {
	if _, err := tableOf(l.OperationKind); err != nil {
		return fmt.Errorf("append log: %w", err)
	}
	switch l.Level {
	case LevelInfo, LevelWarning, LevelError:
	default:
		return fmt.Errorf("append log: unknown level %q", l.Level)
	}
	ctxArg, err := jsonArg("log context", l.Context)
	if err != nil {
		return fmt.Errorf("append log: %w", err)
	}
	at := l.CreatedAt
	if at.IsZero() {
		at = now()
	}
	at = norm(at)
	if err := s.queryRow(ctx, s.db,
		"INSERT INTO job_logs (operation_kind, operation_id, level, message, context, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		l.OperationKind, l.OperationID, l.Level, l.Message, ctxArg, s.ts(at)).Scan(&l.ID); err != nil {
		return fmt.Errorf("append log of %s %d: %w", l.OperationKind, l.OperationID, mapErr(err))
	}
	l.CreatedAt = at
	return nil
}

// ListLogs returns up to limit (default 100, at most 1000) log lines of an
// operation with ID > after, in ascending ID order.
func (s *Store) ListLogs(ctx context.Context, kind string, opID, after int64, limit int) ([]JobLog, error) {
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	limit = min(limit, MaxLogLimit)
	rows, err := s.query(ctx, s.db, `SELECT id, operation_kind, operation_id, level, message, context, created_at FROM job_logs
		WHERE operation_kind = ? AND operation_id = ? AND id > ? ORDER BY id LIMIT ?`, kind, opID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list logs of %s %d: %w", kind, opID, err)
	}
	defer rows.Close()
	out := []JobLog{}
	for rows.Next() {
		var l JobLog
		if err := rows.Scan(&l.ID, &l.OperationKind, &l.OperationID, &l.Level, &l.Message, jsonCol{&l.Context}, timeCol{&l.CreatedAt}); err != nil {
			return nil, fmt.Errorf("list logs of %s %d: %w", kind, opID, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list logs of %s %d: %w", kind, opID, err)
	}
	return out, nil
}

// DeleteLogsBefore removes log lines created before before and returns how many.
func (s *Store) DeleteLogsBefore(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, s.db, "DELETE FROM job_logs WHERE created_at < ?", s.ts(before))
	if err != nil {
		return 0, fmt.Errorf("delete old logs: %w", err)
	}
	return affected(res)
}

// AppendAudit inserts e and sets ID and, when it is zero, CreatedAt.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if e.Action == "" {
		return errors.New("append audit event: the action is empty")
	}
	details, err := jsonArg("audit details", e.Details)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	at := e.CreatedAt
	if at.IsZero() {
		at = now()
	}
	at = norm(at)
	var actor any
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	if err := s.queryRow(ctx, s.db, `INSERT INTO audit_events (actor_id, actor_email, action, target_type, target_id, ip, details, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		actor, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP, details, s.ts(at)).Scan(&e.ID); err != nil {
		return fmt.Errorf("append audit event %s: %w", e.Action, mapErr(err))
	}
	e.CreatedAt = at
	return nil
}

// ListAudit returns one page of audit events matching f, newest first, and
// the number of all matching events. Since keeps events at or after it.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, int64, error) {
	var w where
	if f.ActorID != 0 {
		w.add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.TargetType != "" {
		w.add("target_type = ?", f.TargetType)
	}
	if f.Since != nil {
		w.add("created_at >= ?", s.ts(*f.Since))
	}
	return listNewest(ctx, s, "audit events", "id, actor_id, actor_email, action, target_type, target_id, ip, details, created_at",
		"audit_events", w, p, scanAudit)
}

// scanAudit reads one audit_events row.
func scanAudit(r rowScanner) (*AuditEvent, error) {
	var e AuditEvent
	var actor *int64
	if err := r.Scan(&e.ID, &actor, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.IP,
		jsonCol{&e.Details}, timeCol{&e.CreatedAt}); err != nil {
		return nil, err
	}
	e.ActorID = actor
	return &e, nil
}
