package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Verifications

// CreateVerification inserts op through tx (the pool when tx is nil) and
// sets ID, CreatedAt and UpdatedAt. An empty Status becomes pending.
// ErrNotFound when the backup does not exist.
func (s *Store) CreateVerification(ctx context.Context, tx *sql.Tx, op *VerifyOperation) error {
	return createOp(ctx, s, tx, verifyDesc, op)
}

// GetVerification returns the verification with id.
func (s *Store) GetVerification(ctx context.Context, id int64) (*VerifyOperation, error) {
	return getOp(ctx, s, verifyDesc, id)
}

// ListVerifications returns one page of verifications matching f, newest
// first, and the number of all matching ones.
func (s *Store) ListVerifications(ctx context.Context, f VerifyFilter, p Page) ([]VerifyOperation, int64, error) {
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.BackupID != 0 {
		w.add("backup_operation_id = ?", f.BackupID)
	}
	return listOps(ctx, s, verifyDesc, w, p)
}

// CountVerificationsByStatus returns how many verifications are in each
// status; every status is present, zero when none.
func (s *Store) CountVerificationsByStatus(ctx context.Context) (StatusCounts, error) {
	return s.countByStatus(ctx, verifyDesc.kindTable)
}

// FinishVerification records the end of verification id, run under the
// lease token: status completed (the archive passed) or failed, with its
// result, and the backup's last verification. ErrLeaseLost and
// ErrConflict as FinishRun.
func (s *Store) FinishVerification(ctx context.Context, id, token int64, end RunEnd, result []byte) error {
	what := fmt.Sprintf("record the end of verification %d", id)
	if !jsonValid(result) {
		return fmt.Errorf("%s: the result is not valid JSON", what)
	}
	p := Progress{}
	if end.Progress != nil {
		p = *end.Progress
	}
	prog, err := progressArg(p)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	outcome := VerifyPassed
	if end.Status != StatusCompleted {
		outcome = VerifyFailed
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.finishRunIn(ctx, tx, verifyDesc.kindTable, id, token, RunEnd{Status: end.Status, ErrorMessage: end.ErrorMessage},
			"progress = ?, result = ?", prog, string(result)); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `UPDATE backup_operations SET last_verified_at = ?, last_verify_status = ?
			WHERE id = (SELECT backup_operation_id FROM verify_operations WHERE id = ?)`, s.ts(now()), outcome, id)
		if err != nil {
			return fmt.Errorf("%s: mark the backup verified: %w", what, err)
		}
		return nil
	})
}

// ActiveVerification returns the pending or running verification of
// backup id, ErrNotFound when there is none.
func (s *Store) ActiveVerification(ctx context.Context, backupID int64) (*VerifyOperation, error) {
	op, err := verifyDesc.scan(s.queryRow(ctx, s.db, "SELECT "+verifyDesc.selectCols()+
		" FROM verify_operations WHERE backup_operation_id = ? AND status IN (?, ?) ORDER BY id LIMIT 1",
		backupID, StatusPending, StatusRunning))
	if err != nil {
		return nil, notFound(err, "find the running verification of backup %d", backupID)
	}
	return op, nil
}

// BackupByArchive returns the backup whose archive is path at destination
// connection destID, ErrNotFound when the catalog has none.
func (s *Store) BackupByArchive(ctx context.Context, destID int64, path string) (*BackupOperation, error) {
	op, err := backupDesc.scan(s.queryRow(ctx, s.db, "SELECT "+backupDesc.selectCols()+
		" FROM backup_operations WHERE destination_connection_id = ? AND archive_path = ?", destID, path))
	if err != nil {
		return nil, notFound(err, "find the backup of archive %q", path)
	}
	return op, nil
}

// ImportBackup records a completed backup that a scan found at its
// destination (op.Imported is set): the row and every entry that next
// yields (io.EOF-style: ok false after the last) in one transaction. It
// answers ErrConflict when the catalog already holds a backup of that
// archive, and records nothing then.
func (s *Store) ImportBackup(ctx context.Context, op *BackupOperation, next func() (ArchiveEntry, bool, error)) error {
	what := fmt.Sprintf("import archive %q", op.ArchivePath)
	op.Status = StatusCompleted
	op.Imported = true
	return s.InTx(ctx, func(tx *sql.Tx) error {
		// The unique index on (destination, archive_path) refuses a second row.
		if err := createOp(ctx, s, tx, backupDesc, op); err != nil {
			if errors.Is(mapErr(err), errUnique) {
				return fmt.Errorf("%s: the catalog has it already: %w", what, ErrConflict)
			}
			return err
		}
		batch := make([]ArchiveEntry, 0, entryBatch)
		for {
			e, ok, err := next()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if ok {
				if !jsonValid(e.Data) {
					return fmt.Errorf("%s: archive entry %d is not valid JSON", what, e.Seq)
				}
				batch = append(batch, e)
			}
			if len(batch) == entryBatch || (!ok && len(batch) > 0) {
				if err := s.putArchiveEntries(ctx, tx, op.ID, batch); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				batch = batch[:0]
			}
			if !ok {
				return nil
			}
		}
	})
}

// PlansDueForVerify returns the enabled plans whose next_verify_at is at or
// before t.
func (s *Store) PlansDueForVerify(ctx context.Context, t time.Time) ([]Plan, error) {
	return s.plans(ctx, s.db, "list plans due for a verification", "SELECT "+planCols+
		" FROM backup_plans WHERE enabled = ? AND next_verify_at IS NOT NULL AND next_verify_at <= ? ORDER BY next_verify_at, id", true, s.ts(t))
}

// ClaimPlanVerify moves plan id's next_verify_at from was (nil: unset) to
// next (nil: none) when it is still was; false when another process moved
// it first.
func (s *Store) ClaimPlanVerify(ctx context.Context, id int64, was, next *time.Time) (bool, error) {
	q := "UPDATE backup_plans SET next_verify_at = ? WHERE id = ? AND "
	args := []any{s.tsPtr(next), id}
	if was == nil {
		q += "next_verify_at IS NULL"
	} else {
		q += "next_verify_at = ?"
		args = append(args, s.ts(*was))
	}
	res, err := s.exec(ctx, s.db, q, args...)
	if err != nil {
		return false, fmt.Errorf("move the next verification of plan %d: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("move the next verification of plan %d: %w", id, err)
	}
	return n == 1, nil
}
