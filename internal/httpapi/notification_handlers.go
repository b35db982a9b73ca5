package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/coffer-backup/coffer/internal/notification"
	"github.com/coffer-backup/coffer/internal/store"
)

// channelView is the API shape of a notification channel
// (docs/notifications.md): its configuration with every secret masked.
type channelView struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Config    any       `json:"config"`
	Events    []string  `json:"events"`
	PlanIDs   []int64   `json:"plan_ids"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewChannel(v *notification.View) channelView {
	return channelView{ID: v.ID, Name: v.Name, Type: v.Type, Config: v.Config, Events: v.Events, PlanIDs: v.PlanIDs,
		Enabled: v.Enabled, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

type deliveryView struct {
	ID        int64           `json:"id"`
	ChannelID int64           `json:"channel_id"`
	Event     string          `json:"event"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	Reply     string          `json:"reply"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	SentAt    *time.Time      `json:"sent_at"`
}

var deliveryStatuses = []string{store.DeliveryPending, store.DeliverySent, store.DeliveryFailed}

// withNotes serves a route of the notification service.
func (s *server) withNotes(h serviceHandler[notification.Service]) handlerFunc {
	return withService(s.notes, "Notifications", h)
}

func channelInput(w http.ResponseWriter, r *http.Request) (notification.Input, error) {
	var raw json.RawMessage
	if err := decodeJSON(w, r, &raw); err != nil {
		return notification.Input{}, err
	}
	return notification.DecodeInput(raw)
}

func listChannels(w http.ResponseWriter, r *http.Request, ns *notification.Service, _ int64) error {
	vs, err := ns.List(r.Context())
	if err != nil {
		return err
	}
	items := make([]channelView, len(vs))
	for i := range vs {
		items[i] = viewChannel(&vs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func getChannel(w http.ResponseWriter, r *http.Request, ns *notification.Service, id int64) error {
	v, err := ns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewChannel(v))
	return nil
}

func (s *server) createChannel(w http.ResponseWriter, r *http.Request, ns *notification.Service, _ int64) error {
	in, err := channelInput(w, r)
	if err != nil {
		return err
	}
	v, err := ns.Create(r.Context(), in)
	if err != nil {
		return err
	}
	s.auditBy(r, "notification_channel.create", "notification_channel", v.ID, map[string]any{"name": v.Name, "type": v.Type, "events": v.Events})
	writeJSON(w, http.StatusCreated, viewChannel(v))
	return nil
}

func (s *server) updateChannel(w http.ResponseWriter, r *http.Request, ns *notification.Service, id int64) error {
	in, err := channelInput(w, r)
	if err != nil {
		return err
	}
	before, after, err := ns.Update(r.Context(), id, in)
	if err != nil {
		return err
	}
	changed := []string{}
	if before.Name != after.Name {
		changed = append(changed, "name")
	}
	if jsonText(before.Config) != jsonText(after.Config) {
		changed = append(changed, "config")
	}
	if jsonText(before.Events) != jsonText(after.Events) {
		changed = append(changed, "events")
	}
	if jsonText(before.PlanIDs) != jsonText(after.PlanIDs) {
		changed = append(changed, "plan_ids")
	}
	if before.Enabled != after.Enabled {
		changed = append(changed, "enabled")
	}
	s.auditBy(r, "notification_channel.update", "notification_channel", id, map[string]any{"name": after.Name, "changed": changed})
	writeJSON(w, http.StatusOK, viewChannel(after))
	return nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *server) deleteChannel(w http.ResponseWriter, r *http.Request, ns *notification.Service, id int64) error {
	v, err := ns.Delete(r.Context(), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "notification_channel.delete", "notification_channel", id, map[string]any{"name": v.Name})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) testChannel(w http.ResponseWriter, r *http.Request, ns *notification.Service, id int64) error {
	reply, err := ns.Test(r.Context(), id)
	if err != nil {
		return err
	}
	s.auditBy(r, "notification_channel.test", "notification_channel", id, nil)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "reply": reply})
	return nil
}

func listDeliveries(w http.ResponseWriter, r *http.Request, ns *notification.Service, _ int64) error {
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	status, err := queryStatus(r, deliveryStatuses)
	if err != nil {
		return err
	}
	ch, err := queryInt(r, "channel_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	ds, total, err := ns.Deliveries(r.Context(), store.DeliveryFilter{ChannelID: ch, Status: status}, page)
	if err != nil {
		return err
	}
	out := listView[deliveryView]{Items: make([]deliveryView, 0, len(ds)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for _, d := range ds {
		out.Items = append(out.Items, deliveryView{ID: d.ID, ChannelID: d.ChannelID, Event: d.Event, Status: d.Status,
			Attempts: d.Attempts, LastError: d.LastError, Reply: d.Reply, Payload: d.Payload, CreatedAt: d.CreatedAt.UTC(), SentAt: utc(d.SentAt)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
