package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

func TestVerifications(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusCompleted)
		v := &store.VerifyOperation{BackupOperationID: b.ID}
		mustNil(t, s.CreateVerification(ctx, nil, v))
		if v.Status != store.StatusPending || string(v.Result) != "{}" {
			t.Fatalf("created %+v", v)
		}
		wantErr(t, s.CreateVerification(ctx, nil, &store.VerifyOperation{BackupOperationID: b.ID + 100}), store.ErrNotFound)
		act, err := s.ActiveVerification(ctx, b.ID)
		mustNil(t, err)
		if act.ID != v.ID {
			t.Fatalf("ActiveVerification = %d, want %d", act.ID, v.ID)
		}
		now := time.Now()
		tok, err := s.AcquireLease(ctx, store.KindVerify, v.ID, "w1", now, time.Minute)
		mustNil(t, err)
		_, err = s.TransitionOperation(ctx, nil, store.KindVerify, v.ID, []string{store.StatusPending}, store.StatusRunning)
		mustNil(t, err)
		mustNil(t, s.AppendLog(ctx, &store.JobLog{OperationKind: store.KindVerify, OperationID: v.ID, Level: store.LevelInfo, Message: "reading"}))
		wantErr(t, s.FinishVerification(ctx, v.ID, tok+1, store.RunEnd{Status: store.StatusCompleted}, []byte(`{}`)), store.ErrLeaseLost)
		res := []byte(`{"entries_checked":3,"bytes_read":10,"problems":[{"message":"x"}]}`)
		mustNil(t, s.FinishVerification(ctx, v.ID, tok, store.RunEnd{Status: store.StatusFailed, ErrorMessage: "1 problem",
			Progress: &store.Progress{BytesRead: 10}}, res))
		got, err := s.GetVerification(ctx, v.ID)
		mustNil(t, err)
		var a, w any
		_ = json.Unmarshal(got.Result, &a)
		_ = json.Unmarshal(res, &w)
		if got.Status != store.StatusFailed || got.ErrorMessage != "1 problem" || fmt.Sprint(a) != fmt.Sprint(w) || got.Progress.BytesRead != 10 {
			t.Fatalf("finished %+v result %s", got, got.Result)
		}
		gb, err := s.GetBackup(ctx, b.ID)
		mustNil(t, err)
		if gb.LastVerifyStatus != store.VerifyFailed || gb.LastVerifiedAt == nil {
			t.Fatalf("backup after a failed verification: %q %v", gb.LastVerifyStatus, gb.LastVerifiedAt)
		}
		wantErr(t, func() error { _, err := s.ActiveVerification(ctx, b.ID); return err }(), store.ErrNotFound)
		list, n, err := s.ListVerifications(ctx, store.VerifyFilter{BackupID: b.ID}, store.Page{Page: 1, PerPage: 10})
		mustNil(t, err)
		if n != 1 || len(list) != 1 || list[0].ID != v.ID {
			t.Fatalf("ListVerifications = %d %+v", n, list)
		}
		logs, err := s.ListLogs(ctx, store.KindVerify, v.ID, 0, 10)
		mustNil(t, err)
		if len(logs) != 1 {
			t.Fatalf("verification logs %+v", logs)
		}
	})
}

func TestImportBackup(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		entries := func(n int) func() (store.ArchiveEntry, bool, error) {
			i := 0
			return func() (store.ArchiveEntry, bool, error) {
				if i == n {
					return store.ArchiveEntry{}, false, nil
				}
				i++
				return store.ArchiveEntry{Seq: int64(i - 1), Data: json.RawMessage(fmt.Sprintf(`{"name":"objects/%d"}`, i))}, true, nil
			}
		}
		started := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		op := &store.BackupOperation{DestinationConnectionID: f.dst.ID, ArchivePath: "src/a.tar.gz", ArchiveSize: 99, SHA256: "ab",
			Metadata: json.RawMessage(`{"source_name":"src"}`), Operation: store.Operation{StartedAt: &started, CompletedAt: &started}}
		mustNil(t, s.ImportBackup(ctx, op, entries(2500)))
		got, err := s.GetBackup(ctx, op.ID)
		mustNil(t, err)
		if !got.Imported || got.Status != store.StatusCompleted || got.SourceConnectionID != 0 || got.ArchivePath != "src/a.tar.gz" || got.ArchiveSize != 99 {
			t.Fatalf("imported backup %+v", got)
		}
		page, err := s.ListArchiveEntries(ctx, op.ID, 2400, 1000)
		mustNil(t, err)
		if len(page) != 99 {
			t.Fatalf("%d entries after 2400, want 99", len(page))
		}
		again := &store.BackupOperation{DestinationConnectionID: f.dst.ID, ArchivePath: "src/a.tar.gz"}
		wantErr(t, s.ImportBackup(ctx, again, entries(1)), store.ErrConflict)
		found, err := s.BackupByArchive(ctx, f.dst.ID, "src/a.tar.gz")
		mustNil(t, err)
		if found.ID != op.ID {
			t.Fatalf("BackupByArchive = %d, want %d", found.ID, op.ID)
		}
		// A failing entry source records nothing.
		bad := &store.BackupOperation{DestinationConnectionID: f.dst.ID, ArchivePath: "src/b.tar.gz"}
		err = s.ImportBackup(ctx, bad, func() (store.ArchiveEntry, bool, error) { return store.ArchiveEntry{}, false, fmt.Errorf("boom") })
		if err == nil {
			t.Fatal("ImportBackup with a failing entry source succeeded")
		}
		wantErr(t, func() error { _, err := s.BackupByArchive(ctx, f.dst.ID, "src/b.tar.gz"); return err }(), store.ErrNotFound)
	})
}

func TestPlanVerifySchedule(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		due := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
		p := &store.Plan{Name: "p", SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID, Schedule: "@daily",
			Timezone: "UTC", Verify: "@weekly", Enabled: true, NextVerifyAt: &due}
		mustNil(t, s.CreatePlan(ctx, p))
		plans, err := s.PlansDueForVerify(ctx, time.Now())
		mustNil(t, err)
		if len(plans) != 1 || plans[0].NextVerifyAt == nil || !plans[0].NextVerifyAt.Equal(due) {
			t.Fatalf("PlansDueForVerify = %+v", plans)
		}
		next := due.Add(7 * 24 * time.Hour)
		ok, err := s.ClaimPlanVerify(ctx, p.ID, &due, &next)
		mustNil(t, err)
		if !ok {
			t.Fatal("first claim refused")
		}
		if ok, _ := s.ClaimPlanVerify(ctx, p.ID, &due, &next); ok {
			t.Fatal("second claim of the same due time accepted")
		}
		if plans, _ := s.PlansDueForVerify(ctx, time.Now()); len(plans) != 0 {
			t.Fatalf("still due after the claim: %+v", plans)
		}
	})
}
