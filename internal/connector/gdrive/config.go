// Package gdrive keeps archives in a Google Drive folder. Archives are
// written with resumable upload sessions whose URI is the upload's state, so
// a backup can go on in another process after a pause or a crash; small
// files use multipart uploads; reads use alt=media with Range.
//
// Metadata calls (files, about) go through the official client
// google.golang.org/api/drive/v3; session chunks go through plain HTTP with
// the same authorized client, because the official client cannot continue
// a session from a saved URI. Access tokens are refreshed on expiry and on
// a 401; a refreshed token is handed to Options.OnToken so that the caller
// can store it. A revoked or expired grant is ErrReauth.
package gdrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/drive/v3"
)

// DefaultAPIURL is the Drive API base used when OAuth.APIURL is empty.
const DefaultAPIURL = "https://www.googleapis.com/"

// Google's OAuth endpoints, used when OAuth.AuthURL / TokenURL are empty.
const (
	DefaultAuthURL  = "https://accounts.google.com/o/oauth2/auth"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
)

// Chunk sizes: every part but the last is a multiple of ChunkQuantum.
const (
	ChunkQuantum     = 256 << 10
	DefaultChunkSize = 8 << 20
)

// FolderMimeType is the MIME type of Drive folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// ErrReauth means the stored grant no longer works (revoked, expired or
// never refreshable): the user must connect the Google account again.
var ErrReauth = errors.New("Google Drive access was revoked or expired; reconnect the connection")

// Config is the credentials document of a google_drive connection.
type Config struct {
	AccessToken        string    `json:"access_token,omitempty"`
	RefreshToken       string    `json:"refresh_token,omitempty"`
	FolderID           string    `json:"folder_id"`
	ServiceAccountJSON string    `json:"service_account_json,omitempty"`
	Expiry             time.Time `json:"expiry,omitzero"`
}

// OAuth is the server's OAuth client for Google (from COFFER_GDRIVE_*).
// Empty URLs mean Google's own.
type OAuth struct {
	ClientID, ClientSecret string
	AuthURL, TokenURL      string
	// APIURL is the Drive API base ("https://www.googleapis.com/"); the
	// official client uses APIURL + "drive/v3/" and uploads go to
	// /upload/drive/v3/files on its host.
	APIURL string
}

// Options tune a Client.
type Options struct {
	OAuth OAuth
	// ChunkSize is the part size of uploads, a multiple of 256 KiB
	// (default 8 MiB).
	ChunkSize int64
	// OnToken is called with a refreshed OAuth token, which the caller
	// should store (encrypted) in place of the old one. It may be nil.
	OnToken func(*oauth2.Token)
	// HTTPClient is the base client (its Transport is used under the
	// authorization); nil means http.DefaultClient.
	HTTPClient *http.Client
	// RetryBase is the first backoff delay of retries (default 500ms).
	RetryBase time.Duration
}

// Validate checks the configuration without contacting Google and returns
// field name -> reason (empty when valid).
func (c Config) Validate() map[string]string {
	errs := map[string]string{}
	switch {
	case strings.TrimSpace(c.FolderID) == "":
		errs["folder_id"] = "is required (the id at the end of the folder's Drive URL)"
	case len(c.FolderID) > 256 || strings.ContainsAny(c.FolderID, " /\\?#'\"\x00"):
		errs["folder_id"] = "must be a Drive folder id (letters, digits, - and _)"
	}
	hasToken := c.AccessToken != "" || c.RefreshToken != ""
	hasSA := c.ServiceAccountJSON != ""
	switch {
	case !hasToken && !hasSA:
		errs["refresh_token"] = "is required unless service_account_json is given (connect with Google or paste a service account key)"
	case hasToken && hasSA:
		errs["service_account_json"] = "must not be given together with OAuth tokens; use one or the other"
	case hasSA:
		var sa struct {
			Type        string `json:"type"`
			ClientEmail string `json:"client_email"`
			PrivateKey  string `json:"private_key"`
		}
		if err := json.Unmarshal([]byte(c.ServiceAccountJSON), &sa); err != nil {
			errs["service_account_json"] = "must be the JSON key file of a service account (it does not parse as JSON)"
		} else if sa.Type != "" && sa.Type != "service_account" {
			errs["service_account_json"] = `must be a service account key ("type": "service_account")`
		} else if sa.ClientEmail == "" || sa.PrivateKey == "" {
			errs["service_account_json"] = "must contain client_email and private_key (download a JSON key for the service account)"
		}
	}
	return errs
}

func (o OAuth) config(redirectURL string) *oauth2.Config {
	auth, tok := o.AuthURL, o.TokenURL
	if auth == "" {
		auth = DefaultAuthURL
	}
	if tok == "" {
		tok = DefaultTokenURL
	}
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: redirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: auth, TokenURL: tok},
		Scopes:   []string{drive.DriveScope},
	}
}

func (o OAuth) apiURL() string {
	u := o.APIURL
	if u == "" {
		u = DefaultAPIURL
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// AuthCodeURL is the Google consent page to send the user to when
// connecting an account: offline access (a refresh token) to Drive, with
// the consent prompt so that a refresh token is issued again on reconnect.
func AuthCodeURL(o OAuth, redirectURL, state string) string {
	return o.config(redirectURL).AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
}

// Exchange trades the code Google redirected back with for tokens.
func Exchange(ctx context.Context, o OAuth, redirectURL, code string) (*oauth2.Token, error) {
	tok, err := o.config(redirectURL).Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return nil, fmt.Errorf("Google did not accept the authorization code (it expired or was used already); connect again: %w", err)
		}
		return nil, fmt.Errorf("exchanging the Google authorization code failed; check the Google client id and secret: %w", err)
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("Google issued no refresh token; remove coffer's access in your Google account settings and connect again")
	}
	return tok, nil
}
