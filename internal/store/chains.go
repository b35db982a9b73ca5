package store

import (
	"context"
	"fmt"
)

// DefaultFullEvery is a plan's full_every when none is given: a full
// backup after 7 incrementals.
const DefaultFullEvery = "7"

// PreviousBackup is the newest completed backup of source connection
// srcID to destination dstID made by plan planID (0: by no plan), pruned
// or not: what an incremental backup would be built on. ErrNotFound when
// there is none.
func (s *Store) PreviousBackup(ctx context.Context, srcID, dstID, planID, before int64) (*BackupOperation, error) {
	var w where
	w.add("status = ?", StatusCompleted)
	w.add("source_connection_id = ?", srcID)
	w.add("destination_connection_id = ?", dstID)
	w.add("id < ?", before)
	if planID != 0 {
		w.add("plan_id = ?", planID)
	} else {
		w.add("plan_id IS NULL")
	}
	rows, err := s.query(ctx, s.db, "SELECT "+backupDesc.selectCols()+" FROM backup_operations"+w.String()+
		" ORDER BY completed_at DESC, id DESC LIMIT 1", w.args...)
	if err != nil {
		return nil, fmt.Errorf("find the backup before %d: %w", before, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find the backup before %d: %w", before, err)
		}
		return nil, fmt.Errorf("find the backup before %d: %w", before, ErrNotFound)
	}
	op, err := backupDesc.scan(rows)
	if err != nil {
		return nil, fmt.Errorf("find the backup before %d: %w", before, err)
	}
	return op, rows.Err()
}

// Dependents are the backups built on each backup that must stay
// (mapped from the base's id): incrementals whose archive is kept, and
// those still pending, running or paused, which will need their base
// when they complete.
func (s *Store) Dependents(ctx context.Context) (map[int64][]int64, error) {
	in, args := inArgs([]string{StatusPending, StatusRunning, StatusPaused, StatusCompleted})
	rows, err := s.query(ctx, s.db, "SELECT base_backup_id, id FROM backup_operations WHERE base_backup_id IS NOT NULL AND pruned_at IS NULL AND status IN ("+in+") ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("backups built on others: %w", err)
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var base, id int64
		if err := rows.Scan(&base, &id); err != nil {
			return nil, fmt.Errorf("backups built on others: %w", err)
		}
		out[base] = append(out[base], id)
	}
	return out, rows.Err()
}
