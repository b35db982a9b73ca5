// Package queue runs coffer's jobs on River, on the catalog's own database:
// SQLite for one host, PostgreSQL for any number of hosts. Jobs only carry an
// id and dispatch into what does the work: an operation into a Runner (the
// engine), a scheduler tick into a Ticker (the plan service), a notification
// delivery into a Deliverer (the notification service); the queue knows
// nothing of how a backup works.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver for River's own pool

	"github.com/coffer-backup/coffer/internal/store"
)

// Queue names.
const (
	QueueOperations  = "operations"
	QueueMaintenance = "maintenance"
	// QueueSchedule runs the plan scheduler's ticks, one at a time, apart
	// from maintenance (a long sweep never delays a due backup).
	QueueSchedule = "schedule"
	// QueueNotifications delivers notifications, apart from operations (a
	// slow mail server never holds a backup's slot).
	QueueNotifications = "notifications"
)

// Maintenance tasks run periodically by the elected leader.
const (
	TaskSweep    = "sweep"    // remove partial uploads of operations that no longer run
	TaskLogs     = "logs"     // delete job logs past the retention period
	TaskSessions = "sessions" // delete expired login sessions
)

// The job of an operation runs (or continues) it. Each operation kind has
// its own River job kind, named like the operation kind (store.KindBackup
// ...), all worked by one operationWorker and dispatched to Runner.RunOperation.

// BackupArgs is the job that runs (or continues) one backup operation.
type BackupArgs struct {
	OperationID int64 `json:"operation_id"`
}

// Kind implements river.JobArgs.
func (BackupArgs) Kind() string { return store.KindBackup }

func (a BackupArgs) operation() int64 { return a.OperationID }

// RestoreArgs is the job that runs (or continues) one restore operation.
type RestoreArgs struct {
	OperationID int64 `json:"operation_id"`
}

// Kind implements river.JobArgs.
func (RestoreArgs) Kind() string { return store.KindRestore }

func (a RestoreArgs) operation() int64 { return a.OperationID }

// VerifyArgs is the job that runs one verification of a backup's archive.
type VerifyArgs struct {
	OperationID int64 `json:"operation_id"`
}

// Kind implements river.JobArgs.
func (VerifyArgs) Kind() string { return store.KindVerify }

func (a VerifyArgs) operation() int64 { return a.OperationID }

// operationArgs are the job arguments of an operation kind.
type operationArgs interface {
	river.JobArgs
	operation() int64
}

// operationJob returns the job arguments that run operation id of kind.
func operationJob(kind string, id int64) (river.JobArgs, error) {
	switch kind {
	case store.KindBackup:
		return BackupArgs{OperationID: id}, nil
	case store.KindRestore:
		return RestoreArgs{OperationID: id}, nil
	case store.KindVerify:
		return VerifyArgs{OperationID: id}, nil
	}
	return nil, fmt.Errorf("no job runs operations of kind %q", kind)
}

// MaintenanceArgs is a periodic housekeeping job.
type MaintenanceArgs struct {
	Task string `json:"task"`
}

// Kind implements river.JobArgs.
func (MaintenanceArgs) Kind() string { return "maintenance" }

// ScheduleArgs is the periodic job that lets the plan scheduler start the
// runs that are due. River inserts it on its elected leader only; the tick
// itself claims each due time once, so a second tick at the same moment
// (a leader change) starts nothing twice.
type ScheduleArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleArgs) Kind() string { return "plan_schedule" }

// DeliveryArgs is the job that delivers one notification (a row of the
// delivery log) to its channel.
type DeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (DeliveryArgs) Kind() string { return "notification_delivery" }

// Deliverer sends notifications. The notification service implements it.
type Deliverer interface {
	// Deliver makes the next attempt at delivery id. It counts the attempts
	// itself and answers how long to wait before the next one when this one
	// failed and another may help, zero when the delivery is done.
	Deliver(ctx context.Context, id int64) (retryIn time.Duration, err error)
}

// Ticker starts the plan runs that are due. The plan service implements it.
type Ticker interface {
	Tick(ctx context.Context) error
}

// Runner does the work a job stands for. The engine implements it.
type Runner interface {
	// RunOperation runs, or continues, operation id of kind (store.KindBackup ...).
	RunOperation(ctx context.Context, kind string, id int64) error
	Maintain(ctx context.Context, task string) error
}

// Options configure a Queue.
type Options struct {
	// DatabaseURL is the catalog's URL (postgres://... or sqlite:<path> / a path).
	DatabaseURL string
	// Workers is how many operations this process runs at once; 0 makes an
	// insert-only queue (no workers, no maintenance).
	Workers int
	// SweepInterval is how often leftovers are swept (default 1 h).
	SweepInterval time.Duration
	// ScheduleTick is how often the plan scheduler looks for due plans
	// (default 5 s): the most a run starts after its due time.
	ScheduleTick time.Duration
	// ID names this process among River's clients (default: River's own).
	ID     string
	Logger *slog.Logger
}

// Queue is a River client on the catalog database.
type Queue struct {
	client    *river.Client[*sql.Tx]
	riverDB   *sql.DB       // SQLite: River's own single-connection pool
	listener  *pgxpool.Pool // PostgreSQL: the LISTEN/NOTIFY pool
	runner    *late[Runner]
	ticker    *late[Ticker]
	deliverer *late[Deliverer]
	workers   int
}

// Database is the catalog database the queue shares: its dialect and its
// pool (the catalog, store.Store, implements it).
type Database interface {
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	// DB is the catalog's pool; on PostgreSQL River works through it.
	DB() *sql.DB
}

// New builds the queue on the catalog's database. Call SetRunner before Start.
func New(ctx context.Context, cat Database, opts Options) (*Queue, error) {
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Hour
	}
	if opts.ScheduleTick <= 0 {
		opts.ScheduleTick = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &Queue{runner: &late[Runner]{}, ticker: &late[Ticker]{}, deliverer: &late[Deliverer]{}, workers: opts.Workers}

	cfg := &river.Config{
		ID:                   opts.ID,
		Logger:               quietLogger(opts.Logger),
		JobTimeout:           -1,             // backups run as long as they need; leases guard liveness
		RescueStuckJobsAfter: 24 * time.Hour, // the lease reaper, not River's rescuer, recovers dead runs
		MaxAttempts:          25,
		FetchPollInterval:    500 * time.Millisecond,
	}
	if opts.Workers > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &operationWorker[BackupArgs]{r: q.runner})
		river.AddWorker(workers, &operationWorker[RestoreArgs]{r: q.runner})
		river.AddWorker(workers, &operationWorker[VerifyArgs]{r: q.runner})
		river.AddWorker(workers, &maintenanceWorker{r: q.runner})
		river.AddWorker(workers, &scheduleWorker{t: q.ticker})
		river.AddWorker(workers, &deliveryWorker{d: q.deliverer})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			QueueOperations:    {MaxWorkers: opts.Workers},
			QueueMaintenance:   {MaxWorkers: 1},
			QueueSchedule:      {MaxWorkers: 1},
			QueueNotifications: {MaxWorkers: 4},
		}
		cfg.PeriodicJobs = []*river.PeriodicJob{
			periodic(opts.SweepInterval, TaskSweep),
			periodic(6*time.Hour, TaskLogs),
			periodic(time.Hour, TaskSessions),
			river.NewPeriodicJob(river.PeriodicInterval(opts.ScheduleTick), func() (river.JobArgs, *river.InsertOpts) {
				return ScheduleArgs{}, &river.InsertOpts{Queue: QueueSchedule, MaxAttempts: 1}
			}, &river.PeriodicJobOpts{RunOnStart: true, ID: "plan-schedule"}),
		}
	}

	var err error
	if cat.Dialect() == store.DialectPostgres {
		q.listener, err = pgxpool.New(ctx, opts.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open the job queue's PostgreSQL listener: %w", err)
		}
		q.client, err = river.NewClient(riverdatabasesql.NewWithPgxListener(cat.DB(), q.listener), cfg)
	} else {
		q.riverDB, err = sql.Open("sqlite", store.SQLiteDSN(store.SQLitePath(opts.DatabaseURL)))
		if err != nil {
			return nil, fmt.Errorf("open the job queue's SQLite pool: %w", err)
		}
		// One connection: River's SQLite driver is not safe with more (SQLITE_BUSY).
		q.riverDB.SetMaxOpenConns(1)
		q.client, err = river.NewClient(riversqlite.New(q.riverDB), cfg)
	}
	if err != nil {
		q.closePools()
		return nil, fmt.Errorf("start the job queue: %w", err)
	}
	return q, nil
}

func periodic(every time.Duration, task string) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return MaintenanceArgs{Task: task}, &river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1}
	}, &river.PeriodicJobOpts{RunOnStart: true, ID: "maintenance-" + task})
}

// SetRunner binds the Runner that jobs dispatch into.
func (q *Queue) SetRunner(r Runner) { q.runner.set(r) }

// SetDeliverer binds the notification service that delivery jobs call.
func (q *Queue) SetDeliverer(d Deliverer) { q.deliverer.set(d) }

// SetTicker binds the plan scheduler's ticks (none bound: ticks do nothing).
func (q *Queue) SetTicker(t Ticker) { q.ticker.set(t) }

// Start begins working jobs (a no-op for an insert-only queue).
func (q *Queue) Start(ctx context.Context) error {
	if q.workers == 0 {
		return nil
	}
	if q.runner.get() == nil {
		return errors.New("queue: SetRunner must be called before Start")
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start the job queue: %w", err)
	}
	return nil
}

// Stop asks running jobs to stop at their next checkpoint (their contexts are
// cancelled; the engine saves a checkpoint and leaves the operation to be
// continued) and waits for them until ctx ends. It then closes the pools.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	if q.workers > 0 {
		err = q.client.StopAndCancel(ctx)
		if err != nil && strings.Contains(err.Error(), "not started") {
			err = nil
		}
	}
	q.closePools()
	return err
}

func (q *Queue) closePools() {
	if q.riverDB != nil {
		_ = q.riverDB.Close()
	}
	if q.listener != nil {
		q.listener.Close()
	}
}

// InsertOperationTx enqueues the job of operation id of kind inside tx, so
// the operation row and its job commit together.
func (q *Queue) InsertOperationTx(ctx context.Context, tx *sql.Tx, kind string, id int64) error {
	args, err := operationJob(kind, id)
	if err != nil {
		return err
	}
	if _, err := q.client.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: QueueOperations}); err != nil {
		return fmt.Errorf("enqueue %s %d: %w", kind, id, err)
	}
	return nil
}

// InsertDeliveryTx enqueues the job that delivers notification id inside
// tx, so the delivery row and its job commit together. Its retries are
// snoozes (see deliveryWorker); River's own attempts only count failures
// the Deliverer did not handle, such as a panic.
func (q *Queue) InsertDeliveryTx(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := q.client.InsertTx(ctx, tx, DeliveryArgs{DeliveryID: id}, &river.InsertOpts{Queue: QueueNotifications, MaxAttempts: 3}); err != nil {
		return fmt.Errorf("enqueue notification %d: %w", id, err)
	}
	return nil
}

// Healthy reports whether the queue's database answers.
func (q *Queue) Healthy(ctx context.Context) error {
	if q.riverDB != nil {
		if err := q.riverDB.PingContext(ctx); err != nil {
			return fmt.Errorf("job queue database: %w", err)
		}
	}
	if q.listener != nil {
		if err := q.listener.Ping(ctx); err != nil {
			return fmt.Errorf("job queue listener: %w", err)
		}
	}
	return nil
}

// Stopping returns the error a Runner returns when it saved a checkpoint
// because its context ended with the process: River will hand the job to a
// worker again a second later (here after a restart, or on another host).
func Stopping() error { return river.JobSnooze(time.Second) }

// RetryLater returns the error a Runner returns when the job cannot run yet
// (another process still holds the operation's lease): River hands it to a
// worker again after d, without counting an attempt.
func RetryLater(d time.Duration) error { return river.JobSnooze(d) }

// operationWorker works the jobs of one operation kind.
type operationWorker[T operationArgs] struct {
	river.WorkerDefaults[T]
	r *late[Runner]
}

func (w *operationWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	return w.r.get().RunOperation(ctx, job.Args.Kind(), job.Args.operation())
}

type maintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	r *late[Runner]
}

func (w *maintenanceWorker) Work(ctx context.Context, job *river.Job[MaintenanceArgs]) error {
	return w.r.get().Maintain(ctx, job.Args.Task)
}

// deliveryWorker delivers notifications. The Deliverer counts attempts
// and decides the waits (a receiver's Retry-After included), so a retry is
// a snooze, which River does not count against the job's attempts.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	d *late[Deliverer]
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	d := w.d.get()
	if d == nil {
		return river.JobSnooze(10 * time.Second) // bound at start-up; not yet
	}
	retryIn, err := d.Deliver(ctx, job.Args.DeliveryID)
	switch {
	case err == nil:
		return nil
	case retryIn > 0:
		return river.JobSnooze(retryIn)
	default:
		return river.JobCancel(err)
	}
}

// scheduleWorker runs the plan scheduler's ticks.
type scheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	t *late[Ticker]
}

func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleArgs]) error {
	if t := w.t.get(); t != nil {
		return t.Tick(ctx)
	}
	return nil
}
