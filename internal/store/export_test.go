package store

import "context"

// ExecOnPool runs query outside any transaction, as the store's own
// single-statement writes do.
func (s *Store) ExecOnPool(ctx context.Context, query string) error {
	_, err := s.exec(ctx, s.db, query)
	return err
}
