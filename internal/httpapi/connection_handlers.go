package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connection"
)

// pathID reads the {name} wildcard as a positive integer id.
func pathID(r *http.Request, name string) (int64, error) {
	raw := r.PathValue(name)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "There is nothing at this address: %q is not an id.", raw)
	}
	return id, nil
}

type createConnectionRequest struct {
	Name          string          `json:"name"`
	Type          string          `json:"type"`
	Credentials   json.RawMessage `json:"credentials"`
	SaveUnchecked bool            `json:"save_unchecked"`
}

type updateConnectionRequest struct {
	Name          *string         `json:"name"`
	Type          *string         `json:"type"` // accepted when unchanged, so a client can send back what it read
	Credentials   json.RawMessage `json:"credentials"`
	IsActive      *bool           `json:"is_active"`
	SaveUnchecked bool            `json:"save_unchecked"`
}

func (s *server) listConnections(w http.ResponseWriter, r *http.Request) error {
	views, err := s.conns.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": views})
	return nil
}

func (s *server) createConnection(w http.ResponseWriter, r *http.Request) error {
	var req createConnectionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	v, err := s.conns.Create(r.Context(), connection.NewConnection{Name: req.Name, Type: req.Type, Credentials: req.Credentials, SaveUnchecked: req.SaveUnchecked})
	if err != nil {
		return err
	}
	s.auditBy(r, "connection.create", "connection", v.ID, map[string]any{"name": v.Name, "type": v.Type, "checked": !req.SaveUnchecked})
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *server) getConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.conns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) updateConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req updateConnectionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Type != nil {
		cur, err := s.conns.Get(r.Context(), id)
		if err != nil {
			return err
		}
		if *req.Type != cur.Type {
			return apperr.InvalidFields("The type of a connection cannot change; create a new connection instead.",
				map[string]string{"type": "cannot be changed"})
		}
	}
	v, err := s.conns.Update(r.Context(), id, connection.Change{Name: req.Name, Credentials: req.Credentials, IsActive: req.IsActive, SaveUnchecked: req.SaveUnchecked})
	if err != nil {
		return err
	}
	s.auditBy(r, "connection.update", "connection", v.ID, map[string]any{"name": v.Name, "credentials_changed": len(req.Credentials) > 0, "save_unchecked": req.SaveUnchecked})
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.conns.Delete(r.Context(), id); err != nil {
		return err
	}
	s.auditBy(r, "connection.delete", "connection", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) testConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	res, err := s.conns.Test(r.Context(), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "connection.test", "connection", id, map[string]bool{"ok": res.OK})
	writeJSON(w, http.StatusOK, res)
	return nil
}
