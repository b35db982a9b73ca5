package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Every operation kind keeps its rows in a table of its own (the JSON
// shapes of the API differ), but the columns of Operation are the same in
// each, and one generic implementation reads and changes them. A kind is
// described once, by an opDesc: its table, its statuses and how to read and
// write the columns only it has. Adding a kind is a migration, a descriptor
// and its typed Create/Get/List wrappers; transitions, requested actions,
// leases, checkpoints and the end of a run come with it.

// terminalStatuses are the statuses an operation never leaves.
var terminalStatuses = []string{StatusCompleted, StatusFailed, StatusCancelled}

// kindTable is what the kind-generic code needs of a kind: its name, table
// and every status its rows can have.
type kindTable struct {
	kind     string
	table    string
	statuses []string
	// forget, when set, is what a run's end to a final status also sets:
	// the columns that hold what only a running operation may keep.
	forget string
}

// opDesc describes one operation kind T (which embeds Operation).
type opDesc[T any] struct {
	kindTable
	// cols are the kind's own columns, read after the shared ones.
	cols string
	// fields returns op's shared part and the scan destinations of cols, in order.
	fields func(op *T) (*Operation, []any)
	// values returns the values of cols for an INSERT, after filling in
	// op's defaults (an empty JSON object for unset JSON columns).
	values func(op *T) ([]any, error)
}

// opCols are the columns of Operation, in the order scanInto reads them.
const opCols = `id, status, requested_action, progress, checkpoint, error_message, lease_owner, lease_token,
	heartbeat_at, started_at, completed_at, created_at, updated_at`

// dests are the scan destinations of opCols.
func (o *Operation) dests() []any {
	return []any{&o.ID, &o.Status, &o.RequestedAction, progressCol{&o.Progress}, jsonCol{&o.Checkpoint},
		&o.ErrorMessage, &o.LeaseOwner, &o.LeaseToken, nullTimeCol{&o.HeartbeatAt}, nullTimeCol{&o.StartedAt},
		nullTimeCol{&o.CompletedAt}, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt}}
}

// selectCols is the column list of a SELECT ... RETURNING of a whole row.
func (d opDesc[T]) selectCols() string { return opCols + ", " + d.cols }

// scan reads one row selected with selectCols.
func (d opDesc[T]) scan(r rowScanner) (*T, error) {
	op := new(T)
	shared, own := d.fields(op)
	if err := r.Scan(append(shared.dests(), own...)...); err != nil {
		return nil, err
	}
	return op, nil
}

func scanOperation(r rowScanner) (*Operation, error) {
	var op Operation
	if err := r.Scan(op.dests()...); err != nil {
		return nil, err
	}
	return &op, nil
}

var backupDesc = opDesc[BackupOperation]{
	kindTable: kindTable{KindBackup, "backup_operations",
		[]string{StatusPending, StatusRunning, StatusPaused, StatusCompleted, StatusFailed, StatusCancelled}, ""},
	cols: "source_connection_id, destination_connection_id, options, metadata, archive_path, archive_size, sha256, plan_id, pruned_at, prune_reason, imported, last_verified_at, last_verify_status, mode, base_backup_id, changed_objects",
	fields: func(op *BackupOperation) (*Operation, []any) {
		return &op.Operation, []any{idCol{&op.SourceConnectionID}, idCol{&op.DestinationConnectionID},
			jsonCol{&op.Options}, jsonCol{&op.Metadata}, &op.ArchivePath, &op.ArchiveSize, &op.SHA256, idCol{&op.PlanID},
			nullTimeCol{&op.PrunedAt}, &op.PruneReason, &op.Imported, nullTimeCol{&op.LastVerifiedAt}, &op.LastVerifyStatus,
			&op.Mode, idCol{&op.BaseBackupID}, nullIntCol{&op.ChangedObjects}}
	},
	values: func(op *BackupOperation) ([]any, error) {
		opts, optsRaw, err := jsonObjArg("backup options", op.Options)
		if err != nil {
			return nil, err
		}
		meta, metaRaw, err := jsonObjArg("backup metadata", op.Metadata)
		if err != nil {
			return nil, err
		}
		op.Options, op.Metadata = optsRaw, metaRaw
		var plan any
		if op.PlanID != 0 {
			plan = op.PlanID
		}
		var src, dst any
		if op.SourceConnectionID != 0 {
			src = op.SourceConnectionID
		}
		if op.DestinationConnectionID != 0 {
			dst = op.DestinationConnectionID
		}
		if op.Mode == "" {
			op.Mode = ModeFull
		}
		var base, changed any
		if op.BaseBackupID != 0 {
			base = op.BaseBackupID
		}
		if op.ChangedObjects != nil {
			changed = *op.ChangedObjects
		}
		// A backup is never created pruned or verified.
		return []any{src, dst, opts, meta, op.ArchivePath, op.ArchiveSize, op.SHA256, plan, nil, "", op.Imported, nil, "",
			op.Mode, base, changed}, nil
	},
}

var restoreDesc = opDesc[RestoreOperation]{
	kindTable: kindTable{KindRestore, "restore_operations",
		[]string{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled},
		// The identity or passphrase given with the restore goes as it ends.
		"secret = NULL"},
	cols: "backup_operation_id, destination_connection_id, destination_config",
	fields: func(op *RestoreOperation) (*Operation, []any) {
		return &op.Operation, []any{&op.BackupOperationID, idCol{&op.DestinationConnectionID}, jsonCol{&op.DestinationConfig}}
	},
	values: func(op *RestoreOperation) ([]any, error) {
		cfg, cfgRaw, err := jsonObjArg("restore config", op.DestinationConfig)
		if err != nil {
			return nil, err
		}
		op.DestinationConfig = cfgRaw
		return []any{op.BackupOperationID, op.DestinationConnectionID, cfg}, nil
	},
}

var verifyDesc = opDesc[VerifyOperation]{
	kindTable: kindTable{KindVerify, "verify_operations",
		[]string{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled}, ""},
	cols: "backup_operation_id, plan_id, result",
	fields: func(op *VerifyOperation) (*Operation, []any) {
		return &op.Operation, []any{&op.BackupOperationID, idCol{&op.PlanID}, jsonCol{&op.Result}}
	},
	values: func(op *VerifyOperation) ([]any, error) {
		res, raw, err := jsonObjArg("verification result", op.Result)
		if err != nil {
			return nil, err
		}
		op.Result = raw
		var plan any
		if op.PlanID != 0 {
			plan = op.PlanID
		}
		return []any{op.BackupOperationID, plan, res}, nil
	},
}

// kindTables are the kinds the kind-generic methods accept.
var kindTables = map[string]kindTable{
	KindBackup:  backupDesc.kindTable,
	KindRestore: restoreDesc.kindTable,
	KindVerify:  verifyDesc.kindTable,
}

// tableOf returns the kindTable of kind.
func tableOf(kind string) (kindTable, error) {
	kt, ok := kindTables[kind]
	if !ok {
		return kindTable{}, fmt.Errorf("unknown operation kind %q", kind)
	}
	return kt, nil
}

// createOp inserts op through tx (the pool when tx is nil) and sets its ID,
// CreatedAt and UpdatedAt. An empty Status becomes pending. ErrNotFound
// when a row it refers to (a connection, a backup) does not exist.
func createOp[T any](ctx context.Context, s *Store, tx *sql.Tx, d opDesc[T], op *T) error {
	what := "create " + d.kind
	shared, _ := d.fields(op)
	own, err := d.values(op)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	status := shared.Status
	if status == "" {
		status = StatusPending
	}
	cp, err := jsonArg(d.kind+" checkpoint", shared.Checkpoint)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	prog, err := progressArg(shared.Progress)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	t := now()
	args := append(own, status, shared.RequestedAction, prog, cp, shared.ErrorMessage,
		s.tsPtr(shared.StartedAt), s.tsPtr(shared.CompletedAt), s.ts(t), s.ts(t))
	q := "INSERT INTO " + d.table + " (" + d.cols + `, status, requested_action, progress, checkpoint, error_message,
		started_at, completed_at, created_at, updated_at) VALUES (` + placeholders(len(args)) + ") RETURNING id"
	if err := s.queryRow(ctx, s.q(tx), q, args...).Scan(&shared.ID); err != nil {
		if errors.Is(mapErr(err), errForeignKey) {
			return fmt.Errorf("%s: a connection or backup it refers to does not exist: %w", what, ErrNotFound)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	shared.Status = status
	shared.StartedAt, shared.CompletedAt = normPtr(shared.StartedAt), normPtr(shared.CompletedAt)
	shared.LeaseOwner, shared.LeaseToken, shared.HeartbeatAt = "", 0, nil
	shared.CreatedAt, shared.UpdatedAt = t, t
	return nil
}

// getOp returns the row of kind d with id.
func getOp[T any](ctx context.Context, s *Store, d opDesc[T], id int64) (*T, error) {
	op, err := d.scan(s.queryRow(ctx, s.db, "SELECT "+d.selectCols()+" FROM "+d.table+" WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get %s %d", d.kind, id)
	}
	return op, nil
}

// listOps returns one page of d's rows matching w, newest first, and the
// number of all matching rows.
func listOps[T any](ctx context.Context, s *Store, d opDesc[T], w where, p Page) ([]T, int64, error) {
	return listNewest(ctx, s, d.kind+"s", d.selectCols(), d.table, w, p, d.scan)
}

// Backups

// CreateBackup inserts op through tx (the pool when tx is nil) and sets ID,
// CreatedAt and UpdatedAt. An empty Status becomes pending and empty Options
// and Metadata become {}. ErrNotFound when a connection does not exist.
func (s *Store) CreateBackup(ctx context.Context, tx *sql.Tx, op *BackupOperation) error {
	return createOp(ctx, s, tx, backupDesc, op)
}

// GetBackup returns the backup with id.
func (s *Store) GetBackup(ctx context.Context, id int64) (*BackupOperation, error) {
	return getOp(ctx, s, backupDesc, id)
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
	if f.PlanID != 0 {
		w.add("plan_id = ?", f.PlanID)
	}
	if f.Kept {
		w.add("pruned_at IS NULL")
	}
	return listOps(ctx, s, backupDesc, w, p)
}

// CountBackupsByStatus returns how many backups are in each status; every
// backup status is present, zero when none.
func (s *Store) CountBackupsByStatus(ctx context.Context) (StatusCounts, error) {
	return s.countByStatus(ctx, backupDesc.kindTable)
}

// CompleteBackup records the result of a backup the caller runs under the
// lease token, moving it from running to completed (see FinishRun).
func (s *Store) CompleteBackup(ctx context.Context, id, token int64, res BackupResult) error {
	prog, err := progressArg(res.Progress)
	if err != nil {
		return fmt.Errorf("record the completion of backup %d: %w", id, err)
	}
	return s.finishRun(ctx, backupDesc.kindTable, id, token, RunEnd{Status: StatusCompleted},
		"progress = ?, archive_path = ?, archive_size = ?, sha256 = ?, changed_objects = ?", prog, res.ArchivePath, res.ArchiveSize, res.SHA256, res.ChangedObjects)
}

// SetBackupMode records, while token holds backup id's lease, how its run
// makes the archive: mode and the backup it is built on (0: none).
func (s *Store) SetBackupMode(ctx context.Context, id, token int64, mode string, baseID int64) error {
	if mode != ModeFull && mode != ModeIncremental {
		return fmt.Errorf("set the mode of backup %d: unknown mode %q", id, mode)
	}
	var base any
	if baseID != 0 {
		base = baseID
	}
	return s.fencedUpdate(ctx, s.db, backupDesc.kindTable, id, token, fmt.Sprintf("set the mode of backup %d", id),
		"mode = ?, base_backup_id = ?, updated_at = ?", mode, base, s.ts(now()))
}

// Restores

// CreateRestore inserts op through tx (the pool when tx is nil) and sets ID,
// CreatedAt and UpdatedAt. An empty Status becomes pending and an empty
// DestinationConfig becomes {}. ErrNotFound when the backup or the
// connection does not exist.
func (s *Store) CreateRestore(ctx context.Context, tx *sql.Tx, op *RestoreOperation) error {
	return createOp(ctx, s, tx, restoreDesc, op)
}

// GetRestore returns the restore with id.
func (s *Store) GetRestore(ctx context.Context, id int64) (*RestoreOperation, error) {
	return getOp(ctx, s, restoreDesc, id)
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
	return listOps(ctx, s, restoreDesc, w, p)
}

// CountRestoresByStatus returns how many restores are in each status; every
// restore status is present, zero when none.
func (s *Store) CountRestoresByStatus(ctx context.Context) (StatusCounts, error) {
	return s.countByStatus(ctx, restoreDesc.kindTable)
}

// Every kind

func (s *Store) countByStatus(ctx context.Context, kt kindTable) (StatusCounts, error) {
	out := StatusCounts{}
	for _, st := range kt.statuses {
		out[st] = 0
	}
	rows, err := s.query(ctx, s.db, "SELECT status, COUNT(*) FROM "+kt.table+" GROUP BY status")
	if err != nil {
		return nil, fmt.Errorf("count %ss by status: %w", kt.kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count %ss by status: %w", kt.kind, err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count %ss by status: %w", kt.kind, err)
	}
	return out, nil
}

// GetOperation returns the shared part of operation id of kind.
func (s *Store) GetOperation(ctx context.Context, kind string, id int64) (*Operation, error) {
	kt, err := tableOf(kind)
	if err != nil {
		return nil, fmt.Errorf("get operation: %w", err)
	}
	op, err := scanOperation(s.queryRow(ctx, s.db, "SELECT "+opCols+" FROM "+kt.table+" WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get %s %d", kind, id)
	}
	return op, nil
}

// RequestAction sets requested_action (RequestPause, RequestCancel or
// RequestNone) of operation id of kind when its status is one of from, and
// returns the updated operation. ErrNotFound for an unknown id, ErrConflict
// when the status is not in from.
func (s *Store) RequestAction(ctx context.Context, kind string, id int64, action string, from []string) (*Operation, error) {
	switch action {
	case RequestNone, RequestPause, RequestCancel:
	default:
		return nil, fmt.Errorf("request %s action: unknown action %q", kind, action)
	}
	if len(from) == 0 {
		return nil, fmt.Errorf("request %s action: no allowed statuses given", kind)
	}
	kt, err := tableOf(kind)
	if err != nil {
		return nil, fmt.Errorf("request action: %w", err)
	}
	in, args := inArgs(from)
	q := "UPDATE " + kt.table + " SET requested_action = ?, updated_at = ? WHERE id = ? AND status IN (" + in + ") RETURNING " + opCols
	return s.conditional(ctx, s.db, kt, id, q, append([]any{action, s.ts(now()), id}, args...),
		fmt.Sprintf("request %s of %s %d", action, kind, id))
}

// TransitionOperation changes the status of operation id of kind from one
// of from to to, in tx when tx is not nil, and returns the updated
// operation. Moving to running sets started_at when it is still empty;
// moving to a final status sets completed_at; moving to completed or
// cancelled clears error_message; moving to any status but running clears
// requested_action (the request was obeyed or is moot). ErrNotFound for an
// unknown id, ErrConflict when the status is not in from.
//
// It is for operations no worker runs (the API's steering); a worker ends
// its own run with FinishRun, fenced by its lease.
func (s *Store) TransitionOperation(ctx context.Context, tx *sql.Tx, kind string, id int64, from []string, to string) (*Operation, error) {
	if len(from) == 0 {
		return nil, fmt.Errorf("transition %s %d: no allowed statuses given", kind, id)
	}
	kt, err := tableOf(kind)
	if err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	t := s.ts(now())
	set, args := statusSet(to, t)
	if to == StatusRunning {
		set += ", started_at = COALESCE(started_at, ?)"
		args = append(args, t)
	}
	if to == StatusCompleted || to == StatusCancelled {
		set += ", error_message = ''"
	}
	if kt.forget != "" && slices.Contains(terminalStatuses, to) {
		set += ", " + kt.forget
	}
	in, fromArgs := inArgs(from)
	q := "UPDATE " + kt.table + " SET " + set + " WHERE id = ? AND status IN (" + in + ") RETURNING " + opCols
	args = append(append(args, id), fromArgs...)
	return s.conditional(ctx, s.q(tx), kt, id, q, args, fmt.Sprintf("move %s %d to %s", kind, id, to))
}

// statusSet is the SET clause of a move to status to at time t: the
// status, updated_at, completed_at for a final status, and requested_action
// cleared unless the operation goes on running.
func statusSet(to string, t any) (string, []any) {
	set := "status = ?, updated_at = ?"
	args := []any{to, t}
	if to != StatusRunning {
		set += ", requested_action = ''"
	}
	if slices.Contains(terminalStatuses, to) {
		set += ", completed_at = ?"
		args = append(args, t)
	}
	return set, args
}

// conditional runs an UPDATE ... RETURNING opCols; when it matched no row
// it tells a missing row (ErrNotFound) from a row in another status
// (ErrConflict).
func (s *Store) conditional(ctx context.Context, q querier, kt kindTable, id int64, query string, args []any, what string) (*Operation, error) {
	op, err := scanOperation(s.queryRow(ctx, q, query, args...))
	if err == nil {
		return op, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", what, mapErr(err))
	}
	var status string
	if err := s.queryRow(ctx, q, "SELECT status FROM "+kt.table+" WHERE id = ?", id).Scan(&status); err != nil {
		return nil, notFound(err, "%s", what)
	}
	return nil, fmt.Errorf("%s: the %s is %s: %w", what, kt.kind, status, ErrConflict)
}

// FinishRun records how the run of operation id of kind that the caller
// holds with lease token ended: it moves the operation from running to
// end.Status (see TransitionOperation for the times and the request it
// clears), writing end.ErrorMessage with a final status and end.Progress
// when set. Nothing else is written, so no concurrent change is undone.
// ErrLeaseLost when token is no longer current, ErrConflict when the
// operation is no longer running, ErrNotFound for an unknown id.
func (s *Store) FinishRun(ctx context.Context, kind string, id, token int64, end RunEnd) error {
	kt, err := tableOf(kind)
	if err != nil {
		return fmt.Errorf("finish run: %w", err)
	}
	if end.Progress == nil {
		return s.finishRun(ctx, kt, id, token, end, "")
	}
	prog, err := progressArg(*end.Progress)
	if err != nil {
		return fmt.Errorf("finish the run of %s %d: %w", kind, id, err)
	}
	return s.finishRun(ctx, kt, id, token, end, "progress = ?", prog)
}

// finishRun is FinishRun with extra assignments of the kind's own columns.
func (s *Store) finishRun(ctx context.Context, kt kindTable, id, token int64, end RunEnd, extra string, extraArgs ...any) error {
	return s.finishRunIn(ctx, s.db, kt, id, token, end, extra, extraArgs...)
}

// finishRunIn is finishRun through q (a transaction, or the pool).
func (s *Store) finishRunIn(ctx context.Context, q querier, kt kindTable, id, token int64, end RunEnd, extra string, extraArgs ...any) error {
	what := fmt.Sprintf("mark %s %d %s", kt.kind, id, end.Status)
	if end.Status == StatusRunning || !slices.Contains(kt.statuses, end.Status) {
		return fmt.Errorf("%s: a %s cannot end its run as %q", what, kt.kind, end.Status)
	}
	set, args := statusSet(end.Status, s.ts(now()))
	if slices.Contains(terminalStatuses, end.Status) {
		set += ", error_message = ?"
		args = append(args, end.ErrorMessage)
		if kt.forget != "" {
			set += ", " + kt.forget
		}
	}
	if extra != "" {
		set += ", " + extra
		args = append(args, extraArgs...)
	}
	args = append(args, id, token, StatusRunning)
	res, err := s.exec(ctx, q, "UPDATE "+kt.table+" SET "+set+" WHERE id = ? AND lease_token = ? AND lease_owner <> '' AND status = ?", args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n > 0 {
		return nil
	}
	var status, owner string
	var current int64
	err = s.queryRow(ctx, q, "SELECT status, lease_owner, lease_token FROM "+kt.table+" WHERE id = ?", id).Scan(&status, &owner, &current)
	switch {
	case err != nil:
		return notFound(err, "%s", what)
	case owner == "" || current != token:
		return fmt.Errorf("%s: %w", what, ErrLeaseLost)
	default:
		return fmt.Errorf("%s: the %s is %s: %w", what, kt.kind, status, ErrConflict)
	}
}
