package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Plan is a backup plan: what to back up where, when, and what to keep
// (docs/plans.md). Options and Retention are JSON documents the plan
// service has already checked; Schedule and Timezone are evaluated by
// package schedule. NextRunAt is the next due time, nil while the plan is
// disabled.
type Plan struct {
	ID                      int64
	Name                    string
	SourceConnectionID      int64
	DestinationConnectionID int64
	Options                 json.RawMessage
	Schedule                string
	Timezone                string
	CatchUp                 bool
	Retention               json.RawMessage
	AlertAfter              string // a duration ("26h"), empty for none
	Verify                  string // "none", "after_each" or a cron expression
	// NextVerifyAt is when a verify schedule next verifies the plan's
	// latest backup (nil when verify is not a schedule).
	NextVerifyAt *time.Time
	// FullEvery is when a plan of incremental backups starts a new chain
	// with a full one: after that many incrementals ("7"), or at the first
	// run after each time of a cron expression. Empty means "7".
	FullEvery string
	Enabled   bool
	NextRunAt *time.Time
	// OverdueSince is when plan.overdue was sent for the plan's current
	// overdue spell (nil: it is not overdue, or was not told); written only
	// by SetPlanOverdue.
	OverdueSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Plan event kinds: a plan's history.
const (
	PlanEventRun         = "run"          // a due time (or run-now) started a backup
	PlanEventSkipped     = "skipped"      // a due time came while the previous run was still going
	PlanEventMissed      = "missed"       // due times passed while no coffer process ran
	PlanEventPruned      = "pruned"       // retention removed a backup's archive
	PlanEventPruneFailed = "prune_failed" // removing it failed; the next prune tries again
)

// PlanEvent is one line of a plan's history.
type PlanEvent struct {
	ID        int64
	PlanID    int64
	Kind      string
	DueAt     *time.Time
	BackupID  *int64
	Message   string
	CreatedAt time.Time
}

// PlanRun is the last backup a plan started.
type PlanRun struct {
	BackupID int64
	Status   string
	At       time.Time
}

const planCols = `id, name, source_connection_id, destination_connection_id, options, schedule, timezone, catch_up,
	retention, alert_after, verify, enabled, next_run_at, overdue_since, next_verify_at, full_every, created_at, updated_at`

func scanPlan(r rowScanner) (*Plan, error) {
	var p Plan
	if err := r.Scan(&p.ID, &p.Name, &p.SourceConnectionID, &p.DestinationConnectionID, jsonCol{&p.Options},
		&p.Schedule, &p.Timezone, &p.CatchUp, jsonCol{&p.Retention}, &p.AlertAfter, &p.Verify, &p.Enabled,
		nullTimeCol{&p.NextRunAt}, nullTimeCol{&p.OverdueSince}, nullTimeCol{&p.NextVerifyAt}, &p.FullEvery, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

// planWriteErr words the constraint failures of writing a plan.
func planWriteErr(err error, what, name string) error {
	switch err := mapErr(err); {
	case errors.Is(err, errUnique):
		return fmt.Errorf("%s: a plan named %q already exists: %w", what, name, ErrConflict)
	case errors.Is(err, errForeignKey):
		return fmt.Errorf("%s: a connection it refers to does not exist: %w", what, ErrNotFound)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// CreatePlan inserts p and sets ID, CreatedAt and UpdatedAt. ErrConflict
// when the name is taken, ErrNotFound when a connection does not exist.
func (s *Store) CreatePlan(ctx context.Context, p *Plan) error {
	opts, optsRaw, err := jsonObjArg("plan options", p.Options)
	if err != nil {
		return fmt.Errorf("create plan: %w", err)
	}
	ret, retRaw, err := jsonObjArg("plan retention", p.Retention)
	if err != nil {
		return fmt.Errorf("create plan: %w", err)
	}
	t := now()
	if p.FullEvery == "" {
		p.FullEvery = DefaultFullEvery
	}
	err = s.queryRow(ctx, s.db, `INSERT INTO backup_plans (name, source_connection_id, destination_connection_id, options,
		schedule, timezone, catch_up, retention, alert_after, verify, enabled, next_run_at, next_verify_at, full_every, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.SourceConnectionID, p.DestinationConnectionID, opts, p.Schedule, p.Timezone, p.CatchUp, ret,
		p.AlertAfter, p.Verify, p.Enabled, s.tsPtr(p.NextRunAt), s.tsPtr(p.NextVerifyAt), p.FullEvery, s.ts(t), s.ts(t)).Scan(&p.ID)
	if err != nil {
		return planWriteErr(err, "create plan", p.Name)
	}
	p.Options, p.Retention = optsRaw, retRaw
	p.NextRunAt, p.NextVerifyAt = normPtr(p.NextRunAt), normPtr(p.NextVerifyAt)
	p.CreatedAt, p.UpdatedAt = t, t
	return nil
}

// GetPlan returns the plan with id.
func (s *Store) GetPlan(ctx context.Context, id int64) (*Plan, error) {
	p, err := scanPlan(s.queryRow(ctx, s.db, "SELECT "+planCols+" FROM backup_plans WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "get plan %d", id)
	}
	return p, nil
}

// ListPlans returns every plan ordered by name.
func (s *Store) ListPlans(ctx context.Context) ([]Plan, error) {
	return s.plans(ctx, s.db, "list plans", "SELECT "+planCols+" FROM backup_plans ORDER BY name, id")
}

// DuePlans returns the enabled plans whose next due time is at or before t.
func (s *Store) DuePlans(ctx context.Context, t time.Time) ([]Plan, error) {
	return s.plans(ctx, s.db, "list due plans", "SELECT "+planCols+
		" FROM backup_plans WHERE enabled = ? AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, id", true, s.ts(t))
}

func (s *Store) plans(ctx context.Context, q querier, what, query string, args ...any) ([]Plan, error) {
	rows, err := s.query(ctx, q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []Plan{}
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// UpdatePlan writes every field of p a user can change, and next_run_at,
// and sets UpdatedAt.
func (s *Store) UpdatePlan(ctx context.Context, p *Plan) error {
	opts, optsRaw, err := jsonObjArg("plan options", p.Options)
	if err != nil {
		return fmt.Errorf("update plan %d: %w", p.ID, err)
	}
	ret, retRaw, err := jsonObjArg("plan retention", p.Retention)
	if err != nil {
		return fmt.Errorf("update plan %d: %w", p.ID, err)
	}
	t := now()
	if p.FullEvery == "" {
		p.FullEvery = DefaultFullEvery
	}
	res, err := s.exec(ctx, s.db, `UPDATE backup_plans SET name = ?, source_connection_id = ?, destination_connection_id = ?,
		options = ?, schedule = ?, timezone = ?, catch_up = ?, retention = ?, alert_after = ?, verify = ?, enabled = ?,
		next_run_at = ?, next_verify_at = ?, full_every = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.SourceConnectionID, p.DestinationConnectionID, opts, p.Schedule, p.Timezone, p.CatchUp, ret,
		p.AlertAfter, p.Verify, p.Enabled, s.tsPtr(p.NextRunAt), s.tsPtr(p.NextVerifyAt), p.FullEvery, s.ts(t), p.ID)
	if err != nil {
		return planWriteErr(err, fmt.Sprintf("update plan %d", p.ID), p.Name)
	}
	if err := oneRow(res, "update plan %d", p.ID); err != nil {
		return err
	}
	p.Options, p.Retention = optsRaw, retRaw
	p.NextRunAt = normPtr(p.NextRunAt)
	p.UpdatedAt = t
	return nil
}

// DeletePlan removes a plan and its history. Its backups stay, as ad-hoc
// backups (their plan_id becomes NULL).
func (s *Store) DeletePlan(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.planNotInChannels(ctx, tx, id); err != nil {
			return err
		}
		// The backups are let go here rather than by the column's
		// ON DELETE rule, so the outcome does not hang on foreign-key settings.
		if _, err := s.exec(ctx, tx, "UPDATE backup_operations SET plan_id = NULL WHERE plan_id = ?", id); err != nil {
			return fmt.Errorf("delete plan %d: keep its backups: %w", id, err)
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM plan_events WHERE plan_id = ?", id); err != nil {
			return fmt.Errorf("delete plan %d: its history: %w", id, err)
		}
		res, err := s.exec(ctx, tx, "DELETE FROM backup_plans WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete plan %d: %w", id, err)
		}
		return oneRow(res, "delete plan %d", id)
	})
}

// PlanInUseError refuses to delete a plan that a notification channel is
// limited to: the channel would silently stop getting anything. It is an
// ErrConflict.
type PlanInUseError struct {
	Channel string // the channel's name
}

func (e *PlanInUseError) Error() string {
	return fmt.Sprintf("notification channel %q is limited to this plan", e.Channel)
}

// Is makes a PlanInUseError match ErrConflict.
func (e *PlanInUseError) Is(target error) bool { return target == ErrConflict }

// planNotInChannels returns a *PlanInUseError when a channel is limited to
// plan id.
func (s *Store) planNotInChannels(ctx context.Context, tx *sql.Tx, id int64) error {
	rows, err := s.query(ctx, tx, "SELECT name, plan_ids FROM notification_channels WHERE plan_ids <> '[]' ORDER BY name")
	if err != nil {
		return fmt.Errorf("delete plan %d: read the channels limited to plans: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, list string
		var ids []int64
		if err := rows.Scan(&name, &list); err != nil {
			return fmt.Errorf("delete plan %d: read the channels limited to plans: %w", id, err)
		}
		if err := json.Unmarshal([]byte(list), &ids); err != nil {
			return fmt.Errorf("delete plan %d: the plans of channel %q: %w", id, name, err)
		}
		if slices.Contains(ids, id) {
			return &PlanInUseError{Channel: name}
		}
	}
	return rows.Err()
}

// ClaimDue moves plan id's next due time from due to next inside tx, and
// reports whether this call did it. Whichever process ticks, only one claim
// of a due time succeeds: that is what makes each due time run once.
func (s *Store) ClaimDue(ctx context.Context, tx *sql.Tx, id int64, due, next time.Time) (bool, error) {
	res, err := s.exec(ctx, s.q(tx), "UPDATE backup_plans SET next_run_at = ? WHERE id = ? AND enabled = ? AND next_run_at = ?",
		s.ts(next), id, true, s.ts(due))
	if err != nil {
		return false, fmt.Errorf("claim due time of plan %d: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("claim due time of plan %d: %w", id, err)
	}
	return n == 1, nil
}

// ActiveRunOfPlan returns the id of a backup of plan id that is pending,
// running or paused (0 when none), read through tx.
func (s *Store) ActiveRunOfPlan(ctx context.Context, tx *sql.Tx, id int64) (int64, error) {
	in, args := inArgs(ActiveStatuses)
	var backupID int64
	err := s.queryRow(ctx, s.q(tx), "SELECT id FROM backup_operations WHERE plan_id = ? AND status IN ("+in+") ORDER BY id LIMIT 1",
		append([]any{id}, args...)...).Scan(&backupID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the running backup of plan %d: %w", id, err)
	}
	return backupID, nil
}

// LastRuns returns the newest backup of each plan that has one.
func (s *Store) LastRuns(ctx context.Context) (map[int64]PlanRun, error) {
	rows, err := s.query(ctx, s.db, `SELECT b.plan_id, b.id, b.status, b.created_at FROM backup_operations b
		WHERE b.id = (SELECT MAX(id) FROM backup_operations WHERE plan_id = b.plan_id)`)
	if err != nil {
		return nil, fmt.Errorf("last runs of plans: %w", err)
	}
	defer rows.Close()
	out := map[int64]PlanRun{}
	for rows.Next() {
		var planID int64
		var r PlanRun
		if err := rows.Scan(&planID, &r.BackupID, &r.Status, timeCol{&r.At}); err != nil {
			return nil, fmt.Errorf("last runs of plans: %w", err)
		}
		out[planID] = r
	}
	return out, rows.Err()
}

// AddPlanEvent records ev in its plan's history (through tx when not nil).
func (s *Store) AddPlanEvent(ctx context.Context, tx *sql.Tx, ev *PlanEvent) error {
	t := now()
	err := s.queryRow(ctx, s.q(tx), `INSERT INTO plan_events (plan_id, kind, due_at, backup_id, message, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, ev.PlanID, ev.Kind, s.tsPtr(ev.DueAt), ev.BackupID, ev.Message, s.ts(t)).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("record %s event of plan %d: %w", ev.Kind, ev.PlanID, err)
	}
	ev.CreatedAt, ev.DueAt = t, normPtr(ev.DueAt)
	return nil
}

// ListPlanEvents returns one page of plan id's history, newest first.
func (s *Store) ListPlanEvents(ctx context.Context, id int64, p Page) ([]PlanEvent, int64, error) {
	var w where
	w.add("plan_id = ?", id)
	return listNewest(ctx, s, "plan events", "id, plan_id, kind, due_at, backup_id, message, created_at", "plan_events", w, p,
		func(r rowScanner) (*PlanEvent, error) {
			var ev PlanEvent
			var backupID sql.NullInt64
			if err := r.Scan(&ev.ID, &ev.PlanID, &ev.Kind, nullTimeCol{&ev.DueAt}, &backupID, &ev.Message, timeCol{&ev.CreatedAt}); err != nil {
				return nil, err
			}
			if backupID.Valid {
				ev.BackupID = &backupID.Int64
			}
			return &ev, nil
		})
}

// MarkPruned records that completed backup id's archive was removed, for
// reason (PruneRetention or PruneDeleted). ErrConflict when the backup is
// not completed or is already marked.
func (s *Store) MarkPruned(ctx context.Context, id int64, reason string, at time.Time) error {
	res, err := s.exec(ctx, s.db, "UPDATE backup_operations SET pruned_at = ?, prune_reason = ?, updated_at = ? WHERE id = ? AND status = ? AND pruned_at IS NULL",
		s.ts(at), reason, s.ts(now()), id, StatusCompleted)
	if err != nil {
		return fmt.Errorf("mark backup %d pruned: %w", id, err)
	}
	if n, err := affected(res); err != nil || n != 1 {
		return fmt.Errorf("mark backup %d pruned: it is not a completed, kept backup: %w", id, ErrConflict)
	}
	return nil
}

// BackupsBeingRestored returns the backups that a pending or running
// restore reads.
func (s *Store) BackupsBeingRestored(ctx context.Context) (map[int64]bool, error) {
	in, args := inArgs(ActiveStatuses)
	rows, err := s.query(ctx, s.db, "SELECT DISTINCT backup_operation_id FROM restore_operations WHERE status IN ("+in+")", args...)
	if err != nil {
		return nil, fmt.Errorf("backups being restored: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("backups being restored: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// LastSuccesses returns when each plan's newest completed backup completed.
func (s *Store) LastSuccesses(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.query(ctx, s.db, "SELECT plan_id, MAX(completed_at) FROM backup_operations WHERE plan_id IS NOT NULL AND status = ? GROUP BY plan_id", StatusCompleted)
	if err != nil {
		return nil, fmt.Errorf("last successes of plans: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var at *time.Time
		if err := rows.Scan(&id, nullTimeCol{&at}); err != nil {
			return nil, fmt.Errorf("last successes of plans: %w", err)
		}
		if at != nil {
			out[id] = *at
		}
	}
	return out, rows.Err()
}
