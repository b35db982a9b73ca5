// Package notification is the catalog side of notifications: it keeps the
// channels (their configuration sealed with the server key), turns what
// happened in coffer into events, records one delivery per subscribed
// channel and hands it to a River job, and delivers it with retries.
// Package notify writes the messages and sends them; this package decides
// who gets what and keeps the delivery log (docs/notifications.md).
//
// Nothing here runs on a backup's path: Notify records deliveries and
// enqueues their jobs in one short transaction, and a failure to do even
// that is logged, never returned to the backup.
package notification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/notify"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/strictjson"
)

// Catalog is what the service asks of the catalog.
type Catalog interface {
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	CreateChannel(ctx context.Context, c *store.Channel) error
	GetChannel(ctx context.Context, id int64) (*store.Channel, error)
	ListChannels(ctx context.Context) ([]store.Channel, error)
	UpdateChannel(ctx context.Context, c *store.Channel) error
	DeleteChannel(ctx context.Context, id int64) error
	CreateDeliveryTx(ctx context.Context, tx *sql.Tx, channelID int64, event string, payload []byte) (int64, error)
	GetDelivery(ctx context.Context, id int64) (*store.Delivery, error)
	RecordAttempt(ctx context.Context, id int64, status string, attempts int, lastError, reply string, sentAt *time.Time) error
	ListDeliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]store.Delivery, int64, error)
	GetPlan(ctx context.Context, id int64) (*store.Plan, error)
	GetBackup(ctx context.Context, id int64) (*store.BackupOperation, error)
	GetRestore(ctx context.Context, id int64) (*store.RestoreOperation, error)
	GetVerification(ctx context.Context, id int64) (*store.VerifyOperation, error)
	GetConnection(ctx context.Context, id int64) (*store.Connection, error)
}

// Keys seal and open channel configurations (the server's keyring).
type Keys interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Enqueuer enqueues the job that delivers delivery id, inside tx.
type Enqueuer interface {
	InsertDeliveryTx(ctx context.Context, tx *sql.Tx, id int64) error
}

// Service manages channels and delivers events.
type Service struct {
	cat    Catalog
	keys   Keys
	q      Enqueuer
	sender *notify.Sender
	log    *slog.Logger
	now    func() time.Time
	// retry is how long to wait after a failed attempt, and whether to try
	// again at all (notify.NextRetry; tests make it quick).
	retry func(attempt int) (time.Duration, bool)
}

// New returns a Service on the catalog cat that seals configurations with
// keys, enqueues deliveries with q and sends them with sender.
func New(cat Catalog, keys Keys, q Enqueuer, sender *notify.Sender, log *slog.Logger) *Service {
	return &Service{cat: cat, keys: keys, q: q, sender: sender, log: log, now: time.Now, retry: notify.NextRetry}
}

// SetRetry replaces the wait after a failed attempt and whether another
// follows (notify.NextRetry: 1, 3, 8 and 18 minutes, at most
// notify.MaxAttempts attempts); tests use less.
func (s *Service) SetRetry(fn func(attempt int) (time.Duration, bool)) { s.retry = fn }

// Input is a channel as a client sends it. Config is the type's JSON
// document; on an update, secrets sent back masked keep their stored value.
// Events nil is the default subscription; PlanIDs nil or empty is every plan.
type Input struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Config  json.RawMessage `json:"config"`
	Events  []string        `json:"events"`
	PlanIDs []int64         `json:"plan_ids"`
	Enabled *bool           `json:"enabled"`
}

// DecodeInput reads a channel body strictly: unknown keys, wrong types and
// trailing data are 422 errors naming the field.
func DecodeInput(data []byte) (Input, error) {
	var in Input
	if strictjson.Empty(data) {
		return in, apperr.InvalidFields("The notification channel is not valid.", map[string]string{"": "a JSON object with the channel is required"})
	}
	if p := strictjson.Check(data, &in); p != nil {
		return in, apperr.InvalidFields("The notification channel is not valid.", map[string]string{p.Field: p.Reason})
	}
	return in, nil
}

// View is a channel as the API shows it: its configuration with every
// secret masked.
type View struct {
	store.Channel
	Config notify.Config
}

// check validates in (against the stored channel on an update) and returns
// the channel to write, its configuration sealed.
func (s *Service) check(ctx context.Context, in Input, stored *store.Channel) (*store.Channel, error) {
	fields := map[string]string{}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		fields["name"] = "is required"
	case len(name) > 100:
		fields["name"] = "must be at most 100 characters"
	}
	typ := in.Type
	if stored != nil && typ == "" {
		typ = stored.Type
	}
	var storedConfig []byte
	if stored != nil {
		if typ != stored.Type {
			fields["type"] = fmt.Sprintf("cannot change from %s; create a new channel instead", stored.Type)
		}
		plain, err := s.keys.Open(stored.Config)
		if err != nil {
			return nil, fmt.Errorf("open the configuration of channel %d: %w", stored.ID, err)
		}
		storedConfig = plain
	}
	var cfg notify.Config
	if _, bad := fields["type"]; !bad {
		if len(in.Config) == 0 && stored != nil {
			in.Config = storedConfig
		}
		var err error
		cfg, err = notify.DecodeConfig(typ, in.Config, storedConfig)
		var fe notify.FieldErrors
		switch {
		case errors.As(err, &fe):
			for k, v := range fe {
				switch k {
				case "type":
					fields["type"] = v
				case "":
					fields["config"] = v
				default:
					fields["config."+k] = v
				}
			}
		case err != nil:
			return nil, err
		}
	}
	events, err := notify.ParseEvents(in.Events)
	var fe notify.FieldErrors
	if errors.As(err, &fe) {
		for k, v := range fe {
			fields[k] = v
		}
	} else if err != nil {
		return nil, err
	}
	plans := slices.Clone(in.PlanIDs)
	slices.Sort(plans)
	plans = slices.Compact(plans)
	for _, id := range plans {
		if _, err := s.cat.GetPlan(ctx, id); errors.Is(err, store.ErrNotFound) {
			fields["plan_ids"] = fmt.Sprintf("plan %d does not exist", id)
			break
		} else if err != nil {
			return nil, err
		}
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The notification channel is not valid.", fields)
	}
	plain, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode the channel configuration: %w", err)
	}
	sealed, err := s.keys.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("seal the channel configuration: %w", err)
	}
	c := &store.Channel{Name: name, Type: typ, Config: sealed, PlanIDs: plans, Enabled: true}
	for _, e := range events {
		c.Events = append(c.Events, string(e))
	}
	if stored != nil {
		c.ID, c.Enabled, c.CreatedAt = stored.ID, stored.Enabled, stored.CreatedAt
	}
	if in.Enabled != nil {
		c.Enabled = *in.Enabled
	}
	return c, nil
}

// writeError turns the store's conflict and not-found into API errors.
func writeError(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return apperr.InvalidFields("The notification channel is not valid.", map[string]string{"name": fmt.Sprintf("a channel named %q already exists", name)})
	case errors.Is(err, store.ErrNotFound):
		return apperr.Wrap(apperr.NotFound, err, "The notification channel does not exist.")
	}
	return err
}

// Create adds a channel.
func (s *Service) Create(ctx context.Context, in Input) (*View, error) {
	c, err := s.check(ctx, in, nil)
	if err != nil {
		return nil, err
	}
	if err := s.cat.CreateChannel(ctx, c); err != nil {
		return nil, writeError(err, c.Name)
	}
	return s.view(c)
}

// Update replaces channel id's settings; it returns the channel before and after.
func (s *Service) Update(ctx context.Context, id int64, in Input) (before, after *View, err error) {
	stored, err := s.channel(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.check(ctx, in, stored)
	if err != nil {
		return nil, nil, err
	}
	if err := s.cat.UpdateChannel(ctx, c); err != nil {
		return nil, nil, writeError(err, c.Name)
	}
	if before, err = s.view(stored); err != nil {
		return nil, nil, err
	}
	after, err = s.view(c)
	return before, after, err
}

// Delete removes channel id and its delivery log; it returns what was removed.
func (s *Service) Delete(ctx context.Context, id int64) (*View, error) {
	c, err := s.channel(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.cat.DeleteChannel(ctx, id); err != nil {
		return nil, writeError(err, c.Name)
	}
	return s.view(c)
}

// Get returns channel id.
func (s *Service) Get(ctx context.Context, id int64) (*View, error) {
	c, err := s.channel(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.view(c)
}

// List returns every channel.
func (s *Service) List(ctx context.Context) ([]View, error) {
	cs, err := s.cat.ListChannels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(cs))
	for i := range cs {
		v, err := s.view(&cs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// Test sends a test message through channel id and returns the receiver's
// reply; a failed send is a 422 whose sentence says what failed.
func (s *Service) Test(ctx context.Context, id int64) (string, error) {
	c, err := s.channel(ctx, id)
	if err != nil {
		return "", err
	}
	cfg, err := s.config(c)
	if err != nil {
		return "", err
	}
	reply, err := s.sender.Test(ctx, cfg)
	if err != nil {
		return "", apperr.Wrap(apperr.Invalid, err, "The test message to %q was not delivered: %s", c.Name, err.Error())
	}
	return reply, nil
}

// Deliveries lists the delivery log.
func (s *Service) Deliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]store.Delivery, int64, error) {
	return s.cat.ListDeliveries(ctx, f, p)
}

func (s *Service) channel(ctx context.Context, id int64) (*store.Channel, error) {
	c, err := s.cat.GetChannel(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.Wrap(apperr.NotFound, err, "Notification channel %d does not exist.", id)
	}
	return c, err
}

// config opens and decodes the configuration of c.
func (s *Service) config(c *store.Channel) (notify.Config, error) {
	plain, err := s.keys.Open(c.Config)
	if err != nil {
		return nil, fmt.Errorf("open the configuration of channel %d: %w", c.ID, err)
	}
	cfg, err := notify.DecodeConfig(c.Type, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("decode the configuration of channel %d: %w", c.ID, err)
	}
	return cfg, nil
}

func (s *Service) view(c *store.Channel) (*View, error) {
	cfg, err := s.config(c)
	if err != nil {
		return nil, err
	}
	return &View{Channel: *c, Config: cfg.Masked()}, nil
}

// subscribed reports whether channel c gets event name of plan planID (0:
// the event belongs to no plan). A channel limited to some plans gets only
// the events of those plans.
func subscribed(c *store.Channel, name notify.EventName, planID int64) bool {
	if !c.Enabled || !slices.Contains(c.Events, string(name)) {
		return false
	}
	return len(c.PlanIDs) == 0 || slices.Contains(c.PlanIDs, planID)
}

// Notify records a delivery of ev to every channel subscribed to it (ev
// belongs to plan planID, 0 for none) and enqueues their jobs. It never
// fails its caller: a failure is logged.
func (s *Service) Notify(ctx context.Context, ev notify.Event, planID int64) {
	if err := s.notify(ctx, ev, planID); err != nil {
		s.log.Error("record notifications", "event", string(ev.Name), "err", err)
	}
}

func (s *Service) notify(ctx context.Context, ev notify.Event, planID int64) error {
	ctx = context.WithoutCancel(ctx)
	cs, err := s.cat.ListChannels(ctx)
	if err != nil {
		return err
	}
	var to []store.Channel
	for _, c := range cs {
		if subscribed(&c, ev.Name, planID) {
			to = append(to, c)
		}
	}
	if len(to) == 0 {
		return nil
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = s.now().UTC()
	}
	ev = s.sender.Prepare(ev)
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode the event: %w", err)
	}
	return s.cat.InTx(ctx, func(tx *sql.Tx) error {
		for _, c := range to {
			id, err := s.cat.CreateDeliveryTx(ctx, tx, c.ID, string(ev.Name), payload)
			if err != nil {
				return err
			}
			if err := s.q.InsertDeliveryTx(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// maxRetryAfter bounds the wait a receiver may ask for with Retry-After.
const maxRetryAfter = time.Hour

// infraRetry is how long to wait when the catalog itself failed.
const infraRetry = 30 * time.Second

// Deliver makes the next attempt at delivery id (the delivery log counts
// them). It answers how long to wait before the next attempt when this one
// failed and another may help, else zero: the delivery is done (sent,
// failed for good and recorded so, or gone with its channel).
func (s *Service) Deliver(ctx context.Context, id int64) (time.Duration, error) {
	d, err := s.cat.GetDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil // its channel was deleted
	}
	if err != nil {
		return infraRetry, err
	}
	if d.Status != store.DeliveryPending {
		return 0, nil
	}
	attempt := d.Attempts + 1
	c, err := s.cat.GetChannel(ctx, d.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return infraRetry, err
	}
	var ev notify.Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return 0, s.giveUp(ctx, d, attempt, fmt.Sprintf("the stored event does not decode: %v", err))
	}
	cfg, err := s.config(c)
	if err != nil {
		return 0, s.giveUp(ctx, d, attempt, "the channel's configuration cannot be read; check the server key")
	}
	if !c.Enabled {
		return 0, s.giveUp(ctx, d, attempt, "the channel was disabled before the event went out")
	}
	reply, sendErr := s.sender.Send(ctx, cfg, ev)
	if sendErr == nil {
		at := s.now().UTC()
		if err := s.cat.RecordAttempt(context.WithoutCancel(ctx), id, store.DeliverySent, attempt, "", reply, &at); err != nil {
			s.log.Warn("record a sent notification", "delivery", id, "err", err)
		}
		s.log.Info("notification sent", "delivery", id, "channel", c.Name, "event", d.Event, "attempt", attempt)
		return 0, nil
	}
	msg := sendErr.Error()
	wait, more := s.retry(attempt)
	if !more || attempt >= notify.MaxAttempts || !notify.Retryable(sendErr) {
		return 0, s.giveUp(ctx, d, attempt, msg)
	}
	var de *notify.DeliveryError
	if errors.As(sendErr, &de) && de.RetryAfter > wait {
		wait = min(de.RetryAfter, maxRetryAfter)
	}
	if err := s.cat.RecordAttempt(context.WithoutCancel(ctx), id, store.DeliveryPending, attempt, msg, "", nil); err != nil {
		return infraRetry, err // not counted: the same attempt number comes again
	}
	s.log.Warn("notification attempt failed; trying again later", "delivery", id, "channel", c.Name, "attempt", attempt, "in", wait.String(), "err", msg)
	return wait, sendErr
}

// giveUp records delivery d as failed for good after attempt, with why.
func (s *Service) giveUp(ctx context.Context, d *store.Delivery, attempt int, why string) error {
	if err := s.cat.RecordAttempt(context.WithoutCancel(ctx), d.ID, store.DeliveryFailed, attempt, why, "", nil); err != nil {
		return err
	}
	s.log.Error("notification not delivered", "delivery", d.ID, "channel_id", d.ChannelID, "event", d.Event, "attempts", attempt, "err", why)
	return nil
}
