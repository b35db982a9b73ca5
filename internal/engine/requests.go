// Package engine runs backups and restores: it validates and records new
// operations, and its workers stream source -> tar -> compressor -> hasher ->
// destination with checkpoints that serve pause, resume, crash recovery and
// cancel (docs/architecture.md, "Checkpoints and leases").
package engine

import (
	"encoding/json"
	"fmt"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/strictjson"
)

// Actor is who asked for something, for the audit trail and rate limits.
type Actor struct {
	UserID int64
	Email  string
	IP     string
}

// BackupRequest is the body of POST /api/v1/backups.
type BackupRequest struct {
	SourceConnectionID      int64           `json:"source_connection_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Options                 json.RawMessage `json:"options,omitempty"`
	// PlanID is the plan starting the backup (0: ad hoc). Never from a request body.
	PlanID int64 `json:"-"`
}

// BackupOptions are the options a backup accepts.
type BackupOptions struct {
	Compression string `json:"compression,omitempty"` // "gzip" (default) or "zstd"
	// BandwidthLimit bounds, in bytes per second, both what the backup
	// reads from its source and what it writes to its destination (0: none).
	BandwidthLimit int64 `json:"bandwidth_limit,omitempty"`
	// EncryptionKeyID names the age key the archive is encrypted to (0: not encrypted).
	EncryptionKeyID int64 `json:"encryption_key_id,omitempty"`
	// Mode is "full" (the default) or "incremental": only the objects new
	// or changed since the previous backup go into the archive (S3 sources).
	Mode string `json:"mode,omitempty"`
	// CompressionLevel is "fastest", "default" (the default) or "best".
	CompressionLevel string `json:"compression_level,omitempty"`
}

// Incremental reports whether the options ask for an incremental backup.
func (o BackupOptions) Incremental() bool { return o.Mode == store.ModeIncremental }

// RestoreRequest is the body of POST /api/v1/restores.
type RestoreRequest struct {
	BackupOperationID       int64           `json:"backup_operation_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Config                  json.RawMessage `json:"config,omitempty"`
	Unlock
}

// Unlock is what opens an encrypted archive whose key coffer does not keep:
// an age identity ("AGE-SECRET-KEY-1…", or several, one per line) or a
// passphrase. It is a secret: sealed while the restore needs it, never logged.
type Unlock struct {
	Identity   string `json:"identity,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
}

// Given reports whether an identity or a passphrase was given.
func (u Unlock) Given() bool { return u.Identity != "" || u.Passphrase != "" }

// String never shows the secret.
func (u Unlock) String() string {
	if u.Given() {
		return "[key given]"
	}
	return "[no key]"
}

// S3RestoreConfig is the restore config for an s3 target.
type S3RestoreConfig struct {
	Bucket        string `json:"bucket,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	IncludePrefix string `json:"include_prefix,omitempty"`
	// Keys, when given, are the only keys restored (each must be in the
	// backup); the restore stops reading the archive after the last of them.
	Keys      []string `json:"keys,omitempty"`
	Overwrite bool     `json:"overwrite,omitempty"`
}

// MongoRestoreConfig is the restore config for a mongodb target.
type MongoRestoreConfig struct {
	Database    string   `json:"database,omitempty"`
	Collections []string `json:"collections,omitempty"`
	Drop        bool     `json:"drop,omitempty"`
}

// badField is one member of a request that is not valid: its key in the
// API's 422 "fields" ("options.compression") and why.
type badField struct{ key, reason string }

// String is the problem as a phrase: `options.compression must be "gzip" or "zstd"`.
func (f *badField) String() string { return f.key + " " + f.reason }

// decodeBackupOptions strictly decodes and checks a backup's options (the
// request's, or those stored with the operation); none (empty or null) are
// the defaults. A member with a wrong value or type is keyed
// "options.<member>"; an unknown member or a document that is not one JSON
// object is keyed "options".
func decodeBackupOptions(data []byte) (BackupOptions, *badField) {
	var o BackupOptions
	if strictjson.Empty(data) {
		return o, nil
	}
	if p := strictjson.Check(data, &o); p != nil {
		return BackupOptions{}, problemField("options", p)
	}
	if _, err := archive.ParseCompression(o.Compression); err != nil {
		return BackupOptions{}, &badField{"options.compression", `must be "gzip" or "zstd"`}
	}
	if o.EncryptionKeyID < 0 {
		return BackupOptions{}, &badField{"options.encryption_key_id", "must be the id of an encryption key, or 0 for none"}
	}
	switch o.Mode {
	case "", store.ModeFull, store.ModeIncremental:
	default:
		return BackupOptions{}, &badField{"options.mode", `must be "full" or "incremental"`}
	}
	if _, err := archive.ParseLevel(o.CompressionLevel); err != nil {
		return BackupOptions{}, &badField{"options.compression_level", `must be "fastest", "default" or "best"`}
	}
	if o.BandwidthLimit != 0 && o.BandwidthLimit < MinBandwidthLimit {
		return BackupOptions{}, &badField{"options.bandwidth_limit", fmt.Sprintf("must be 0 (no limit) or at least %d bytes per second", MinBandwidthLimit)}
	}
	return o, nil
}

// decodeRestoreConfig strictly decodes a restore's target configuration
// into cfg (*S3RestoreConfig or *MongoRestoreConfig), keyed as
// decodeBackupOptions does under "config"; none leaves cfg at its defaults.
func decodeRestoreConfig(data []byte, cfg any) *badField {
	if strictjson.Empty(data) {
		return nil
	}
	if p := strictjson.Check(data, cfg); p != nil {
		return problemField("config", p)
	}
	return nil
}

// problemField keys a decoding problem of the request member member.
func problemField(member string, p *strictjson.Problem) *badField {
	switch p.Kind {
	case strictjson.WrongType:
		return &badField{member + "." + p.Field, p.Reason}
	case strictjson.UnknownField:
		return &badField{member, fmt.Sprintf("has an unknown field %q", p.Field)}
	}
	return &badField{member, p.Reason}
}
