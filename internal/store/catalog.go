package store

import (
	"context"
	"database/sql"
	"time"
)

// Catalog is everything the rest of coffer asks of the catalog database.
// *Store implements it for SQLite and PostgreSQL; the contract suite in
// storetest runs the same cases against both.
type Catalog interface {
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	// DB is the underlying pool (for health checks and the job queue).
	DB() *sql.DB
	// InTx runs fn in one transaction; fn's error rolls it back.
	// The queue inserts jobs through tx so an operation and its job commit together.
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	Ping(ctx context.Context) error
	Close() error

	// Users
	CreateUser(ctx context.Context, u *User) error // sets ID, CreatedAt, UpdatedAt; ErrConflict on a duplicate email (case-insensitive)
	GetUser(ctx context.Context, id int64) (*User, error)
	GetUserByEmail(ctx context.Context, email string) (*User, error) // case-insensitive
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int64, error)
	// UpdateUserAccess changes role and/or disabled in one transaction and
	// returns the user before and after; ErrLastAdmin when no active admin would be left.
	UpdateUserAccess(ctx context.Context, id int64, change UserAccess) (before, after *User, err error)
	// SetUserPassword writes only the password hash.
	SetUserPassword(ctx context.Context, id int64, hash string) error
	// UpgradePasswordHash writes newHash only while the stored hash is oldHash; it reports whether it did.
	UpgradePasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error)

	// Sessions
	CreateSession(ctx context.Context, s *Session) error
	// GetSessionByTokenHash returns ErrNotFound for an unknown or expired session.
	GetSessionByTokenHash(ctx context.Context, hash string, now time.Time) (*Session, error)
	TouchSession(ctx context.Context, id int64, lastSeen, expiresAt time.Time) error
	DeleteSession(ctx context.Context, id int64) error
	DeleteUserSessions(ctx context.Context, userID int64) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// API tokens
	CreateAPIToken(ctx context.Context, t *APIToken) error
	GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	ListAPITokens(ctx context.Context, userID int64) ([]APIToken, error)
	DeleteAPIToken(ctx context.Context, userID, id int64) error
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error

	// Connections
	CreateConnection(ctx context.Context, c *Connection) error // ErrConflict on a duplicate name
	GetConnection(ctx context.Context, id int64) (*Connection, error)
	ListConnections(ctx context.Context) ([]Connection, error) // ordered by name
	UpdateConnection(ctx context.Context, c *Connection) error // name, credentials, is_active, validation fields, needs_reauth
	// DeleteConnection returns ErrConflict while a backup or restore in an
	// ActiveStatuses status refers to the connection.
	DeleteConnection(ctx context.Context, id int64) error
	// SetConnectionValidation records the result of a live check (errMsg "" = ok).
	SetConnectionValidation(ctx context.Context, id int64, at time.Time, errMsg string) error
	// SetConnectionNeedsReauth sets or clears needs_reauth only.
	SetConnectionNeedsReauth(ctx context.Context, id int64, needs bool) error
	// SwapConnectionCredentials writes next only while the stored sealed
	// credentials are still prev (ErrConflict otherwise).
	SwapConnectionCredentials(ctx context.Context, id int64, prev, next []byte) error
	// RotateCredentials passes every stored sealed credential through reseal and
	// writes the results back, all in one transaction (any error rolls back all).
	RotateCredentials(ctx context.Context, reseal func(id int64, sealed []byte) ([]byte, error)) (int, error)

	// Backups
	// CreateBackup inserts op in tx (so the caller can insert its job in the same tx).
	CreateBackup(ctx context.Context, tx *sql.Tx, op *BackupOperation) error
	GetBackup(ctx context.Context, id int64) (*BackupOperation, error)
	ListBackups(ctx context.Context, f BackupFilter, p Page) ([]BackupOperation, int64, error) // newest first, with total
	CountBackupsByStatus(ctx context.Context) (StatusCounts, error)
	// CompleteBackup records the archive of a backup run under the lease
	// token and moves it from running to completed (FinishRun's rules).
	CompleteBackup(ctx context.Context, id, token int64, res BackupResult) error
	// MarkPruned records that a completed backup's archive was removed
	// (ErrConflict when it is not completed or already marked).
	MarkPruned(ctx context.Context, id int64, reason string, at time.Time) error
	// SetBackupMode records how a backup run makes its archive (ModeFull or
	// ModeIncremental) and the backup it is built on, fenced by token.
	SetBackupMode(ctx context.Context, id, token int64, mode string, baseID int64) error
	// PreviousBackup is the newest completed backup (pruned or not) of the
	// same source, destination and plan made before backup before (ErrNotFound: none).
	PreviousBackup(ctx context.Context, srcID, dstID, planID, before int64) (*BackupOperation, error)
	// GetPlan returns the plan with id (a backup run reads its full_every).
	GetPlan(ctx context.Context, id int64) (*Plan, error)
	// Dependents maps each backup to the kept or unfinished backups built on it.
	Dependents(ctx context.Context) (map[int64][]int64, error)
	// BackupsBeingRestored are the backups a pending or running restore reads.
	BackupsBeingRestored(ctx context.Context) (map[int64]bool, error)
	// SaveBackupCheckpoint writes progress, checkpoint and the new archive
	// entries in one transaction, only while token is current (ErrLeaseLost otherwise).
	// tail is the archive's not-yet-uploaded bytes, kept apart from the JSON;
	// secret is what the checkpoint needs sealed with the server key (the
	// age stream state of an encrypted archive), nil when nothing.
	SaveBackupCheckpoint(ctx context.Context, id, token int64, p Progress, checkpoint, tail, secret []byte, entries []ArchiveEntry) error
	// BackupCheckpointTail returns the tail saved with the last checkpoint (nil when none).
	BackupCheckpointTail(ctx context.Context, id int64) ([]byte, error)
	// BackupCheckpointSecret returns the sealed secret saved with the last checkpoint (nil when none).
	BackupCheckpointSecret(ctx context.Context, id int64) ([]byte, error)
	// RestoreSecret returns the sealed identity or passphrase given with a
	// restore, until the restore ends (nil when none).
	RestoreSecret(ctx context.Context, id int64) ([]byte, error)
	// SetRestoreSecretTx keeps the sealed identity or passphrase given with restore id.
	SetRestoreSecretTx(ctx context.Context, tx *sql.Tx, id int64, sealed []byte) error
	// ForgetRestoreSecrets removes those of the restores that have ended.
	ForgetRestoreSecrets(ctx context.Context) (int64, error)

	// Restores (same shapes as backups)
	CreateRestore(ctx context.Context, tx *sql.Tx, op *RestoreOperation) error
	GetRestore(ctx context.Context, id int64) (*RestoreOperation, error)
	ListRestores(ctx context.Context, f RestoreFilter, p Page) ([]RestoreOperation, int64, error)
	CountRestoresByStatus(ctx context.Context) (StatusCounts, error)

	// Verifications (verifications.go)
	CreateVerification(ctx context.Context, tx *sql.Tx, op *VerifyOperation) error
	GetVerification(ctx context.Context, id int64) (*VerifyOperation, error)
	ListVerifications(ctx context.Context, f VerifyFilter, p Page) ([]VerifyOperation, int64, error)
	CountVerificationsByStatus(ctx context.Context) (StatusCounts, error)
	// FinishVerification records how verification id ended, its result and
	// the backup's last verification, fenced by token.
	FinishVerification(ctx context.Context, id, token int64, end RunEnd, result []byte) error
	// ActiveVerification is backup id's pending or running verification (ErrNotFound: none).
	ActiveVerification(ctx context.Context, backupID int64) (*VerifyOperation, error)
	// BackupByArchive finds the backup of an archive at a destination (ErrNotFound: none).
	BackupByArchive(ctx context.Context, destID int64, path string) (*BackupOperation, error)
	// ImportBackup records a backup found at its destination, with its
	// entries, in one transaction; ErrConflict when it is known already.
	ImportBackup(ctx context.Context, op *BackupOperation, next func() (ArchiveEntry, bool, error)) error
	// PlansDueForVerify and ClaimPlanVerify run a plan's verify schedule
	// as DuePlans and the claim of next_run_at run its backups.
	PlansDueForVerify(ctx context.Context, t time.Time) ([]Plan, error)
	ClaimPlanVerify(ctx context.Context, id int64, was, next *time.Time) (bool, error)

	// Every kind of operation (kind is KindBackup, KindRestore or KindVerify): the
	// shared columns of Operation, read and written the same way for each.
	GetOperation(ctx context.Context, kind string, id int64) (*Operation, error)
	// TransitionOperation changes status from one of from to to, in tx when
	// tx != nil; ErrConflict otherwise. For operations no worker runs.
	TransitionOperation(ctx context.Context, tx *sql.Tx, kind string, id int64, from []string, to string) (*Operation, error)
	// RequestAction sets requested_action when the status is one of from;
	// ErrConflict otherwise (the HTTP layer turns that into 409).
	RequestAction(ctx context.Context, kind string, id int64, action string, from []string) (*Operation, error)
	// FinishRun moves a running operation whose lease token is token to
	// end.Status, writing only what end names; ErrLeaseLost when the token
	// is no longer current, ErrConflict when it is not running.
	FinishRun(ctx context.Context, kind string, id, token int64, end RunEnd) error
	// AcquireLease takes the operation for owner when it has no live lease
	// (heartbeat older than staleAfter or none), bumps the fencing token and returns it.
	AcquireLease(ctx context.Context, kind string, id int64, owner string, now time.Time, staleAfter time.Duration) (int64, error)
	// Heartbeat renews the lease; ErrLeaseLost when token is no longer current.
	Heartbeat(ctx context.Context, kind string, id int64, token int64, now time.Time) error
	// ReleaseLease clears the lease if token is still current.
	ReleaseLease(ctx context.Context, kind string, id int64, token int64) error
	// StaleOperations lists running operations whose heartbeat is older than before.
	StaleOperations(ctx context.Context, kind string, before time.Time) ([]int64, error)
	// SaveCheckpoint writes progress and checkpoint, fenced by token.
	SaveCheckpoint(ctx context.Context, kind string, id, token int64, p Progress, checkpoint []byte) error
	// SaveProgress writes only the progress, fenced by token.
	SaveProgress(ctx context.Context, kind string, id, token int64, p Progress) error

	// ListArchiveEntries returns up to limit entries of a backup with Seq > afterSeq, in Seq order
	// (afterSeq -1 starts at the beginning). Restores walk it in step with the archive.
	ListArchiveEntries(ctx context.Context, backupID, afterSeq int64, limit int) ([]ArchiveEntry, error)
	// DeleteArchiveEntriesFrom removes entries with Seq >= seq (used when a
	// resume goes back to a checkpoint older than some stored entries).
	DeleteArchiveEntriesFrom(ctx context.Context, backupID, seq int64) error

	// Figures for /metrics (indexed integer columns only; see figures.go)
	OperationBytes(ctx context.Context) (map[string]ByteTotals, error)
	OperationDurations(ctx context.Context, statuses []string, bounds []float64) (map[string]map[string]Histogram, error)
	CountQueueJobsByState(ctx context.Context) (map[string]int64, error)
	// PlanFigures are every plan's finished runs and last success by name, and the pruned backups.
	PlanFigures(ctx context.Context) (map[string]*PlanFigures, int64, error)

	// Logs
	AppendLog(ctx context.Context, l *JobLog) error // sets ID and CreatedAt
	// ListLogs returns up to limit lines with ID > after, ascending.
	ListLogs(ctx context.Context, kind string, opID, after int64, limit int) ([]JobLog, error)
	DeleteLogsBefore(ctx context.Context, before time.Time) (int64, error)

	// Audit
	AppendAudit(ctx context.Context, e *AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, int64, error)

	// Single sign-on (sso.go)
	// GetUserByIdentity finds the user linked to a provider's subject (ErrNotFound: none).
	GetUserByIdentity(ctx context.Context, issuer, subject string) (*User, error)
	// LinkIdentity links a subject to a user; ErrConflict when either is linked already.
	LinkIdentity(ctx context.Context, userID int64, issuer, subject string) error
	// CreateUserWithIdentity creates a user linked to a subject in one transaction.
	CreateUserWithIdentity(ctx context.Context, u *User, issuer, subject string) error
	// IdentityOf returns the subject linked to a user at issuer (ErrNotFound: none).
	IdentityOf(ctx context.Context, userID int64, issuer string) (string, error)
	// SaveOIDCLogin stores a started sign-in; TakeOIDCLogin removes and
	// returns it once (ErrNotFound when unknown, taken or expired).
	SaveOIDCLogin(ctx context.Context, l *OIDCLogin) error
	TakeOIDCLogin(ctx context.Context, stateHash string, now time.Time) (*OIDCLogin, error)
	// SetPasswordLoginUntil and PasswordLoginUntil keep the break-glass
	// window: until when a password sign-in works with local login off.
	SetPasswordLoginUntil(ctx context.Context, userID int64, until *time.Time) error
	PasswordLoginUntil(ctx context.Context, userID int64) (*time.Time, error)
}
