package connection

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/store"
)

// DriveStateTTL is how long a started Google connect flow can be completed.
const DriveStateTTL = 10 * time.Minute

// drivePurpose marks sealed connect states, so that no other sealed value
// can stand in for one.
const drivePurpose = "coffer/gdrive-connect/v1"

// maxStateLen bounds the state parameter accepted back from Google.
const maxStateLen = 4096

// DriveCaller is who runs a connect flow: the callback must come from the
// same user and session that started it.
type DriveCaller struct {
	UserID int64
	// SessionID is the caller's login session (0 for an API token).
	SessionID int64
}

// DriveConnect is a connect flow to start: either ConnectionID (an existing
// google_drive connection to connect again) or Name and FolderID (a new
// connection). FolderID with ConnectionID moves the connection to another
// folder.
type DriveConnect struct {
	ConnectionID int64
	Name         string
	FolderID     string
}

// DriveTarget is what a verified callback connects: the flow's DriveConnect.
type DriveTarget struct {
	DriveConnect
}

// driveState is the payload sealed into the OAuth state parameter.
type driveState struct {
	Purpose   string `json:"p"`
	Nonce     string `json:"n"`
	UserID    int64  `json:"u"`
	SessionID int64  `json:"s"`
	Expires   int64  `json:"e"` // unix seconds
	ConnID    int64  `json:"c,omitempty"`
	Name      string `json:"name,omitempty"`
	FolderID  string `json:"f,omitempty"`
}

// usedStates remembers the nonces of states already used until they expire.
// It lives in the process: behind a load balancer, send the OAuth callback
// to the process that serves the browser's session (any sticky routing).
type usedStates struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newUsedStates() *usedStates { return &usedStates{seen: map[string]time.Time{}} }

// use records nonce as used and reports whether it was new.
func (u *usedStates) use(nonce string, expires, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for n, exp := range u.seen {
		if now.After(exp) {
			delete(u.seen, n)
		}
	}
	if _, ok := u.seen[nonce]; ok {
		return false
	}
	u.seen[nonce] = expires
	return true
}

// StartDriveConnect validates a connect request and returns the Google
// consent URL to send the browser to, carrying a sealed state bound to
// caller that expires after DriveStateTTL and can be used once. Errors: 409
// when the server has no Google OAuth client, 400 when neither or both of
// connection id and name are given, 404 for a missing connection, 422 for a
// connection of another type or a bad name or folder id, 409 for a name
// already in use.
func (s *Service) StartDriveConnect(ctx context.Context, caller DriveCaller, req DriveConnect) (string, error) {
	d := s.driveSettings()
	if !d.configured() || d.redirectURL == "" {
		return "", apperr.New(apperr.Conflict,
			"Connecting Google Drive is not set up on this server; set COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET (and COFFER_PUBLIC_URL) and restart coffer.")
	}
	req.Name = strings.TrimSpace(req.Name)
	req.FolderID = strings.TrimSpace(req.FolderID)
	switch {
	case req.ConnectionID > 0 && req.Name != "":
		return "", apperr.New(apperr.BadRequest, "Give either connection_id (to reconnect a connection) or name and folder_id (for a new one), not both.")
	case req.ConnectionID <= 0 && req.Name == "":
		return "", apperr.New(apperr.BadRequest, "Give connection_id (to reconnect a connection) or name and folder_id (for a new connection).")
	}
	fields := map[string]string{}
	if req.FolderID != "" || req.ConnectionID <= 0 {
		if why := folderProblem(req.FolderID); why != "" {
			fields["folder_id"] = why
		}
	}
	if req.ConnectionID > 0 {
		c, err := s.cat.GetConnection(ctx, req.ConnectionID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", notFound(req.ConnectionID, err)
			}
			return "", fmt.Errorf("read connection %d: %w", req.ConnectionID, err)
		}
		if c.Type != registry.GoogleDrive {
			fields["connection_id"] = fmt.Sprintf("names a %s connection; only google_drive connections connect with Google", c.Type)
		}
	} else {
		if why := nameProblem(req.Name); why != "" {
			fields["name"] = why
		}
	}
	if len(fields) > 0 {
		return "", apperr.InvalidFields("Connecting Google Drive did not start; correct the fields marked.", fields)
	}
	if req.ConnectionID <= 0 {
		if err := s.nameFree(ctx, req.Name); err != nil {
			return "", err
		}
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("make a connect state: %w", err)
	}
	st := driveState{
		Purpose: drivePurpose, Nonce: base64.RawURLEncoding.EncodeToString(nonce),
		UserID: caller.UserID, SessionID: caller.SessionID,
		Expires: s.now().Add(DriveStateTTL).Unix(),
		ConnID:  req.ConnectionID, Name: req.Name, FolderID: req.FolderID,
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode the connect state: %w", err)
	}
	sealed, err := s.keys.Seal(plain)
	if err != nil {
		return "", fmt.Errorf("seal the connect state: %w", err)
	}
	return gdrive.AuthCodeURL(d.oauth, d.redirectURL, base64.RawURLEncoding.EncodeToString(sealed)), nil
}

// folderProblem says why id is not a usable Drive folder id ("" when it is).
func folderProblem(id string) string {
	return gdrive.Config{FolderID: id, RefreshToken: "-"}.Validate()["folder_id"]
}

// nameFree is a 409 when a connection named name exists.
func (s *Service) nameFree(ctx context.Context, name string) error {
	cs, err := s.cat.ListConnections(ctx)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, c := range cs {
		if c.Name == name {
			return duplicateName(name, store.ErrConflict)
		}
	}
	return nil
}

// errBadState is the 400 for a state that cannot be used.
func errBadState(why string) error {
	return apperr.New(apperr.BadRequest, "This Google sign-in response cannot be used: %s; start connecting Google Drive again from coffer.", why)
}

// ConsumeDriveState verifies the state parameter of a callback (sealed by
// this server, not expired, started by caller) and marks it used. A state
// that fails any of these, or comes a second time, is a 400.
func (s *Service) ConsumeDriveState(caller DriveCaller, state string) (DriveTarget, error) {
	if state == "" {
		return DriveTarget{}, errBadState("it carries no state")
	}
	if len(state) > maxStateLen {
		return DriveTarget{}, errBadState("its state is too long")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil {
		return DriveTarget{}, errBadState("its state is malformed")
	}
	plain, err := s.keys.Open(sealed)
	if err != nil {
		return DriveTarget{}, errBadState("its state was not issued by this server or was altered")
	}
	var st driveState
	if err := json.Unmarshal(plain, &st); err != nil || st.Purpose != drivePurpose || st.Nonce == "" {
		return DriveTarget{}, errBadState("its state was not issued for connecting Google Drive")
	}
	now := s.now()
	expires := time.Unix(st.Expires, 0)
	if now.After(expires) {
		return DriveTarget{}, errBadState(fmt.Sprintf("it took longer than %s", DriveStateTTL))
	}
	if st.UserID != caller.UserID || st.SessionID != caller.SessionID {
		return DriveTarget{}, errBadState("it was started by another user or sign-in session")
	}
	if !s.states.use(st.Nonce, expires, now) {
		return DriveTarget{}, errBadState("it was used already")
	}
	return DriveTarget{DriveConnect{ConnectionID: st.ConnID, Name: st.Name, FolderID: st.FolderID}}, nil
}

// FinishDriveConnect trades the authorization code for tokens and stores
// them, sealed, in the target: the existing connection gets the new grant
// (needs_reauth and the last check cleared, a service account key
// replaced) or a new google_drive connection is created. Failures are
// *apperr.Error values whose message is a sentence for the user.
func (s *Service) FinishDriveConnect(ctx context.Context, target DriveTarget, code string) (*View, error) {
	d := s.driveSettings()
	if !d.configured() || d.redirectURL == "" {
		return nil, apperr.New(apperr.Conflict,
			"Connecting Google Drive is not set up on this server; set COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET and restart coffer.")
	}
	if code == "" {
		return nil, apperr.New(apperr.BadRequest, "Google sent no authorization code; start connecting Google Drive again.")
	}
	xctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
	defer cancel()
	tok, err := gdrive.Exchange(xctx, d.oauth, d.redirectURL, code)
	if err != nil {
		return nil, exchangeError(err)
	}
	if target.ConnectionID <= 0 {
		cfg := gdrive.Config{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC(), FolderID: target.FolderID}
		creds, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("encode the new Google Drive credentials: %w", err)
		}
		return s.Create(ctx, NewConnection{Name: target.Name, Type: registry.GoogleDrive, Credentials: creds})
	}
	return s.regrant(ctx, target, tok)
}

// regrant stores a new grant in existing connection target.ConnectionID.
func (s *Service) regrant(ctx context.Context, target DriveTarget, tok *oauth2.Token) (*View, error) {
	id := target.ConnectionID
	c, plaintext, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Type != registry.GoogleDrive {
		return nil, apperr.New(apperr.Invalid, "Connection %q is a %s connection now; only google_drive connections connect with Google.", c.Name, c.Type)
	}
	folder := target.FolderID
	if folder == "" {
		// The stored document may fail today's validation; only its folder matters.
		var old gdrive.Config
		if err := json.Unmarshal(plaintext, &old); err != nil {
			return nil, fmt.Errorf("decode the credentials of connection %d: %w", id, err)
		}
		folder = old.FolderID
	}
	doc, err := json.Marshal(gdrive.Config{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC(), FolderID: folder,
	})
	if err != nil {
		return nil, fmt.Errorf("encode the new Google Drive credentials: %w", err)
	}
	creds, errs := registry.Lookup(registry.GoogleDrive).Decode(doc, s.env())
	if len(errs) > 0 {
		return nil, staleCredentials(c.Name, errs)
	}
	plaintext, sealed, err := s.seal(creds)
	if err != nil {
		return nil, err
	}
	c.Credentials = sealed
	c.NeedsReauth = false
	c.LastValidatedAt = nil
	c.LastValidationError = ""
	if err := s.cat.UpdateConnection(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(id, err)
		}
		return nil, fmt.Errorf("store the new Google grant of connection %d: %w", id, err)
	}
	updated, err := s.cat.GetConnection(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read connection %d after reconnecting: %w", id, err)
	}
	return s.view(updated, plaintext)
}

// exchangeError turns a failed code exchange into a sentence for the user,
// keeping the cause (which may quote Google's answer) out of the message.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
		return apperr.Wrap(apperr.Invalid, err, "Google did not accept the authorization code (it expired or was used already); connect Google Drive again.")
	case errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client"):
		return apperr.Wrap(apperr.Invalid, err, "Google refused coffer's OAuth client; check COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET.")
	case errors.As(err, &re):
		return apperr.Wrap(apperr.Invalid, err, "Google refused to issue tokens for this sign-in; connect Google Drive again.")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return apperr.Wrap(apperr.Unavailable, err, "Google's token endpoint did not answer in time; try connecting again.")
	case errors.Unwrap(err) == nil:
		// gdrive's own sentences (no refresh token issued) carry no cause.
		return apperr.Wrap(apperr.Invalid, err, "%s.", strings.TrimSuffix(err.Error(), "."))
	}
	return apperr.Wrap(apperr.Unavailable, err, "Exchanging the Google authorization code failed; check that coffer can reach Google and that COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET are right, then connect again.")
}
