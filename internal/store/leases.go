package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// entryBatch is how many archive entries go into one INSERT.
const entryBatch = 200

// AcquireLease takes operation id of kind for owner when its lease is free
// (no owner), stale (heartbeat older than now-staleAfter) or already owner's.
// It bumps the fencing token, sets the heartbeat to now and returns the new
// token. ErrLeaseLost when another owner holds a live lease, ErrNotFound for
// an unknown id.
func (s *Store) AcquireLease(ctx context.Context, kind string, id int64, owner string, now time.Time, staleAfter time.Duration) (int64, error) {
	if owner == "" {
		return 0, errors.New("acquire lease: the owner is empty")
	}
	kt, err := tableOf(kind)
	if err != nil {
		return 0, fmt.Errorf("acquire lease: %w", err)
	}
	table := kt.table
	var token int64
	err = s.queryRow(ctx, s.db, "UPDATE "+table+` SET lease_owner = ?, lease_token = lease_token + 1, heartbeat_at = ?, updated_at = ?
		WHERE id = ? AND (lease_owner = '' OR lease_owner = ? OR heartbeat_at IS NULL OR heartbeat_at < ?)
		RETURNING lease_token`,
		owner, s.ts(now), s.ts(now), id, owner, s.ts(now.Add(-staleAfter))).Scan(&token)
	if err == nil {
		return token, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("acquire lease on %s %d: %w", kind, id, mapErr(err))
	}
	var holder string
	if err := s.queryRow(ctx, s.db, "SELECT lease_owner FROM "+table+" WHERE id = ?", id).Scan(&holder); err != nil {
		return 0, notFound(err, "acquire lease on %s %d", kind, id)
	}
	return 0, fmt.Errorf("acquire lease on %s %d: %s holds a live lease: %w", kind, id, holder, ErrLeaseLost)
}

// fencedUpdate runs UPDATE <kind's table> SET set WHERE id = ? AND the
// lease with token is current. When it changed no row it returns
// ErrNotFound for a missing row, else ErrLeaseLost.
func (s *Store) fencedUpdate(ctx context.Context, q querier, kt kindTable, id, token int64, what, set string, args ...any) error {
	res, err := s.exec(ctx, q, "UPDATE "+kt.table+" SET "+set+" WHERE id = ? AND lease_token = ? AND lease_owner <> ''",
		append(args, id, token)...)
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
	var got int64
	if err := s.queryRow(ctx, q, "SELECT id FROM "+kt.table+" WHERE id = ?", id).Scan(&got); err != nil {
		return notFound(err, "%s", what)
	}
	return fmt.Errorf("%s: %w", what, ErrLeaseLost)
}

// Heartbeat renews the lease held with token; ErrLeaseLost when the token is
// no longer current or the lease was released.
func (s *Store) Heartbeat(ctx context.Context, kind string, id int64, token int64, now time.Time) error {
	kt, err := tableOf(kind)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return s.fencedUpdate(ctx, s.db, kt, id, token, fmt.Sprintf("heartbeat on %s %d", kind, id),
		"heartbeat_at = ?", s.ts(now))
}

// ReleaseLease clears owner and heartbeat when token is still current (the
// token itself stays, so an old holder stays fenced out). ErrLeaseLost when
// it is not.
func (s *Store) ReleaseLease(ctx context.Context, kind string, id int64, token int64) error {
	kt, err := tableOf(kind)
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return s.fencedUpdate(ctx, s.db, kt, id, token, fmt.Sprintf("release lease on %s %d", kind, id),
		"lease_owner = '', heartbeat_at = NULL, updated_at = ?", s.ts(now()))
}

// StaleOperations lists, by id, the running operations of kind whose
// heartbeat (or, without one, last update) is older than before.
func (s *Store) StaleOperations(ctx context.Context, kind string, before time.Time) ([]int64, error) {
	kt, err := tableOf(kind)
	if err != nil {
		return nil, fmt.Errorf("list stale operations: %w", err)
	}
	rows, err := s.query(ctx, s.db, "SELECT id FROM "+kt.table+" WHERE status = ? AND COALESCE(heartbeat_at, updated_at) < ? ORDER BY id",
		StatusRunning, s.ts(before))
	if err != nil {
		return nil, fmt.Errorf("list stale %s operations: %w", kind, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list stale %s operations: %w", kind, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stale %s operations: %w", kind, err)
	}
	return ids, nil
}

// checkpointArgs validates and encodes a progress and a checkpoint.
func checkpointArgs(p Progress, checkpoint []byte) (prog string, cp any, err error) {
	if prog, err = progressArg(p); err != nil {
		return "", nil, err
	}
	if cp, err = jsonArg("checkpoint", checkpoint); err != nil {
		return "", nil, err
	}
	return prog, cp, nil
}

// SaveCheckpoint writes the progress and checkpoint of operation id of kind
// while token is current (ErrLeaseLost otherwise).
func (s *Store) SaveCheckpoint(ctx context.Context, kind string, id, token int64, p Progress, checkpoint []byte) error {
	kt, err := tableOf(kind)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	what := fmt.Sprintf("save checkpoint of %s %d", kind, id)
	prog, cp, err := checkpointArgs(p, checkpoint)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.fencedUpdate(ctx, s.db, kt, id, token, what, "progress = ?, checkpoint = ?, updated_at = ?", prog, cp, s.ts(now()))
}

// SaveBackupCheckpoint writes progress, checkpoint, tail and entries
// (inserted, or replaced when their Seq is already stored) in one
// transaction, only while token is current (ErrLeaseLost otherwise, and
// nothing is written). The entries' BackupID is taken to be id.
func (s *Store) SaveBackupCheckpoint(ctx context.Context, id, token int64, p Progress, checkpoint, tail, secret []byte, entries []ArchiveEntry) error {
	what := fmt.Sprintf("save checkpoint of backup %d", id)
	prog, cp, err := checkpointArgs(p, checkpoint)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, e := range entries {
		if !jsonValid(e.Data) {
			return fmt.Errorf("%s: archive entry %d is not valid JSON", what, e.Seq)
		}
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		var tailArg, secretArg any // NULL when there is none
		if len(tail) > 0 {
			tailArg = tail
		}
		if len(secret) > 0 {
			secretArg = secret
		}
		if err := s.fencedUpdate(ctx, tx, backupDesc.kindTable, id, token, what,
			"progress = ?, checkpoint = ?, checkpoint_tail = ?, checkpoint_secret = ?, updated_at = ?", prog, cp, tailArg, secretArg, s.ts(now())); err != nil {
			return err
		}
		if err := s.putArchiveEntries(ctx, tx, id, entries); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// putArchiveEntries inserts entries of backup id in tx, replacing those
// whose Seq is already stored.
func (s *Store) putArchiveEntries(ctx context.Context, tx *sql.Tx, id int64, entries []ArchiveEntry) error {
	for start := 0; start < len(entries); start += entryBatch {
		batch := entries[start:min(start+entryBatch, len(entries))]
		q := "INSERT INTO archive_entries (backup_id, seq, data) VALUES "
		args := make([]any, 0, 3*len(batch))
		for i, e := range batch {
			if i > 0 {
				q += ", "
			}
			q += "(?, ?, ?)"
			args = append(args, id, e.Seq, string(e.Data))
		}
		q += " ON CONFLICT (backup_id, seq) DO UPDATE SET data = excluded.data"
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("store archive entries: %w", err)
		}
	}
	return nil
}

// SaveProgress writes only the progress, while token is current.
func (s *Store) SaveProgress(ctx context.Context, kind string, id, token int64, p Progress) error {
	kt, err := tableOf(kind)
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	what := fmt.Sprintf("save progress of %s %d", kind, id)
	prog, err := progressArg(p)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.fencedUpdate(ctx, s.db, kt, id, token, what, "progress = ?, updated_at = ?", prog, s.ts(now()))
}

// DefaultEntryLimit is how many archive entries ListArchiveEntries returns
// when limit is not positive.
const DefaultEntryLimit = 1000

// ListArchiveEntries returns up to limit entries of a backup with Seq >
// afterSeq in Seq order (afterSeq -1 starts at the beginning).
func (s *Store) ListArchiveEntries(ctx context.Context, backupID, afterSeq int64, limit int) ([]ArchiveEntry, error) {
	if limit <= 0 {
		limit = DefaultEntryLimit
	}
	rows, err := s.query(ctx, s.db, "SELECT backup_id, seq, data FROM archive_entries WHERE backup_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		backupID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list archive entries of backup %d: %w", backupID, err)
	}
	defer rows.Close()
	var out []ArchiveEntry
	for rows.Next() {
		var e ArchiveEntry
		if err := rows.Scan(&e.BackupID, &e.Seq, jsonCol{&e.Data}); err != nil {
			return nil, fmt.Errorf("list archive entries of backup %d: %w", backupID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list archive entries of backup %d: %w", backupID, err)
	}
	return out, nil
}

// DeleteArchiveEntriesFrom removes a backup's entries with Seq >= seq.
func (s *Store) DeleteArchiveEntriesFrom(ctx context.Context, backupID, seq int64) error {
	if _, err := s.exec(ctx, s.db, "DELETE FROM archive_entries WHERE backup_id = ? AND seq >= ?", backupID, seq); err != nil {
		return fmt.Errorf("delete archive entries of backup %d from %d: %w", backupID, seq, err)
	}
	return nil
}

// BackupCheckpointTail returns the archive bytes saved with the backup's last
// checkpoint (nil when none).
func (s *Store) BackupCheckpointTail(ctx context.Context, id int64) ([]byte, error) {
	var tail []byte
	if err := s.queryRow(ctx, s.db, "SELECT checkpoint_tail FROM backup_operations WHERE id = ?", id).Scan(&tail); err != nil {
		return nil, notFound(err, "read the checkpoint tail of backup %d", id)
	}
	return tail, nil
}
