//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestPlanRunsOnceAcrossProcesses: one `coffer serve` and two `coffer
// worker` processes on one PostgreSQL run an "@every 3s" plan with
// keep_last 2. Every due time is claimed by exactly one process (one line
// in the plan's history, one backup per run), also after the serve process
// is killed with SIGKILL and River elects another leader. At the end the
// destination holds exactly 2 archives and 2 sidecars.
func TestPlanRunsOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket, _ := fill(t, srv, 5, 2000)
	n := newNode(t)
	n.dbURL = storetest.PostgresDatabase(t)
	fast := []string{"COFFER_MIN_SCHEDULE_INTERVAL=1s", "COFFER_SCHEDULER_TICK=1s"}
	a := n.start(t, "serve", fast...)
	n.start(t, "worker", fast...)
	n.start(t, "worker", fast...)
	c := a.login(t)
	src := c.createConn("src", "s3", s3creds(srv, srv.Endpoint, bucket))
	dst := c.createConn("dst", "local", map[string]any{"path": filepath.Join(n.roots, "plans")})
	var p struct {
		ID int64 `json:"id"`
	}
	if st := c.do("POST", "/api/v1/plans", map[string]any{"name": "every-3s", "source_connection_id": src, "destination_connection_id": dst,
		"schedule": "@every 3s", "retention": map[string]any{"keep_last": 2}}, &p); st != 201 {
		t.Fatalf("create plan: %d", st)
	}

	cat, err := store.Open(context.Background(), n.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	events := func() []store.PlanEvent {
		t.Helper()
		evs, _, err := cat.ListPlanEvents(context.Background(), p.ID, store.Page{Page: 1, PerPage: 500})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	check := func(phase string) (runs, others int, last time.Time) {
		t.Helper()
		// A claim writes its history line and its backup in one
		// transaction, but the two reads here are separate: read the
		// history again after the backups and start over when a claim
		// landed in between, so both counts come from the same moment.
		var evs []store.PlanEvent
		var backups int64
		for {
			before := events()
			_, n, err := cat.ListBackups(context.Background(), store.BackupFilter{PlanID: p.ID}, store.Page{Page: 1, PerPage: 1})
			if err != nil {
				t.Fatal(err)
			}
			evs, backups = events(), n
			if len(evs) == len(before) {
				break
			}
		}
		seen := map[time.Time]bool{}
		for _, ev := range evs {
			if ev.DueAt == nil {
				continue // prunes
			}
			if seen[*ev.DueAt] {
				t.Fatalf("%s: due time %s has two lines in the history", phase, ev.DueAt)
			}
			seen[*ev.DueAt] = true
			if ev.Kind == store.PlanEventRun {
				runs++
			} else {
				others++
			}
			if ev.DueAt.After(last) {
				last = *ev.DueAt
			}
		}
		if int(backups) != runs {
			t.Fatalf("%s: %d runs in the history, %d backups", phase, runs, backups)
		}
		t.Logf("%s: %d due times claimed once each: %d runs (= %d backups), %d skipped or missed", phase, len(seen), runs, backups, others)
		return runs, others, last
	}

	time.Sleep(32 * time.Second)
	runs, others, lastBefore := check("three processes")
	if runs+others < 9 {
		t.Fatalf("about 10 due times passed, %d were claimed", runs+others)
	}

	a.kill()
	killed := time.Now()
	time.Sleep(35 * time.Second)
	runs2, others2, lastAfter := check("after SIGKILL of coffer serve")
	if runs2 <= runs || !lastAfter.After(lastBefore) {
		t.Fatalf("no run after the serve process was killed (runs %d -> %d)", runs, runs2)
	}
	evs, _, _ := cat.ListPlanEvents(context.Background(), p.ID, store.Page{Page: 1, PerPage: 500})
	var firstAfter time.Time
	for _, ev := range evs {
		if ev.DueAt != nil && ev.CreatedAt.After(killed) && (firstAfter.IsZero() || ev.CreatedAt.Before(firstAfter)) {
			firstAfter = ev.CreatedAt
		}
	}
	t.Logf("first due time handled %.1f s after the kill; %d + %d lines since", firstAfter.Sub(killed).Seconds(), runs2-runs, others2-others)

	// A new server disables the plan, lets the last run end and prunes.
	a2 := n.start(t, "serve", fast...)
	c2 := a2.login(t)
	if st := c2.do("PUT", fmt.Sprintf("/api/v1/plans/%d", p.ID), map[string]any{"name": "every-3s", "source_connection_id": src,
		"destination_connection_id": dst, "schedule": "@every 3s", "retention": map[string]any{"keep_last": 2}, "enabled": false}, nil); st != 200 {
		t.Fatalf("disable plan: %d", st)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		active := 0
		for _, s := range store.ActiveStatuses {
			_, k, err := cat.ListBackups(context.Background(), store.BackupFilter{PlanID: p.ID, Status: s}, store.Page{Page: 1, PerPage: 1})
			if err != nil {
				t.Fatal(err)
			}
			active += int(k)
		}
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backups of the plan still active", active)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := c2.do("POST", fmt.Sprintf("/api/v1/plans/%d/prune", p.ID), nil, nil); st != 200 {
		t.Fatalf("prune: %d", st)
	}
	var archives, sidecars int
	_ = filepath.WalkDir(filepath.Join(n.roots, "plans"), func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasSuffix(path, ".tar.gz"):
			archives++
		case strings.HasSuffix(path, ".tar.gz.sha256"):
			sidecars++
		}
		return nil
	})
	if archives != 2 || sidecars != 2 {
		t.Fatalf("keep_last 2 left %d archives and %d sidecars", archives, sidecars)
	}
	t.Logf("%d runs in all; keep_last 2 left 2 archives and 2 sidecars", runs2)
}
