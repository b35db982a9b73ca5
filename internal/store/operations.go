package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// terminalStatuses are the statuses an operation never leaves.
var terminalStatuses = []string{StatusCompleted, StatusFailed, StatusCancelled}

// opTable returns the table of an operation kind.
func opTable(kind string) (string, error) {
	switch kind {
	case KindBackup:
		return "backup_operations", nil
	case KindRestore:
		return "restore_operations", nil
	}
	return "", fmt.Errorf("unknown operation kind %q", kind)
}

const backupCols = `id, source_connection_id, destination_connection_id, status, requested_action, options, metadata,
	archive_path, archive_size, sha256, progress, checkpoint, error_message, lease_owner, lease_token,
	heartbeat_at, started_at, completed_at, created_at, updated_at`

func scanBackup(r rowScanner) (*BackupOperation, error) {
	var op BackupOperation
	if err := r.Scan(&op.ID, idCol{&op.SourceConnectionID}, idCol{&op.DestinationConnectionID}, &op.Status,
		&op.RequestedAction, jsonCol{&op.Options}, jsonCol{&op.Metadata}, &op.ArchivePath, &op.ArchiveSize,
		&op.SHA256, progressCol{&op.Progress}, jsonCol{&op.Checkpoint}, &op.ErrorMessage, &op.LeaseOwner,
		&op.LeaseToken, nullTimeCol{&op.HeartbeatAt}, nullTimeCol{&op.StartedAt}, nullTimeCol{&op.CompletedAt},
		timeCol{&op.CreatedAt}, timeCol{&op.UpdatedAt}); err != nil {
		return nil, err
	}
	return &op, nil
}

const restoreCols = `id, backup_operation_id, destination_connection_id, destination_config, status, requested_action,
	progress, checkpoint, error_message, lease_owner, lease_token, heartbeat_at, started_at, completed_at,
	created_at, updated_at`

func scanRestore(r rowScanner) (*RestoreOperation, error) {
	var op RestoreOperation
	if err := r.Scan(&op.ID, &op.BackupOperationID, idCol{&op.DestinationConnectionID}, jsonCol{&op.DestinationConfig},
		&op.Status, &op.RequestedAction, progressCol{&op.Progress}, jsonCol{&op.Checkpoint}, &op.ErrorMessage,
		&op.LeaseOwner, &op.LeaseToken, nullTimeCol{&op.HeartbeatAt}, nullTimeCol{&op.StartedAt},
		nullTimeCol{&op.CompletedAt}, timeCol{&op.CreatedAt}, timeCol{&op.UpdatedAt}); err != nil {
		return nil, err
	}
	return &op, nil
}

// Backups

// CreateBackup inserts op through tx (the pool when tx is nil) and sets ID,
// CreatedAt and UpdatedAt. An empty Status becomes pending and empty Options
// and Metadata become {}. ErrNotFound when a connection does not exist.
func (s *Store) CreateBackup(ctx context.Context, tx *sql.Tx, op *BackupOperation) error {
	status := op.Status
	if status == "" {
		status = StatusPending
	}
	opts, optsRaw, err := jsonObjArg("backup options", op.Options)
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	meta, metaRaw, err := jsonObjArg("backup metadata", op.Metadata)
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	cp, err := jsonArg("backup checkpoint", op.Checkpoint)
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	prog, err := progressArg(op.Progress)
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	t := now()
	err = s.queryRow(ctx, s.q(tx), `INSERT INTO backup_operations (source_connection_id, destination_connection_id, status,
		requested_action, options, metadata, archive_path, archive_size, sha256, progress, checkpoint, error_message,
		started_at, completed_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		op.SourceConnectionID, op.DestinationConnectionID, status, op.RequestedAction, opts, meta, op.ArchivePath,
		op.ArchiveSize, op.SHA256, prog, cp, op.ErrorMessage, s.tsPtr(op.StartedAt), s.tsPtr(op.CompletedAt),
		s.ts(t), s.ts(t)).Scan(&op.ID)
	if err != nil {
		if errors.Is(mapErr(err), errForeignKey) {
			return fmt.Errorf("create backup: source %d or destination %d connection: %w",
				op.SourceConnectionID, op.DestinationConnectionID, ErrNotFound)
		}
		return fmt.Errorf("create backup: %w", err)
	}
	op.Status, op.Options, op.Metadata = status, optsRaw, metaRaw
	op.StartedAt, op.CompletedAt = normPtr(op.StartedAt), normPtr(op.CompletedAt)
	op.LeaseOwner, op.LeaseToken, op.HeartbeatAt = "", 0, nil
	op.CreatedAt, op.UpdatedAt = t, t
	return nil
}

// GetBackup returns the backup with id.
func (s *Store) GetBackup(ctx context.Context, id int64) (*BackupOperation, error) {
	return s.getBackup(ctx, s.db, id)
}

func (s *Store) getBackup(ctx context.Context, q querier, id int64) (*BackupOperation, error) {
	op, err := scanBackup(s.queryRow(ctx, q, "SELECT "+backupCols+" FROM backup_operations WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get backup %d", id)
	}
	return op, nil
}

// ListBackups returns one page of backups matching f, newest first, and the
// number of all matching backups.
func (s *Store) ListBackups(ctx context.Context, f BackupFilter, p Page) ([]BackupOperation, int64, error) {
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.SourceID != 0 {
		w.add("source_connection_id = ?", f.SourceID)
	}
	if f.DestinationID != 0 {
		w.add("destination_connection_id = ?", f.DestinationID)
	}
	return listNewest(ctx, s, "backups", backupCols, "backup_operations", w, p, scanBackup)
}

// CountBackupsByStatus returns how many backups are in each status; every
// backup status is present, zero when none.
func (s *Store) CountBackupsByStatus(ctx context.Context) (StatusCounts, error) {
	return s.countByStatus(ctx, "backup_operations",
		[]string{StatusPending, StatusRunning, StatusPaused, StatusCompleted, StatusFailed, StatusCancelled})
}

func (s *Store) countByStatus(ctx context.Context, table string, statuses []string) (StatusCounts, error) {
	out := StatusCounts{}
	for _, st := range statuses {
		out[st] = 0
	}
	rows, err := s.query(ctx, s.db, "SELECT status, COUNT(*) FROM "+table+" GROUP BY status")
	if err != nil {
		return nil, fmt.Errorf("count %s by status: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count %s by status: %w", table, err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count %s by status: %w", table, err)
	}
	return out, nil
}

// UpdateBackup writes status, requested_action, archive_path, archive_size,
// sha256, error_message, started_at, completed_at, progress and checkpoint
// unconditionally and sets UpdatedAt. Leases are not touched.
func (s *Store) UpdateBackup(ctx context.Context, op *BackupOperation) error {
	cp, err := jsonArg("backup checkpoint", op.Checkpoint)
	if err != nil {
		return fmt.Errorf("update backup %d: %w", op.ID, err)
	}
	prog, err := progressArg(op.Progress)
	if err != nil {
		return fmt.Errorf("update backup %d: %w", op.ID, err)
	}
	t := now()
	res, err := s.exec(ctx, s.db, `UPDATE backup_operations SET status = ?, requested_action = ?, archive_path = ?,
		archive_size = ?, sha256 = ?, error_message = ?, started_at = ?, completed_at = ?, progress = ?, checkpoint = ?,
		updated_at = ? WHERE id = ?`,
		op.Status, op.RequestedAction, op.ArchivePath, op.ArchiveSize, op.SHA256, op.ErrorMessage,
		s.tsPtr(op.StartedAt), s.tsPtr(op.CompletedAt), prog, cp, s.ts(t), op.ID)
	if err != nil {
		return fmt.Errorf("update backup %d: %w", op.ID, err)
	}
	if err := oneRow(res, "update backup %d", op.ID); err != nil {
		return err
	}
	op.UpdatedAt, op.StartedAt, op.CompletedAt = t, normPtr(op.StartedAt), normPtr(op.CompletedAt)
	return nil
}

// RequestBackupAction sets requested_action (RequestPause, RequestCancel or
// RequestNone) when the status is one of from, and returns the updated row.
// ErrNotFound for an unknown id, ErrConflict when the status is not in from.
func (s *Store) RequestBackupAction(ctx context.Context, id int64, action string, from []string) (*BackupOperation, error) {
	var op *BackupOperation
	err := s.requestAction(ctx, KindBackup, id, action, from, func(r rowScanner) error {
		var err error
		op, err = scanBackup(r)
		return err
	}, backupCols)
	if err != nil {
		return nil, err
	}
	return op, nil
}

// TransitionBackup changes the status from one of from to to, in tx when tx
// is not nil, and returns the updated row. Moving to running sets started_at
// when it is still empty; moving to a final status sets completed_at; moving
// to any status but running clears requested_action (the request was obeyed
// or is moot). ErrNotFound for an unknown id, ErrConflict when the status is
// not in from.
func (s *Store) TransitionBackup(ctx context.Context, tx *sql.Tx, id int64, from []string, to string) (*BackupOperation, error) {
	var op *BackupOperation
	err := s.transition(ctx, tx, KindBackup, id, from, to, func(r rowScanner) error {
		var err error
		op, err = scanBackup(r)
		return err
	}, backupCols)
	if err != nil {
		return nil, err
	}
	return op, nil
}

// requestAction is RequestBackupAction/RequestRestoreAction for either table.
func (s *Store) requestAction(ctx context.Context, kind string, id int64, action string, from []string,
	scan func(rowScanner) error, cols string) error {
	switch action {
	case RequestNone, RequestPause, RequestCancel:
	default:
		return fmt.Errorf("request %s action: unknown action %q", kind, action)
	}
	if len(from) == 0 {
		return fmt.Errorf("request %s action: no allowed statuses given", kind)
	}
	table, err := opTable(kind)
	if err != nil {
		return err
	}
	in, args := inArgs(from)
	q := "UPDATE " + table + " SET requested_action = ?, updated_at = ? WHERE id = ? AND status IN (" + in + ") RETURNING " + cols
	all := append([]any{action, s.ts(now()), id}, args...)
	return s.conditional(ctx, s.db, table, kind, id, q, all, scan, fmt.Sprintf("request %s of %s %d", action, kind, id))
}

// transition is TransitionBackup/TransitionRestore for either table.
func (s *Store) transition(ctx context.Context, tx *sql.Tx, kind string, id int64, from []string, to string,
	scan func(rowScanner) error, cols string) error {
	if len(from) == 0 {
		return fmt.Errorf("transition %s %d: no allowed statuses given", kind, id)
	}
	table, err := opTable(kind)
	if err != nil {
		return err
	}
	t := s.ts(now())
	set := "status = ?, updated_at = ?"
	args := []any{to, t}
	if to == StatusRunning {
		set += ", started_at = COALESCE(started_at, ?)"
		args = append(args, t)
	} else {
		set += ", requested_action = ''"
	}
	if slices.Contains(terminalStatuses, to) {
		set += ", completed_at = ?"
		args = append(args, t)
	}
	in, fromArgs := inArgs(from)
	q := "UPDATE " + table + " SET " + set + " WHERE id = ? AND status IN (" + in + ") RETURNING " + cols
	args = append(args, id)
	args = append(args, fromArgs...)
	return s.conditional(ctx, s.q(tx), table, kind, id, q, args, scan, fmt.Sprintf("move %s %d to %s", kind, id, to))
}

// conditional runs an UPDATE ... RETURNING; when it matched no row it tells
// a missing row (ErrNotFound) from a row in another status (ErrConflict).
func (s *Store) conditional(ctx context.Context, q querier, table, kind string, id int64, query string, args []any,
	scan func(rowScanner) error, what string) error {
	err := scan(s.queryRow(ctx, q, query, args...))
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	var status string
	if err := s.queryRow(ctx, q, "SELECT status FROM "+table+" WHERE id = ?", id).Scan(&status); err != nil {
		return notFound(err, "%s", what)
	}
	return fmt.Errorf("%s: the %s is %s: %w", what, kind, status, ErrConflict)
}

// Restores

// CreateRestore inserts op through tx (the pool when tx is nil) and sets ID,
// CreatedAt and UpdatedAt. An empty Status becomes pending and an empty
// DestinationConfig becomes {}. ErrNotFound when the backup or the
// connection does not exist.
func (s *Store) CreateRestore(ctx context.Context, tx *sql.Tx, op *RestoreOperation) error {
	status := op.Status
	if status == "" {
		status = StatusPending
	}
	cfg, cfgRaw, err := jsonObjArg("restore config", op.DestinationConfig)
	if err != nil {
		return fmt.Errorf("create restore: %w", err)
	}
	cp, err := jsonArg("restore checkpoint", op.Checkpoint)
	if err != nil {
		return fmt.Errorf("create restore: %w", err)
	}
	prog, err := progressArg(op.Progress)
	if err != nil {
		return fmt.Errorf("create restore: %w", err)
	}
	t := now()
	err = s.queryRow(ctx, s.q(tx), `INSERT INTO restore_operations (backup_operation_id, destination_connection_id,
		destination_config, status, requested_action, progress, checkpoint, error_message, started_at, completed_at,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		op.BackupOperationID, op.DestinationConnectionID, cfg, status, op.RequestedAction, prog, cp, op.ErrorMessage,
		s.tsPtr(op.StartedAt), s.tsPtr(op.CompletedAt), s.ts(t), s.ts(t)).Scan(&op.ID)
	if err != nil {
		if errors.Is(mapErr(err), errForeignKey) {
			return fmt.Errorf("create restore: backup %d or connection %d: %w",
				op.BackupOperationID, op.DestinationConnectionID, ErrNotFound)
		}
		return fmt.Errorf("create restore: %w", err)
	}
	op.Status, op.DestinationConfig = status, cfgRaw
	op.StartedAt, op.CompletedAt = normPtr(op.StartedAt), normPtr(op.CompletedAt)
	op.LeaseOwner, op.LeaseToken, op.HeartbeatAt = "", 0, nil
	op.CreatedAt, op.UpdatedAt = t, t
	return nil
}

// GetRestore returns the restore with id.
func (s *Store) GetRestore(ctx context.Context, id int64) (*RestoreOperation, error) {
	op, err := scanRestore(s.queryRow(ctx, s.db, "SELECT "+restoreCols+" FROM restore_operations WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get restore %d", id)
	}
	return op, nil
}

// ListRestores returns one page of restores matching f, newest first, and
// the number of all matching restores.
func (s *Store) ListRestores(ctx context.Context, f RestoreFilter, p Page) ([]RestoreOperation, int64, error) {
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.BackupID != 0 {
		w.add("backup_operation_id = ?", f.BackupID)
	}
	if f.DestinationID != 0 {
		w.add("destination_connection_id = ?", f.DestinationID)
	}
	return listNewest(ctx, s, "restores", restoreCols, "restore_operations", w, p, scanRestore)
}

// CountRestoresByStatus returns how many restores are in each status; every
// restore status is present, zero when none.
func (s *Store) CountRestoresByStatus(ctx context.Context) (StatusCounts, error) {
	return s.countByStatus(ctx, "restore_operations",
		[]string{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled})
}

// UpdateRestore writes status, requested_action, error_message, started_at,
// completed_at, progress and checkpoint unconditionally and sets UpdatedAt.
func (s *Store) UpdateRestore(ctx context.Context, op *RestoreOperation) error {
	cp, err := jsonArg("restore checkpoint", op.Checkpoint)
	if err != nil {
		return fmt.Errorf("update restore %d: %w", op.ID, err)
	}
	prog, err := progressArg(op.Progress)
	if err != nil {
		return fmt.Errorf("update restore %d: %w", op.ID, err)
	}
	t := now()
	res, err := s.exec(ctx, s.db, `UPDATE restore_operations SET status = ?, requested_action = ?, error_message = ?,
		started_at = ?, completed_at = ?, progress = ?, checkpoint = ?, updated_at = ? WHERE id = ?`,
		op.Status, op.RequestedAction, op.ErrorMessage, s.tsPtr(op.StartedAt), s.tsPtr(op.CompletedAt), prog, cp,
		s.ts(t), op.ID)
	if err != nil {
		return fmt.Errorf("update restore %d: %w", op.ID, err)
	}
	if err := oneRow(res, "update restore %d", op.ID); err != nil {
		return err
	}
	op.UpdatedAt, op.StartedAt, op.CompletedAt = t, normPtr(op.StartedAt), normPtr(op.CompletedAt)
	return nil
}

// RequestRestoreAction is RequestBackupAction for restores.
func (s *Store) RequestRestoreAction(ctx context.Context, id int64, action string, from []string) (*RestoreOperation, error) {
	var op *RestoreOperation
	err := s.requestAction(ctx, KindRestore, id, action, from, func(r rowScanner) error {
		var err error
		op, err = scanRestore(r)
		return err
	}, restoreCols)
	if err != nil {
		return nil, err
	}
	return op, nil
}

// TransitionRestore is TransitionBackup for restores.
func (s *Store) TransitionRestore(ctx context.Context, tx *sql.Tx, id int64, from []string, to string) (*RestoreOperation, error) {
	var op *RestoreOperation
	err := s.transition(ctx, tx, KindRestore, id, from, to, func(r rowScanner) error {
		var err error
		op, err = scanRestore(r)
		return err
	}, restoreCols)
	if err != nil {
		return nil, err
	}
	return op, nil
}
