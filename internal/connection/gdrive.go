package connection

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/store"
)

// DriveConfig is the credentials document of a "google_drive" connection:
// OAuth tokens (the client id and secret come from the server's config) or a
// service account key, and the folder archives are kept in. It is the Drive
// connector's own Config, so the engine can hand it to gdrive.New as is.
type DriveConfig = gdrive.Config

// driveSettings is the server's Google OAuth client and the redirect URL
// of the connect flow, set by SetDrive.
type driveSettings struct {
	oauth       gdrive.OAuth
	redirectURL string
}

// SetDrive gives the Service the server's Google OAuth client (from
// COFFER_GDRIVE_*) and the OAuth redirect URL
// (config.Config.OAuthRedirectURL()). Live checks of google_drive
// connections and the connect flow need them; without a client id and
// secret both explain which settings are missing. It may be called at any
// time, also while requests are served.
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

// errDriveNotConfigured is the answer when the server has no Google OAuth client.
func errDriveNotConfigured() error {
	return errors.New("Google Drive is not set up on this server; set COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET and restart coffer")
}

func (d driveSettings) configured() bool {
	return d.oauth.ClientID != "" && d.oauth.ClientSecret != ""
}

func driveSpec() *spec {
	return &spec{
		typ:     store.TypeGoogleDrive,
		roles:   []Role{RoleDestination},
		secrets: []string{"access_token", "refresh_token", "service_account_json"},
		mask:    maskSecret,
		merge:   mergeSecret,
		decode: func(data []byte, _ []string) (any, map[string]string) {
			var c gdrive.Config
			if errs := decodeStrict(data, &c); errs != nil {
				return nil, errs
			}
			errs := c.Validate()
			checkLen(errs, "access_token", c.AccessToken, maxFieldLen)
			checkLen(errs, "refresh_token", c.RefreshToken, maxFieldLen)
			checkLen(errs, "service_account_json", c.ServiceAccountJSON, maxSecretJSON)
			if len(errs) > 0 {
				return nil, errs
			}
			return c, nil
		},
		// The live check needs the server's OAuth client, which only the
		// Service holds: Test uses Service.driveCheck instead.
		check: func(context.Context, any, []string) (connector.CheckResult, error) {
			return connector.CheckResult{}, errDriveNotConfigured()
		},
	}
}

// driveRun collects what one live check of a Drive connection learned
// about its grant: a refreshed access token to keep.
type driveRun struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

func (r *driveRun) onToken(t *oauth2.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tok = t
}

func (r *driveRun) token() *oauth2.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tok
}

// driveCheck returns the live check of a google_drive connection: the
// folder exists, is writable, and how much quota is free.
func (s *Service) driveCheck(run *driveRun) func(ctx context.Context, cfg any, _ []string) (connector.CheckResult, error) {
	return func(ctx context.Context, cfg any, _ []string) (connector.CheckResult, error) {
		c := cfg.(gdrive.Config)
		d := s.driveSettings()
		if c.ServiceAccountJSON == "" && c.RefreshToken != "" && !d.configured() {
			return connector.CheckResult{}, errDriveNotConfigured()
		}
		client, err := gdrive.New(ctx, c, gdrive.Options{OAuth: d.oauth, OnToken: run.onToken})
		if err != nil {
			return connector.CheckResult{}, fmt.Errorf("prepare the Google Drive client: %w", err)
		}
		return client.Check(ctx)
	}
}

// reauthMessage is the check result of a connection whose Google grant is gone.
func reauthMessage(name string, cfg gdrive.Config) string {
	if cfg.ServiceAccountJSON != "" {
		return fmt.Sprintf("Google refused the service account key of connection %q (the key or the account was deleted or disabled); create a new JSON key and save it in the connection.", name)
	}
	return fmt.Sprintf("Google Drive access of connection %q was revoked or has expired; reconnect it: edit the connection and choose Connect with Google.", name)
}

// recordDriveGrant keeps what a live check learned about the grant of
// Drive connection id: needs_reauth set when the grant is gone (OAuth only)
// and cleared when the check passed, and a refreshed access token stored
// (sealed) in place of the old one.
func (s *Service) recordDriveGrant(ctx context.Context, id int64, used gdrive.Config, run *driveRun, checkErr error) error {
	c, plaintext, err := s.Open(ctx, id)
	if err != nil {
		return err
	}
	changed := false
	reauth := errors.Is(checkErr, gdrive.ErrReauth) && used.ServiceAccountJSON == ""
	switch {
	case reauth && !c.NeedsReauth:
		c.NeedsReauth, changed = true, true
	case checkErr == nil && c.NeedsReauth:
		c.NeedsReauth, changed = false, true
	}
	if tok := run.token(); tok != nil && !reauth {
		cfg, errs := driveSpec().decode(plaintext, s.roots)
		// Only when the grant is still the one the check used: a reconnect
		// that happened meanwhile wins.
		if len(errs) == 0 {
			cur := cfg.(gdrive.Config)
			if cur.RefreshToken == used.RefreshToken && cur.AccessToken != tok.AccessToken && cur.ServiceAccountJSON == "" {
				cur.AccessToken = tok.AccessToken
				cur.Expiry = tok.Expiry.UTC()
				if tok.RefreshToken != "" {
					cur.RefreshToken = tok.RefreshToken
				}
				_, sealed, err := s.seal(cur)
				if err != nil {
					return err
				}
				c.Credentials = sealed
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	if err := s.cat.UpdateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id, err)
		}
		return fmt.Errorf("record the Google grant of connection %d: %w", id, err)
	}
	return nil
}

// MarkNeedsReauth records that the Google grant of connection id no longer
// works (an operation got gdrive.ErrReauth), so the UI asks the user to
// reconnect it. Connecting again through the OAuth flow clears the mark.
func (s *Service) MarkNeedsReauth(ctx context.Context, id int64) error {
	c, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id, err)
		}
		return fmt.Errorf("read connection %d: %w", id, err)
	}
	if c.NeedsReauth {
		return nil
	}
	c.NeedsReauth = true
	if err := s.cat.UpdateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id, err)
		}
		return fmt.Errorf("mark connection %d as needing a reconnect: %w", id, err)
	}
	return nil
}
