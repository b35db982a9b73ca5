// Package registry is the one table of connection types (s3, mongodb,
// google_drive, local). Each entry says, once, what the type can be used
// for (its roles), how its credentials document decodes strictly and
// validates, which of its fields are secret and how they are masked for
// display and merged back when a client returns the masked form, how its
// live check runs, and how it opens as a backup source, an archive
// destination or a restore target.
//
// The connection service (CRUD, sealing, masking) and, through it, the
// engine both ask this package; neither keeps a table of types of its own.
// The connector subpackages know nothing of it.
package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
)

// Role is what a connection can be used for.
type Role string

// The roles a connection type can play.
const (
	// RoleSource is a system coffer backs up.
	RoleSource Role = "source"
	// RoleDestination is where archives are stored.
	RoleDestination Role = "destination"
	// RoleRestoreTarget is a system an archive can be restored into.
	RoleRestoreTarget Role = "restore_target"
)

// Env is what checking and opening connections need from the server.
type Env struct {
	// LocalRoots are the directories local destinations may use
	// (COFFER_LOCAL_ROOTS); a local connection outside them is refused
	// when decoded and again when opened.
	LocalRoots []string
	// GDrive is the server's Google OAuth client and endpoints.
	GDrive gdrive.OAuth
	// S3 tunes the S3 clients opened for operations (tests lower the part
	// size); live checks always try once.
	S3 s3conn.Options
}

// Hooks tell the caller what an opened connector learned while it worked.
type Hooks struct {
	// Refreshed is called with the connection's new credentials when the
	// connector renewed them (a refreshed Google access token), for the
	// caller to store in place of the ones it opened. It may be nil.
	Refreshed func(Creds)
}

// Type is one connection type. Its zero value is not usable; get one from
// Lookup or All.
type Type struct {
	name    string
	roles   []Role
	secrets []string
	// mask hides a secret field's value for display.
	mask func(field, value string) string
	// merge returns the value to keep when a client sends sent for a
	// secret field whose stored value is stored: the stored value when
	// sent is the masked form a response showed, sent otherwise.
	merge func(field, sent, stored string) string
	// secretParts lists the secret values inside a secret field's value
	// beyond the value itself (the password inside a MongoDB URI).
	secretParts func(value string) []string
	decode      func(data []byte, env Env) (any, map[string]string)
	check       func(ctx context.Context, cfg any, env Env, h Hooks) (connector.CheckResult, error)
	source      func(ctx context.Context, cfg any, env Env) (*Source, error)
	destination func(ctx context.Context, cfg any, env Env, h Hooks) (connector.Destination, error)
	target      func(ctx context.Context, cfg any, env Env) (*Target, error)
}

// All returns every connection type, in the order the UI lists them.
func All() []*Type {
	return []*Type{s3Type(), mongoType(), driveType(), localType()}
}

// Names lists the names of every connection type.
func Names() []string {
	all := All()
	out := make([]string, len(all))
	for i, t := range all {
		out[i] = t.name
	}
	return out
}

// Lookup returns the connection type called name, or nil when there is none.
func Lookup(name string) *Type {
	for _, t := range All() {
		if t.name == name {
			return t
		}
	}
	return nil
}

// UnknownTypeReason says why name is not a connection type, for the
// "type" field of a 422 answer.
func UnknownTypeReason(name string) string {
	if name == "" {
		return "is required; use one of " + strings.Join(Names(), ", ")
	}
	return fmt.Sprintf("unknown connection type %q; use one of %s", name, strings.Join(Names(), ", "))
}

// HasRole reports whether connections of type name can play role r (false
// for an unknown type).
func HasRole(name string, r Role) bool {
	t := Lookup(name)
	return t != nil && t.HasRole(r)
}

// Name is the type's name as stored and sent ("s3").
func (t *Type) Name() string { return t.name }

// Roles returns what connections of this type can be used for.
func (t *Type) Roles() []Role { return slices.Clone(t.roles) }

// HasRole reports whether connections of this type can play role r.
func (t *Type) HasRole(r Role) bool { return slices.Contains(t.roles, r) }

// SecretFields names the credential fields that are never shown in full.
func (t *Type) SecretFields() []string { return slices.Clone(t.secrets) }

// Decode strictly decodes plaintext credentials (unknown fields, wrong
// types and trailing data are refused) and validates them without
// contacting anything. Problems come back as credential field -> reason
// ("" for the document as a whole).
func (t *Type) Decode(data []byte, env Env) (Creds, map[string]string) {
	cfg, errs := t.decode(data, env)
	if len(errs) > 0 {
		return Creds{}, errs
	}
	return Creds{typ: t, cfg: cfg}, nil
}

// Mask returns plaintext credentials with every secret field masked, for
// API responses.
func (t *Type) Mask(plaintext []byte) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(plaintext, &obj); err != nil {
		return nil, fmt.Errorf("decode stored credentials: %w", err)
	}
	for _, f := range t.secrets {
		v, ok := stringField(obj, f)
		if !ok {
			continue
		}
		masked, err := json.Marshal(t.mask(f, v))
		if err != nil {
			return nil, fmt.Errorf("encode masked %s: %w", f, err)
		}
		obj[f] = masked
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode masked credentials: %w", err)
	}
	return out, nil
}

// MergeMasked replaces the secret fields of sent that hold their masked
// form (the value a response showed) with the stored plaintext values, so
// a client can send back the credentials it was shown with only some
// fields changed. sent that is not a JSON object is returned unchanged for
// Decode to refuse.
func (t *Type) MergeMasked(sent, stored []byte) []byte {
	var in, old map[string]json.RawMessage
	if err := json.Unmarshal(sent, &in); err != nil || in == nil {
		return sent
	}
	if err := json.Unmarshal(stored, &old); err != nil {
		return sent
	}
	changed := false
	for _, f := range t.secrets {
		v, ok := stringField(in, f)
		if !ok {
			continue
		}
		prev, ok := stringField(old, f)
		if !ok {
			continue
		}
		merged := t.merge(f, v, prev)
		if merged == v {
			continue
		}
		raw, err := json.Marshal(merged)
		if err != nil {
			continue
		}
		in[f] = raw
		changed = true
	}
	if !changed {
		return sent
	}
	out, err := json.Marshal(in)
	if err != nil {
		return sent
	}
	return out
}

// SecretValues lists the plaintext secrets inside a credentials document
// of this type (the secret fields, and what they hold, such as the password
// inside a MongoDB URI), so that messages and logs can be scrubbed of them.
// A document that does not parse yields none.
func (t *Type) SecretValues(plaintext []byte) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(plaintext, &obj) != nil {
		return nil
	}
	var out []string
	for _, f := range t.secrets {
		v, ok := stringField(obj, f)
		if !ok {
			continue
		}
		out = append(out, v)
		if t.secretParts != nil {
			out = append(out, t.secretParts(v)...)
		}
	}
	return out
}

// stringField is the non-empty string value of member f of obj.
func stringField(obj map[string]json.RawMessage, f string) (string, bool) {
	raw, ok := obj[f]
	if !ok {
		return "", false
	}
	var v string
	if json.Unmarshal(raw, &v) != nil || v == "" {
		return "", false
	}
	return v, true
}

// Creds are decoded, validated credentials of one connection type. Only
// the registry and the connection service hold them: they are plaintext.
type Creds struct {
	typ *Type
	cfg any
}

// Type is the connection type the credentials belong to.
func (c Creds) Type() *Type { return c.typ }

// Config is the connector's own configuration: s3.Config, mongodb.Config,
// gdrive.Config or local.Config.
func (c Creds) Config() any { return c.cfg }

// JSON is the credentials document to seal and store.
func (c Creds) JSON() ([]byte, error) {
	b, err := json.Marshal(c.cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s credentials: %w", c.typ.name, err)
	}
	return b, nil
}

// SecretValues lists the plaintext secrets of the credentials.
func (c Creds) SecretValues() []string {
	b, err := c.JSON()
	if err != nil {
		return nil
	}
	return c.typ.SecretValues(b)
}

// Check runs the live check of the connection: it reaches the system and
// proves the credentials work for every role of the type. A failure is an
// error whose message is a sentence for the user.
func (c Creds) Check(ctx context.Context, env Env, h Hooks) (connector.CheckResult, error) {
	return c.typ.check(ctx, c.cfg, env, h)
}

// OpenSource opens the connection as what a backup reads.
func (c Creds) OpenSource(ctx context.Context, env Env) (*Source, error) {
	if c.typ.source == nil {
		return nil, roleError(c.typ, "backed up")
	}
	return c.typ.source(ctx, c.cfg, env)
}

// OpenDestination opens the connection as an archive store.
func (c Creds) OpenDestination(ctx context.Context, env Env, h Hooks) (connector.Destination, error) {
	if c.typ.destination == nil {
		return nil, roleError(c.typ, "used to store archives")
	}
	return c.typ.destination(ctx, c.cfg, env, h)
}

// OpenTarget opens the connection as what a restore writes into.
func (c Creds) OpenTarget(ctx context.Context, env Env) (*Target, error) {
	if c.typ.target == nil {
		return nil, roleError(c.typ, "restored into")
	}
	return c.typ.target(ctx, c.cfg, env)
}

func roleError(t *Type, what string) error {
	return apperr.New(apperr.Invalid, "%s connections cannot be %s", t.name, what)
}

// Info names an opened connection, for logs and archive names.
type Info struct {
	ID   int64
	Name string
	Type string
}

// Source is a connection opened as a backup source: exactly one of
// Objects (an S3 bucket under the connection's prefix) and Mongo (the
// databases of a MongoDB connection) is set. Close releases it.
type Source struct {
	Conn    Info
	Objects connector.ObjectSource
	Mongo   *mongodb.Client
}

// Close releases the source's client.
func (s *Source) Close() error {
	if s != nil && s.Mongo != nil {
		return s.Mongo.Close()
	}
	return nil
}

// Destination is a connection opened as an archive destination.
type Destination struct {
	Conn Info
	connector.Destination
}

// Target is a connection opened as a restore target: exactly one of
// Objects and Mongo is set. Close releases it.
type Target struct {
	Conn Info
	// Objects returns where restored objects are written: into bucket
	// ("" = the connection's own), each under keyPrefix + its key.
	Objects func(bucket, keyPrefix string) connector.ObjectTarget
	Mongo   *mongodb.Client
}

// Close releases the target's client.
func (t *Target) Close() error {
	if t != nil && t.Mongo != nil {
		return t.Mongo.Close()
	}
	return nil
}
