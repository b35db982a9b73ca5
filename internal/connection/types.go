// Package connection manages coffer's configured external systems: which
// connection types exist and what each can be used for, strict decoding and
// validation of their credentials, masking of secrets in API responses,
// sealing at rest, and live checks.
package connection

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/store"
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

// spec describes one connection type. Every function is set for every type;
// an unknown type has no spec and is refused at the edge.
type spec struct {
	typ   string
	roles []Role
	// secrets are the credential fields never shown in full.
	secrets []string
	// mask hides a secret field's value for display.
	mask func(field, value string) string
	// merge returns the value to keep when a client sends sent for a secret
	// field whose stored value is stored: the stored value when sent is the
	// masked form a response showed, sent otherwise.
	merge func(field, sent, stored string) string
	// decode strictly decodes and validates plaintext credentials. Field
	// errors are keyed by credential field name.
	decode func(data []byte, roots []string) (any, map[string]string)
	// check performs a live check of a decoded config.
	check func(ctx context.Context, cfg any, roots []string) (connector.CheckResult, error)
}

// specFor returns the spec of typ, or a 422 error naming the "type" field.
func specFor(typ string) (*spec, error) {
	if s := lookup(typ); s != nil {
		return s, nil
	}
	return nil, apperr.InvalidFields("The connection type is not supported.",
		map[string]string{"type": unknownTypeReason(typ)})
}

func unknownTypeReason(typ string) string {
	if typ == "" {
		return "is required; use one of " + strings.Join(Types(), ", ")
	}
	return fmt.Sprintf("unknown connection type %q; use one of %s", typ, strings.Join(Types(), ", "))
}

func lookup(typ string) *spec {
	switch typ {
	case store.TypeS3:
		return s3Spec()
	case store.TypeMongoDB:
		return mongoSpec()
	case store.TypeGoogleDrive:
		return driveSpec()
	case store.TypeLocal:
		return localSpec()
	}
	return nil
}

// Types lists every supported connection type.
func Types() []string {
	return []string{store.TypeS3, store.TypeMongoDB, store.TypeGoogleDrive, store.TypeLocal}
}

// Roles returns the roles a connection type can play, or nil for an unknown type.
func Roles(typ string) []Role {
	s := lookup(typ)
	if s == nil {
		return nil
	}
	return slices.Clone(s.roles)
}

// HasRole reports whether a connection of type typ can play role r.
func HasRole(typ string, r Role) bool {
	return slices.Contains(Roles(typ), r)
}

// Validate strictly decodes and validates plaintext credentials of type typ
// and returns the typed config (s3.Config, local.Config, MongoConfig or
// DriveConfig). Failures are 422 *apperr.Error values whose fields name
// "type" or "credentials.<field>".
func Validate(typ string, creds json.RawMessage, roots []string) (any, error) {
	s, err := specFor(typ)
	if err != nil {
		return nil, err
	}
	cfg, fields := s.decode(creds, roots)
	if len(fields) > 0 {
		return nil, invalidCredentials(fields)
	}
	return cfg, nil
}

func invalidCredentials(fields map[string]string) error {
	return apperr.InvalidFields("The connection credentials are not valid.", prefixFields(fields))
}

// prefixFields turns credential field names into "credentials.<name>" keys.
func prefixFields(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		if k == "" || k == "credentials" {
			out["credentials"] = v
			continue
		}
		out["credentials."+k] = v
	}
	return out
}
