// Package encryption keeps the age keys archives are encrypted to
// (docs/encryption.md): x25519 keys whose identity coffer generates and
// shows once, keeps sealed or never stores, keys made from a recipient the
// user pasted, and passphrase keys. It gives the engine the recipients of a
// key and the identities that open its archives, and seals what the engine
// must keep secret in the catalog with the server key. The age format
// itself is package agecrypt's.
package encryption

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/strictjson"
)

// Catalog is what the service asks of the catalog.
type Catalog interface {
	CreateEncryptionKey(ctx context.Context, k *store.EncryptionKey) error
	GetEncryptionKey(ctx context.Context, id int64) (*store.EncryptionKey, error)
	ListEncryptionKeys(ctx context.Context) ([]store.EncryptionKey, error)
	DeleteEncryptionKey(ctx context.Context, id int64) error
}

// Sealer seals and opens secrets with the server key (*secret.Keyring).
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// MinPassphrase is the shortest passphrase a key accepts.
const MinPassphrase = 12

// Service manages encryption keys. It implements engine.Keys.
type Service struct {
	cat        Catalog
	seal       Sealer
	workFactor int // scrypt work factor of new passphrase archives (0: age's default)
}

var _ engine.Keys = (*Service)(nil)

// New returns a Service over cat that seals with seal.
func New(cat Catalog, seal Sealer) *Service { return &Service{cat: cat, seal: seal} }

// SetScryptWorkFactor sets the scrypt work factor (log2) of archives
// encrypted with passphrase keys; tests lower it, nothing else should.
func (s *Service) SetScryptWorkFactor(logN int) { s.workFactor = logN }

// Key is an encryption key as the API shows it. Identity is set only in the
// answer to the request that generated the key: it is never shown again.
type Key struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Recipient     string    `json:"recipient,omitempty"`
	KeepsIdentity bool      `json:"keeps_identity"`
	CreatedAt     time.Time `json:"created_at"`
	Identity      string    `json:"identity,omitempty"`
}

// Input is the body of POST /encryption-keys.
type Input struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Generate     bool   `json:"generate,omitempty"`
	Recipient    string `json:"recipient,omitempty"`
	KeepIdentity bool   `json:"keep_identity,omitempty"`
	Passphrase   string `json:"passphrase,omitempty"`
}

// DecodeInput strictly decodes a request body.
func DecodeInput(data []byte) (Input, error) {
	var in Input
	if strictjson.Empty(data) {
		return in, apperr.InvalidFields("The encryption key is not valid.", map[string]string{"": "a JSON object with the key is required"})
	}
	if p := strictjson.Check(data, &in); p != nil {
		return in, apperr.InvalidFields("The encryption key is not valid.", map[string]string{p.Field: p.Reason})
	}
	return in, nil
}

func view(k *store.EncryptionKey) *Key {
	return &Key{ID: k.ID, Name: k.Name, Type: k.Type, Recipient: k.Recipient, KeepsIdentity: k.KeepsIdentity, CreatedAt: k.CreatedAt}
}

// Create adds a key. A generated x25519 key comes back with its identity,
// the one time it is shown.
func (s *Service) Create(ctx context.Context, in Input) (*Key, error) {
	fields := map[string]string{}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		fields["name"] = "is required"
	case utf8.RuneCountInString(name) > 100:
		fields["name"] = "must be at most 100 characters"
	}
	k := &store.EncryptionKey{Name: name, Type: in.Type}
	var identity string
	switch in.Type {
	case store.KeyX25519:
		if in.Passphrase != "" {
			fields["passphrase"] = "only a passphrase key takes a passphrase"
		}
		switch {
		case in.Generate && in.Recipient != "":
			fields["recipient"] = "give a recipient or ask coffer to generate the key, not both"
		case in.Generate:
			id, rcpt, err := agecrypt.GenerateX25519()
			if err != nil {
				return nil, err
			}
			identity, k.Recipient = id, rcpt
			k.KeepsIdentity = in.KeepIdentity
		case in.Recipient != "":
			r, err := agecrypt.ParseRecipient(in.Recipient)
			if err != nil {
				if ae, ok := apperr.As(err); ok {
					fields["recipient"] = ae.Message
					break
				}
				return nil, err
			}
			k.Recipient = r.String()
			if in.KeepIdentity {
				fields["keep_identity"] = "coffer can keep only an identity it generated; a pasted recipient's identity stays with you"
			}
		default:
			fields["recipient"] = `is required: paste an "age1…" recipient, or set "generate": true`
		}
	case store.KeyPassphrase:
		if in.Generate || in.Recipient != "" {
			fields["type"] = "a passphrase key takes only a passphrase"
		}
		if n := utf8.RuneCountInString(in.Passphrase); n < MinPassphrase {
			fields["passphrase"] = fmt.Sprintf("must be at least %d characters", MinPassphrase)
		}
		k.KeepsIdentity = true
	case "":
		fields["type"] = "is required"
	default:
		fields["type"] = `must be "x25519" or "passphrase"`
	}
	if len(fields) > 0 {
		return nil, apperr.InvalidFields("The encryption key is not valid.", fields)
	}
	var secret string
	switch {
	case in.Type == store.KeyPassphrase:
		secret = in.Passphrase
	case k.KeepsIdentity:
		secret = identity
	}
	if secret != "" {
		sealed, err := s.seal.Seal([]byte(secret))
		if err != nil {
			return nil, fmt.Errorf("seal the key: %w", err)
		}
		k.Secret = sealed
	}
	if err := s.cat.CreateEncryptionKey(ctx, k); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apperr.InvalidFields("The encryption key is not valid.", map[string]string{"name": fmt.Sprintf("a key named %q already exists", k.Name)})
		}
		return nil, err
	}
	v := view(k)
	v.Identity = identity
	return v, nil
}

// Get returns key id.
func (s *Service) Get(ctx context.Context, id int64) (*Key, error) {
	k, err := s.key(ctx, id)
	if err != nil {
		return nil, err
	}
	return view(k), nil
}

// List returns every key.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	ks, err := s.cat.ListEncryptionKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(ks))
	for i := range ks {
		out = append(out, *view(&ks[i]))
	}
	return out, nil
}

// Delete removes key id; a key a plan or a kept backup uses is a conflict.
func (s *Service) Delete(ctx context.Context, id int64) (*Key, error) {
	k, err := s.key(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.cat.DeleteEncryptionKey(ctx, id); err != nil {
		var inUse *store.KeyInUseError
		if errors.As(err, &inUse) {
			return nil, apperr.New(apperr.Conflict, "Key %q cannot be deleted: it is used by %s. Change or delete what uses it first.", k.Name, inUse.What)
		}
		return nil, notFound(err)
	}
	return view(k), nil
}

func (s *Service) key(ctx context.Context, id int64) (*store.EncryptionKey, error) {
	k, err := s.cat.GetEncryptionKey(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return k, nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apperr.Wrap(apperr.NotFound, err, "The encryption key does not exist.")
	}
	return err
}

// KeyName is the name of key id ("key 7" when it cannot be read).
func (s *Service) KeyName(ctx context.Context, id int64) string {
	if k, err := s.cat.GetEncryptionKey(ctx, id); err == nil {
		return k.Name
	}
	return fmt.Sprintf("key %d", id)
}

// Recipients returns what archives encrypted with key id are sealed to.
func (s *Service) Recipients(ctx context.Context, id int64) ([]age.Recipient, error) {
	k, err := s.cat.GetEncryptionKey(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apperr.New(apperr.Invalid, "Encryption key %d does not exist; choose another key for this backup.", id)
		}
		return nil, err
	}
	switch k.Type {
	case store.KeyX25519:
		r, err := agecrypt.ParseRecipient(k.Recipient)
		if err != nil {
			return nil, fmt.Errorf("the stored recipient of key %q: %w", k.Name, err)
		}
		return []age.Recipient{r}, nil
	case store.KeyPassphrase:
		pass, err := s.open(k)
		if err != nil {
			return nil, err
		}
		r, err := agecrypt.PassphraseRecipient(pass)
		if err != nil {
			return nil, err
		}
		if s.workFactor > 0 {
			r.SetWorkFactor(s.workFactor)
		}
		return []age.Recipient{r}, nil
	}
	return nil, fmt.Errorf("key %q has an unknown type %q", k.Name, k.Type)
}

// Identities returns what opens archives encrypted with key id: the
// identity or passphrase in u when one was given, else what coffer keeps.
// A key whose identity coffer does not keep, with nothing given, is an
// apperr.Invalid error saying so.
func (s *Service) Identities(ctx context.Context, id int64, u engine.Unlock) ([]age.Identity, error) {
	if u.Given() {
		return agecrypt.GivenIdentities(u.Identity, u.Passphrase)
	}
	k, err := s.cat.GetEncryptionKey(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apperr.New(apperr.Invalid, "is required: the archive's key (%d) is no longer in coffer; give its identity or passphrase", id)
		}
		return nil, err
	}
	if len(k.Secret) == 0 {
		return nil, apperr.New(apperr.Invalid, "is required: coffer does not keep the identity of key %q; paste it (AGE-SECRET-KEY-1…)", k.Name)
	}
	secret, err := s.open(k)
	if err != nil {
		return nil, err
	}
	if k.Type == store.KeyPassphrase {
		pid, err := agecrypt.PassphraseIdentity(secret)
		if err != nil {
			return nil, err
		}
		return []age.Identity{pid}, nil
	}
	return agecrypt.ParseIdentities(secret)
}

// open unseals what coffer keeps of k.
func (s *Service) open(k *store.EncryptionKey) (string, error) {
	if len(k.Secret) == 0 {
		return "", fmt.Errorf("coffer keeps nothing of key %q", k.Name)
	}
	plain, err := s.seal.Open(k.Secret)
	if err != nil {
		return "", fmt.Errorf("open key %q: %w", k.Name, err)
	}
	return string(plain), nil
}

// Seal seals plaintext with the server key.
func (s *Service) Seal(plaintext []byte) ([]byte, error) { return s.seal.Seal(plaintext) }

// Open opens what Seal sealed.
func (s *Service) Open(sealed []byte) ([]byte, error) { return s.seal.Open(sealed) }
