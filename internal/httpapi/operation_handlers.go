package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
)

// opAPI serves the routes every operation kind has, the same way for each:
// list, get, the steering actions (cancel, and a backup's pause and
// resume), and the log, as pages and as a live stream. T is the kind's
// catalog row; starting an operation is the kind's own handler.
type opAPI[T any] struct {
	s    *server
	kind string // store.KindBackup ...: the engine's kind, job logs and audit targets
	noun string // "Backup", at the start of sentences
	// read returns the row with id (store.ErrNotFound when there is none).
	read func(ctx context.Context, id int64) (*T, error)
	// query reads the kind's filters from the request and returns one page.
	query func(r *http.Request, p store.Page) ([]T, int64, error)
	// view is the API shape of a row (docs/api.md).
	view func(*T) any
}

func newBackupAPI(s *server) *opAPI[store.BackupOperation] {
	return &opAPI[store.BackupOperation]{s: s, kind: store.KindBackup, noun: "Backup",
		read: s.cat.GetBackup,
		view: func(op *store.BackupOperation) any { return viewBackup(op) },
		query: func(r *http.Request, p store.Page) ([]store.BackupOperation, int64, error) {
			status, err := queryStatus(r, backupStatuses)
			if err != nil {
				return nil, 0, err
			}
			src, err := queryInt(r, "source_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			dst, err := queryInt(r, "destination_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			plan, err := queryInt(r, "plan_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			return s.cat.ListBackups(r.Context(), store.BackupFilter{Status: status, SourceID: src, DestinationID: dst, PlanID: plan}, p)
		},
	}
}

func newRestoreAPI(s *server) *opAPI[store.RestoreOperation] {
	return &opAPI[store.RestoreOperation]{s: s, kind: store.KindRestore, noun: "Restore",
		read: s.cat.GetRestore,
		view: func(op *store.RestoreOperation) any { return viewRestore(op) },
		query: func(r *http.Request, p store.Page) ([]store.RestoreOperation, int64, error) {
			status, err := queryStatus(r, restoreStatuses)
			if err != nil {
				return nil, 0, err
			}
			backupID, err := queryInt(r, "backup_operation_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			dst, err := queryInt(r, "destination_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			return s.cat.ListRestores(r.Context(), store.RestoreFilter{Status: status, BackupID: backupID, DestinationID: dst}, p)
		},
	}
}

// missing is the 404 of an operation that does not exist, or err unchanged.
func (a *opAPI[T]) missing(err error, id int64) error {
	if e, ok := notFoundAs(err, "%s %d does not exist.", a.noun, id); ok {
		return e
	}
	return err
}

// one reads one row, with a 404 sentence when it does not exist.
func (a *opAPI[T]) one(ctx context.Context, id int64) (*T, error) {
	op, err := a.read(ctx, id)
	if err != nil {
		return nil, a.missing(fmt.Errorf("read %s %d: %w", a.kind, id, err), id)
	}
	return op, nil
}

// status reads the status of operation id, with a 404 when it does not exist.
func (a *opAPI[T]) status(ctx context.Context, id int64) (string, error) {
	op, err := a.s.cat.GetOperation(ctx, a.kind, id)
	if err != nil {
		return "", a.missing(fmt.Errorf("read %s %d: %w", a.kind, id, err), id)
	}
	return op.Status, nil
}

// list serves GET /<kind>s: one page of the rows matching the filters.
func (a *opAPI[T]) list(w http.ResponseWriter, r *http.Request) error {
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	ops, total, err := a.query(r, page)
	if err != nil {
		return err
	}
	out := listView[any]{Items: make([]any, 0, len(ops)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for i := range ops {
		out.Items = append(out.Items, a.view(&ops[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// get serves GET /<kind>s/{id}.
func (a *opAPI[T]) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	op, err := a.one(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.view(op))
	return nil
}

// steerAction is one steering action of Operations, as a method
// expression (Operations.PauseBackup): the route table is built before,
// and without, the server's Operations (OpenAPI).
type steerAction func(ops Operations, ctx context.Context, actor engine.Actor, id int64) error

// steer returns the handler of POST /<kind>s/{id}/<verb>: it runs act,
// audits "<kind>.<verb>" and answers with the operation as it is now.
func (a *opAPI[T]) steer(verb string, act steerAction) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if err := act(a.s.ops, r.Context(), actorOf(r), id); err != nil {
			return a.missing(err, id)
		}
		a.s.auditBy(r, a.kind+"."+verb, a.kind, id, nil)
		op, err := a.one(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a.view(op))
		return nil
	}
}

// cancel serves POST /<kind>s/{id}/cancel.
func (a *opAPI[T]) cancel(w http.ResponseWriter, r *http.Request) error {
	return a.steer("cancel", func(ops Operations, ctx context.Context, actor engine.Actor, id int64) error {
		return ops.Cancel(ctx, actor, a.kind, id)
	})(w, r)
}

// logs serves GET /<kind>s/{id}/logs.
func (a *opAPI[T]) logs(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.s.pageLogs(w, r, a.kind, id, func(ctx context.Context) (string, error) { return a.status(ctx, id) })
}

// logStream serves GET /<kind>s/{id}/logs/stream.
func (a *opAPI[T]) logStream(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.s.streamLogs(w, r, a.kind, id, func(ctx context.Context) (string, error) { return a.status(ctx, id) })
}
