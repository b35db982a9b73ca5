package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/store"
)

// StartBackup validates a backup request, then records the operation and
// its job in one transaction. Validation failures are 422 errors naming the field.
func (e *Engine) StartBackup(ctx context.Context, actor Actor, req BackupRequest) (*store.BackupOperation, error) {
	fields := map[string]string{}
	b := e.CheckBackup(ctx, req, fields)
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("the backup request is not valid", fields)
	}
	if err := e.cat.InTx(ctx, func(tx *sql.Tx) error { return e.RecordBackupTx(ctx, tx, b.Op) }); err != nil {
		return nil, err
	}
	e.LogBackup(ctx, b.Op.ID, fmt.Sprintf("Backup of %q to %q queued by %s.", b.Source, b.Destination, actor.Email))
	return b.Op, nil
}

// CheckedBackup is a backup request that passed CheckBackup: the operation
// to record, and the names of its connections for log lines.
type CheckedBackup struct {
	Op                  *store.BackupOperation
	Source, Destination string
}

// CheckBackup validates req (its connections' roles and state, and its
// options) the way StartBackup does, adding each problem to fields under the
// request's field name. It returns the operation to record when fields
// stayed empty, nil otherwise. Plans use it to check their settings and to
// start their runs.
func (e *Engine) CheckBackup(ctx context.Context, req BackupRequest, fields map[string]string) *CheckedBackup {
	before := len(fields)
	src := e.checkConnection(ctx, req.SourceConnectionID, "source_connection_id", "a source", registry.RoleSource, fields)
	dst := e.checkConnection(ctx, req.DestinationConnectionID, "destination_connection_id", "a destination", registry.RoleDestination, fields)
	opts, bad := decodeBackupOptions(req.Options)
	if bad != nil {
		fields[bad.key] = bad.reason
	} else if opts.Incremental() && src != nil && src.Type != "s3" {
		fields["options.mode"] = fmt.Sprintf("incremental backups are made of S3 sources only; %q is a %s connection: choose \"full\"", src.Name, src.Type)
	} else if id := opts.EncryptionKeyID; id > 0 && e.keys == nil {
		fields["options.encryption_key_id"] = "archive encryption is not available on this server"
	} else if id > 0 {
		if _, err := e.keys.Recipients(ctx, id); err != nil {
			fields["options.encryption_key_id"] = fmt.Sprintf("encryption key %d does not exist", id)
		}
	}
	if len(fields) > before {
		return nil
	}
	optJSON, err := json.Marshal(opts)
	if err != nil {
		fields["options"] = "cannot be encoded"
		return nil
	}
	return &CheckedBackup{
		Op: &store.BackupOperation{
			Operation:               store.Operation{Status: store.StatusPending},
			SourceConnectionID:      src.ID,
			DestinationConnectionID: dst.ID,
			Options:                 optJSON,
			Metadata:                json.RawMessage(`{}`),
			PlanID:                  req.PlanID,
		},
		Source: src.Name, Destination: dst.Name,
	}
}

// RecordBackupTx records a backup that passed CheckBackup, and its job, in tx.
func (e *Engine) RecordBackupTx(ctx context.Context, tx *sql.Tx, op *store.BackupOperation) error {
	if err := e.cat.CreateBackup(ctx, tx, op); err != nil {
		return fmt.Errorf("record the backup: %w", err)
	}
	if err := e.q.InsertOperationTx(ctx, tx, store.KindBackup, op.ID); err != nil {
		return fmt.Errorf("record the backup: %w", err)
	}
	return nil
}

// LogBackup writes an information line to backup id's log.
func (e *Engine) LogBackup(ctx context.Context, id int64, msg string) {
	joblog.New(e.cat, store.KindBackup, id, e.log).Info(ctx, msg)
}

// checkConnection loads a connection for a request and records why it cannot serve.
func (e *Engine) checkConnection(ctx context.Context, id int64, field, role string, need registry.Role, fields map[string]string) *store.Connection {
	if id <= 0 {
		fields[field] = "is required"
		return nil
	}
	c, err := e.cat.GetConnection(ctx, id)
	if err != nil {
		fields[field] = fmt.Sprintf("connection %d does not exist", id)
		return nil
	}
	switch {
	case !registry.HasRole(c.Type, need):
		fields[field] = fmt.Sprintf("connection %q is a %s connection, which cannot be %s", c.Name, c.Type, role)
	case !c.IsActive:
		fields[field] = fmt.Sprintf("connection %q is not active", c.Name)
	}
	return c
}

// PauseBackup pauses a pending backup at once, or asks a running one to
// stop at its next checkpoint (within seconds, from any process).
func (e *Engine) PauseBackup(ctx context.Context, actor Actor, id int64) error {
	lg := joblog.New(e.cat, store.KindBackup, id, e.log)
	_, err := e.cat.TransitionOperation(ctx, nil, store.KindBackup, id, []string{store.StatusPending}, store.StatusPaused)
	if err == nil {
		lg.Info(ctx, fmt.Sprintf("Backup paused by %s before it started.", actor.Email))
		return nil
	} else if !errors.Is(err, store.ErrConflict) {
		return err
	}
	_, err = e.cat.RequestAction(ctx, store.KindBackup, id, store.RequestPause, []string{store.StatusRunning})
	if errors.Is(err, store.ErrConflict) {
		return e.conflict(ctx, backupKind, id, "paused", []string{store.StatusPending, store.StatusRunning})
	}
	if err != nil {
		return err
	}
	lg.Info(ctx, fmt.Sprintf("Pause requested by %s; the backup stops at its next checkpoint.", actor.Email))
	return nil
}

// ResumeBackup continues a paused or failed backup from its checkpoint on
// whichever worker takes the job.
func (e *Engine) ResumeBackup(ctx context.Context, actor Actor, id int64) error {
	from := []string{store.StatusPaused, store.StatusFailed}
	err := e.cat.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := e.cat.TransitionOperation(ctx, tx, store.KindBackup, id, from, store.StatusPending); err != nil {
			return err
		}
		return e.q.InsertOperationTx(ctx, tx, store.KindBackup, id)
	})
	if errors.Is(err, store.ErrConflict) {
		return e.conflict(ctx, backupKind, id, "resumed", from)
	}
	if err != nil {
		return err
	}
	joblog.New(e.cat, store.KindBackup, id, e.log).Info(ctx, fmt.Sprintf("Resume requested by %s; the backup continues from its checkpoint.", actor.Email))
	return nil
}

// discardStoredUpload removes the partial archive of a backup that no
// worker runs, found from its checkpoint, and forgets its entries.
func discardStoredUpload(ctx context.Context, e *Engine, id int64, lg *joblog.Logger) {
	op, err := e.cat.GetBackup(ctx, id)
	if err != nil || len(op.Checkpoint) == 0 || string(op.Checkpoint) == "null" {
		return
	}
	var cp backupCheckpoint
	if err := json.Unmarshal(op.Checkpoint, &cp); err != nil || len(cp.Upload) == 0 {
		return
	}
	_, dst, err := e.openDestination(ctx, op.DestinationConnectionID)
	if err != nil {
		lg.Warn(ctx, "Could not reach the destination to remove the partial archive: "+userMessage(err))
		return
	}
	up, err := dst.ResumeUpload(ctx, cp.Upload)
	if err == nil {
		err = up.Abort(ctx)
	}
	if err != nil {
		lg.Warn(ctx, "Could not remove the partial archive; the periodic sweep will retry: "+userMessage(err))
	}
	if err := e.cat.DeleteArchiveEntriesFrom(ctx, op.ID, 0); err != nil {
		lg.Warn(ctx, "Could not forget the archive entries of the cancelled backup.")
	}
}

// StartRestore validates a restore request and records it with its job.
func (e *Engine) StartRestore(ctx context.Context, actor Actor, req RestoreRequest) (*store.RestoreOperation, error) {
	fields := map[string]string{}
	var backup *store.BackupOperation
	if req.BackupOperationID <= 0 {
		fields["backup_operation_id"] = "is required"
	} else if b, err := e.cat.GetBackup(ctx, req.BackupOperationID); err != nil {
		fields["backup_operation_id"] = fmt.Sprintf("backup %d does not exist", req.BackupOperationID)
	} else if b.Status != store.StatusCompleted {
		fields["backup_operation_id"] = fmt.Sprintf("backup %d is %s; only a completed backup can be restored", b.ID, b.Status)
	} else if b.PrunedAt != nil {
		return nil, apperr.New(apperr.Conflict, "Backup %d cannot be restored: its archive was deleted (%s) on %s.",
			b.ID, b.PruneReason, b.PrunedAt.UTC().Format(time.DateOnly))
	} else if _, err := e.chainOf(ctx, b); errors.Is(err, errChainBroken) {
		return nil, apperr.Wrap(apperr.Conflict, err, "Backup %d cannot be restored: %s.", b.ID, strings.TrimSuffix(err.Error(), ": "+errChainBroken.Error()))
	} else if err != nil {
		return nil, err
	} else {
		backup = b
	}
	tgt := e.checkConnection(ctx, req.DestinationConnectionID, "destination_connection_id", "a restore target", registry.RoleRestoreTarget, fields)
	var cfg json.RawMessage = json.RawMessage(`{}`)
	if backup != nil && tgt != nil && len(fields) == 0 {
		if st := e.sourceType(ctx, backup); st != "" && st != tgt.Type {
			fields["destination_connection_id"] = fmt.Sprintf("a backup of a %s connection restores to a %s connection, not %s", st, st, tgt.Type)
		}
		var c any
		switch tgt.Type {
		case store.TypeS3:
			c = &S3RestoreConfig{}
		case store.TypeMongoDB:
			c = &MongoRestoreConfig{}
		}
		if c != nil {
			if bad := decodeRestoreConfig(req.Config, c); bad != nil {
				fields[bad.key] = bad.reason
			} else if s3c, ok := c.(*S3RestoreConfig); ok && len(s3c.Keys) > 0 {
				if err := e.checkKeys(ctx, backup.ID, s3c.Keys, fields); err != nil {
					return nil, err
				}
			}
			cfg, _ = json.Marshal(c)
		}
	}
	var sealed []byte
	if backup != nil && len(fields) == 0 {
		if keyID := encryptionKeyOf(backup); keyID > 0 {
			if err := e.checkUnlock(ctx, backup, keyID, req.Unlock, fields); err != nil {
				return nil, err
			}
			var err error
			if sealed, err = e.sealUnlock(req.Unlock); err != nil {
				return nil, fmt.Errorf("keep the key given with the restore: %w", err)
			}
		} else if req.Unlock.Given() {
			fields["identity"] = fmt.Sprintf("backup %d is not encrypted; leave identity and passphrase out", backup.ID)
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("the restore request is not valid", fields)
	}
	op := &store.RestoreOperation{
		Operation:               store.Operation{Status: store.StatusPending},
		BackupOperationID:       backup.ID,
		DestinationConnectionID: tgt.ID,
		DestinationConfig:       cfg,
	}
	err := e.cat.InTx(ctx, func(tx *sql.Tx) error {
		if err := e.cat.CreateRestore(ctx, tx, op); err != nil {
			return err
		}
		if sealed != nil {
			if err := e.cat.SetRestoreSecretTx(ctx, tx, op.ID, sealed); err != nil {
				return err
			}
		}
		return e.q.InsertOperationTx(ctx, tx, store.KindRestore, op.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("record the restore: %w", err)
	}
	joblog.New(e.cat, store.KindRestore, op.ID, e.log).Info(ctx,
		fmt.Sprintf("Restore of backup %d to %q queued by %s.", backup.ID, tgt.Name, actor.Email))
	return op, nil
}

// sourceType is the type of connection backup b copied ("s3", "mongodb"):
// its source connection's, or, for an imported backup, its manifest's; ""
// when neither is known.
func (e *Engine) sourceType(ctx context.Context, b *store.BackupOperation) string {
	if b.SourceConnectionID != 0 {
		if src, err := e.cat.GetConnection(ctx, b.SourceConnectionID); err == nil {
			return src.Type
		}
	}
	var meta ImportedMetadata
	if json.Unmarshal(b.Metadata, &meta) == nil {
		return meta.Source.Type
	}
	return ""
}

// maxRestoreKeys bounds the keys one restore may choose.
const maxRestoreKeys = 10000

// checkKeys puts in fields why the keys chosen for a restore of backup id
// cannot be restored: too many, repeated, or not in the backup.
func (e *Engine) checkKeys(ctx context.Context, id int64, keys []string, fields map[string]string) error {
	if len(keys) > maxRestoreKeys {
		fields["config.keys"] = fmt.Sprintf("holds %d keys; choose at most %d, or use include_prefix", len(keys), maxRestoreKeys)
		return nil
	}
	missing := make(map[string]bool, len(keys))
	for _, k := range keys {
		if missing[k] {
			fields["config.keys"] = fmt.Sprintf("names %q twice", k)
			return nil
		}
		missing[k] = true
	}
	cur := newEntryCursor(ctx, e.cat, id)
	for len(missing) > 0 {
		me, err := cur.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		delete(missing, me.Key)
	}
	if len(missing) > 0 {
		var some []string
		for _, k := range keys {
			if missing[k] && len(some) < 3 {
				some = append(some, strconv.Quote(k))
			}
		}
		fields["config.keys"] = fmt.Sprintf("%d of the keys are not in backup %d (%s)", len(missing), id, strings.Join(some, ", "))
	}
	return nil
}

// userMessage is the sentence kept in error_message and shown to users.
func userMessage(err error) string {
	if ae, ok := apperr.As(err); ok {
		return ae.Message
	}
	if errors.Is(err, gdrive.ErrReauth) {
		return "Google Drive access was revoked or expired: reconnect the Google Drive connection (Connections → Connect Google Drive), then resume the backup."
	}
	return err.Error() + ". Fix the cause, then resume the backup or start the restore again."
}

// DeleteArchive removes backup id's archive and its .sha256 sidecar from
// the destination, then marks the backup pruned for reason
// (store.PruneRetention or store.PruneDeleted); its row and logs stay. It is
// a 409 while the backup is pending, running or paused, or a restore reads
// it. A failed delete leaves the row as it was, so the next attempt tries
// again; a backup with nothing stored (failed, cancelled) or already pruned
// is left as it is.
func (e *Engine) DeleteArchive(ctx context.Context, actor Actor, id int64, reason string) error {
	op, err := e.cat.GetBackup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.Wrap(apperr.NotFound, err, "Backup %d does not exist.", id)
	}
	if err != nil {
		return err
	}
	switch {
	case op.PrunedAt != nil || op.Status == store.StatusFailed || op.Status == store.StatusCancelled:
		return nil
	case op.Status != store.StatusCompleted:
		return apperr.New(apperr.Conflict, "Backup %d is %s; pause or cancel it, or wait for it to finish, before deleting it.", id, op.Status)
	}
	reading, err := e.cat.BackupsBeingRestored(ctx)
	if err != nil {
		return err
	}
	if reading[id] {
		return apperr.New(apperr.Conflict, "Backup %d is being restored; wait for the restore to finish before deleting the backup.", id)
	}
	deps, err := e.cat.Dependents(ctx)
	if err != nil {
		return err
	}
	if d := deps[id]; len(d) > 0 {
		return apperr.New(apperr.Conflict, "Backup %d is the base of incremental backup #%d, which needs its archive to be restored; delete backup #%d first (newest first, down the chain).",
			id, d[len(d)-1], d[len(d)-1])
	}
	lg := joblog.New(e.cat, store.KindBackup, id, e.log)
	_, dst, err := e.openDestination(ctx, op.DestinationConnectionID)
	if err == nil {
		err = dst.Delete(ctx, op.ArchivePath)
	}
	if err == nil {
		err = dst.Delete(ctx, op.ArchivePath+".sha256")
	}
	if err != nil {
		lg.Warn(ctx, "Could not delete the archive; it is kept and the next prune tries again: "+userMessage(err))
		return apperr.Wrap(apperr.Unavailable, err, "Could not delete the archive of backup %d: %s", id, userMessage(err))
	}
	if err := e.cat.MarkPruned(ctx, id, reason, e.now()); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	why := "by " + actor.Email
	if reason == store.PruneRetention {
		why = "by the plan's retention policy"
	}
	lg.Info(ctx, fmt.Sprintf("Archive %s and its checksum file deleted %s; this backup can no longer be restored.", op.ArchivePath, why))
	return nil
}
