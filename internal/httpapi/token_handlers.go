package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/store"
)

// maxTokenName is the longest API token name, in characters.
const maxTokenName = 100

// tokenView is the API shape of an API token; the token itself is never shown again.
type tokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// newTokenView is the answer of POST /tokens: the only time the token is shown.
type newTokenView struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Token string `json:"token"`
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.cat.ListAPITokens(r.Context(), principalOf(r).user.ID)
	if err != nil {
		return fmt.Errorf("list API tokens: %w", err)
	}
	items := make([]tokenView, 0, len(toks))
	for _, t := range toks {
		items = append(items, tokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC(), LastUsedAt: utc(t.LastUsedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	switch {
	case name == "":
		return apperr.InvalidFields("Give the token a name.", map[string]string{"name": "is required"})
	case utf8.RuneCountInString(name) > maxTokenName:
		return apperr.InvalidFields("The token name is too long.", map[string]string{"name": fmt.Sprintf("must be at most %d characters long", maxTokenName)})
	}
	p := principalOf(r)
	tok, hash, err := auth.NewToken(auth.APITokenPrefix)
	if err != nil {
		return fmt.Errorf("make API token: %w", err)
	}
	t := &store.APIToken{UserID: p.user.ID, Name: name, TokenHash: hash, CreatedAt: s.now()}
	if err := s.cat.CreateAPIToken(r.Context(), t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return apperr.InvalidFields("You already have a token with this name.", map[string]string{"name": "is already used by another of your tokens"})
		}
		return fmt.Errorf("create API token: %w", err)
	}
	s.auditBy(r, "token.create", "api_token", t.ID, map[string]string{"name": name})
	writeJSON(w, http.StatusCreated, newTokenView{ID: t.ID, Name: t.Name, Token: tok})
	return nil
}

func (s *server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cat.DeleteAPIToken(r.Context(), principalOf(r).user.ID, id); err != nil {
		if e, ok := notFoundAs(err, "API token %d does not exist.", id); ok {
			return e
		}
		return fmt.Errorf("delete API token %d: %w", id, err)
	}
	s.auditBy(r, "token.delete", "api_token", id, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
