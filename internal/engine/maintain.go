package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
)

// Maintain runs one periodic housekeeping task (queue.Task*).
func (e *Engine) Maintain(ctx context.Context, task string) error {
	switch task {
	case queue.TaskSweep:
		if _, err := e.cat.ForgetRestoreSecrets(ctx); err != nil {
			return err
		}
		return e.sweep(ctx)
	case queue.TaskLogs:
		n, err := e.cat.DeleteLogsBefore(ctx, e.now().Add(-e.opt.LogRetention))
		if err != nil {
			return fmt.Errorf("delete old logs: %w", err)
		}
		if n > 0 {
			e.log.Info("deleted old job logs", "lines", n)
		}
		return nil
	case queue.TaskSessions:
		_, err := e.cat.DeleteExpiredSessions(ctx, e.now())
		return err
	}
	return fmt.Errorf("unknown maintenance task %q", task)
}

// reap hands operations whose worker stopped heartbeating (killed, lost its
// host) to a new job, which continues from the last checkpoint. It first
// takes the lease itself and gives it back: that fences out the old worker
// (should it only have been cut off) and restarts the staleness clock, so
// the operation is not handed out again while its new job waits for a worker.
func (e *Engine) reap(ctx context.Context) error {
	before := e.now().Add(-e.opt.LeaseTimeout)
	for _, k := range kinds {
		kind := k.name
		ids, err := e.cat.StaleOperations(ctx, kind, before)
		if err != nil {
			return fmt.Errorf("find stale %s operations: %w", kind, err)
		}
		for _, id := range ids {
			token, err := e.cat.AcquireLease(ctx, kind, id, "reaper:"+e.opt.Owner, e.now(), e.opt.LeaseTimeout)
			if err != nil {
				continue // another process got there first
			}
			if err := e.cat.ReleaseLease(ctx, kind, id, token); err != nil {
				continue
			}
			err = e.cat.InTx(ctx, func(tx *sql.Tx) error { return e.q.InsertOperationTx(ctx, tx, kind, id) })
			if err != nil {
				return err
			}
			joblog.New(e.cat, kind, id, e.log).Warn(ctx, "The worker running this operation stopped responding; it continues from its last checkpoint on another worker.")
		}
	}
	return nil
}

// RunReaper looks for operations whose worker died every interval until ctx
// ends. Every worker process runs it (not only the queue's elected leader),
// so a dead worker's operation moves on within about LeaseTimeout + interval.
func (e *Engine) RunReaper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.reap(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("looking for stale operations", "err", err)
			}
		}
	}
}

// sweep removes partial uploads that belong to no operation that could still
// continue (pending, running, paused or failed). Each destination keeps
// exactly the uploads named by the checkpoints of its live backups.
func (e *Engine) sweep(ctx context.Context) error {
	live, unread, err := e.liveUploads(ctx)
	if err != nil {
		return err
	}
	conns, err := e.cat.ListConnections(ctx)
	if err != nil {
		return err
	}
	for _, c := range conns {
		if !registry.HasRole(c.Type, registry.RoleDestination) || !c.IsActive {
			continue
		}
		if unread[c.ID] {
			e.log.Warn("sweep destination: the checkpoint of a live backup cannot be read, so nothing is swept", "connection", c.Name)
			continue
		}
		_, dst, err := e.openDestination(ctx, c.ID)
		if err != nil {
			continue
		}
		n, err := dst.Sweep(ctx, e.now().Add(-e.opt.SweepAfter), live[c.ID])
		if err != nil {
			e.log.Warn("sweep destination", "connection", c.Name, "err", err)
			continue
		}
		if n > 0 {
			e.log.Info("removed leftover partial archives", "connection", c.Name, "count", n)
		}
	}
	return nil
}

// liveUploads returns, by destination connection, the upload states saved
// in the checkpoints of the backups that may still continue, and the
// destinations of those whose checkpoint cannot be read.
func (e *Engine) liveUploads(ctx context.Context) (map[int64][]json.RawMessage, map[int64]bool, error) {
	live, unread := map[int64][]json.RawMessage{}, map[int64]bool{}
	for _, status := range []string{store.StatusPending, store.StatusRunning, store.StatusPaused, store.StatusFailed} {
		for page := 1; ; page++ {
			ops, total, err := e.cat.ListBackups(ctx, store.BackupFilter{Status: status}, store.Page{Page: page, PerPage: store.MaxPerPage})
			if err != nil {
				return nil, nil, fmt.Errorf("list backups: %w", err)
			}
			for _, op := range ops {
				if len(op.Checkpoint) == 0 || string(op.Checkpoint) == "null" {
					continue // no upload yet
				}
				var cp backupCheckpoint
				if err := json.Unmarshal(op.Checkpoint, &cp); err != nil {
					unread[op.DestinationConnectionID] = true
					continue
				}
				if len(cp.Upload) > 0 && string(cp.Upload) != "null" {
					live[op.DestinationConnectionID] = append(live[op.DestinationConnectionID], cp.Upload)
				}
			}
			if int64(page*store.MaxPerPage) >= total {
				break
			}
		}
	}
	return live, unread, nil
}
