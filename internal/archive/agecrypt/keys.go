package agecrypt

import (
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// GenerateX25519 makes a new X25519 key pair: the identity
// ("AGE-SECRET-KEY-1…", secret: shown once, kept offline or sealed) and its
// recipient ("age1…", public).
func GenerateX25519() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("generating an age key: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

// ParseRecipient reads an X25519 recipient ("age1…") pasted by a user, as
// age-keygen prints it (a "# public key:" or "Public key:" prefix and
// surrounding spaces are accepted). A wrong value is an apperr.Invalid
// error that says what to paste; it never repeats a secret key.
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	s = strings.TrimSpace(s)
	for _, prefix := range []string{"# public key:", "public key:"} {
		if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			s = strings.TrimSpace(s[len(prefix):])
		}
	}
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return nil, apperr.New(apperr.Invalid, "The recipient is empty: paste the public key (age1…) that age-keygen printed.")
	case strings.HasPrefix(lower, "age-secret-key-"):
		return nil, apperr.New(apperr.Invalid,
			"This is a secret identity (AGE-SECRET-KEY-…), not a recipient: paste the public key (age1…) instead, and keep the identity offline.")
	case strings.HasPrefix(lower, "age1pq1"):
		return nil, apperr.New(apperr.Invalid,
			"Post-quantum age recipients (age1pq1…) are not supported yet: paste an X25519 public key (age1…) made with age-keygen.")
	case strings.HasPrefix(lower, "ssh-"):
		return nil, apperr.New(apperr.Invalid,
			"SSH keys are not supported as recipients: paste an age public key (age1…) made with age-keygen.")
	case !strings.HasPrefix(lower, "age1"):
		return nil, apperr.New(apperr.Invalid, "The recipient is not an age public key: it must start with age1 (as age-keygen prints it).")
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, apperr.Wrap(apperr.Invalid, err,
			"The recipient is not a valid age public key (age1…): check that it was pasted whole.")
	}
	return r, nil
}

// ParseIdentities reads the X25519 identity a user gives: one
// "AGE-SECRET-KEY-1…" line, or a whole key file as age-keygen writes it
// (comment lines, possibly several keys). Pass the result to NewReader. A
// wrong value is an apperr.Invalid error that never repeats the input.
func ParseIdentities(s string) ([]age.Identity, error) {
	s = strings.TrimSpace(s)
	switch lower := strings.ToLower(s); {
	case s == "":
		return nil, apperr.New(apperr.Invalid, "The identity is empty: paste the secret key (AGE-SECRET-KEY-1…) of the archive's key.")
	case strings.HasPrefix(lower, "age1"):
		return nil, apperr.New(apperr.Invalid,
			"This is a public recipient (age1…), which cannot decrypt: paste the secret key (AGE-SECRET-KEY-1…) instead.")
	}
	ids, err := age.ParseIdentities(strings.NewReader(s))
	if err != nil {
		// age's message may quote part of the input: keep it out.
		return nil, apperr.New(apperr.Invalid,
			"The identity is not a valid age secret key (AGE-SECRET-KEY-1…): check that it was pasted whole.")
	}
	return ids, nil
}

// PassphraseRecipient is age's scrypt recipient for passphrase, with age's
// default work factor (2^18; a test may lower it with SetWorkFactor). It
// must be the file's only recipient.
func PassphraseRecipient(passphrase string) (*age.ScryptRecipient, error) {
	if passphrase == "" {
		return nil, apperr.New(apperr.Invalid, "The passphrase is empty.")
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("making a passphrase recipient: %w", err)
	}
	return r, nil
}

// PassphraseIdentity is age's scrypt identity for passphrase; it accepts
// work factors up to age's default limit (2^22).
func PassphraseIdentity(passphrase string) (*age.ScryptIdentity, error) {
	if passphrase == "" {
		return nil, apperr.New(apperr.Invalid, "The passphrase is empty.")
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("making a passphrase identity: %w", err)
	}
	return id, nil
}

// GivenIdentities are the identities of what a user gave to open an
// archive: an identity (see ParseIdentities) or else a passphrase; none,
// and no error, when neither was given.
func GivenIdentities(identity, passphrase string) ([]age.Identity, error) {
	switch {
	case identity != "":
		return ParseIdentities(identity)
	case passphrase != "":
		id, err := PassphraseIdentity(passphrase)
		if err != nil {
			return nil, err
		}
		return []age.Identity{id}, nil
	}
	return nil, nil
}
