package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// TestChains: a backup run records its mode and base under its lease, and
// changed_objects as it completes; PreviousBackup finds what an incremental
// builds on (same source, destination and plan, completed, pruned or not);
// Dependents maps each base to the kept or unfinished backups built on it;
// a plan keeps full_every (default "7").
func TestChains(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		run := func(mode string, base int64, changed *int64) *store.BackupOperation {
			t.Helper()
			b := f.backup(t, s, store.StatusPending)
			tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w1", time.Now(), time.Minute)
			mustNil(t, err)
			_, err = s.TransitionOperation(ctx, nil, store.KindBackup, b.ID, []string{store.StatusPending}, store.StatusRunning)
			mustNil(t, err)
			wantErr(t, s.SetBackupMode(ctx, b.ID, tok+1, mode, base), store.ErrLeaseLost)
			if err := s.SetBackupMode(ctx, b.ID, tok, "differential", 0); err == nil || errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("an unknown mode: %v", err)
			}
			mustNil(t, s.SetBackupMode(ctx, b.ID, tok, mode, base))
			mustNil(t, s.CompleteBackup(ctx, b.ID, tok, store.BackupResult{ArchivePath: fmt.Sprintf("src/%d.tar.gz", b.ID), ArchiveSize: 10,
				SHA256: "ab", ChangedObjects: changed}))
			got, err := s.GetBackup(ctx, b.ID)
			mustNil(t, err)
			return got
		}
		three, one := int64(3), int64(1)
		full := run(store.ModeFull, 0, &three)
		if full.Mode != store.ModeFull || full.BaseBackupID != 0 || full.ChangedObjects == nil || *full.ChangedObjects != 3 {
			t.Fatalf("full: %s %d %v", full.Mode, full.BaseBackupID, full.ChangedObjects)
		}
		inc := run(store.ModeIncremental, full.ID, &one)
		if inc.Mode != store.ModeIncremental || inc.BaseBackupID != full.ID || *inc.ChangedObjects != 1 {
			t.Fatalf("incremental: %s %d %v", inc.Mode, inc.BaseBackupID, inc.ChangedObjects)
		}
		mongo := run(store.ModeFull, 0, nil)
		if mongo.ChangedObjects != nil {
			t.Fatalf("changed_objects of a backup that counts none: %v", *mongo.ChangedObjects)
		}
		pending := f.backup(t, s, store.StatusPending)
		if pending.Mode != store.ModeFull || pending.ChangedObjects != nil {
			t.Fatalf("a new backup: %s %v", pending.Mode, pending.ChangedObjects)
		}

		prev, err := s.PreviousBackup(ctx, f.src.ID, f.dst.ID, 0, mongo.ID)
		mustNil(t, err)
		if prev.ID != inc.ID {
			t.Fatalf("PreviousBackup before #%d = #%d, want #%d", mongo.ID, prev.ID, inc.ID)
		}
		prev, err = s.PreviousBackup(ctx, f.src.ID, f.dst.ID, 0, inc.ID)
		mustNil(t, err)
		if prev.ID != full.ID {
			t.Fatalf("PreviousBackup before #%d = #%d, want #%d", inc.ID, prev.ID, full.ID)
		}
		_, err = s.PreviousBackup(ctx, f.src.ID, f.dst.ID, 0, full.ID)
		wantErr(t, err, store.ErrNotFound)
		p := &store.Plan{Name: "p", SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID, Schedule: "@daily", Timezone: "UTC", Verify: "none"}
		mustNil(t, s.CreatePlan(ctx, p))
		_, err = s.PreviousBackup(ctx, f.src.ID, f.dst.ID, p.ID, pending.ID)
		wantErr(t, err, store.ErrNotFound) // every backup so far is ad hoc

		deps, err := s.Dependents(ctx)
		mustNil(t, err)
		if fmt.Sprint(deps) != fmt.Sprintf("map[%d:[%d]]", full.ID, inc.ID) {
			t.Fatalf("Dependents = %v", deps)
		}
		mustNil(t, s.MarkPruned(ctx, inc.ID, store.PruneDeleted, time.Now()))
		deps, err = s.Dependents(ctx)
		mustNil(t, err)
		if len(deps) != 0 {
			t.Fatalf("Dependents after the incremental was pruned = %v", deps)
		}
		pruned, err := s.PreviousBackup(ctx, f.src.ID, f.dst.ID, 0, mongo.ID)
		mustNil(t, err)
		if pruned.ID != inc.ID || pruned.PrunedAt == nil {
			t.Fatalf("PreviousBackup finds pruned backups too (to say why a backup is full): %+v", pruned)
		}

		got, err := s.GetPlan(ctx, p.ID)
		mustNil(t, err)
		if got.FullEvery != store.DefaultFullEvery {
			t.Fatalf("full_every by default = %q", got.FullEvery)
		}
		got.FullEvery = "0 3 * * 0"
		mustNil(t, s.UpdatePlan(ctx, got))
		got, err = s.GetPlan(ctx, p.ID)
		mustNil(t, err)
		if got.FullEvery != "0 3 * * 0" {
			t.Fatalf("full_every after an update = %q", got.FullEvery)
		}
	})
}
