package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
)

// Every operation kind (backup, restore, and those to come) runs the same
// way: a job names the operation; RunOperation loads it, takes its lease,
// moves it to running, hands the work to the kind's worker, and records how
// the run ended (completed by the worker itself, or paused, cancelled,
// handed back at shutdown, lost to another worker, failed). The heartbeat
// and the user's requests are the run's (lease.go). A kind adds what only
// it knows: how to open a run of it, and what a cancel leaves to clean up.

// kind is one operation kind as the engine runs and steers it.
type kind struct {
	name string // store.KindBackup ...
	noun string // "backup", in sentences
	// open prepares a worker's run of operation r.id (its lease held, its
	// status running): it loads the kind's own row and returns the worker.
	open func(e *Engine, r *run, lg *joblog.Logger) (worker, error)
	// cancellable are the statuses a cancel is accepted in: running asks
	// the worker to stop; the others cancel at once.
	cancellable []string
	// discard, when set, removes what an operation no worker runs left
	// behind when it is cancelled (a backup's partial upload).
	discard func(ctx context.Context, e *Engine, id int64, lg *joblog.Logger)
}

// worker is one worker's run of an operation of some kind.
type worker interface {
	// run does the work, continuing from the checkpoint when there is one,
	// and records the completion itself (with the kind's own results). It
	// returns early with an error when the work fails or the run's context
	// ends; it saves a checkpoint first when the run pauses or the process
	// stops.
	run() error
	// progress is how far the run came.
	progress() store.Progress
	// cancelled cleans up after a cancel that stopped the run and returns
	// the sentence to log.
	cancelled(ctx context.Context) string
}

var (
	backupKind = &kind{name: store.KindBackup, noun: "backup", open: openBackup, discard: discardStoredUpload,
		cancellable: []string{store.StatusPending, store.StatusRunning, store.StatusPaused, store.StatusFailed}}
	restoreKind = &kind{name: store.KindRestore, noun: "restore", open: openRestore,
		cancellable: []string{store.StatusPending, store.StatusRunning}}
	verifyKind = &kind{name: store.KindVerify, noun: "verification", open: openVerify,
		cancellable: []string{store.StatusPending, store.StatusRunning}}
)

// kinds are every kind the engine runs.
var kinds = []*kind{backupKind, restoreKind, verifyKind}

// kindOf returns the kind named name.
func kindOf(name string) (*kind, error) {
	for _, k := range kinds {
		if k.name == name {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown operation kind %q", name)
}

// title is the kind's noun at the start of a sentence.
func (k *kind) title() string { return strings.ToUpper(k.noun[:1]) + k.noun[1:] }

// RunOperation runs, or continues from its checkpoint, operation id of kind
// (store.KindBackup ...); queue.Runner. It returns an error only for River:
// queue.Stopping() when the process is shutting down and the job must go on
// later, queue.RetryLater while an earlier holder's lease may still be
// live, or a catalog error worth a retry. How the operation ended is
// recorded on it.
func (e *Engine) RunOperation(ctx context.Context, kindName string, id int64) error {
	k, err := kindOf(kindName)
	if err != nil {
		return err
	}
	op, err := e.cat.GetOperation(ctx, k.name, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load %s %d: %w", k.noun, id, err)
	}
	if op.Status != store.StatusPending && op.Status != store.StatusRunning {
		return nil // paused, cancelled or finished meanwhile
	}
	r, err := e.startRun(ctx, k.name, id)
	if errors.Is(err, errLeaseHeld) {
		if op.Status == store.StatusPending {
			// Handed back (resumed, or stopped for a restart) while the last
			// holder's lease still looks live: that holder may have died
			// between recording the status and giving the lease back. Try
			// again once such a lease would have expired.
			return queue.RetryLater(e.opt.LeaseTimeout / 2)
		}
		return nil // another worker runs it
	}
	if err != nil {
		return err
	}
	defer r.end()
	_, err = e.cat.TransitionOperation(ctx, nil, k.name, id, []string{store.StatusPending, store.StatusRunning}, store.StatusRunning)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil // paused, cancelled or deleted between the check and the lease
	}
	if err != nil {
		// Anything else may pass (the database restarting): River tries again.
		return fmt.Errorf("start %s %d: %w", k.noun, id, err)
	}
	lg := joblog.New(e.cat, k.name, id, e.log)
	w, err := k.open(e, r, lg)
	if err != nil {
		return fmt.Errorf("start %s %d: %w", k.noun, id, err)
	}
	return e.settle(r, k, w, lg, w.run())
}

// settle records how a run that returned runErr ended.
func (e *Engine) settle(r *run, k *kind, w worker, lg *joblog.Logger, runErr error) error {
	ctx, cancel := r.bg()
	defer cancel()
	// The identity or passphrase given with a restore goes in the update
	// that records its end (store: the kind's forget columns).
	if runErr == nil {
		// Completed, and recorded by the worker.
		if e.notifier != nil {
			e.notifier.OperationEnded(ctx, k.name, r.id)
		}
		return nil
	}
	reason := r.stopReason()
	if errors.Is(reason, errLeaseLost) {
		lg.Warn(ctx, fmt.Sprintf("Another worker took this %s over; this worker stopped without writing more.", k.noun))
		return nil
	}
	// The last line goes before the status: a log stream ends once the
	// status is final and it has sent every line.
	var end store.RunEnd
	switch {
	case errors.Is(reason, errPauseRequested):
		end = store.RunEnd{Status: store.StatusPaused}
		p := w.progress()
		lg.Info(ctx, k.title()+" paused at a checkpoint; resume continues from here.", "items_done", p.ItemsDone, "bytes_written", p.BytesWritten)
	case errors.Is(reason, errCancelRequested):
		end = store.RunEnd{Status: store.StatusCancelled}
		lg.Info(ctx, w.cancelled(ctx))
	case errors.Is(reason, context.Canceled):
		// The process is stopping: the checkpoint is saved; hand the job back.
		end = store.RunEnd{Status: store.StatusPending}
		lg.Info(ctx, fmt.Sprintf("Worker stopping: the %s continues from its checkpoint on the next worker.", k.noun))
	default:
		msg := userMessage(runErr)
		end = store.RunEnd{Status: store.StatusFailed, ErrorMessage: msg}
		lg.Error(ctx, k.title()+" failed: "+msg)
	}
	if err := e.cat.FinishRun(ctx, k.name, r.id, r.token, end); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			lg.Warn(ctx, fmt.Sprintf("Another worker took this %s over; this worker stopped without writing more.", k.noun))
			return nil
		}
		return fmt.Errorf("record the end of %s %d: %w", k.noun, r.id, err)
	}
	if end.Status == store.StatusPending {
		return queue.Stopping()
	}
	if end.Status == store.StatusFailed && e.notifier != nil {
		if ns := (noSpaceError{}); errors.As(runErr, &ns) {
			e.notifier.StorageInsufficient(ctx, r.id, ns.err.Message)
		}
		e.notifier.OperationEnded(ctx, k.name, r.id)
	}
	return nil
}

// Cancel cancels operation id of kind (store.KindBackup ...): at once when
// no worker runs it, cleaning up what it left behind, or by asking the
// worker that runs it to stop and clean up (within seconds, from any
// process).
func (e *Engine) Cancel(ctx context.Context, actor Actor, kindName string, id int64) error {
	k, err := kindOf(kindName)
	if err != nil {
		return err
	}
	lg := joblog.New(e.cat, k.name, id, e.log)
	idle := make([]string, 0, len(k.cancellable))
	for _, st := range k.cancellable {
		if st != store.StatusRunning {
			idle = append(idle, st)
		}
	}
	_, err = e.cat.TransitionOperation(ctx, nil, k.name, id, idle, store.StatusCancelled)
	if err == nil {
		if k.discard != nil {
			k.discard(ctx, e, id, lg)
		}
		lg.Info(ctx, fmt.Sprintf("%s cancelled by %s.", k.title(), actor.Email))
		return nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	_, err = e.cat.RequestAction(ctx, k.name, id, store.RequestCancel, []string{store.StatusRunning})
	if errors.Is(err, store.ErrConflict) {
		return e.conflict(ctx, k, id, "cancelled", k.cancellable)
	}
	if err != nil {
		return err
	}
	lg.Info(ctx, fmt.Sprintf("Cancel requested by %s; the %s stops within seconds.", actor.Email, k.noun))
	return nil
}

// conflict is the 409 for a steering call the status of operation id does
// not allow: only operations in one of allowed can be verb.
func (e *Engine) conflict(ctx context.Context, k *kind, id int64, verb string, allowed []string) error {
	op, err := e.cat.GetOperation(ctx, k.name, id)
	if err != nil {
		return err
	}
	list := allowed[0]
	if n := len(allowed); n > 1 {
		list = strings.Join(allowed[:n-1], ", ") + " or " + allowed[n-1]
	}
	return apperr.New(apperr.Conflict, "%s %d is %s and cannot be %s; only a %s %s can", k.noun, id, op.Status, verb, list, k.noun)
}
