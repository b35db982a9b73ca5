package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/plan"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// fixture is a catalog with a source and a destination connection, and
// plan services standing for several coffer processes on it, sharing one
// fake clock. Their backups are recorded with their jobs by a real engine
// on an insert-only queue (no worker runs them: the tests settle them).
type fixture struct {
	t        *testing.T
	st       *store.Store
	procs    []*plan.Service
	mu       sync.Mutex
	now      time.Time
	src, dst int64
	mongo    int64
}

func newFixture(t *testing.T, st *store.Store, processes int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, st: st, now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	for _, c := range []struct {
		id        *int64
		name, typ string
	}{{&f.src, "bucket", store.TypeS3}, {&f.dst, "disk", store.TypeLocal}, {&f.mongo, "db", store.TypeMongoDB}} {
		conn := &store.Connection{Name: c.name, Type: c.typ, Credentials: []byte("sealed"), IsActive: true}
		if err := st.CreateConnection(ctx, conn); err != nil {
			t.Fatal(err)
		}
		*c.id = conn.ID
	}
	log := slog.New(slog.DiscardHandler)
	for range processes {
		q, err := queue.New(ctx, st, queue.Options{DatabaseURL: st.URL(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		eng := engine.New(st, nil, q, engine.Options{}, log)
		s := plan.New(st, eng, time.Minute, log)
		s.SetClock(f.clock)
		f.procs = append(f.procs, s)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

func (f *fixture) create(in plan.Input) *store.Plan {
	f.t.Helper()
	if in.Name == "" {
		in.Name = "nightly"
	}
	if in.SourceConnectionID == 0 {
		in.SourceConnectionID, in.DestinationConnectionID = f.src, f.dst
	}
	p, err := f.procs[0].Create(context.Background(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// tickAll ticks every process at once, as River's leader and a new leader
// could after an election.
func (f *fixture) tickAll() {
	f.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(f.procs))
	for i, s := range f.procs {
		wg.Go(func() { errs[i] = s.Tick(context.Background()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) backups(planID int64) []store.BackupOperation {
	f.t.Helper()
	bs, _, err := f.st.ListBackups(context.Background(), store.BackupFilter{PlanID: planID}, store.Page{Page: 1, PerPage: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return bs
}

func (f *fixture) events(planID int64) []store.PlanEvent {
	f.t.Helper()
	evs, _, err := f.st.ListPlanEvents(context.Background(), planID, store.Page{Page: 1, PerPage: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// settle ends every pending backup of the plan, as a worker would.
func (f *fixture) settle(planID int64) {
	f.t.Helper()
	for _, b := range f.backups(planID) {
		if b.Status == store.StatusPending {
			if _, err := f.st.TransitionOperation(context.Background(), nil, store.KindBackup, b.ID, []string{store.StatusPending}, store.StatusCancelled); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

func kinds(evs []store.PlanEvent) map[string]int {
	out := map[string]int{}
	for _, ev := range evs {
		out[ev.Kind]++
	}
	return out
}

// TestEachDueTimeRunsOnce: three processes tick together at every due time
// of an @every 1m plan and once more between due times; 10 due times give
// 10 backups and 10 history lines, never 9 or 11.
func TestEachDueTimeRunsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, 3)
		p := f.create(plan.Input{Schedule: "@every 1m"})
		if p.NextRunAt == nil || !p.NextRunAt.Equal(f.now.Add(time.Minute)) {
			t.Fatalf("next_run_at = %v, want %v", p.NextRunAt, f.now.Add(time.Minute))
		}
		start := f.now
		for i := 1; i <= 10; i++ {
			f.set(start.Add(time.Duration(i)*time.Minute + 2*time.Second))
			f.tickAll()
			f.tickAll() // a second tick at the same moment finds nothing due
			f.set(start.Add(time.Duration(i)*time.Minute + 30*time.Second))
			f.tickAll()
			f.settle(p.ID)
		}
		if got := len(f.backups(p.ID)); got != 10 {
			t.Fatalf("10 due times started %d backups", got)
		}
		if k := kinds(f.events(p.ID)); k[store.PlanEventRun] != 10 || len(k) != 1 {
			t.Fatalf("history: %v, want 10 runs", k)
		}
		due := map[time.Time]bool{}
		for _, ev := range f.events(p.ID) {
			if due[*ev.DueAt] {
				t.Fatalf("due time %v recorded twice", ev.DueAt)
			}
			due[*ev.DueAt] = true
		}
	})
}

// TestOverlapIsSkipped: a due time while the previous run is still pending
// (or running, or paused) starts nothing, says why and tells the notifier
// (plan.skipped); run-now is refused
// with a 409 the same way.
func TestOverlapIsSkipped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, 1)
		rec := &told{}
		f.procs[0].SetNotifier(rec)
		p := f.create(plan.Input{Schedule: "@every 1m"})
		f.set(f.now.Add(time.Minute))
		f.tickAll()
		f.set(f.now.Add(time.Minute))
		f.tickAll()
		if got := rec.take(); got != "nightly skipped" {
			t.Fatalf("the notifier was told %q, want the skip", got)
		}
		bs := f.backups(p.ID)
		if len(bs) != 1 {
			t.Fatalf("%d backups, want 1 (the second due time overlaps)", len(bs))
		}
		evs := f.events(p.ID)
		if evs[0].Kind != store.PlanEventSkipped || evs[0].BackupID == nil || *evs[0].BackupID != bs[0].ID ||
			!strings.Contains(evs[0].Message, fmt.Sprintf("backup #%d", bs[0].ID)) {
			t.Fatalf("newest event %+v, want a skip naming backup #%d", evs[0], bs[0].ID)
		}
		_, err := f.procs[0].RunNow(context.Background(), engine.Actor{Email: "op@example.com"}, p.ID)
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != apperr.Conflict || !strings.Contains(ae.Error(), "previous run still running") {
			t.Fatalf("run now during a run: %v, want a 409", err)
		}
		f.settle(p.ID)
		op, err := f.procs[0].RunNow(context.Background(), engine.Actor{Email: "op@example.com"}, p.ID)
		if err != nil || op.PlanID != p.ID {
			t.Fatalf("run now: %+v, %v", op, err)
		}
	})
}

// TestCatchUp: after 10 minutes with no process running, a catch_up plan
// runs once and a plan without catch_up records the miss and waits.
func TestCatchUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, 1)
		off := false
		catchUp := f.create(plan.Input{Name: "catch-up", Schedule: "@every 1m"})
		wait := f.create(plan.Input{Name: "wait", Schedule: "@every 1m", CatchUp: &off})
		start := f.now
		f.set(start.Add(10*time.Minute + 20*time.Second))
		f.tickAll()
		f.tickAll()
		if n := len(f.backups(catchUp.ID)); n != 1 {
			t.Fatalf("catch_up plan: %d backups after downtime, want 1", n)
		}
		if ev := f.events(catchUp.ID); len(ev) != 1 || !strings.Contains(ev[0].Message, "10 due times missed") {
			t.Fatalf("catch_up plan history: %+v", ev)
		}
		if n := len(f.backups(wait.ID)); n != 0 {
			t.Fatalf("plan without catch_up: %d backups after downtime, want 0", n)
		}
		ev := f.events(wait.ID)
		if len(ev) != 1 || ev[0].Kind != store.PlanEventMissed {
			t.Fatalf("plan without catch_up history: %+v", ev)
		}
		got, err := st.GetPlan(context.Background(), wait.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(11 * time.Minute); !got.NextRunAt.Equal(want) {
			t.Fatalf("next run %v, want %v", got.NextRunAt, want)
		}
		// On time again: the plan without catch_up runs at its next due time.
		f.set(start.Add(11*time.Minute + time.Second))
		f.tickAll()
		if n := len(f.backups(wait.ID)); n != 1 {
			t.Fatalf("plan without catch_up: %d backups at its next due time, want 1", n)
		}
	})
}

// TestDailyAcrossDST: a daily 02:30 plan in Berlin and in New York, ticked
// every 5 minutes over the spring and autumn changes, runs once a day.
func TestDailyAcrossDST(t *testing.T) {
	st := storetest.SQLite(t)
	f := newFixture(t, st, 1)
	for _, c := range []struct {
		zone       string
		from       time.Time
		days, runs int
	}{
		{"Europe/Berlin", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), 3, 3},
		{"Europe/Berlin", time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), 3, 3},
		{"America/New_York", time.Date(2026, 3, 7, 6, 0, 0, 0, time.UTC), 3, 3},
		{"America/New_York", time.Date(2026, 10, 31, 6, 0, 0, 0, time.UTC), 3, 3},
	} {
		f.set(c.from)
		p := f.create(plan.Input{Name: c.zone + c.from.Format(" Jan"), Schedule: "30 2 * * *", Timezone: c.zone})
		for t0 := c.from; t0.Before(c.from.Add(time.Duration(c.days) * 24 * time.Hour)); t0 = t0.Add(5 * time.Minute) {
			f.set(t0)
			f.tickAll()
			f.settle(p.ID)
		}
		if n := len(f.backups(p.ID)); n != c.runs {
			t.Errorf("%s from %s: %d runs in %d days, want %d", c.zone, c.from.Format(time.DateOnly), n, c.days, c.runs)
		}
	}
}

// TestInvalidPlans: each bad field is a 422 naming it.
func TestInvalidPlans(t *testing.T) {
	st := storetest.SQLite(t)
	f := newFixture(t, st, 1)
	for _, c := range []struct {
		body  string
		field string
	}{
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"61 * * * *"}`, "schedule"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","timezone":"Mars/Olympus"}`, "timezone"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@every 10s"}`, "schedule"},
		{`{"name":"x","source_connection_id":%[2]d,"destination_connection_id":%[2]d,"schedule":"@daily"}`, "source_connection_id"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[3]d,"schedule":"@daily"}`, "destination_connection_id"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","retention":{"keep_last":-1}}`, "retention.keep_last"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","retention":{"keep_forever":1}}`, "retention.keep_forever"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","alert_after":"soon"}`, "alert_after"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","verify":"sometimes"}`, "verify"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","colour":"red"}`, "colour"},
		{`{"name":"","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily"}`, "name"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","options":{"compression":"lzma"}}`, "options.compression"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","options":{"mode":"differential"}}`, "options.mode"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","options":{"compression_level":"max"}}`, "options.compression_level"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","full_every":"0"}`, "full_every"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","full_every":"weekly"}`, "full_every"},
		{`{"name":"x","source_connection_id":%[1]d,"destination_connection_id":%[2]d,"schedule":"@daily","full_every":"@every 1h"}`, "full_every"},
		{`{"name":"x","source_connection_id":%[3]d,"destination_connection_id":%[2]d,"schedule":"@daily","options":{"mode":"incremental"}}`, "options.mode"},
	} {
		body := fmt.Sprintf(c.body, f.src, f.dst, f.mongo)
		in, err := plan.DecodeInput([]byte(body))
		if err == nil {
			_, err = f.procs[0].Create(context.Background(), in)
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != apperr.Invalid {
			t.Errorf("%s: %v, want a 422", body, err)
			continue
		}
		if _, ok := ae.Fields[c.field]; !ok {
			t.Errorf("%s: fields %v, want %q", body, ae.Fields, c.field)
		}
	}
	plans, err := st.ListPlans(context.Background())
	if err != nil || len(plans) != 0 {
		t.Fatalf("invalid plans were saved: %v %v", plans, err)
	}
	// full_every: 7 by default, a number or a cron expression.
	for _, c := range []struct{ in, want string }{{"", "7"}, {" 3 ", "3"}, {"0 3 * * 0", "0 3 * * 0"}} {
		p := f.create(plan.Input{Name: "fe" + c.want, Schedule: "@daily", FullEvery: c.in, Options: json.RawMessage(`{"mode":"incremental","compression_level":"best"}`)})
		if p.FullEvery != c.want {
			t.Errorf("full_every %q was saved as %q, want %q", c.in, p.FullEvery, c.want)
		}
		if got, _ := f.procs[0].Get(context.Background(), p.ID); got == nil || got.FullEvery != c.want {
			t.Errorf("full_every %q read back as %+v", c.in, got)
		}
	}
	// A plan's retention dry run on a draft: a bad draft is a 422 too.
	p := f.create(plan.Input{Schedule: "@daily"})
	if _, err := f.procs[0].Retention(context.Background(), p.ID, json.RawMessage(`{"keep_daily":"many"}`)); err == nil {
		t.Fatal("a bad draft policy was accepted")
	}
}

// told records what the plan services told their notifier.
type told struct {
	mu    sync.Mutex
	lines []string
}

func (r *told) PlanEvent(_ context.Context, p *store.Plan, line *store.PlanEvent) {
	r.add(fmt.Sprintf("%s %s", p.Name, line.Kind))
}

func (r *told) PlanOverdue(_ context.Context, p *store.Plan, overdue bool, detail string) {
	if detail == "" {
		r.add(p.Name + " without a detail")
	}
	r.add(fmt.Sprintf("%s overdue=%v", p.Name, overdue))
}

func (r *told) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, s)
}

func (r *told) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := strings.Join(r.lines, "; ")
	r.lines = nil
	return out
}

// TestOverdue: a plan with alert_after is overdue once no run succeeded
// within it (from its creation while it never did), and no longer once one
// does. Of two processes ticking together, again and again, exactly one
// tells the notifier that it went overdue, and one that it recovered.
func TestOverdue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, 2)
		rec := &told{}
		for _, s := range f.procs {
			s.SetNotifier(rec)
		}
		ctx := context.Background()
		f.set(time.Now().UTC()) // the catalog stamps created_at with the real clock
		p := f.create(plan.Input{Schedule: "@every 1m", AlertAfter: "90s"})
		quiet := f.create(plan.Input{Name: "no alert", Schedule: "@every 1m"})
		f.tickAll()
		if got := rec.take(); got != "" {
			t.Fatalf("told before anything was overdue: %s", got)
		}
		f.set(f.now.Add(2 * time.Minute))
		for _, c := range []struct {
			id   int64
			want bool
		}{{p.ID, true}, {quiet.ID, false}} {
			v, err := f.procs[0].View(ctx, c.id)
			if err != nil || v.Overdue != c.want {
				t.Fatalf("plan %d after 2 minutes without a success: overdue %v (%v), want %v", c.id, v.Overdue, err, c.want)
			}
		}
		for range 3 {
			f.tickAll()
			f.settle(p.ID)
			f.settle(quiet.ID)
		}
		if got := rec.take(); got != "nightly overdue=true" {
			t.Fatalf("three ticks of two processes told %q, want the overdue plan once", got)
		}
		op, err := f.procs[0].RunNow(ctx, engine.Actor{Email: "op@example.com"}, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusPending}, store.StatusCompleted); err != nil {
			t.Fatal(err)
		}
		f.set(time.Now().UTC().Add(time.Minute)) // a minute after the success
		v, err := f.procs[0].View(ctx, p.ID)
		if err != nil || v.Overdue || v.LastSuccessAt == nil {
			t.Fatalf("after a success: overdue %v, last success %v (%v)", v.Overdue, v.LastSuccessAt, err)
		}
		f.tickAll()
		f.tickAll()
		if got := rec.take(); got != "nightly overdue=false" {
			t.Fatalf("after the success the ticks told %q, want the recovery once", got)
		}
	})
}

// verifications lists the verifications of backup id.
func (f *fixture) verifications(backupID int64) []store.VerifyOperation {
	f.t.Helper()
	vs, _, err := f.st.ListVerifications(context.Background(), store.VerifyFilter{BackupID: backupID}, store.Page{Page: 1, PerPage: 500})
	if err != nil {
		f.t.Fatal(err)
	}
	return vs
}

// completedBackup records a completed backup of plan p, as a run leaves it.
func (f *fixture) completedBackup(p *store.Plan) *store.BackupOperation {
	f.t.Helper()
	b := &store.BackupOperation{SourceConnectionID: f.src, DestinationConnectionID: f.dst, PlanID: p.ID,
		Operation: store.Operation{Status: store.StatusCompleted}}
	if err := f.st.CreateBackup(context.Background(), nil, b); err != nil {
		f.t.Fatal(err)
	}
	return b
}

// TestVerifySchedule: three processes tick through five due times of a
// plan's verify schedule; each verifies the plan's latest kept backup once.
// A plan with verify after_each verifies each backup that completes; one
// with none verifies nothing.
func TestVerifySchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, 3)
		p := f.create(plan.Input{Schedule: "@every 24h", Verify: "@every 10m"})
		if p.NextVerifyAt == nil || !p.NextVerifyAt.Equal(f.now.Add(10*time.Minute)) {
			t.Fatalf("next_verify_at = %v, want %v", p.NextVerifyAt, f.now.Add(10*time.Minute))
		}
		f.completedBackup(p)
		latest := f.completedBackup(p)
		start := f.now
		for i := 1; i <= 5; i++ {
			f.set(start.Add(time.Duration(i)*10*time.Minute + time.Second))
			f.tickAll()
			f.tickAll()
			for _, v := range f.verifications(latest.ID) {
				if v.Status == store.StatusPending {
					if _, err := st.TransitionOperation(context.Background(), nil, store.KindVerify, v.ID, []string{store.StatusPending}, store.StatusCancelled); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if got := len(f.verifications(latest.ID)); got != 5 {
			t.Fatalf("5 verify due times started %d verifications of the latest backup", got)
		}
		got, err := f.procs[0].Get(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(60 * time.Minute); got.NextVerifyAt == nil || !got.NextVerifyAt.Equal(want) {
			t.Fatalf("next_verify_at = %v, want %v", got.NextVerifyAt, want)
		}

		each := f.create(plan.Input{Name: "each", Schedule: "@every 24h", Verify: "after_each"})
		none := f.create(plan.Input{Name: "none", Schedule: "@every 24h"})
		if each.NextVerifyAt != nil || none.NextVerifyAt != nil {
			t.Fatalf("next_verify_at of after_each %v, of none %v", each.NextVerifyAt, none.NextVerifyAt)
		}
		be, bn := f.completedBackup(each), f.completedBackup(none)
		f.procs[1].AfterBackup(context.Background(), be)
		f.procs[1].AfterBackup(context.Background(), bn)
		if vs := f.verifications(be.ID); len(vs) != 1 || vs[0].PlanID != each.ID {
			t.Fatalf("after_each: verifications %+v", vs)
		}
		if vs := f.verifications(bn.ID); len(vs) != 0 {
			t.Fatalf("verify none: verifications %+v", vs)
		}
	})
}
