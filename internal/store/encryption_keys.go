package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Encryption key types.
const (
	KeyX25519     = "x25519"
	KeyPassphrase = "passphrase"
)

// EncryptionKey is an age key archives are encrypted to. Secret is sealed
// with the server key: the identity of an x25519 key that keeps it, the
// passphrase of a passphrase key, nil otherwise.
type EncryptionKey struct {
	ID            int64
	Name          string
	Type          string
	Recipient     string
	KeepsIdentity bool
	Secret        []byte
	CreatedAt     time.Time
}

const keyCols = "id, name, type, recipient, keeps_identity, secret, created_at"

func scanKey(r rowScanner) (*EncryptionKey, error) {
	var k EncryptionKey
	if err := r.Scan(&k.ID, &k.Name, &k.Type, &k.Recipient, &k.KeepsIdentity, &k.Secret, timeCol{&k.CreatedAt}); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateEncryptionKey inserts k and sets ID and CreatedAt. ErrConflict when
// the name is taken.
func (s *Store) CreateEncryptionKey(ctx context.Context, k *EncryptionKey) error {
	t := now()
	var secret any // NULL when nothing is kept
	if len(k.Secret) > 0 {
		secret = k.Secret
	}
	err := s.queryRow(ctx, s.db, `INSERT INTO encryption_keys (name, type, recipient, keeps_identity, secret, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, k.Name, k.Type, k.Recipient, k.KeepsIdentity, secret, s.ts(t), s.ts(t)).Scan(&k.ID)
	if err != nil {
		if err := mapErr(err); errors.Is(err, errUnique) {
			return fmt.Errorf("create encryption key: a key named %q already exists: %w", k.Name, ErrConflict)
		}
		return fmt.Errorf("create encryption key: %w", mapErr(err))
	}
	k.CreatedAt = t
	return nil
}

// GetEncryptionKey returns the key with id.
func (s *Store) GetEncryptionKey(ctx context.Context, id int64) (*EncryptionKey, error) {
	k, err := scanKey(s.queryRow(ctx, s.db, "SELECT "+keyCols+" FROM encryption_keys WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get encryption key %d", id)
	}
	return k, nil
}

// ListEncryptionKeys returns every key ordered by name.
func (s *Store) ListEncryptionKeys(ctx context.Context) ([]EncryptionKey, error) {
	rows, err := s.query(ctx, s.db, "SELECT "+keyCols+" FROM encryption_keys ORDER BY name, id")
	if err != nil {
		return nil, fmt.Errorf("list encryption keys: %w", err)
	}
	defer rows.Close()
	out := []EncryptionKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list encryption keys: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list encryption keys: %w", err)
	}
	return out, nil
}

// KeyInUseError refuses to delete a key that a plan or a kept backup
// still names: the plan could not run, the backup could not be restored
// by coffer. It is an ErrConflict.
type KeyInUseError struct {
	What string // "plan \"nightly\"" or "backup 12"
}

func (e *KeyInUseError) Error() string { return "the key is used by " + e.What }

// Is makes a KeyInUseError match ErrConflict.
func (e *KeyInUseError) Is(target error) bool { return target == ErrConflict }

// DeleteEncryptionKey removes key id unless a plan's options or a backup
// whose archive still exists name it (a *KeyInUseError then).
func (s *Store) DeleteEncryptionKey(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.keyNotInUse(ctx, tx, id); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, "DELETE FROM encryption_keys WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete encryption key %d: %w", id, err)
		}
		if n, err := affected(res); err != nil || n == 0 {
			return fmt.Errorf("delete encryption key %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// keyNotInUse returns a *KeyInUseError when a plan, or a backup that is not
// pruned, failed or cancelled, has encryption_key_id in its options.
func (s *Store) keyNotInUse(ctx context.Context, tx *sql.Tx, id int64) error {
	queries := []struct{ q, noun string }{
		{`SELECT name, options FROM backup_plans WHERE options LIKE '%"encryption_key_id"%' ORDER BY name`, "plan %q"},
		{`SELECT CAST(id AS TEXT), options FROM backup_operations WHERE options LIKE '%"encryption_key_id"%'
			AND pruned_at IS NULL AND status NOT IN ('failed', 'cancelled') ORDER BY id`, "backup %s"},
	}
	for _, qq := range queries {
		if err := func() error {
			rows, err := s.query(ctx, tx, qq.q)
			if err != nil {
				return fmt.Errorf("delete encryption key %d: find what uses it: %w", id, err)
			}
			defer rows.Close()
			for rows.Next() {
				var name, options string
				if err := rows.Scan(&name, &options); err != nil {
					return fmt.Errorf("delete encryption key %d: find what uses it: %w", id, err)
				}
				var o struct {
					Key int64 `json:"encryption_key_id"`
				}
				if json.Unmarshal([]byte(options), &o) == nil && o.Key == id {
					return &KeyInUseError{What: fmt.Sprintf(qq.noun, name)}
				}
			}
			return rows.Err()
		}(); err != nil {
			return err
		}
	}
	return nil
}

// SetRestoreSecretTx keeps, in tx, the sealed identity or passphrase given
// with restore id until the restore ends (the update that records a final
// status clears it).
func (s *Store) SetRestoreSecretTx(ctx context.Context, tx *sql.Tx, id int64, sealed []byte) error {
	if _, err := s.exec(ctx, tx, "UPDATE restore_operations SET secret = ? WHERE id = ?", sealed, id); err != nil {
		return fmt.Errorf("keep the key of restore %d: %w", id, err)
	}
	return nil
}

// RestoreSecret returns the sealed identity or passphrase given with
// restore id (nil when none was, or once it ended).
func (s *Store) RestoreSecret(ctx context.Context, id int64) ([]byte, error) {
	var sealed []byte
	if err := s.queryRow(ctx, s.db, "SELECT secret FROM restore_operations WHERE id = ?", id).Scan(&sealed); err != nil {
		return nil, notFound(err, "read the key of restore %d", id)
	}
	return sealed, nil
}

// ForgetRestoreSecrets removes the identities and passphrases of every
// restore that has ended (completed, failed or cancelled) and still holds
// one (left by a version that forgot them after the end), and returns how
// many it removed. The sweep task runs it.
func (s *Store) ForgetRestoreSecrets(ctx context.Context) (int64, error) {
	res, err := s.exec(ctx, s.db, "UPDATE restore_operations SET secret = NULL WHERE secret IS NOT NULL AND status IN (?, ?, ?)",
		StatusCompleted, StatusFailed, StatusCancelled)
	if err != nil {
		return 0, fmt.Errorf("forget the keys of ended restores: %w", err)
	}
	return affected(res)
}

// BackupCheckpointSecret returns the sealed secret saved with backup id's
// last checkpoint (the age stream state of an encrypted archive; nil when none).
func (s *Store) BackupCheckpointSecret(ctx context.Context, id int64) ([]byte, error) {
	var sealed []byte
	if err := s.queryRow(ctx, s.db, "SELECT checkpoint_secret FROM backup_operations WHERE id = ?", id).Scan(&sealed); err != nil {
		return nil, notFound(err, "read the checkpoint secret of backup %d", id)
	}
	return sealed, nil
}
