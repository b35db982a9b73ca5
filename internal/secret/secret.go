// Package secret encrypts connection credentials at rest with AES-256-GCM.
//
// # Keys
//
// A [Keyring] holds one active key, used for every new [Keyring.Seal], and any
// number of older keys, kept only so that values sealed before a rotation can
// still be opened. Every key has a short id (1 to 32 characters from
// [A-Za-z0-9_-]) that is stored in each sealed value, so [Keyring.Open] knows
// which key to use.
//
// The keys come from one of two places (see [Load]):
//
//   - the COFFER_SECRET_KEY environment variable, when it is set: either the
//     standard base64 of 32 random bytes (for example the output of
//     `openssl rand -base64 32`), whose key id is then derived from the key, or
//     a comma-separated list "id:base64,id:base64,..." whose first entry is the
//     active key;
//   - otherwise the file <data dir>/secret.key, created with mode 0600 and a
//     fresh random key on first start. It holds the same "id:base64" entries,
//     one per line, the active key first; empty lines and lines starting with
//     '#' are ignored.
//
// # Sealed values
//
// A sealed value (an envelope) is, byte by byte:
//
//	version (1 byte, currently 1)
//	key id length n (1 byte, 1..32)
//	key id (n bytes)
//	header check (4 bytes: the first 4 bytes of SHA-256 over the bytes above)
//	nonce (12 random bytes, fresh for every Seal)
//	AES-256-GCM ciphertext and 16-byte tag
//
// The version, length and key id are the GCM additional data, so they cannot
// be altered without [Keyring.Open] noticing. The header check is not a
// security measure (GCM is); it lets Open tell a corrupted header
// ([ErrTampered]) from a value sealed with a key the keyring does not hold
// ([ErrUnknownKey]).
//
// # Rotation
//
// Rotating the key without losing any stored credential goes like this
// (`coffer keys rotate` does it):
//
//  1. next, err := current.Rotate() — a new active key, the old ones kept;
//  2. next.SaveFile(dataDir) — the key file now holds both, so a crash from
//     here on loses nothing (users of COFFER_SECRET_KEY set it to
//     next.EncodeEnv() instead);
//  3. in one database transaction, replace every sealed value v by
//     next.Reseal(v);
//  4. next.WithoutOldKeys().SaveFile(dataDir) — only the new key remains
//     (or COFFER_SECRET_KEY = next.WithoutOldKeys().EncodeEnv()).
//
// If step 3 fails, the transaction rolls back and the file from step 2 still
// opens every row; running the rotation again is safe.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of every key in bytes (AES-256).
const KeySize = 32

// KeyFileName is the name of the key file inside the data directory.
const KeyFileName = "secret.key"

// EnvVar is the environment variable that may hold the keys instead of the file.
const EnvVar = "COFFER_SECRET_KEY"

const (
	envelopeVersion = 1
	maxKeyIDLen     = 32
	headerCheckLen  = 4
	nonceLen        = 12
	tagLen          = 16
)

// ErrTampered reports a sealed value that was altered, truncated or is not a
// sealed value at all, or that does not open with the key its id names.
var ErrTampered = errors.New("secret: sealed value is damaged or was altered")

// ErrUnknownKey reports a sealed value whose key id is not in the keyring:
// it was sealed with a key that has since been removed or was never loaded.
var ErrUnknownKey = errors.New("secret: sealed value names a key that is not loaded")

// key is one AES-256 key with its id.
type key struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// Keyring holds the active key and the older keys. It is immutable after
// creation and safe for concurrent use.
type Keyring struct {
	keys []*key // keys[0] is the active key
	byID map[string]*key
}

// newKeyring builds a keyring from keys, the first being the active one.
func newKeyring(keys []*key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret: a keyring needs at least one key")
	}
	k := &Keyring{keys: keys, byID: make(map[string]*key, len(keys))}
	for _, kk := range keys {
		if _, dup := k.byID[kk.id]; dup {
			return nil, errors.New("two entries have the same key id")
		}
		k.byID[kk.id] = kk
	}
	return k, nil
}

// makeKey checks id and raw and prepares the cipher.
func makeKey(id string, raw []byte) (*key, error) {
	if err := validKeyID(id); err != nil {
		return nil, err
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("a key is %d bytes long, but it must be exactly %d bytes", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("prepare an AES key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("prepare AES-GCM: %w", err)
	}
	return &key{id: id, raw: bytes.Clone(raw), aead: aead}, nil
}

// validKeyID reports whether id is 1..32 characters of [A-Za-z0-9_-].
func validKeyID(id string) error {
	if id == "" {
		return errors.New("a key id is empty")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("a key id is longer than %d characters", maxKeyIDLen)
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return errors.New("a key id may only contain letters, digits, '_' and '-'")
		}
	}
	return nil
}

// derivedKeyID is the id given to a key that comes without one: 8 hex
// characters of a hash of the key. It reveals nothing usable about a random
// 256-bit key and stays the same every time the key is loaded.
func derivedKeyID(raw []byte) string {
	h := sha256.New()
	h.Write([]byte("coffer secret key id\x00"))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// generateKey returns a fresh random key with a derived id.
func generateKey() (*key, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate a random key: %w", err)
	}
	return makeKey(derivedKeyID(raw), raw)
}

// Generate returns a keyring with one fresh random key.
func Generate() (*Keyring, error) {
	kk, err := generateKey()
	if err != nil {
		return nil, err
	}
	return newKeyring([]*key{kk})
}

// ActiveKeyID returns the id of the key that Seal uses.
func (k *Keyring) ActiveKeyID() string { return k.keys[0].id }

// KeyIDs returns the ids of all keys, the active one first.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, len(k.keys))
	for i, kk := range k.keys {
		ids[i] = kk.id
	}
	return ids
}

// String describes the keyring without revealing any key, so that printing
// it by accident leaks nothing.
func (k *Keyring) String() string {
	return fmt.Sprintf("secret.Keyring{active: %s, keys: %d}", k.ActiveKeyID(), len(k.keys))
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

// header returns the envelope header (version, id length, id): the GCM
// additional data.
func header(id string) []byte {
	h := make([]byte, 0, 2+len(id))
	h = append(h, envelopeVersion, byte(len(id)))
	return append(h, id...)
}

// headerCheck returns the 4-byte check of an envelope header.
func headerCheck(h []byte) []byte {
	sum := sha256.Sum256(h)
	return sum[:headerCheckLen]
}

// Seal encrypts plaintext with the active key and a fresh random nonce and
// returns the envelope described in the package documentation.
func (k *Keyring) Seal(plaintext []byte) ([]byte, error) {
	active := k.keys[0]
	h := header(active.id)
	out := make([]byte, 0, len(h)+headerCheckLen+nonceLen+len(plaintext)+tagLen)
	out = append(out, h...)
	out = append(out, headerCheck(h)...)
	nonceStart := len(out)
	out = out[:nonceStart+nonceLen]
	if _, err := rand.Read(out[nonceStart:]); err != nil {
		return nil, fmt.Errorf("secret: generate a nonce: %w", err)
	}
	return active.aead.Seal(out, out[nonceStart:], plaintext, h), nil
}

// parsed is an envelope split into its parts.
type parsed struct {
	header     []byte
	keyID      string
	nonce      []byte
	ciphertext []byte
}

// parseEnvelope splits sealed into its parts, failing with ErrTampered on any
// malformed or damaged header.
func parseEnvelope(sealed []byte) (parsed, error) {
	if len(sealed) < 2 {
		return parsed{}, fmt.Errorf("%w: it is only %d bytes long", ErrTampered, len(sealed))
	}
	n := int(sealed[1])
	if n < 1 || n > maxKeyIDLen {
		return parsed{}, fmt.Errorf("%w: its key id length %d is out of range", ErrTampered, n)
	}
	hdrLen := 2 + n
	if len(sealed) < hdrLen+headerCheckLen+nonceLen+tagLen {
		return parsed{}, fmt.Errorf("%w: it is too short (%d bytes)", ErrTampered, len(sealed))
	}
	hdr := sealed[:hdrLen]
	if !bytes.Equal(headerCheck(hdr), sealed[hdrLen:hdrLen+headerCheckLen]) {
		return parsed{}, fmt.Errorf("%w: its header check does not match", ErrTampered)
	}
	if hdr[0] != envelopeVersion {
		return parsed{}, fmt.Errorf("%w: envelope version %d is not supported", ErrTampered, hdr[0])
	}
	id := string(hdr[2:])
	if err := validKeyID(id); err != nil {
		return parsed{}, fmt.Errorf("%w: %s", ErrTampered, err.Error())
	}
	rest := sealed[hdrLen+headerCheckLen:]
	return parsed{header: hdr, keyID: id, nonce: rest[:nonceLen], ciphertext: rest[nonceLen:]}, nil
}

// Open decrypts an envelope made by Seal with whichever key its id names.
// A damaged, altered or truncated envelope fails with an error wrapping
// ErrTampered, one sealed with a key not in the keyring with one wrapping
// ErrUnknownKey; Open never returns unauthenticated data.
func (k *Keyring) Open(sealed []byte) ([]byte, error) {
	p, err := parseEnvelope(sealed)
	if err != nil {
		return nil, err
	}
	kk, ok := k.byID[p.keyID]
	if !ok {
		return nil, fmt.Errorf("%w: key id %q (loaded: %s)", ErrUnknownKey, p.keyID, strings.Join(k.KeyIDs(), ", "))
	}
	plain, err := kk.aead.Open(nil, p.nonce, p.ciphertext, p.header)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not authenticate with key %q", ErrTampered, p.keyID)
	}
	return plain, nil
}

// SealedKeyID returns the id of the key an envelope was sealed with, without
// decrypting it; a malformed envelope fails with ErrTampered.
func SealedKeyID(sealed []byte) (string, error) {
	p, err := parseEnvelope(sealed)
	if err != nil {
		return "", err
	}
	return p.keyID, nil
}

// Rotate returns a new keyring whose active key is freshly generated and
// which still holds every key of k, for reading. k itself is unchanged. See
// the package documentation for the whole procedure.
func (k *Keyring) Rotate() (*Keyring, error) {
	fresh, err := generateKey()
	if err != nil {
		return nil, err
	}
	for _, ok := k.byID[fresh.id]; ok; _, ok = k.byID[fresh.id] {
		// A derived id collides with a loaded one (1 in 2^32 per key): draw again.
		if fresh, err = generateKey(); err != nil {
			return nil, err
		}
	}
	keys := append([]*key{fresh}, k.keys...)
	return newKeyring(keys)
}

// Reseal opens sealed with whichever key it names and seals the plaintext
// again with the active key.
func (k *Keyring) Reseal(sealed []byte) ([]byte, error) {
	plain, err := k.Open(sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return k.Seal(plain)
}

// WithoutOldKeys returns a keyring holding only k's active key.
func (k *Keyring) WithoutOldKeys() *Keyring {
	return &Keyring{keys: []*key{k.keys[0]}, byID: map[string]*key{k.keys[0].id: k.keys[0]}}
}

// EncodeEnv returns the keys as a value for COFFER_SECRET_KEY:
// "id:base64,id:base64,...", the active key first. The result is a secret.
func (k *Keyring) EncodeEnv() string {
	parts := make([]string, len(k.keys))
	for i, kk := range k.keys {
		parts[i] = kk.id + ":" + base64.StdEncoding.EncodeToString(kk.raw)
	}
	return strings.Join(parts, ",")
}

// encodeFile returns the key file contents.
func (k *Keyring) encodeFile() []byte {
	var b strings.Builder
	b.WriteString("# coffer secret keys: id:base64, the active key first. Keep this file private (mode 0600).\n")
	for _, kk := range k.keys {
		b.WriteString(kk.id)
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(kk.raw))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// decodeBase64 accepts standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64")
}

// parseKeys parses entries ("base64" alone when it is the only entry, or
// "id:base64") into keys. The error messages never contain key material.
func parseKeys(entries []string) ([]*key, error) {
	if len(entries) == 0 {
		return nil, errors.New("it holds no key")
	}
	keys := make([]*key, 0, len(entries))
	for i, e := range entries {
		id, b64, hasID := strings.Cut(e, ":")
		if !hasID {
			if len(entries) > 1 {
				return nil, fmt.Errorf("entry %d has no key id; with more than one key, write each as id:base64", i+1)
			}
			b64, id = e, ""
		}
		raw, err := decodeBase64(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("entry %d %s", i+1, err.Error())
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("entry %d decodes to %d bytes instead of %d", i+1, len(raw), KeySize)
		}
		if hasID {
			id = strings.TrimSpace(id)
		} else {
			id = derivedKeyID(raw)
		}
		kk, err := makeKey(id, raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		keys = append(keys, kk)
	}
	return keys, nil
}

// splitEntries splits a key list at commas and line breaks, dropping empty
// entries and lines that start with '#'.
func splitEntries(value string) []string {
	var entries []string
	for _, line := range strings.Split(value, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, e := range strings.Split(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	return entries
}

// ParseKeys parses a key list: the base64 of 32 bytes alone, or entries
// "id:base64" separated by commas or line breaks, the active key first
// (lines starting with '#' are ignored). Its errors say what is wrong
// without repeating any part of value, so they are safe to show.
func ParseKeys(value string) (*Keyring, error) {
	keys, err := parseKeys(splitEntries(value))
	if err != nil {
		return nil, err
	}
	return newKeyring(keys)
}

// ParseEnv parses a COFFER_SECRET_KEY value (see ParseKeys); its errors name
// the variable.
func ParseEnv(value string) (*Keyring, error) {
	k, err := ParseKeys(value)
	if err != nil {
		return nil, fmt.Errorf("%s is not usable: %w; set it to the base64 of 32 random bytes, e.g. from `openssl rand -base64 32`", EnvVar, err)
	}
	return k, nil
}

// parseFile parses the key file contents; path names the file in errors.
func parseFile(path string, data []byte) (*Keyring, error) {
	k, err := ParseKeys(string(data))
	if err != nil {
		return nil, fmt.Errorf("the secret key file %s is not usable: %w; restore it from your backup or set %s", path, err, EnvVar)
	}
	return k, nil
}
