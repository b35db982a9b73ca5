package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connection"
)

// The UI pages the Google callback sends the browser back to.
const (
	uiConnections    = "/connections"
	uiConnectionEdit = "/connections/%d/edit"
)

// driveCaller is the caller of a connect route in the connection service's terms.
func driveCaller(r *http.Request) connection.DriveCaller {
	p := principalOf(r)
	c := connection.DriveCaller{UserID: p.user.ID}
	if p.session != nil {
		c.SessionID = p.session.ID
	}
	return c
}

// googleStart begins connecting a Google account to a google_drive
// connection: ?connection_id=<id> for an existing one, or
// ?name=<name>&folder_id=<id> for a new one. It answers 302 to Google's
// consent page.
func (s *server) googleStart(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var req connection.DriveConnect
	if raw := q.Get("connection_id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			return &apperr.Error{Code: apperr.BadRequest,
				Message: fmt.Sprintf("The connection_id %q is not a connection id.", raw),
				Fields:  map[string]string{"connection_id": "must be a positive integer"}}
		}
		req.ConnectionID = id
	}
	req.Name = q.Get("name")
	req.FolderID = q.Get("folder_id")
	authURL, err := s.conns.StartDriveConnect(r.Context(), driveCaller(r), req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

// googleCallback is where Google sends the browser back with a code (or an
// error) and the state googleStart issued. On success the tokens are stored
// sealed and the browser goes to the connection's page with connected=1;
// a refusal at Google or a failed exchange goes back to the UI with an
// oauth_error message. A state that is missing, altered, expired, reused or
// from another session is a 400.
func (s *server) googleCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	target, stateErr := s.conns.ConsumeDriveState(driveCaller(r), q.Get("state"))
	page := uiConnections
	if stateErr == nil && target.ConnectionID > 0 {
		page = fmt.Sprintf(uiConnectionEdit, target.ConnectionID)
	}
	if code := q.Get("error"); code != "" {
		msg := "Google could not complete the sign-in; try connecting Google Drive again."
		if code == "access_denied" {
			msg = "Access to Google Drive was not granted, so nothing was changed; connect again and allow access to use Google Drive."
		}
		s.uiRedirect(w, r, page, url.Values{"oauth_error": {msg}})
		return nil
	}
	if stateErr != nil {
		return stateErr
	}
	v, err := s.conns.FinishDriveConnect(r.Context(), target, q.Get("code"))
	if err != nil {
		e, ok := apperr.As(err)
		if !ok || e.Code == apperr.Internal {
			return err
		}
		s.log.WarnContext(r.Context(), "connecting Google Drive failed", "connection_id", target.ConnectionID, "err", err)
		s.uiRedirect(w, r, page, url.Values{"oauth_error": {e.Message}})
		return nil
	}
	action := "connection.google_reconnect"
	if target.ConnectionID <= 0 {
		action = "connection.google_connect"
	}
	s.auditBy(r, action, "connection", v.ID, map[string]string{"name": v.Name})
	s.uiRedirect(w, r, fmt.Sprintf(uiConnectionEdit, v.ID), url.Values{"connected": {"1"}})
	return nil
}

// uiRedirect sends the browser to a page of the web UI.
func (s *server) uiRedirect(w http.ResponseWriter, r *http.Request, page string, q url.Values) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, page+"?"+q.Encode(), http.StatusFound)
}
