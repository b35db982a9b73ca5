package httpapi

import (
	"encoding/json"
	"time"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
)

// emptyObject stands in for JSON documents that were never set.
var emptyObject = json.RawMessage(`{}`)

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return emptyObject
	}
	return raw
}

// utc returns t in UTC, or nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// operationView is the API shape of a backup (docs/api.md).
type operationView struct {
	ID                      int64           `json:"id"`
	Status                  string          `json:"status"`
	SourceConnectionID      int64           `json:"source_connection_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	Options                 json.RawMessage `json:"options"`
	PlanID                  *int64          `json:"plan_id"`
	PrunedAt                *time.Time      `json:"pruned_at"`
	PruneReason             *string         `json:"prune_reason"`
	ArchivePath             string          `json:"archive_path"`
	ArchiveSize             int64           `json:"archive_size"`
	SHA256                  string          `json:"sha256"`
	Progress                store.Progress  `json:"progress"`
	ErrorMessage            string          `json:"error_message"`
	StartedAt               *time.Time      `json:"started_at"`
	CompletedAt             *time.Time      `json:"completed_at"`
	CreatedAt               time.Time       `json:"created_at"`
	// Imported marks a backup a scan found at its destination; Source is
	// what its manifest says of the source (it has no source connection).
	Imported         bool                    `json:"imported"`
	Source           *archive.ManifestSource `json:"source"`
	LastVerifiedAt   *time.Time              `json:"last_verified_at"`
	LastVerifyStatus *string                 `json:"last_verify_status"`
	// Mode is "full" or "incremental"; BaseBackupID the backup an
	// incremental is built on; ChangedObjects how many objects' bytes the
	// archive holds (null until it completes, and for MongoDB sources).
	Mode           string `json:"mode"`
	BaseBackupID   *int64 `json:"base_backup_id"`
	ChangedObjects *int64 `json:"changed_objects"`
}

func viewBackup(op *store.BackupOperation) *operationView {
	var src *archive.ManifestSource
	if op.Imported {
		var meta engine.ImportedMetadata
		if json.Unmarshal(op.Metadata, &meta) == nil {
			src = &meta.Source
		}
	}
	return &operationView{
		Imported:                op.Imported,
		Source:                  src,
		LastVerifiedAt:          utc(op.LastVerifiedAt),
		LastVerifyStatus:        nonEmpty(op.LastVerifyStatus),
		Mode:                    op.Mode,
		BaseBackupID:            planRef(op.BaseBackupID),
		ChangedObjects:          op.ChangedObjects,
		ID:                      op.ID,
		Status:                  op.Status,
		SourceConnectionID:      op.SourceConnectionID,
		DestinationConnectionID: op.DestinationConnectionID,
		Options:                 orEmpty(op.Options),
		PlanID:                  planRef(op.PlanID),
		PrunedAt:                utc(op.PrunedAt),
		PruneReason:             nonEmpty(op.PruneReason),
		ArchivePath:             op.ArchivePath,
		ArchiveSize:             op.ArchiveSize,
		SHA256:                  op.SHA256,
		Progress:                op.Progress,
		ErrorMessage:            redact.String(op.ErrorMessage),
		StartedAt:               utc(op.StartedAt),
		CompletedAt:             utc(op.CompletedAt),
		CreatedAt:               op.CreatedAt.UTC(),
	}
}

// planRef is a plan (or backup) id as the API shows it: null for none (0).
func planRef(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// nonEmpty is s, or null when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// restoreView is the API shape of a restore (docs/api.md).
type restoreView struct {
	ID                      int64           `json:"id"`
	Status                  string          `json:"status"`
	BackupOperationID       int64           `json:"backup_operation_id"`
	DestinationConnectionID int64           `json:"destination_connection_id"`
	DestinationConfig       json.RawMessage `json:"destination_config"`
	Progress                store.Progress  `json:"progress"`
	ErrorMessage            string          `json:"error_message"`
	StartedAt               *time.Time      `json:"started_at"`
	CompletedAt             *time.Time      `json:"completed_at"`
	CreatedAt               time.Time       `json:"created_at"`
}

func viewRestore(op *store.RestoreOperation) *restoreView {
	return &restoreView{
		ID:                      op.ID,
		Status:                  op.Status,
		BackupOperationID:       op.BackupOperationID,
		DestinationConnectionID: op.DestinationConnectionID,
		DestinationConfig:       orEmpty(op.DestinationConfig),
		Progress:                op.Progress,
		ErrorMessage:            redact.String(op.ErrorMessage),
		StartedAt:               utc(op.StartedAt),
		CompletedAt:             utc(op.CompletedAt),
		CreatedAt:               op.CreatedAt.UTC(),
	}
}

// logView is the API shape of one log line.
type logView struct {
	ID        int64           `json:"id"`
	Level     string          `json:"level"`
	Message   string          `json:"message"`
	Context   json.RawMessage `json:"context"`
	CreatedAt time.Time       `json:"created_at"`
}

func viewLog(l *store.JobLog) logView {
	return logView{ID: l.ID, Level: l.Level, Message: redact.String(l.Message), Context: orEmpty(l.Context), CreatedAt: l.CreatedAt.UTC()}
}

// listView is the API shape of a paged list.
type listView[T any] struct {
	Items   []T   `json:"items"`
	Page    int   `json:"page"`
	PerPage int   `json:"per_page"`
	Total   int64 `json:"total"`
}
