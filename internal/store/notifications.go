package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Channel is a notification channel: where events are sent. Config is the
// channel's JSON configuration sealed with the server key.
type Channel struct {
	ID        int64
	Name      string
	Type      string
	Config    []byte
	Events    []string
	PlanIDs   []int64
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Delivery is one event sent (or being sent) to one channel. Payload is
// the event's JSON exactly as it goes out.
type Delivery struct {
	ID        int64
	ChannelID int64
	Event     string
	Payload   json.RawMessage
	Status    string
	Attempts  int
	LastError string
	Reply     string
	CreatedAt time.Time
	SentAt    *time.Time
}

// DeliveryFilter narrows ListDeliveries; zero values match everything.
type DeliveryFilter struct {
	ChannelID int64
	Status    string
}

const channelCols = "id, name, type, config, events, plan_ids, enabled, created_at, updated_at"

func scanChannel(r rowScanner) (*Channel, error) {
	var c Channel
	var events, plans string
	if err := r.Scan(&c.ID, &c.Name, &c.Type, &c.Config, &events, &plans, &c.Enabled, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &c.Events); err != nil {
		return nil, fmt.Errorf("decode the events of channel %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(plans), &c.PlanIDs); err != nil {
		return nil, fmt.Errorf("decode the plans of channel %d: %w", c.ID, err)
	}
	return &c, nil
}

// channelArgs encodes the two JSON list columns of c.
func channelArgs(c *Channel) (events, plans string, err error) {
	if c.Events == nil {
		c.Events = []string{}
	}
	if c.PlanIDs == nil {
		c.PlanIDs = []int64{}
	}
	e, err := json.Marshal(c.Events)
	if err != nil {
		return "", "", err
	}
	p, err := json.Marshal(c.PlanIDs)
	if err != nil {
		return "", "", err
	}
	return string(e), string(p), nil
}

func channelWriteErr(err error, what, name string) error {
	if err := mapErr(err); errors.Is(err, errUnique) {
		return fmt.Errorf("%s: a channel named %q already exists: %w", what, name, ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, mapErr(err))
}

// CreateChannel inserts c and sets ID, CreatedAt and UpdatedAt. ErrConflict
// when the name is taken.
func (s *Store) CreateChannel(ctx context.Context, c *Channel) error {
	events, plans, err := channelArgs(c)
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	t := now()
	err = s.queryRow(ctx, s.db, `INSERT INTO notification_channels (name, type, config, events, plan_ids, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Name, c.Type, c.Config, events, plans, c.Enabled, s.ts(t), s.ts(t)).Scan(&c.ID)
	if err != nil {
		return channelWriteErr(err, "create channel", c.Name)
	}
	c.CreatedAt, c.UpdatedAt = t, t
	return nil
}

// GetChannel returns the channel with id.
func (s *Store) GetChannel(ctx context.Context, id int64) (*Channel, error) {
	c, err := scanChannel(s.queryRow(ctx, s.db, "SELECT "+channelCols+" FROM notification_channels WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get channel %d", id)
	}
	return c, nil
}

// ListChannels returns every channel ordered by name.
func (s *Store) ListChannels(ctx context.Context) ([]Channel, error) {
	rows, err := s.query(ctx, s.db, "SELECT "+channelCols+" FROM notification_channels ORDER BY name, id")
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return out, nil
}

// UpdateChannel writes every field of c but ID and CreatedAt, and sets
// UpdatedAt. ErrNotFound when it does not exist, ErrConflict when the new
// name is taken.
func (s *Store) UpdateChannel(ctx context.Context, c *Channel) error {
	events, plans, err := channelArgs(c)
	if err != nil {
		return fmt.Errorf("update channel %d: %w", c.ID, err)
	}
	t := now()
	res, err := s.exec(ctx, s.db, `UPDATE notification_channels SET name = ?, type = ?, config = ?, events = ?, plan_ids = ?,
		enabled = ?, updated_at = ? WHERE id = ?`, c.Name, c.Type, c.Config, events, plans, c.Enabled, s.ts(t), c.ID)
	if err != nil {
		return channelWriteErr(err, fmt.Sprintf("update channel %d", c.ID), c.Name)
	}
	if n, err := affected(res); err != nil || n == 0 {
		return fmt.Errorf("update channel %d: %w", c.ID, ErrNotFound)
	}
	c.UpdatedAt = t
	return nil
}

// DeleteChannel removes channel id and its delivery log.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	res, err := s.exec(ctx, s.db, "DELETE FROM notification_channels WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete channel %d: %w", id, err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		return fmt.Errorf("delete channel %d: %w", id, ErrNotFound)
	}
	return nil
}

const deliveryCols = "id, channel_id, event, payload, status, attempts, last_error, reply, created_at, sent_at"

func scanDelivery(r rowScanner) (*Delivery, error) {
	var d Delivery
	if err := r.Scan(&d.ID, &d.ChannelID, &d.Event, jsonCol{&d.Payload}, &d.Status, &d.Attempts, &d.LastError, &d.Reply,
		timeCol{&d.CreatedAt}, nullTimeCol{&d.SentAt}); err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateDeliveryTx records a pending delivery of event (payload is its
// JSON) to channel channelID in tx and returns its id.
func (s *Store) CreateDeliveryTx(ctx context.Context, tx *sql.Tx, channelID int64, event string, payload []byte) (int64, error) {
	if !json.Valid(payload) {
		return 0, errors.New("create delivery: the payload is not valid JSON")
	}
	var id int64
	err := s.queryRow(ctx, tx, `INSERT INTO notification_deliveries (channel_id, event, payload, status, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, channelID, event, string(payload), DeliveryPending, s.ts(now())).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create delivery of %s to channel %d: %w", event, channelID, mapErr(err))
	}
	return id, nil
}

// GetDelivery returns the delivery with id.
func (s *Store) GetDelivery(ctx context.Context, id int64) (*Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, s.db, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get delivery %d", id)
	}
	return d, nil
}

// RecordAttempt records one attempt at delivery id: its status after the
// attempt (pending while it will be tried again), the attempt count, the
// error sentence ("" on success) and the receiver's reply; sentAt is set
// when it went out.
func (s *Store) RecordAttempt(ctx context.Context, id int64, status string, attempts int, lastError, reply string, sentAt *time.Time) error {
	res, err := s.exec(ctx, s.db, "UPDATE notification_deliveries SET status = ?, attempts = ?, last_error = ?, reply = ?, sent_at = ? WHERE id = ?",
		status, attempts, lastError, reply, s.tsPtr(sentAt), id)
	if err != nil {
		return fmt.Errorf("record an attempt at delivery %d: %w", id, err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		return fmt.Errorf("record an attempt at delivery %d: %w", id, ErrNotFound)
	}
	return nil
}

// ListDeliveries returns a page of deliveries matching f, newest first, and
// how many match in all.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter, p Page) ([]Delivery, int64, error) {
	var w where
	if f.ChannelID != 0 {
		w.add("channel_id = ?", f.ChannelID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	return listNewest(ctx, s, "deliveries", deliveryCols, "notification_deliveries", w, p, scanDelivery)
}

// SetPlanOverdue records when plan id went overdue (nil: it is not).
// It answers false when the plan was already in that state, so that of
// several processes checking at once only one sends the alert.
func (s *Store) SetPlanOverdue(ctx context.Context, id int64, since *time.Time) (bool, error) {
	var res sql.Result
	var err error
	if since == nil {
		res, err = s.exec(ctx, s.db, "UPDATE backup_plans SET overdue_since = NULL WHERE id = ? AND overdue_since IS NOT NULL", id)
	} else {
		res, err = s.exec(ctx, s.db, "UPDATE backup_plans SET overdue_since = ? WHERE id = ? AND overdue_since IS NULL", s.ts(*since), id)
	}
	if err != nil {
		return false, fmt.Errorf("mark plan %d overdue: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("mark plan %d overdue: %w", id, err)
	}
	return n == 1, nil
}
