package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
)

// Why a run stopped before its end.
var (
	errPauseRequested  = errors.New("pause requested")
	errCancelRequested = errors.New("cancel requested")
	errLeaseLost       = errors.New("another worker took this operation over")
	errLeaseHeld       = errors.New("another worker is running this operation")
)

// run is one worker's ownership of an operation: a fenced lease renewed by a
// heartbeat, and a context that ends when the user pauses or cancels, when
// the lease is lost, or when the process shuts down.
type run struct {
	e      *Engine
	kind   string
	id     int64
	token  int64
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	stopHB chan struct{}
}

func (e *Engine) startRun(parent context.Context, kind string, id int64) (*run, error) {
	token, err := e.cat.AcquireLease(parent, kind, id, e.opt.Owner, e.now(), e.opt.LeaseTimeout)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrLeaseLost) {
		return nil, errLeaseHeld
	}
	if err != nil {
		return nil, fmt.Errorf("take the lease of %s %d: %w", kind, id, err)
	}
	ctx, cancel := context.WithCancelCause(parent)
	r := &run{e: e, kind: kind, id: id, token: token, parent: parent, ctx: ctx, cancel: cancel, stopHB: make(chan struct{})}
	r.wg.Add(1)
	go r.heartbeat()
	return r, nil
}

func (r *run) heartbeat() {
	defer r.wg.Done()
	t := time.NewTicker(r.e.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.stopHB:
			return
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		if err := r.e.cat.Heartbeat(r.parent, r.kind, r.id, r.token, r.e.now()); err != nil {
			if errors.Is(err, store.ErrLeaseLost) {
				r.cancel(errLeaseLost)
				return
			}
			r.e.log.Warn("heartbeat failed", "operation", r.kind, "id", r.id, "err", err)
			continue
		}
		switch action := r.requested(); action {
		case store.RequestPause:
			r.cancel(errPauseRequested)
		case store.RequestCancel:
			r.cancel(errCancelRequested)
		}
	}
}

// requested reads the action a user asked for, if any.
func (r *run) requested() string {
	op, err := r.e.cat.GetOperation(r.parent, r.kind, r.id)
	if err != nil {
		return ""
	}
	return op.RequestedAction
}

// stopReason says why the run's context ended: a request, a lost lease,
// shutdown (the parent ended), or nil while it is still live.
func (r *run) stopReason() error {
	if r.ctx.Err() == nil {
		return nil
	}
	if r.parent.Err() != nil {
		return context.Canceled
	}
	return context.Cause(r.ctx)
}

// end stops the heartbeat and gives the lease back.
func (r *run) end() {
	close(r.stopHB)
	r.cancel(nil)
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.parent), 10*time.Second)
	defer cancel()
	if err := r.e.cat.ReleaseLease(ctx, r.kind, r.id, r.token); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		r.e.log.Warn("release lease", "operation", r.kind, "id", r.id, "err", err)
	}
}

// bg is a context for bookkeeping writes that must happen even though the
// run's context has ended (saving a checkpoint on pause, recording a failure).
func (r *run) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.parent), 30*time.Second)
}
