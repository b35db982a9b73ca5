package connection

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/store"
)

// driveSettings is the server's Google OAuth client and the redirect URL
// of the connect flow, set by SetDrive.
type driveSettings struct {
	oauth       gdrive.OAuth
	redirectURL string
}

// SetDrive gives the Service the server's Google OAuth client (from
// COFFER_GDRIVE_*) and the OAuth redirect URL
// (config.Config.OAuthRedirectURL()). Live checks and operations of
// google_drive connections and the connect flow need them; without a client
// id and secret they explain which settings are missing. It may be called
// at any time, also while requests are served.
func (s *Service) SetDrive(o gdrive.OAuth, redirectURL string) {
	s.driveMu.Lock()
	defer s.driveMu.Unlock()
	s.drive.oauth = o
	s.drive.redirectURL = redirectURL
}

func (s *Service) driveSettings() driveSettings {
	s.driveMu.RLock()
	defer s.driveMu.RUnlock()
	return s.drive
}

func (d driveSettings) configured() bool {
	return d.oauth.ClientID != "" && d.oauth.ClientSecret != ""
}

// driveConfig is the Drive configuration inside creds (zero for another type).
func driveConfig(creds registry.Creds) gdrive.Config {
	c, _ := creds.Config().(gdrive.Config)
	return c
}

// reauthMessage is the check result of a connection whose Google grant is gone.
func reauthMessage(name string, creds registry.Creds) string {
	if driveConfig(creds).ServiceAccountJSON != "" {
		return fmt.Sprintf("Google refused the service account key of connection %q (the key or the account was deleted or disabled); create a new JSON key and save it in the connection.", name)
	}
	return fmt.Sprintf("Google Drive access of connection %q was revoked or has expired; reconnect it: edit the connection and choose Connect with Google.", name)
}

// recordGrant keeps what a live check of Drive connection c learned about
// its grant: needs_reauth set when the grant is gone (OAuth only) and
// cleared when the check passed. Only that column is written, so a
// concurrent edit of the connection stays.
func (s *Service) recordGrant(ctx context.Context, c *store.Connection, used registry.Creds, checkErr error) error {
	reauth := errors.Is(checkErr, gdrive.ErrReauth) && driveConfig(used).ServiceAccountJSON == ""
	var err error
	switch {
	case reauth && !c.NeedsReauth:
		err = s.cat.SetConnectionNeedsReauth(ctx, c.ID, true)
	case checkErr == nil && c.NeedsReauth:
		err = s.cat.SetConnectionNeedsReauth(ctx, c.ID, false)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound(c.ID, err)
	}
	if err != nil {
		return fmt.Errorf("record the Google grant of connection %d: %w", c.ID, err)
	}
	return nil
}

// MarkNeedsReauth records that the Google grant of connection id no longer
// works (an operation got gdrive.ErrReauth), so the UI asks the user to
// reconnect it. Connecting again through the OAuth flow clears the mark.
// Only the mark is written, so a concurrent edit of the connection stays.
func (s *Service) MarkNeedsReauth(ctx context.Context, id int64) error {
	if err := s.cat.SetConnectionNeedsReauth(ctx, id, true); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id, err)
		}
		return fmt.Errorf("mark connection %d as needing a reconnect: %w", id, err)
	}
	return nil
}
