package store_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

func TestEncryptionKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		kept := &store.EncryptionKey{Name: "offsite", Type: store.KeyX25519, Recipient: "age1abc", KeepsIdentity: true, Secret: []byte("sealed-identity")}
		mustNil(t, s.CreateEncryptionKey(ctx, kept))
		bare := &store.EncryptionKey{Name: "cold", Type: store.KeyX25519, Recipient: "age1def"}
		mustNil(t, s.CreateEncryptionKey(ctx, bare))
		wantErr(t, s.CreateEncryptionKey(ctx, &store.EncryptionKey{Name: "cold", Type: store.KeyPassphrase}), store.ErrConflict)

		got, err := s.GetEncryptionKey(ctx, kept.ID)
		mustNil(t, err)
		if got.Name != "offsite" || !got.KeepsIdentity || string(got.Secret) != "sealed-identity" || !got.CreatedAt.Equal(kept.CreatedAt) {
			t.Fatalf("GetEncryptionKey = %+v", got)
		}
		if got, _ := s.GetEncryptionKey(ctx, bare.ID); got.Secret != nil {
			t.Fatalf("a key that keeps nothing has secret %q", got.Secret)
		}
		list, err := s.ListEncryptionKeys(ctx)
		mustNil(t, err)
		if len(list) != 2 || list[0].Name != "cold" || list[1].Name != "offsite" {
			t.Fatalf("ListEncryptionKeys = %+v", list)
		}

		// A plan that names a key keeps it; so does a kept backup.
		opts := json.RawMessage(fmt.Sprintf(`{"compression":"gzip","encryption_key_id":%d}`, kept.ID))
		plan := &store.Plan{Name: "nightly", SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID, Options: opts,
			Schedule: "0 3 * * *", Timezone: "UTC", Retention: json.RawMessage(`{}`), Verify: "none"}
		mustNil(t, s.CreatePlan(ctx, plan))
		var inUse *store.KeyInUseError
		if err := s.DeleteEncryptionKey(ctx, kept.ID); !errors.As(err, &inUse) || !errors.Is(err, store.ErrConflict) || inUse.What != `plan "nightly"` {
			t.Fatalf("delete a key a plan uses: %v", err)
		}
		mustNil(t, s.DeletePlan(ctx, plan.ID))
		b := &store.BackupOperation{SourceConnectionID: f.src.ID, DestinationConnectionID: f.dst.ID, Options: opts,
			Operation: store.Operation{Status: store.StatusCompleted}}
		mustNil(t, s.CreateBackup(ctx, nil, b))
		if err := s.DeleteEncryptionKey(ctx, kept.ID); !errors.As(err, &inUse) || inUse.What != fmt.Sprintf("backup %d", b.ID) {
			t.Fatalf("delete a key a kept backup uses: %v", err)
		}
		// Once its archive is pruned, the backup no longer holds the key.
		mustNil(t, s.MarkPruned(ctx, b.ID, store.PruneDeleted, time.Now()))
		mustNil(t, s.DeleteEncryptionKey(ctx, kept.ID))
		_, err = s.GetEncryptionKey(ctx, kept.ID)
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteEncryptionKey(ctx, kept.ID), store.ErrNotFound)
		// Another key's id in a plan is not this key.
		mustNil(t, s.DeleteEncryptionKey(ctx, bare.ID))
	})
}

func TestCheckpointAndRestoreSecrets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		f := newFixture(t, s)
		b := f.backup(t, s, store.StatusPending)
		tok, err := s.AcquireLease(ctx, store.KindBackup, b.ID, "w1", time.Now(), time.Minute)
		mustNil(t, err)
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 1}, []byte(`{"v":1}`), []byte("tail"), []byte("sealed-state"), nil))
		got, err := s.BackupCheckpointSecret(ctx, b.ID)
		mustNil(t, err)
		if string(got) != "sealed-state" {
			t.Fatalf("BackupCheckpointSecret = %q", got)
		}
		// A checkpoint without one clears it.
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 2}, []byte(`{"v":2}`), nil, nil, nil))
		if got, _ := s.BackupCheckpointSecret(ctx, b.ID); got != nil {
			t.Fatalf("secret after a plain checkpoint: %q", got)
		}

		done := f.backup(t, s, store.StatusCompleted)
		running := f.restore(t, s, done.ID, store.StatusRunning)
		ended := f.restore(t, s, done.ID, store.StatusRunning)
		for _, r := range []*store.RestoreOperation{running, ended} {
			mustNil(t, s.InTx(ctx, func(tx *sql.Tx) error {
				return s.SetRestoreSecretTx(ctx, tx, r.ID, []byte(fmt.Sprintf("sealed-%d", r.ID)))
			}))
		}
		_, err = s.TransitionOperation(ctx, nil, store.KindRestore, ended.ID, []string{store.StatusRunning}, store.StatusFailed)
		mustNil(t, err)
		if got, _ := s.RestoreSecret(ctx, ended.ID); got != nil {
			t.Fatalf("a restore moved to failed still has %q", got)
		}
		// A run's end forgets it too.
		finished := f.restore(t, s, done.ID, store.StatusPending)
		rtok, err := s.AcquireLease(ctx, store.KindRestore, finished.ID, "w1", time.Now(), time.Minute)
		mustNil(t, err)
		_, err = s.TransitionOperation(ctx, nil, store.KindRestore, finished.ID, []string{store.StatusPending}, store.StatusRunning)
		mustNil(t, err)
		mustNil(t, s.InTx(ctx, func(tx *sql.Tx) error { return s.SetRestoreSecretTx(ctx, tx, finished.ID, []byte("sealed")) }))
		mustNil(t, s.FinishRun(ctx, store.KindRestore, finished.ID, rtok, store.RunEnd{Status: store.StatusCompleted}))
		if got, _ := s.RestoreSecret(ctx, finished.ID); got != nil {
			t.Fatalf("a completed restore still has %q", got)
		}
		// What an earlier version left on an ended restore goes with the sweep.
		mustNil(t, s.InTx(ctx, func(tx *sql.Tx) error {
			return s.SetRestoreSecretTx(ctx, tx, ended.ID, []byte(fmt.Sprintf("sealed-%d", ended.ID)))
		}))
		n, err := s.ForgetRestoreSecrets(ctx)
		mustNil(t, err)
		if n != 1 {
			t.Fatalf("ForgetRestoreSecrets removed %d, want 1 (the ended restore's)", n)
		}
		if got, _ := s.RestoreSecret(ctx, ended.ID); got != nil {
			t.Fatalf("the ended restore still has %q", got)
		}
		if got, _ := s.RestoreSecret(ctx, running.ID); string(got) != fmt.Sprintf("sealed-%d", running.ID) {
			t.Fatalf("the running restore has %q", got)
		}

		// Key rotation reseals every sealed column, these included.
		key := &store.EncryptionKey{Name: "k", Type: store.KeyPassphrase, KeepsIdentity: true, Secret: []byte("sealed-pass")}
		mustNil(t, s.CreateEncryptionKey(ctx, key))
		mustNil(t, s.SaveBackupCheckpoint(ctx, b.ID, tok, store.Progress{ItemsDone: 3}, []byte(`{"v":3}`), nil, []byte("sealed-state"), nil))
		seen := map[string]bool{}
		_, err = s.RotateCredentials(ctx, func(_ int64, sealed []byte) ([]byte, error) {
			seen[string(sealed)] = true
			return append([]byte("re-"), sealed...), nil
		})
		mustNil(t, err)
		for _, want := range []string{"sealed-pass", "sealed-state", fmt.Sprintf("sealed-%d", running.ID)} {
			if !seen[want] {
				t.Errorf("rotation did not reseal %q (saw %v)", want, seen)
			}
		}
		if k, _ := s.GetEncryptionKey(ctx, key.ID); !bytes.Equal(k.Secret, []byte("re-sealed-pass")) {
			t.Fatalf("the key's secret after rotation: %q", k.Secret)
		}
	})
}
