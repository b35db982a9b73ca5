// Package engine runs backups and restores: it validates and records new
// operations, and its workers stream source -> tar -> compressor -> hasher ->
// destination with checkpoints that serve pause, resume, crash recovery and
// cancel (DESIGN §4).
package engine

import "encoding/json"

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
}

// BackupOptions are the options a backup accepts.
type BackupOptions struct {
	Compression string `json:"compression,omitempty"` // "gzip" (default) or "zstd"
}

// RestoreRequest is the body of POST /api/v1/restores.
type RestoreRequest struct {
	BackupOperationID       int64           `json:"backup_operation_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Config                  json.RawMessage `json:"config,omitempty"`
}

// S3RestoreConfig is the restore config for an s3 target.
type S3RestoreConfig struct {
	Bucket        string `json:"bucket,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	IncludePrefix string `json:"include_prefix,omitempty"`
	Overwrite     bool   `json:"overwrite,omitempty"`
}

// MongoRestoreConfig is the restore config for a mongodb target.
type MongoRestoreConfig struct {
	Database    string   `json:"database,omitempty"`
	Collections []string `json:"collections,omitempty"`
	Drop        bool     `json:"drop,omitempty"`
}
