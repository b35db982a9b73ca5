package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/store"
)

// auditView is the API shape of one audit event.
type auditView struct {
	ID         int64           `json:"id"`
	ActorID    *int64          `json:"actor_id"`
	ActorEmail string          `json:"actor_email"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	IP         string          `json:"ip"`
	Details    json.RawMessage `json:"details"`
	CreatedAt  time.Time       `json:"created_at"`
}

// maxAuditFilter is the longest action or target_type filter accepted.
const maxAuditFilter = 100

// listAudit answers GET /audit?actor_id=&action=&target_type=&since=&page=&per_page=,
// newest first.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	actor, err := queryInt(r, "actor_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	action := strings.TrimSpace(q.Get("action"))
	target := strings.TrimSpace(q.Get("target_type"))
	fields := map[string]string{}
	if len(action) > maxAuditFilter {
		fields["action"] = fmt.Sprintf("must be at most %d characters long", maxAuditFilter)
	}
	if len(target) > maxAuditFilter {
		fields["target_type"] = fmt.Sprintf("must be at most %d characters long", maxAuditFilter)
	}
	var since *time.Time
	if raw := strings.TrimSpace(q.Get("since")); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			fields["since"] = "must be a time in RFC 3339 form, e.g. 2026-01-02T15:04:05Z"
		} else {
			since = &t
		}
	}
	if len(fields) > 0 {
		return apperr.InvalidFields("The audit log filters are not valid; correct the fields marked.", fields)
	}
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	events, total, err := s.cat.ListAudit(r.Context(), store.AuditFilter{ActorID: actor, Action: action, TargetType: target, Since: since}, page)
	if err != nil {
		return fmt.Errorf("list audit events: %w", err)
	}
	out := listView[auditView]{Items: make([]auditView, 0, len(events)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for _, e := range events {
		out.Items = append(out.Items, auditView{
			ID: e.ID, ActorID: e.ActorID, ActorEmail: e.ActorEmail, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, IP: e.IP,
			Details: s.secrets.JSON(orEmpty(e.Details)), CreatedAt: e.CreatedAt.UTC(),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
