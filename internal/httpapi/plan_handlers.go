package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/retention"
	"github.com/coffer-backup/coffer/internal/store"
)

// planView is the API shape of a plan (docs/plans.md).
type planView struct {
	ID                      int64           `json:"id"`
	Name                    string          `json:"name"`
	SourceConnectionID      int64           `json:"source_connection_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Options                 json.RawMessage `json:"options"`
	Schedule                string          `json:"schedule"`
	ScheduleText            string          `json:"schedule_text"`
	Timezone                string          `json:"timezone"`
	CatchUp                 bool            `json:"catch_up"`
	Retention               json.RawMessage `json:"retention"`
	AlertAfter              *string         `json:"alert_after"`
	Verify                  string          `json:"verify"`
	FullEvery               string          `json:"full_every"`
	Enabled                 bool            `json:"enabled"`
	NextRunAt               *time.Time      `json:"next_run_at"`
	NextVerifyAt            *time.Time      `json:"next_verify_at"`
	LastRun                 *planRunView    `json:"last_run"`
	LastSuccessAt           *time.Time      `json:"last_success_at"`
	Overdue                 bool            `json:"overdue"`
	CreatedAt               time.Time       `json:"created_at"`
	UpdatedAt               time.Time       `json:"updated_at"`
}

type planRunView struct {
	BackupID int64     `json:"backup_id"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
}

type planEventView struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	DueAt     *time.Time `json:"due_at"`
	BackupID  *int64     `json:"backup_id"`
	Message   string     `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
}

func viewPlan(v plan.View) planView {
	out := planView{
		ID: v.ID, Name: v.Name, SourceConnectionID: v.SourceConnectionID, DestinationConnectionID: v.DestinationConnectionID,
		Options: orEmpty(v.Options), Schedule: v.Schedule, ScheduleText: v.Describe, Timezone: v.Timezone, CatchUp: v.CatchUp,
		Retention: orEmpty(v.Retention), Verify: v.Verify, FullEvery: v.FullEvery, Enabled: v.Enabled, NextRunAt: utc(v.NextRunAt), NextVerifyAt: utc(v.NextVerifyAt),
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(),
		LastSuccessAt: utc(v.LastSuccessAt), Overdue: v.Overdue,
	}
	if v.AlertAfter != "" {
		a := v.AlertAfter
		out.AlertAfter = &a
	}
	if v.LastRun != nil {
		out.LastRun = &planRunView{BackupID: v.LastRun.BackupID, Status: v.LastRun.Status, At: v.LastRun.At.UTC()}
	}
	return out
}

// serviceHandler serves a route of an optional service (plans,
// notifications); id is the {id} of the path (0 for routes without one).
type serviceHandler[S any] func(w http.ResponseWriter, r *http.Request, svc *S, id int64) error

// withService turns a serviceHandler into a route handler: the service, or
// a 404 saying "<what> are not available on this server." when this server
// has none, and the path's {id} when it has one.
func withService[S any](svc *S, what string, h serviceHandler[S]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if svc == nil {
			return apperr.New(apperr.NotFound, "%s are not available on this server.", what)
		}
		var id int64
		if r.PathValue("id") != "" {
			var err error
			if id, err = pathID(r, "id"); err != nil {
				return err
			}
		}
		return h(w, r, svc, id)
	}
}

// withPlan serves a route of the plan service.
func (s *server) withPlan(h serviceHandler[plan.Service]) handlerFunc {
	return withService(s.plans, "Plans", h)
}

// planInput reads a plan body strictly (unknown keys and wrong types are 422s naming the field).
func planInput(w http.ResponseWriter, r *http.Request) (plan.Input, error) {
	var raw json.RawMessage
	if err := decodeJSON(w, r, &raw); err != nil {
		return plan.Input{}, err
	}
	return plan.DecodeInput(raw)
}

// writePlan answers with plan id as the API shows it.
func writePlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64, status int) error {
	v, err := ps.View(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, status, viewPlan(v))
	return nil
}

func listPlans(w http.ResponseWriter, r *http.Request, ps *plan.Service, _ int64) error {
	views, err := ps.List(r.Context())
	if err != nil {
		return err
	}
	items := make([]planView, len(views))
	for i, v := range views {
		items[i] = viewPlan(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *server) createPlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, _ int64) error {
	in, err := planInput(w, r)
	if err != nil {
		return err
	}
	p, err := ps.Create(r.Context(), in)
	if err != nil {
		return err
	}
	s.auditBy(r, "plan.create", "plan", p.ID, map[string]any{"name": p.Name, "schedule": p.Schedule, "timezone": p.Timezone})
	return writePlan(w, r, ps, p.ID, http.StatusCreated)
}

func getPlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	return writePlan(w, r, ps, id, http.StatusOK)
}

func (s *server) updatePlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	in, err := planInput(w, r)
	if err != nil {
		return err
	}
	before, after, err := ps.Update(r.Context(), id, in)
	if err != nil {
		return err
	}
	s.auditBy(r, "plan.update", "plan", id, map[string]any{"name": after.Name, "changed": planChanges(before, after)})
	return writePlan(w, r, ps, id, http.StatusOK)
}

// planChanges names the settings an update changed, for the audit trail.
func planChanges(a, b *store.Plan) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("source_connection_id", a.SourceConnectionID != b.SourceConnectionID)
	add("destination_connection_id", a.DestinationConnectionID != b.DestinationConnectionID)
	add("options", string(a.Options) != string(b.Options))
	add("schedule", a.Schedule != b.Schedule)
	add("timezone", a.Timezone != b.Timezone)
	add("catch_up", a.CatchUp != b.CatchUp)
	add("retention", string(a.Retention) != string(b.Retention))
	add("alert_after", a.AlertAfter != b.AlertAfter)
	add("verify", a.Verify != b.Verify)
	add("enabled", a.Enabled != b.Enabled)
	return out
}

func (s *server) deletePlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	p, err := ps.Delete(r.Context(), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "plan.delete", "plan", id, map[string]any{"name": p.Name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) runPlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	op, err := ps.RunNow(r.Context(), actorOf(r), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "plan.run", "plan", id, map[string]any{"backup_id": op.ID})
	w.Header().Set("Location", apiPrefix+"/backups/"+strconv.FormatInt(op.ID, 10))
	writeJSON(w, http.StatusAccepted, viewBackup(op))
	return nil
}

func planEvents(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	evs, total, err := ps.Events(r.Context(), id, page)
	if err != nil {
		return err
	}
	out := listView[planEventView]{Items: make([]planEventView, 0, len(evs)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for _, ev := range evs {
		out.Items = append(out.Items, planEventView{ID: ev.ID, Kind: ev.Kind, DueAt: utc(ev.DueAt), BackupID: ev.BackupID,
			Message: ev.Message, CreatedAt: ev.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func planRetention(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	var draft json.RawMessage
	if q := strings.TrimSpace(r.URL.Query().Get("retention")); q != "" {
		draft = json.RawMessage(q)
	}
	items, err := ps.Retention(r.Context(), id, draft)
	if err != nil {
		return err
	}
	if items == nil {
		items = []retention.Decision{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func previewSchedule(w http.ResponseWriter, r *http.Request, ps *plan.Service, _ int64) error {
	count, err := queryInt(r, "count", 5, 1, 50)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	times, err := ps.Preview(q.Get("schedule"), q.Get("timezone"), int(count))
	if err != nil {
		return err
	}
	out := make([]time.Time, len(times))
	for i, t := range times {
		out[i] = t.UTC()
	}
	writeJSON(w, http.StatusOK, map[string]any{"times": out})
	return nil
}

func (s *server) prunePlan(w http.ResponseWriter, r *http.Request, ps *plan.Service, id int64) error {
	res, err := ps.Prune(r.Context(), actorOf(r), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "plan.prune", "plan", id, res)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *server) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.ops.DeleteArchive(r.Context(), actorOf(r), id, store.PruneDeleted); err != nil {
		return err
	}
	s.auditBy(r, "backup.delete", "backup", id, nil)
	op, err := s.cat.GetBackup(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewBackup(op))
	return nil
}
