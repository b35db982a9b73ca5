// Package store is coffer's catalog: users, sessions, API tokens, connections,
// backup and restore operations, their logs and the audit trail, kept in SQLite
// (the default) or PostgreSQL. Other packages use the Catalog interface; the one
// implementation is *Store, which speaks both dialects.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned by the catalog. Callers test them with errors.Is and
// the HTTP layer maps them to status codes in one place.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule or a state rule refused the change
	// (duplicate email or connection name, deleting a connection in use, a
	// status transition that is not allowed).
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost means another worker owns the operation now; the caller must
	// stop without writing anything more.
	ErrLeaseLost = errors.New("lease lost")
	// ErrLastAdmin means a change of role or disabled flag was refused
	// because it would leave no active administrator. It is an ErrConflict.
	ErrLastAdmin = fmt.Errorf("%w: it would leave no active administrator", ErrConflict)
	// ErrUsedByPlan means a connection cannot be deleted because a backup
	// plan uses it. It is an ErrConflict.
	ErrUsedByPlan = fmt.Errorf("%w: a backup plan uses it", ErrConflict)
)

// Role is what a user may do: admin everything, operator connections and
// operations, viewer read only.
type Role string

// The roles a user can have.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleViewer   Role = "viewer"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleOperator || r == RoleViewer }

// User is a person who can log in.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	Role         Role
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a server-side login session. Only the SHA-256 of the cookie value
// is stored (TokenHash), so a copy of the database cannot be used to log in.
type Session struct {
	ID         int64
	TokenHash  string
	UserID     int64
	IP         string
	UserAgent  string
	ExpiresAt  time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// APIToken is a long-lived bearer token; only its SHA-256 is stored.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	TokenHash  string
	LastUsedAt *time.Time
	CreatedAt  time.Time
}

// Connection types.
const (
	TypeS3          = "s3"
	TypeMongoDB     = "mongodb"
	TypeGoogleDrive = "google_drive"
	TypeLocal       = "local"
)

// Connection is a configured external system. Credentials holds the sealed
// (encrypted) envelope only, never plaintext.
type Connection struct {
	ID                  int64
	Name                string
	Type                string
	Credentials         []byte
	IsActive            bool
	LastValidatedAt     *time.Time
	LastValidationError string // empty when the last check passed
	NeedsReauth         bool   // OAuth grant expired or revoked
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Operation statuses. Restores never use StatusPaused.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusPaused    = "paused"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// ActiveStatuses are the statuses of an operation that still holds its
// connections (DELETE of such a connection answers 409).
var ActiveStatuses = []string{StatusPending, StatusRunning, StatusPaused}

// Requested actions that a user asks for and a running worker obeys.
const (
	RequestNone   = ""
	RequestPause  = "pause"
	RequestCancel = "cancel"
)

// Progress is how far an operation has come.
type Progress struct {
	ItemsDone    int64  `json:"items_done"`
	ItemsTotal   *int64 `json:"items_total,omitempty"`
	BytesRead    int64  `json:"bytes_read"`
	BytesWritten int64  `json:"bytes_written"`
	// Phase is what the run is doing now, in words ("measuring db.coll",
	// "copying db.coll"), for runs whose counters stand still during long
	// steps; PhaseItems counts that step's items (documents measured).
	Phase      string `json:"phase,omitempty"`
	PhaseItems int64  `json:"phase_items,omitempty"`
}

// Lease is the ownership of a running operation by one worker. Token is a
// fencing counter: it grows every time the lease changes hands, and every
// write a worker makes names the token it holds.
type Lease struct {
	Owner       string
	Token       int64
	HeartbeatAt time.Time
}

// Operation is what every kind of operation (backup, restore, and the kinds
// to come) has in common: its status and the action a user asked for, how
// far it came, where to continue from, the lease of the worker running it,
// and its times. The kind types embed it; the catalog's kind-generic methods
// (GetOperation, TransitionOperation, RequestAction, FinishRun, leases and
// checkpoints) read and write only these columns.
type Operation struct {
	ID              int64
	Status          string
	RequestedAction string // RequestPause or RequestCancel while one is pending
	Progress        Progress
	Checkpoint      json.RawMessage // engine-defined, nil before the first one
	ErrorMessage    string
	LeaseOwner      string
	LeaseToken      int64
	HeartbeatAt     *time.Time
	StartedAt       *time.Time
	CompletedAt     *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// BackupOperation is one backup run.
type BackupOperation struct {
	Operation
	SourceConnectionID      int64
	DestinationConnectionID int64
	Options                 json.RawMessage
	Metadata                json.RawMessage
	ArchivePath             string
	ArchiveSize             int64
	SHA256                  string
	// PlanID is the plan that started the backup, 0 for an ad-hoc one.
	PlanID int64
	// PrunedAt is when the archive was removed (by retention or by a
	// user), nil while it is kept; PruneReason says which
	// (PruneRetention or PruneDeleted). The row and its logs stay.
	PrunedAt    *time.Time
	PruneReason string
	// Imported marks a backup a scan found at its destination and rebuilt
	// from the archive's manifest (ImportBackup).
	Imported bool
	// LastVerifiedAt is when the last verification ended, and
	// LastVerifyStatus how (VerifyPassed or VerifyFailed; "" for none).
	LastVerifiedAt   *time.Time
	LastVerifyStatus string
	// Mode is how the archive is made: ModeFull (every object) or
	// ModeIncremental (only new and changed objects; the manifest points
	// at the archives of its chain for the rest). BaseBackupID is the
	// backup an incremental is built on (0 for a full one), set when its
	// run starts. ChangedObjects is how many objects' bytes the archive
	// holds, nil until it completes.
	Mode           string
	BaseBackupID   int64
	ChangedObjects *int64
}

// Backup modes.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
)

// Outcomes of a backup's last verification.
const (
	VerifyPassed = "passed"
	VerifyFailed = "failed"
)

// Why a backup's archive was removed.
const (
	PruneRetention = "retention"
	PruneDeleted   = "deleted"
)

// RestoreOperation is one restore run.
type RestoreOperation struct {
	Operation
	BackupOperationID       int64
	DestinationConnectionID int64
	DestinationConfig       json.RawMessage
}

// VerifyOperation is one verification of a backup's archive.
type VerifyOperation struct {
	Operation
	BackupOperationID int64
	// PlanID is the plan that asked for it (after_each or its verify
	// schedule), 0 for one a user started.
	PlanID int64
	// Result is the engine's record of what the verification found (JSON).
	Result json.RawMessage
}

// VerifyFilter narrows ListVerifications.
type VerifyFilter struct {
	Status   string
	BackupID int64
}

// RunEnd is how a worker's run of an operation ended, as FinishRun records it.
type RunEnd struct {
	// Status is where the operation goes: paused or pending (handed back to
	// the queue) when it will go on, or a final status.
	Status string
	// ErrorMessage is written with a final status (empty clears it).
	ErrorMessage string
	// Progress, when not nil, is written too.
	Progress *Progress
}

// BackupResult is what a completed backup produced, as CompleteBackup records it.
type BackupResult struct {
	ArchivePath string
	ArchiveSize int64
	SHA256      string
	Progress    Progress
	// ChangedObjects is how many objects' bytes the archive holds (nil
	// for a source of another kind).
	ChangedObjects *int64
}

// Kinds of operation, used by job logs, leases and audit targets.
const (
	KindBackup  = "backup"
	KindRestore = "restore"
	KindVerify  = "verify"
)

// Log levels.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// JobLog is one line of an operation's log.
type JobLog struct {
	ID            int64
	OperationKind string // KindBackup or KindRestore (the seed's loggable_type)
	OperationID   int64
	Level         string
	Message       string
	Context       json.RawMessage
	CreatedAt     time.Time
}

// AuditEvent records who did what; it never holds secrets.
type AuditEvent struct {
	ID         int64
	ActorID    *int64
	ActorEmail string
	Action     string // e.g. "connection.create", "backup.pause", "auth.login_failed"
	TargetType string
	TargetID   string
	IP         string
	Details    json.RawMessage
	CreatedAt  time.Time
}

// ArchiveEntry is one finished entry of a backup's archive, kept in the
// catalog as the backup goes so the manifest survives a crash and never has
// to be held in memory.
type ArchiveEntry struct {
	BackupID int64
	Seq      int64 // 0,1,2... in archive order
	Data     json.RawMessage
}

// Page asks for one page of a list. Page counts from 1.
type Page struct {
	Page    int
	PerPage int
}

// BackupFilter narrows ListBackups; zero values match everything.
type BackupFilter struct {
	Status        string
	SourceID      int64
	DestinationID int64
	PlanID        int64
	// Kept leaves out backups whose archive was removed.
	Kept bool
}

// RestoreFilter narrows ListRestores.
type RestoreFilter struct {
	Status        string
	BackupID      int64
	DestinationID int64
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	ActorID    int64
	Action     string
	TargetType string
	Since      *time.Time
}

// StatusCounts is the number of operations per status.
type StatusCounts map[string]int64
