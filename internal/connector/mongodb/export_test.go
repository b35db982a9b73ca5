package mongodb

import "context"

// RememberCaps makes the process remember caps for c's connection as if a
// probe had found them on the server behind it now (identity "" keeps the
// server's own), to test what a client does when the server changed since.
func RememberCaps(ctx context.Context, c *Client, caps Caps, identity string) error {
	if identity == "" {
		id, _, err := c.identity(ctx)
		if err != nil {
			return err
		}
		identity = id
	}
	memo.Store(c.memoKey(), memoEntry{identity: identity, caps: caps})
	return nil
}
