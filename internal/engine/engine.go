package engine

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
)

// Enqueuer inserts the job of an operation inside the transaction that
// creates or resumes it. *queue.Queue implements it.
type Enqueuer interface {
	// InsertOperationTx enqueues the job of operation id of kind (store.KindBackup ...).
	InsertOperationTx(ctx context.Context, tx *sql.Tx, kind string, id int64) error
	Healthy(ctx context.Context) error
}

// Options tune the engine. Zero values take the defaults noted.
type Options struct {
	// Heartbeat is how often a running operation renews its lease and looks
	// for pause/cancel requests (default 2 s).
	Heartbeat time.Duration
	// LeaseTimeout is how old a heartbeat must be before another worker may
	// take the operation over (default 30 s).
	LeaseTimeout time.Duration
	// CheckpointEvery is the least time between two checkpoints taken after
	// uploaded parts (default 0: after every part). Pause always checkpoints.
	CheckpointEvery time.Duration
	// ProgressEvery is how often progress is saved (default 2 s).
	ProgressEvery time.Duration
	// FetchConcurrency bounds how many objects are fetched at once (default 32).
	FetchConcurrency int
	// SmallObject is the size up to which objects are fetched ahead whole
	// into memory while they wait their turn (default 4 MiB, within a
	// 24 MiB budget); larger ones are read ahead through a 2 MiB window,
	// at most two at a time.
	SmallObject int64
	// MongoParallel is how many MongoDB collections a backup measures at
	// once, ahead of the one it copies (default 4, as mongodump's
	// --numParallelCollections).
	MongoParallel int
	// MongoSpoolLimit is how many compressed bytes of one collection a
	// MongoDB backup keeps on disk from its measuring pass, to copy them
	// from there instead of reading a server without $bsonSize (FerretDB)
	// twice (default 1 GiB; negative: never).
	MongoSpoolLimit int64
	// SpoolDir is where those spools go ("" for the system's temporary directory).
	SpoolDir string
	// LogRetention is how long job logs are kept (default 30 days).
	LogRetention time.Duration
	// SweepAfter is how old a leftover upload must be before the sweeper removes it (default 24 h).
	SweepAfter time.Duration
	// Owner names this process in leases (default hostname + random suffix).
	Owner string
	// Version is written into manifests.
	Version string
	// CrashAt, when set, is called at named points of a backup
	// ("listing", "mid-part", "after-checkpoint", "finalize",
	// "completed-upload"; "collection-measured" between a MongoDB
	// collection's measuring and its copy) and of a restore
	// ("restore-entry"). The crash
	// tests use it to kill the process at exact places; it is nil in
	// normal operation.
	CrashAt func(point string)
}

// Defaults of Options.MongoParallel and Options.MongoSpoolLimit.
const (
	DefaultMongoParallel   = 4
	DefaultMongoSpoolLimit = 1 << 30
)

// Engine starts, runs and controls operations. It implements queue.Runner
// for the workers and the operations half of the HTTP API.
type Engine struct {
	cat   store.Catalog
	conns Connections
	q     Enqueuer
	opt   Options
	log   *slog.Logger
	now   func() time.Time
	// afterBackup, when set, is called once a backup has completed (the
	// plan service prunes the backup's plan).
	afterBackup func(ctx context.Context, op *store.BackupOperation)
	// notifier, when set, hears what people may need to know.
	notifier Notifier
	// keys serves encrypted archives (nil: encryption is not available).
	keys Keys
}

// Notifier hears what the engine did that a person may need to know (the
// notification service implements it). Its methods return at once: they
// record what to send, and a River job sends it.
type Notifier interface {
	// OperationEnded: operation id of kind completed or failed.
	OperationEnded(ctx context.Context, kind string, id int64)
	// ConnectionNeedsReauth: connection id's OAuth grant was revoked or expired.
	ConnectionNeedsReauth(ctx context.Context, id int64)
	// StorageInsufficient: backup id's archive cannot fit at its destination.
	StorageInsufficient(ctx context.Context, backupID int64, detail string)
}

// SetNotifier sets who hears about ended operations and connections that
// need a person. Set it before the queue starts.
func (e *Engine) SetNotifier(n Notifier) { e.notifier = n }

// OnBackupCompleted sets what runs after each backup completes, in the
// worker that completed it. Set it before the queue starts.
func (e *Engine) OnBackupCompleted(fn func(ctx context.Context, op *store.BackupOperation)) {
	e.afterBackup = fn
}

// New returns an Engine that records operations in cat, opens their
// connections through conns and queues their jobs with q.
func New(cat store.Catalog, conns Connections, q Enqueuer, opt Options, log *slog.Logger) *Engine {
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 2 * time.Second
	}
	if opt.LeaseTimeout <= 0 {
		opt.LeaseTimeout = 30 * time.Second
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 2 * time.Second
	}
	if opt.FetchConcurrency <= 0 {
		opt.FetchConcurrency = 32
	}
	if opt.MongoSpoolLimit == 0 {
		opt.MongoSpoolLimit = DefaultMongoSpoolLimit
	}
	if opt.MongoParallel <= 0 {
		opt.MongoParallel = DefaultMongoParallel
	}
	if opt.SmallObject <= 0 {
		opt.SmallObject = 4 << 20
	}
	if opt.LogRetention <= 0 {
		opt.LogRetention = 30 * 24 * time.Hour
	}
	if opt.SweepAfter <= 0 {
		opt.SweepAfter = 24 * time.Hour
	}
	if opt.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opt.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	if log == nil {
		log = slog.Default()
	}
	return &Engine{cat: cat, conns: conns, q: q, opt: opt, log: log, now: func() time.Time { return time.Now().UTC() }}
}

func (e *Engine) crashPoint(point string) {
	if e.opt.CrashAt != nil {
		e.opt.CrashAt(point)
	}
}

// QueueHealthy reports whether the job queue answers.
func (e *Engine) QueueHealthy(ctx context.Context) error { return e.q.Healthy(ctx) }
