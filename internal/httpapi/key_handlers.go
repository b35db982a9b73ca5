package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/coffer-backup/coffer/internal/encryption"
)

// withKeys serves a route of the encryption key service.
func (s *server) withKeys(h serviceHandler[encryption.Service]) handlerFunc {
	return withService(s.keys, "Encryption keys", h)
}

func listKeys(w http.ResponseWriter, r *http.Request, ks *encryption.Service, _ int64) error {
	items, err := ks.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func getKey(w http.ResponseWriter, r *http.Request, ks *encryption.Service, id int64) error {
	k, err := ks.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (s *server) createKey(w http.ResponseWriter, r *http.Request, ks *encryption.Service, _ int64) error {
	var raw json.RawMessage
	if err := decodeJSON(w, r, &raw); err != nil {
		return err
	}
	in, err := encryption.DecodeInput(raw)
	if err != nil {
		return err
	}
	k, err := ks.Create(r.Context(), in)
	if err != nil {
		return err
	}
	// The identity is in the answer only; the audit names the key.
	s.auditBy(r, "encryption_key.create", "encryption_key", k.ID, map[string]any{"name": k.Name, "type": k.Type,
		"generated": in.Generate, "keeps_identity": k.KeepsIdentity})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *server) deleteKey(w http.ResponseWriter, r *http.Request, ks *encryption.Service, id int64) error {
	k, err := ks.Delete(r.Context(), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "encryption_key.delete", "encryption_key", id, map[string]any{"name": k.Name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
