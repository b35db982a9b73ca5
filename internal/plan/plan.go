// Package plan runs backups unattended: a plan names a source, a
// destination, backup options, a schedule in a time zone and a retention
// policy, and the scheduler starts its runs (docs/plans.md).
//
// Each due time runs at most once, whichever and however many processes
// tick: a tick claims a due time by moving the plan's next_run_at forward
// with a compare-and-set, and records the run (the backup row and its job)
// in the same transaction. A due time that comes while the plan's previous
// run is still pending, running or paused is skipped and the skip recorded
// in the plan's history. After downtime a plan that missed due times runs
// once (catch_up) or waits for its next due time.
package plan

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/retention"
	"github.com/coffer-backup/coffer/internal/schedule"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/strictjson"
)

// Catalog is what the plan service asks of the catalog.
type Catalog interface {
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	CreatePlan(ctx context.Context, p *store.Plan) error
	GetPlan(ctx context.Context, id int64) (*store.Plan, error)
	ListPlans(ctx context.Context) ([]store.Plan, error)
	UpdatePlan(ctx context.Context, p *store.Plan) error
	DeletePlan(ctx context.Context, id int64) error
	DuePlans(ctx context.Context, t time.Time) ([]store.Plan, error)
	ClaimDue(ctx context.Context, tx *sql.Tx, id int64, due, next time.Time) (bool, error)
	ActiveRunOfPlan(ctx context.Context, tx *sql.Tx, id int64) (int64, error)
	LastRuns(ctx context.Context) (map[int64]store.PlanRun, error)
	LastSuccesses(ctx context.Context) (map[int64]time.Time, error)
	AddPlanEvent(ctx context.Context, tx *sql.Tx, ev *store.PlanEvent) error
	ListPlanEvents(ctx context.Context, id int64, p store.Page) ([]store.PlanEvent, int64, error)
	ListBackups(ctx context.Context, f store.BackupFilter, p store.Page) ([]store.BackupOperation, int64, error)
	BackupsBeingRestored(ctx context.Context) (map[int64]bool, error)
	Dependents(ctx context.Context) (map[int64][]int64, error)
	SetPlanOverdue(ctx context.Context, id int64, since *time.Time) (bool, error)
	PlansDueForVerify(ctx context.Context, t time.Time) ([]store.Plan, error)
	ClaimPlanVerify(ctx context.Context, id int64, was, next *time.Time) (bool, error)
}

// Notifier hears the plan events people may need to know about (the
// notification service implements it); its methods return at once.
type Notifier interface {
	// PlanEvent: a line was added to plan p's history (a skipped due time,
	// a failed prune, ...).
	PlanEvent(ctx context.Context, p *store.Plan, line *store.PlanEvent)
	// PlanOverdue: plan p went overdue (true) or recovered (false); detail
	// says since when, or what ended it.
	PlanOverdue(ctx context.Context, p *store.Plan, overdue bool, detail string)
}

// Backups is what the plan service asks of the engine: the checks of a
// backup request and the recording of a run.
type Backups interface {
	CheckBackup(ctx context.Context, req engine.BackupRequest, fields map[string]string) *engine.CheckedBackup
	RecordBackupTx(ctx context.Context, tx *sql.Tx, op *store.BackupOperation) error
	LogBackup(ctx context.Context, id int64, msg string)
	DeleteArchive(ctx context.Context, actor engine.Actor, id int64, reason string) error
	StartVerify(ctx context.Context, actor engine.Actor, backupID, planID int64) (*store.VerifyOperation, bool, error)
}

// LateAfter is how long after its due time a run still counts as on time
// when catch_up is off: a tick that finds a due time older than this (or a
// later due time already passed) treats it as missed while coffer was down.
const LateAfter = time.Minute

// Service manages plans and runs the scheduler's ticks.
type Service struct {
	cat         Catalog
	backups     Backups
	minInterval time.Duration
	log         *slog.Logger
	now         func() time.Time
	notifier    Notifier
}

// SetNotifier sets who hears about skipped runs, failed prunes and overdue
// plans. Set it before the queue starts.
func (s *Service) SetNotifier(n Notifier) { s.notifier = n }

// New returns the plan service. minInterval bounds how close together a
// schedule's due times may be (COFFER_MIN_SCHEDULE_INTERVAL; 0 = 1m).
func New(cat Catalog, backups Backups, minInterval time.Duration, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if minInterval <= 0 {
		minInterval = schedule.DefaultMinInterval
	}
	return &Service{cat: cat, backups: backups, minInterval: minInterval, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// SetClock replaces the service's clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Input is the body of POST /plans and PUT /plans/{id}. A PUT replaces the
// whole plan: a field left out takes its default.
type Input struct {
	Name                    string          `json:"name"`
	SourceConnectionID      int64           `json:"source_connection_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Options                 json.RawMessage `json:"options,omitempty"`
	Schedule                string          `json:"schedule"`
	Timezone                string          `json:"timezone,omitempty"`
	CatchUp                 *bool           `json:"catch_up,omitempty"`
	Retention               json.RawMessage `json:"retention,omitempty"`
	AlertAfter              string          `json:"alert_after,omitempty"`
	Verify                  string          `json:"verify,omitempty"`
	// FullEvery is when a plan of incremental backups makes a full one:
	// after N incrementals ("7", the default) or at the first run after
	// each time of a cron expression.
	FullEvery string `json:"full_every,omitempty"`
	Enabled   *bool  `json:"enabled,omitempty"`
}

// View is a plan as the API shows it.
type View struct {
	store.Plan
	Describe      string
	LastRun       *store.PlanRun
	LastSuccessAt *time.Time
	// Overdue: the plan has alert_after and no run succeeded within it
	// (counted from its creation while it never succeeded).
	Overdue bool
}

// runs are the last run and last success of every plan, for Views.
type runs struct {
	last    map[int64]store.PlanRun
	success map[int64]time.Time
}

func (s *Service) runs(ctx context.Context) (runs, error) {
	last, err := s.cat.LastRuns(ctx)
	if err != nil {
		return runs{}, err
	}
	success, err := s.cat.LastSuccesses(ctx)
	if err != nil {
		return runs{}, err
	}
	return runs{last, success}, nil
}

// DecodeInput reads a plan body strictly: unknown keys, wrong types and
// trailing data are 422 errors naming the field.
func DecodeInput(data []byte) (Input, error) {
	var in Input
	if strictjson.Empty(data) {
		return in, apperr.InvalidFields("the plan is not valid", map[string]string{"": "a JSON object with the plan is required"})
	}
	if p := strictjson.Check(data, &in); p != nil {
		field, reason := p.Field, p.Reason
		return in, apperr.InvalidFields("the plan is not valid", map[string]string{field: reason})
	}
	return in, nil
}

// check validates in and returns the plan it describes (ID and times unset).
func (s *Service) check(ctx context.Context, in Input) (*store.Plan, error) {
	fields := map[string]string{}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		fields["name"] = "is required"
	case len(name) > 100:
		fields["name"] = "must be at most 100 characters"
	}
	checked := s.backups.CheckBackup(ctx, engine.BackupRequest{
		SourceConnectionID: in.SourceConnectionID, DestinationConnectionID: in.DestinationConnectionID, Options: in.Options,
	}, fields)
	tz := strings.TrimSpace(in.Timezone)
	if tz == "" {
		tz = "UTC"
	}
	if strings.TrimSpace(in.Schedule) == "" {
		fields["schedule"] = `is required: a 5-field cron expression ("30 2 * * *"), @hourly, @daily, @weekly, @monthly or "@every <duration>"`
	} else if _, err := schedule.Parse(in.Schedule, tz, s.minInterval); err != nil {
		addFieldErrors(fields, "", err)
	}
	pol, err := retention.DecodePolicy(in.Retention)
	if err != nil {
		addFieldErrors(fields, "retention.", err)
	}
	if in.AlertAfter != "" {
		if d, err := time.ParseDuration(in.AlertAfter); err != nil || d <= 0 {
			fields["alert_after"] = `must be a duration such as "26h" or "90m"`
		}
	}
	verify := strings.TrimSpace(in.Verify)
	switch verify {
	case "", "none":
		verify = "none"
	case "after_each":
	default:
		if _, err := schedule.Parse(verify, tz, s.minInterval); err != nil {
			fields["verify"] = `must be "none", "after_each" or a schedule (a 5-field cron expression or "@every <duration>")`
		}
	}
	fullEvery := strings.TrimSpace(in.FullEvery)
	if fullEvery == "" {
		fullEvery = store.DefaultFullEvery
	}
	if why := engine.ParseFullEvery(fullEvery, tz); why != "" {
		fields["full_every"] = why
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("the plan is not valid", fields)
	}
	ret, err := json.Marshal(pol)
	if err != nil {
		return nil, fmt.Errorf("encode retention: %w", err)
	}
	p := &store.Plan{
		Name:                    name,
		SourceConnectionID:      checked.Op.SourceConnectionID,
		DestinationConnectionID: checked.Op.DestinationConnectionID,
		Options:                 checked.Op.Options,
		Schedule:                strings.TrimSpace(in.Schedule),
		Timezone:                tz,
		CatchUp:                 in.CatchUp == nil || *in.CatchUp,
		Retention:               ret,
		AlertAfter:              in.AlertAfter,
		Verify:                  verify,
		FullEvery:               fullEvery,
		Enabled:                 in.Enabled == nil || *in.Enabled,
	}
	return p, nil
}

// addFieldErrors copies the field reasons of a schedule or retention
// validation error into fields, keys prefixed.
func addFieldErrors(fields map[string]string, prefix string, err error) {
	var se schedule.FieldErrors
	var re retention.FieldErrors
	switch {
	case errors.As(err, &se):
		for k, v := range se {
			fields[prefix+k] = v
		}
	case errors.As(err, &re):
		for k, v := range re {
			key := strings.TrimSuffix(prefix+k, ".")
			fields[key] = v
		}
	default:
		fields[strings.TrimSuffix(prefix, ".")] = err.Error()
	}
}

// nextRun is the first due time of p after t, nil when p is disabled or
// its schedule has none.
func (s *Service) nextRun(p *store.Plan, t time.Time) *time.Time {
	if !p.Enabled {
		return nil
	}
	return nextDue(p.Schedule, p.Timezone, t)
}

// Values of a plan's verify besides a schedule.
const (
	VerifyNone      = "none"
	VerifyAfterEach = "after_each"
)

// nextVerify is the first due time of p's verify schedule after t, nil
// when p is disabled or its verify is not a schedule.
func (s *Service) nextVerify(p *store.Plan, t time.Time) *time.Time {
	if !p.Enabled || p.Verify == VerifyNone || p.Verify == VerifyAfterEach || p.Verify == "" {
		return nil
	}
	return nextDue(p.Verify, p.Timezone, t)
}

// nextDue is the first time of schedule expr in time zone tz after t, in
// UTC; nil when the schedule has none or does not parse.
func nextDue(expr, tz string, t time.Time) *time.Time {
	sch, err := schedule.Parse(expr, tz, time.Nanosecond)
	if err != nil {
		return nil
	}
	next := sch.Next(t)
	if next.IsZero() {
		return nil
	}
	next = next.UTC()
	return &next
}

// Create validates in and records a new plan.
func (s *Service) Create(ctx context.Context, in Input) (*store.Plan, error) {
	p, err := s.check(ctx, in)
	if err != nil {
		return nil, err
	}
	p.NextRunAt = s.nextRun(p, s.now())
	p.NextVerifyAt = s.nextVerify(p, s.now())
	if err := s.cat.CreatePlan(ctx, p); err != nil {
		return nil, writeError(err, p.Name)
	}
	return p, nil
}

// Update replaces plan id's settings with in. The next due time is worked
// out again from now, so a changed schedule takes effect at once.
func (s *Service) Update(ctx context.Context, id int64, in Input) (before, after *store.Plan, err error) {
	before, err = s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.check(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	p.ID, p.CreatedAt = id, before.CreatedAt
	p.NextRunAt = before.NextRunAt
	if p.Schedule != before.Schedule || p.Timezone != before.Timezone || p.Enabled != before.Enabled || before.NextRunAt == nil {
		p.NextRunAt = s.nextRun(p, s.now())
	}
	p.NextVerifyAt = before.NextVerifyAt
	if p.Verify != before.Verify || p.Timezone != before.Timezone || p.Enabled != before.Enabled || before.NextVerifyAt == nil {
		p.NextVerifyAt = s.nextVerify(p, s.now())
	}
	if err := s.cat.UpdatePlan(ctx, p); err != nil {
		return nil, nil, writeError(err, p.Name)
	}
	return before, p, nil
}

// Delete removes plan id; its backups stay as ad-hoc backups.
func (s *Service) Delete(ctx context.Context, id int64) (*store.Plan, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.cat.DeletePlan(ctx, id); err != nil {
		if iu := (*store.PlanInUseError)(nil); errors.As(err, &iu) {
			return nil, apperr.Wrap(apperr.Conflict, err, "Plan %q cannot be deleted: notification channel %q is limited to it. Remove the plan from the channel first.", p.Name, iu.Channel)
		}
		return nil, fmt.Errorf("delete plan %d: %w", id, err)
	}
	return p, nil
}

// Get returns plan id, or a 404 *apperr.Error.
func (s *Service) Get(ctx context.Context, id int64) (*store.Plan, error) {
	p, err := s.cat.GetPlan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.Wrap(apperr.NotFound, err, "Plan %d does not exist.", id)
	}
	return p, err
}

// Describe is plan p with what the API shows beside its columns.
func (s *Service) Describe(p store.Plan, r runs) View {
	v := View{Plan: p}
	if sch, err := schedule.Parse(p.Schedule, p.Timezone, time.Nanosecond); err == nil {
		v.Describe = sch.Describe()
	}
	if lr, ok := r.last[p.ID]; ok {
		v.LastRun = &lr
	}
	if t, ok := r.success[p.ID]; ok {
		v.LastSuccessAt = &t
	}
	v.Overdue, _ = overdue(&p, r.success, s.now())
	return v
}

// overdue reports whether plan p is overdue at now: it has alert_after, is
// enabled, and no run succeeded within alert_after (counted from its
// creation while none ever did; success holds the plans' last successes).
// since is the last success, or the creation.
func overdue(p *store.Plan, success map[int64]time.Time, now time.Time) (late bool, since time.Time) {
	since, ok := success[p.ID]
	if !ok {
		since = p.CreatedAt
	}
	limit, err := time.ParseDuration(p.AlertAfter)
	return err == nil && limit > 0 && p.Enabled && now.Sub(since) > limit, since
}

// List returns every plan, with its last run.
func (s *Service) List(ctx context.Context) ([]View, error) {
	plans, err := s.cat.ListPlans(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.runs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, len(plans))
	for i, p := range plans {
		out[i] = s.Describe(p, r)
	}
	return out, nil
}

// View returns plan id with its last run.
func (s *Service) View(ctx context.Context, id int64) (View, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	r, err := s.runs(ctx)
	if err != nil {
		return View{}, err
	}
	return s.Describe(*p, r), nil
}

// Events returns one page of plan id's history, newest first.
func (s *Service) Events(ctx context.Context, id int64, page store.Page) ([]store.PlanEvent, int64, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, 0, err
	}
	return s.cat.ListPlanEvents(ctx, id, page)
}

func writeError(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return apperr.InvalidFields("the plan is not valid", map[string]string{"name": fmt.Sprintf("a plan named %q already exists", name)})
	case errors.Is(err, store.ErrNotFound):
		return apperr.InvalidFields("the plan is not valid", map[string]string{"source_connection_id": "a connection of the plan does not exist"})
	}
	return err
}

// Preview returns the next count due times of a schedule being typed, or a
// 422 naming the field that is wrong.
func (s *Service) Preview(expr, timezone string, count int) ([]time.Time, error) {
	if count <= 0 {
		count = 5
	}
	count = min(count, 50)
	if strings.TrimSpace(timezone) == "" {
		timezone = "UTC"
	}
	sch, err := schedule.Parse(expr, timezone, s.minInterval)
	if err != nil {
		fields := map[string]string{}
		addFieldErrors(fields, "", err)
		return nil, apperr.InvalidFields("the schedule is not valid", fields)
	}
	return sch.NextN(s.now(), count), nil
}

// ErrPreviousRunning is the conflict of a run-now while the plan's previous
// run is still going.
var ErrPreviousRunning = errors.New("previous run still running")

// RunNow starts a run of plan id at once, by actor; the same overlap rule
// as a due time applies (409 while the previous run is still going).
func (s *Service) RunNow(ctx context.Context, actor engine.Actor, id int64) (*store.BackupOperation, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	checked := s.backups.CheckBackup(ctx, s.request(p), fields)
	if checked == nil {
		return nil, apperr.InvalidFields(fmt.Sprintf("plan %q cannot run now", p.Name), fields)
	}
	var running int64
	err = s.cat.InTx(ctx, func(tx *sql.Tx) error {
		if running, err = s.cat.ActiveRunOfPlan(ctx, tx, id); err != nil || running != 0 {
			return err
		}
		if err := s.backups.RecordBackupTx(ctx, tx, checked.Op); err != nil {
			return err
		}
		return s.cat.AddPlanEvent(ctx, tx, &store.PlanEvent{PlanID: id, Kind: store.PlanEventRun, BackupID: &checked.Op.ID,
			Message: "Run started now by " + actor.Email + "."})
	})
	if err != nil {
		return nil, err
	}
	if running != 0 {
		return nil, apperr.Wrap(apperr.Conflict, ErrPreviousRunning,
			"previous run still running (backup #%d); wait for it to finish, or pause or cancel it", running)
	}
	s.backups.LogBackup(ctx, checked.Op.ID, fmt.Sprintf("Backup of %q to %q started now by %s (plan %q).",
		checked.Source, checked.Destination, actor.Email, p.Name))
	return checked.Op, nil
}

// request is the backup request of a run of p.
func (s *Service) request(p *store.Plan) engine.BackupRequest {
	return engine.BackupRequest{SourceConnectionID: p.SourceConnectionID, DestinationConnectionID: p.DestinationConnectionID,
		Options: p.Options, PlanID: p.ID}
}

// Tick starts the runs of every plan that is due. Any number of processes
// may tick at once: each due time is claimed once (see the package doc).
func (s *Service) Tick(ctx context.Context) error {
	now := s.now()
	due, err := s.cat.DuePlans(ctx, now)
	if err != nil {
		return err
	}
	var errs []error
	for i := range due {
		if err := s.tickPlan(ctx, &due[i], now); err != nil {
			errs = append(errs, fmt.Errorf("plan %q: %w", due[i].Name, err))
		}
	}
	if err := s.verifyDue(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := s.checkOverdue(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// verifyDue starts a verification of the latest kept backup of each plan
// whose verify schedule has come, claiming each due time once (a
// compare-and-set, as for runs). Due times missed while coffer was down
// verify once, not once each.
func (s *Service) verifyDue(ctx context.Context, now time.Time) error {
	due, err := s.cat.PlansDueForVerify(ctx, now)
	if err != nil {
		return err
	}
	var errs []error
	for i := range due {
		p := &due[i]
		ok, err := s.cat.ClaimPlanVerify(ctx, p.ID, p.NextVerifyAt, s.nextVerify(p, now))
		if err != nil {
			errs = append(errs, fmt.Errorf("plan %q: %w", p.Name, err))
			continue
		}
		if !ok {
			continue // another process claimed it
		}
		s.verifyLatest(ctx, p)
	}
	return errors.Join(errs...)
}

// verifyLatest starts a verification of plan p's latest kept backup.
func (s *Service) verifyLatest(ctx context.Context, p *store.Plan) {
	list, _, err := s.cat.ListBackups(ctx, store.BackupFilter{PlanID: p.ID, Status: store.StatusCompleted, Kept: true}, store.Page{Page: 1, PerPage: 1})
	if err != nil {
		s.log.Warn("find the backup a plan's verify schedule verifies", "plan_id", p.ID, "err", err)
		return
	}
	if len(list) == 0 {
		s.log.Info("a plan's verify schedule came but the plan has no kept backup yet", "plan_id", p.ID)
		return
	}
	if _, _, err := s.backups.StartVerify(ctx, engine.Actor{Email: "plan " + p.Name}, list[0].ID, p.ID); err != nil {
		s.log.Warn("start a plan's scheduled verification", "plan_id", p.ID, "backup_id", list[0].ID, "err", err)
	}
}

// checkOverdue tells the notifier, once per spell, about each plan that
// went without a successful run for longer than its alert_after (counted
// from its creation while it never succeeded), and about its recovery. It
// runs in every tick, so it also fires when the plan's runs never start.
func (s *Service) checkOverdue(ctx context.Context, now time.Time) error {
	if s.notifier == nil {
		return nil
	}
	plans, err := s.cat.ListPlans(ctx)
	if err != nil {
		return fmt.Errorf("check overdue plans: %w", err)
	}
	success, err := s.cat.LastSuccesses(ctx)
	if err != nil {
		return fmt.Errorf("check overdue plans: %w", err)
	}
	for i := range plans {
		p := &plans[i]
		late, since := overdue(p, success, now)
		_, succeeded := success[p.ID]
		switch {
		case late && p.OverdueSince == nil:
			if ok, err := s.cat.SetPlanOverdue(ctx, p.ID, &now); err != nil || !ok {
				continue // another process told, or the catalog failed (the next tick tries again)
			}
			detail := fmt.Sprintf("No run of this plan has succeeded since it was created at %s; alert_after is %s.", since.Format(time.RFC3339), p.AlertAfter)
			if succeeded {
				detail = fmt.Sprintf("The last successful run ended at %s, more than %s ago (alert_after).", since.Format(time.RFC3339), p.AlertAfter)
			}
			s.notifier.PlanOverdue(ctx, p, true, detail)
		case !late && p.OverdueSince != nil:
			if ok, err := s.cat.SetPlanOverdue(ctx, p.ID, nil); err != nil || !ok {
				continue
			}
			if limit, err := time.ParseDuration(p.AlertAfter); err != nil || limit <= 0 || !p.Enabled {
				continue // alert_after removed or the plan disabled: nothing recovered
			}
			s.notifier.PlanOverdue(ctx, p, false, fmt.Sprintf("A run succeeded at %s; the plan had been overdue since %s.",
				since.Format(time.RFC3339), p.OverdueSince.UTC().Format(time.RFC3339)))
		}
	}
	return nil
}

// tickPlan handles plan p's due time p.NextRunAt (at or before now).
func (s *Service) tickPlan(ctx context.Context, p *store.Plan, now time.Time) error {
	due := *p.NextRunAt
	sch, err := schedule.Parse(p.Schedule, p.Timezone, time.Nanosecond)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", p.Schedule, err)
	}
	next := sch.Next(now).UTC()
	missed, more := sch.Missed(due, now)
	late := len(missed) > 0 || now.Sub(due) > LateAfter
	fields := map[string]string{}
	checked := s.backups.CheckBackup(ctx, s.request(p), fields)

	var ev store.PlanEvent
	claimed := false
	err = s.cat.InTx(ctx, func(tx *sql.Tx) error {
		ok, err := s.cat.ClaimDue(ctx, tx, p.ID, due, next)
		if err != nil || !ok {
			return err
		}
		claimed = true
		ev = store.PlanEvent{PlanID: p.ID, DueAt: &due}
		switch running, err := s.cat.ActiveRunOfPlan(ctx, tx, p.ID); {
		case err != nil:
			return err
		case late && !p.CatchUp:
			ev.Kind, ev.Message = store.PlanEventMissed,
				fmt.Sprintf("%s passed while coffer was not running; catch_up is off, so the plan waits for its next due time (%s).",
					countDue(1+len(missed), more), next.In(sch.Location()).Format(time.RFC3339))
		case running != 0:
			ev.Kind, ev.BackupID = store.PlanEventSkipped, &running
			ev.Message = fmt.Sprintf("Skipped: the previous run (backup #%d) was still going at the due time.", running)
		case checked == nil:
			ev.Kind, ev.Message = store.PlanEventSkipped, "Skipped: the plan cannot run: "+fieldText(fields)
		default:
			if err := s.backups.RecordBackupTx(ctx, tx, checked.Op); err != nil {
				return err
			}
			ev.Kind, ev.BackupID = store.PlanEventRun, &checked.Op.ID
			ev.Message = "Run started for its due time."
			if late {
				ev.Message = fmt.Sprintf("Run started once for %s missed while coffer was not running (catch_up).",
					countDue(1+len(missed), more))
			}
		}
		return s.cat.AddPlanEvent(ctx, tx, &ev)
	})
	if err != nil || !claimed {
		return err
	}
	if ev.Kind == store.PlanEventSkipped && s.notifier != nil {
		s.notifier.PlanEvent(ctx, p, &ev)
	}
	if ev.Kind == store.PlanEventRun {
		s.backups.LogBackup(ctx, checked.Op.ID, fmt.Sprintf("Backup of %q to %q started by plan %q for its due time %s.",
			checked.Source, checked.Destination, p.Name, due.In(sch.Location()).Format(time.RFC3339)))
	} else {
		s.log.Info("plan due time not run", "plan", p.Name, "kind", ev.Kind, "why", ev.Message)
	}
	return nil
}

func countDue(n int, more bool) string {
	switch {
	case more:
		return fmt.Sprintf("more than %d due times", n)
	case n == 1:
		return "1 due time"
	}
	return fmt.Sprintf("%d due times", n)
}

// fieldText lists field reasons in one sentence.
func fieldText(fields map[string]string) string {
	parts := make([]string, 0, len(fields))
	for k, v := range fields {
		parts = append(parts, k+" "+v)
	}
	return strings.Join(parts, "; ")
}

// Retention is the dry run of plan id's retention policy over its completed
// backups (draft, when not nil, instead of the stored policy): for each, keep
// or remove and the rules that keep it.
func (s *Service) Retention(ctx context.Context, id int64, draft json.RawMessage) ([]retention.Decision, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	raw := p.Retention
	if draft != nil {
		raw = draft
	}
	pol, err := retention.DecodePolicy(raw)
	if err != nil {
		fields := map[string]string{}
		addFieldErrors(fields, "retention.", err)
		return nil, apperr.InvalidFields("the retention policy is not valid", fields)
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		loc = time.UTC
	}
	reading, err := s.cat.BackupsBeingRestored(ctx)
	if err != nil {
		return nil, err
	}
	deps, err := s.cat.Dependents(ctx)
	if err != nil {
		return nil, err
	}
	var backups []retention.Backup
	for page := 1; ; page++ {
		rows, total, err := s.cat.ListBackups(ctx, store.BackupFilter{PlanID: id, Status: store.StatusCompleted, Kept: true}, store.Page{Page: page, PerPage: 100})
		if err != nil {
			return nil, err
		}
		for _, b := range rows {
			if b.CompletedAt == nil {
				continue
			}
			rb := retention.Backup{ID: b.ID, CompletedAt: *b.CompletedAt, Base: b.BaseBackupID}
			if reading[b.ID] {
				rb.Holds = []string{"being restored"}
			}
			backups = append(backups, rb)
		}
		if int64(page*100) >= total || len(rows) == 0 {
			break
		}
	}
	// Backups built on these that the list does not hold (still running,
	// or of another plan) keep them too.
	listed := make(map[int64]bool, len(backups))
	for _, b := range backups {
		listed[b.ID] = true
	}
	for i := range backups {
		for _, d := range deps[backups[i].ID] {
			if !listed[d] {
				backups[i].Holds = append(backups[i].Holds, retention.ReasonBaseOf(d))
			}
		}
	}
	return retention.Apply(pol, loc, backups)
}

// Pruned is what a prune did.
type Pruned struct {
	Pruned int `json:"pruned"`
	Failed int `json:"failed"`
	Kept   int `json:"kept"`
}

// Prune applies plan id's retention policy: the archive and sidecar of each
// backup the policy removes are deleted at the destination and the backup
// marked pruned. A delete that fails is recorded in the plan's history and
// tried again at the next prune; it never marks the backup. Prune runs
// after each successful run of the plan and on POST /plans/{id}/prune.
func (s *Service) Prune(ctx context.Context, actor engine.Actor, id int64) (Pruned, error) {
	decisions, err := s.Retention(ctx, id, nil)
	if err != nil {
		return Pruned{}, err
	}
	var out Pruned
	for _, d := range decisions {
		if d.Keep {
			out.Kept++
			continue
		}
		ev := store.PlanEvent{PlanID: id, BackupID: &d.BackupID}
		if err := s.backups.DeleteArchive(ctx, actor, d.BackupID, store.PruneRetention); err != nil {
			out.Failed++
			ev.Kind, ev.Message = store.PlanEventPruneFailed, fmt.Sprintf("Could not prune backup #%d; the next prune tries again: %s", d.BackupID, userText(err))
		} else {
			out.Pruned++
			ev.Kind, ev.Message = store.PlanEventPruned, fmt.Sprintf("Backup #%d pruned by the retention policy.", d.BackupID)
		}
		if err := s.cat.AddPlanEvent(ctx, nil, &ev); err != nil {
			return out, err
		}
		if ev.Kind == store.PlanEventPruneFailed && s.notifier != nil {
			if p, err := s.cat.GetPlan(ctx, id); err == nil {
				s.notifier.PlanEvent(ctx, p, &ev)
			}
		}
	}
	return out, nil
}

// AfterBackup verifies a backup that just completed when its plan's verify
// is after_each, and prunes the plan (the engine calls it); a backup of no
// plan is left alone.
func (s *Service) AfterBackup(ctx context.Context, op *store.BackupOperation) {
	if op.PlanID == 0 || op.Status != store.StatusCompleted {
		return
	}
	if p, err := s.cat.GetPlan(ctx, op.PlanID); err == nil && p.Verify == VerifyAfterEach {
		if _, _, err := s.backups.StartVerify(ctx, engine.Actor{Email: "plan " + p.Name}, op.ID, p.ID); err != nil {
			s.log.Warn("start the verification of a plan's backup", "plan_id", p.ID, "backup_id", op.ID, "err", err)
		}
	}
	res, err := s.Prune(ctx, engine.Actor{Email: "retention"}, op.PlanID)
	if err != nil {
		s.log.Warn("pruning after a plan's run", "plan_id", op.PlanID, "err", err)
		return
	}
	if res.Pruned > 0 || res.Failed > 0 {
		s.log.Info("plan pruned", "plan_id", op.PlanID, "pruned", res.Pruned, "failed", res.Failed, "kept", res.Kept)
	}
}

// userText is the sentence of err a user may read: an *apperr.Error's
// message, or a generic one (the cause is in the server log).
func userText(err error) string {
	if ae, ok := apperr.As(err); ok {
		return ae.Message
	}
	return "an internal error; the server log has the details"
}
