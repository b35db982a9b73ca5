package agecrypt

import (
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
)

func TestGenerateX25519(t *testing.T) {
	t.Parallel()
	id1, rec1, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	id2, rec2, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id1, "AGE-SECRET-KEY-1") || !strings.HasPrefix(rec1, "age1") {
		t.Fatalf("generated %q / %q", id1[:16], rec1)
	}
	if id1 == id2 || rec1 == rec2 {
		t.Fatal("two generated keys are the same")
	}
	ids, err := ParseIdentities(id1)
	if err != nil {
		t.Fatal(err)
	}
	if x, ok := ids[0].(*age.X25519Identity); !ok || x.Recipient().String() != rec1 {
		t.Fatalf("the identity parsed back is %T, not the pair of %s", ids[0], rec1)
	}
}

// invalid checks that err is an apperr.Invalid error whose message has want
// and does not have secret.
func invalid(t *testing.T, err error, want, secret string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid {
		t.Fatalf("error %v is not an apperr.Invalid error", err)
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("message %q does not say %q", e.Message, want)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q repeats the secret input", err)
	}
}

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	id, rec, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{rec, "  " + rec + "\n", "# public key: " + rec, "Public key: " + rec + "\n"} {
		r, err := ParseRecipient(in)
		if err != nil {
			t.Fatalf("ParseRecipient(%q): %v", in, err)
		}
		if r.String() != rec {
			t.Fatalf("ParseRecipient(%q) = %s", in, r)
		}
	}
	// The recipient with its last character (part of the checksum) changed.
	last := "q"
	if strings.HasSuffix(rec, last) {
		last = "p"
	}
	cases := []struct{ in, want, secret string }{
		{"", "empty", ""},
		{" \n", "empty", ""},
		{id, "secret identity", id[16:]},
		{strings.ToLower(id), "secret identity", strings.ToLower(id[16:])},
		{"age1pq1" + strings.Repeat("q", 50), "Post-quantum", ""},
		{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "SSH keys", ""},
		{"hello", "must start with age1", ""},
		{rec[:len(rec)-1] + last, "not a valid age public key", ""},
		{rec[:20], "not a valid age public key", ""},
	}
	for _, c := range cases {
		_, err := ParseRecipient(c.in)
		invalid(t, err, c.want, c.secret)
	}
}

func TestParseIdentities(t *testing.T) {
	t.Parallel()
	id1, rec1, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	id2, _, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := "# created: 2026-01-02T03:04:05Z\n# public key: " + rec1 + "\n" + id1 + "\n\n" + id2 + "\n"
	for in, n := range map[string]int{id1: 1, " " + id2 + "\n": 1, keyFile: 2} {
		ids, err := ParseIdentities(in)
		if err != nil {
			t.Fatalf("ParseIdentities: %v", err)
		}
		if len(ids) != n {
			t.Fatalf("%d identities, want %d", len(ids), n)
		}
	}
	// The last character changed breaks the checksum; it must differ from
	// the one it replaces (1 key in 32 ends in Q already).
	other := "Q"
	if strings.HasSuffix(id1, "Q") {
		other = "P"
	}
	cases := []struct{ in, want, secret string }{
		{"", "empty", ""},
		{rec1, "public recipient", ""},
		{id1[:len(id1)-1] + other, "not a valid age secret key", id1[16 : len(id1)-1]},
		{id1[:40], "not a valid age secret key", id1[16:40]},
		{"AGE-SECRET-KEY-1 " + id1[16:], "not a valid age secret key", id1[16:]},
		{"# only a comment\n", "not a valid age secret key", ""},
	}
	for _, c := range cases {
		_, err := ParseIdentities(c.in)
		invalid(t, err, c.want, c.secret)
	}
}

func TestPassphrase(t *testing.T) {
	t.Parallel()
	if _, err := PassphraseRecipient(""); err == nil {
		t.Error("an empty passphrase recipient was accepted")
	}
	if _, err := PassphraseIdentity(""); err == nil {
		t.Error("an empty passphrase identity was accepted")
	}
}
