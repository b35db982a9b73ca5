package encryption_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

func newService(t *testing.T) (*encryption.Service, *store.Store) {
	t.Helper()
	st := storetest.SQLite(t)
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s := encryption.New(st, keys)
	s.SetScryptWorkFactor(10)
	return s, st
}

// roundTrip encrypts a message for recipients and opens it with ids.
func roundTrip(t *testing.T, rs []age.Recipient, ids []age.Identity) error {
	t.Helper()
	var buf bytes.Buffer
	w, err := agecrypt.NewWriter(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("the archive")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := agecrypt.NewReader(&buf, ids...)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	if err == nil && string(got) != "the archive" {
		t.Fatalf("decrypted %q", got)
	}
	return err
}

// TestKeysOpenWhatTheyEncrypt: for each kind of key, what Recipients seals,
// Identities opens (from what coffer keeps or from what a restore gives),
// and another key's identity does not.
func TestKeysOpenWhatTheyEncrypt(t *testing.T) {
	t.Parallel()
	s, st := newService(t)
	ctx := context.Background()
	kept, err := s.Create(ctx, encryption.Input{Name: "kept", Type: store.KeyX25519, Generate: true, KeepIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	offline, err := s.Create(ctx, encryption.Input{Name: "offline", Type: store.KeyX25519, Generate: true})
	if err != nil {
		t.Fatal(err)
	}
	pass, err := s.Create(ctx, encryption.Input{Name: "pass", Type: store.KeyPassphrase, Passphrase: "twelve chars or more"})
	if err != nil {
		t.Fatal(err)
	}
	// What the catalog holds: sealed secrets only, none for the offline key.
	for _, k := range []*encryption.Key{kept, offline, pass} {
		row, err := st.GetEncryptionKey(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k == offline && row.Secret != nil {
			t.Fatal("coffer stored the identity of a key told not to keep it")
		}
		if bytes.Contains(row.Secret, []byte("AGE-SECRET-KEY")) || bytes.Contains(row.Secret, []byte("twelve chars")) {
			t.Fatalf("key %s is stored in the clear", k.Name)
		}
	}
	for _, tc := range []struct {
		key  *encryption.Key
		give engine.Unlock
	}{
		{kept, engine.Unlock{}},
		{offline, engine.Unlock{Identity: offline.Identity}},
		{pass, engine.Unlock{}},
		{pass, engine.Unlock{Passphrase: "twelve chars or more"}},
	} {
		rs, err := s.Recipients(ctx, tc.key.ID)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := s.Identities(ctx, tc.key.ID, tc.give)
		if err != nil {
			t.Fatalf("%s: %v", tc.key.Name, err)
		}
		if err := roundTrip(t, rs, ids); err != nil {
			t.Fatalf("%s: %v", tc.key.Name, err)
		}
		other, _ := s.Identities(ctx, kept.ID, engine.Unlock{})
		if tc.key != kept {
			if err := roundTrip(t, rs, other); !errors.Is(err, agecrypt.ErrWrongKey) {
				t.Fatalf("%s opened with another key: %v", tc.key.Name, err)
			}
		}
	}
	_, err = s.Identities(ctx, offline.ID, engine.Unlock{})
	if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Invalid || !strings.Contains(ae.Message, `does not keep the identity of key "offline"`) {
		t.Fatalf("no identity for a key coffer does not keep: %v", err)
	}
	if _, err := s.Identities(ctx, offline.ID, engine.Unlock{Identity: "AGE-SECRET-KEY-1NOPE"}); err == nil || strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("a broken identity: %v (must be refused without repeating it)", err)
	}
	if _, err := s.Recipients(ctx, 999); err == nil {
		t.Fatal("Recipients of a key that does not exist")
	}
	if s.KeyName(ctx, pass.ID) != "pass" || s.KeyName(ctx, 999) != "key 999" {
		t.Fatal("KeyName")
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, encryption.Input{Name: "dup", Type: store.KeyX25519, Generate: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in    encryption.Input
		field string
	}{
		{encryption.Input{Type: store.KeyX25519, Generate: true}, "name"},
		{encryption.Input{Name: strings.Repeat("n", 101), Type: store.KeyX25519, Generate: true}, "name"},
		{encryption.Input{Name: "dup", Type: store.KeyX25519, Generate: true}, "name"},
		{encryption.Input{Name: "x"}, "type"},
		{encryption.Input{Name: "x", Type: "rsa"}, "type"},
		{encryption.Input{Name: "x", Type: store.KeyX25519}, "recipient"},
		{encryption.Input{Name: "x", Type: store.KeyX25519, Generate: true, Recipient: "age1x"}, "recipient"},
		{encryption.Input{Name: "x", Type: store.KeyX25519, Recipient: "ssh-ed25519 AAAA"}, "recipient"},
		{encryption.Input{Name: "x", Type: store.KeyX25519, Generate: true, Passphrase: "p"}, "passphrase"},
		{encryption.Input{Name: "x", Type: store.KeyPassphrase, Passphrase: "eleven char"}, "passphrase"},
		{encryption.Input{Name: "x", Type: store.KeyPassphrase, Passphrase: "long enough pass", Generate: true}, "type"},
	} {
		_, err := s.Create(ctx, tc.in)
		ae, ok := apperr.As(err)
		if !ok || ae.Fields[tc.field] == "" {
			t.Errorf("%+v: %v, want a problem with %q", tc.in, err, tc.field)
		}
	}
	if _, err := encryption.DecodeInput([]byte(`{"name":"x","type":"x25519","extra":1}`)); err == nil {
		t.Fatal("an unknown member was accepted")
	}
}
