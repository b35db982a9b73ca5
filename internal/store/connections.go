package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const connCols = "id, name, type, credentials, is_active, last_validated_at, last_validation_error, needs_reauth, created_at, updated_at"

func scanConn(r rowScanner) (*Connection, error) {
	var c Connection
	if err := r.Scan(&c.ID, &c.Name, &c.Type, &c.Credentials, &c.IsActive, nullTimeCol{&c.LastValidatedAt},
		&c.LastValidationError, &c.NeedsReauth, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}); err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateConnection inserts c and sets ID, CreatedAt and UpdatedAt.
// ErrConflict when the name is taken.
func (s *Store) CreateConnection(ctx context.Context, c *Connection) error {
	if c.Name == "" || c.Type == "" {
		return errors.New("create connection: the name and type are required")
	}
	t := now()
	err := s.queryRow(ctx, s.db,
		`INSERT INTO connections (name, type, credentials, is_active, last_validated_at, last_validation_error, needs_reauth, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Name, c.Type, c.Credentials, c.IsActive, s.tsPtr(c.LastValidatedAt), c.LastValidationError, c.NeedsReauth,
		s.ts(t), s.ts(t)).Scan(&c.ID)
	if err != nil {
		if errors.Is(mapErr(err), errUnique) {
			return fmt.Errorf("create connection: a connection named %q already exists: %w", c.Name, ErrConflict)
		}
		return fmt.Errorf("create connection: %w", err)
	}
	c.CreatedAt, c.UpdatedAt, c.LastValidatedAt = t, t, normPtr(c.LastValidatedAt)
	return nil
}

// GetConnection returns the connection with id.
func (s *Store) GetConnection(ctx context.Context, id int64) (*Connection, error) {
	c, err := scanConn(s.queryRow(ctx, s.db, "SELECT "+connCols+" FROM connections WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get connection %d", id)
	}
	return c, nil
}

// ListConnections returns every connection ordered by name.
func (s *Store) ListConnections(ctx context.Context) ([]Connection, error) {
	rows, err := s.query(ctx, s.db, "SELECT "+connCols+" FROM connections ORDER BY name, id")
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var out []Connection
	for rows.Next() {
		c, err := scanConn(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// UpdateConnection writes name, credentials, is_active, the validation fields
// and needs_reauth (the type never changes), and sets UpdatedAt.
func (s *Store) UpdateConnection(ctx context.Context, c *Connection) error {
	if c.Name == "" {
		return errors.New("update connection: the name is required")
	}
	t := now()
	res, err := s.exec(ctx, s.db,
		`UPDATE connections SET name = ?, credentials = ?, is_active = ?, last_validated_at = ?, last_validation_error = ?,
		 needs_reauth = ?, updated_at = ? WHERE id = ?`,
		c.Name, c.Credentials, c.IsActive, s.tsPtr(c.LastValidatedAt), c.LastValidationError, c.NeedsReauth, s.ts(t), c.ID)
	if err != nil {
		if errors.Is(err, errUnique) {
			return fmt.Errorf("update connection: a connection named %q already exists: %w", c.Name, ErrConflict)
		}
		return fmt.Errorf("update connection %d: %w", c.ID, err)
	}
	if err := oneRow(res, "update connection %d", c.ID); err != nil {
		return err
	}
	c.UpdatedAt, c.LastValidatedAt = t, normPtr(c.LastValidatedAt)
	return nil
}

// DeleteConnection removes a connection unless a backup (as source or
// destination) or a restore in an active status, or a plan, refers to it
// (ErrConflict).
// Finished operations keep their history with the reference set to NULL
// (read back as 0).
func (s *Store) DeleteConnection(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if s.dialect == DialectPostgres {
			// Blocks concurrent inserts of operations that reference the row
			// (they take KEY SHARE locks) until this transaction ends.
			lock = " FOR UPDATE"
		}
		var got int64
		if err := s.queryRow(ctx, tx, "SELECT id FROM connections WHERE id = ?"+lock, id).Scan(&got); err != nil {
			return notFound(err, "delete connection %d", id)
		}
		in, args := inArgs(ActiveStatuses)
		var n int64
		q := "SELECT (SELECT COUNT(*) FROM backup_operations WHERE (source_connection_id = ? OR destination_connection_id = ?) AND status IN (" + in + "))" +
			" + (SELECT COUNT(*) FROM restore_operations WHERE destination_connection_id = ? AND status IN (" + in + "))"
		all := append([]any{id, id}, args...)
		all = append(all, id)
		all = append(all, args...)
		if err := s.queryRow(ctx, tx, q, all...).Scan(&n); err != nil {
			return fmt.Errorf("delete connection %d: count active operations: %w", id, err)
		}
		if n > 0 {
			return fmt.Errorf("delete connection %d: %d active operation(s) use it: %w", id, n, ErrConflict)
		}
		if err := s.queryRow(ctx, tx, "SELECT COUNT(*) FROM backup_plans WHERE source_connection_id = ? OR destination_connection_id = ?", id, id).Scan(&n); err != nil {
			return fmt.Errorf("delete connection %d: count plans: %w", id, err)
		}
		if n > 0 {
			return fmt.Errorf("delete connection %d: %d plan(s) use it: %w", id, n, ErrUsedByPlan)
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM connections WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete connection %d: %w", id, err)
		}
		return nil
	})
}

// SetConnectionValidation records the result of a live check (errMsg "" = ok).
func (s *Store) SetConnectionValidation(ctx context.Context, id int64, at time.Time, errMsg string) error {
	res, err := s.exec(ctx, s.db,
		"UPDATE connections SET last_validated_at = ?, last_validation_error = ?, updated_at = ? WHERE id = ?",
		s.ts(at), errMsg, s.ts(now()), id)
	if err != nil {
		return fmt.Errorf("record validation of connection %d: %w", id, err)
	}
	return oneRow(res, "record validation of connection %d", id)
}

// SetConnectionNeedsReauth sets or clears the needs_reauth mark of
// connection id and changes nothing else of the row, so it cannot undo a
// concurrent edit (ErrNotFound when the connection is gone).
func (s *Store) SetConnectionNeedsReauth(ctx context.Context, id int64, needs bool) error {
	res, err := s.exec(ctx, s.db, "UPDATE connections SET needs_reauth = ? WHERE id = ?", needs, id)
	if err != nil {
		return fmt.Errorf("mark connection %d needs_reauth=%v: %w", id, needs, err)
	}
	return oneRow(res, "mark connection %d needs_reauth=%v", id, needs)
}

// SwapConnectionCredentials replaces the sealed credentials of connection id
// by next, but only while they are still prev, the ones the caller read
// before it worked with them (a background token refresh). When they changed
// meanwhile (the user edited or reconnected the connection) nothing is
// written and the answer is ErrConflict; ErrNotFound when the connection is
// gone. Nothing else of the row changes.
func (s *Store) SwapConnectionCredentials(ctx context.Context, id int64, prev, next []byte) error {
	if len(prev) == 0 || len(next) == 0 {
		return fmt.Errorf("swap credentials of connection %d: the old and new credentials are required", id)
	}
	res, err := s.exec(ctx, s.db, "UPDATE connections SET credentials = ? WHERE id = ? AND credentials = ?", next, id, prev)
	if err != nil {
		return fmt.Errorf("swap credentials of connection %d: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("swap credentials of connection %d: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetConnection(ctx, id); err != nil {
		return fmt.Errorf("swap credentials of connection %d: %w", id, err)
	}
	return fmt.Errorf("swap credentials of connection %d: they changed since they were read: %w", id, ErrConflict)
}

// sealedColumns are the columns that hold values sealed with the server key.
var sealedColumns = []struct{ table, column, noun string }{
	{"connections", "credentials", "connection"},
	{"notification_channels", "config", "notification channel"},
	{"encryption_keys", "secret", "encryption key"},
	{"backup_operations", "checkpoint_secret", "backup"},
	{"restore_operations", "secret", "restore"},
}

// RotateCredentials passes every non-empty sealed value (connection
// credentials, notification channel configurations) through reseal and
// writes the results back in one transaction; any error rolls all back.
// It returns how many values were rewritten.
func (s *Store) RotateCredentials(ctx context.Context, reseal func(id int64, sealed []byte) ([]byte, error)) (int, error) {
	count := 0
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		count = 0
		for _, sc := range sealedColumns {
			n, err := s.resealColumn(ctx, tx, sc.table, sc.column, sc.noun, reseal)
			if err != nil {
				return err
			}
			count += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rotate credentials: %w", err)
	}
	return count, nil
}

func (s *Store) resealColumn(ctx context.Context, tx *sql.Tx, table, column, noun string, reseal func(id int64, sealed []byte) ([]byte, error)) (int, error) {
	type sealedValue struct {
		id     int64
		sealed []byte
	}
	rows, err := s.query(ctx, tx, "SELECT id, "+column+" FROM "+table+" ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("read %s %s: %w", noun, column, err)
	}
	var values []sealedValue
	for rows.Next() {
		var v sealedValue
		if err := rows.Scan(&v.id, &v.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read %s %s: %w", noun, column, err)
		}
		if len(v.sealed) > 0 {
			values = append(values, v)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read %s %s: %w", noun, column, err)
	}
	t := s.ts(now())
	for _, v := range values {
		out, err := reseal(v.id, v.sealed)
		if err != nil {
			return 0, fmt.Errorf("reseal the %s of %s %d: %w", column, noun, v.id, err)
		}
		if _, err := s.exec(ctx, tx, "UPDATE "+table+" SET "+column+" = ?, updated_at = ? WHERE id = ?", out, t, v.id); err != nil {
			return 0, fmt.Errorf("write the %s of %s %d: %w", column, noun, v.id, err)
		}
	}
	return len(values), nil
}
