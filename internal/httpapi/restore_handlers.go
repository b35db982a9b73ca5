package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
)

// notFoundAs turns store.ErrNotFound (not an *apperr.Error already) into a
// 404 with a sentence naming what is missing.
func notFoundAs(err error, format string, args ...any) (error, bool) {
	if _, ok := apperr.As(err); ok {
		return nil, false
	}
	if errors.Is(err, store.ErrNotFound) {
		return apperr.Wrap(apperr.NotFound, err, format, args...), true
	}
	return nil, false
}

func (s *server) listRestores(w http.ResponseWriter, r *http.Request) error {
	status, err := queryStatus(r, restoreStatuses)
	if err != nil {
		return err
	}
	backupID, err := queryInt(r, "backup_operation_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	dst, err := queryInt(r, "destination_id", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	ops, total, err := s.cat.ListRestores(r.Context(), store.RestoreFilter{Status: status, BackupID: backupID, DestinationID: dst}, page)
	if err != nil {
		return err
	}
	out := listView[*restoreView]{Items: make([]*restoreView, 0, len(ops)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for i := range ops {
		out.Items = append(out.Items, viewRestore(&ops[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) createRestore(w http.ResponseWriter, r *http.Request) error {
	var req engine.RestoreRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.BackupOperationID <= 0 {
		fields["backup_operation_id"] = "is required"
	}
	if req.DestinationConnectionID <= 0 {
		fields["destination_connection_id"] = "is required"
	}
	requireObject(fields, "config", req.Config)
	if len(fields) > 0 {
		return apperr.InvalidFields("The restore was not started; correct the fields marked.", fields)
	}
	if err := s.allowStart(w, r); err != nil {
		return err
	}
	op, err := s.ops.StartRestore(r.Context(), actorOf(r), req)
	if err != nil {
		return err
	}
	s.auditBy(r, "restore.start", "restore", op.ID, map[string]int64{
		"backup_operation_id": op.BackupOperationID, "destination_connection_id": op.DestinationConnectionID})
	w.Header().Set("Location", apiPrefix+"/restores/"+strconv.FormatInt(op.ID, 10))
	writeJSON(w, http.StatusAccepted, viewRestore(op))
	return nil
}

func (s *server) getRestore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	op, err := s.restore(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRestore(op))
	return nil
}

// restore reads one restore, with a 404 sentence when it does not exist.
func (s *server) restore(ctx context.Context, id int64) (*store.RestoreOperation, error) {
	op, err := s.cat.GetRestore(ctx, id)
	if err != nil {
		if e, ok := notFoundAs(err, "Restore %d does not exist.", id); ok {
			return nil, e
		}
		return nil, fmt.Errorf("read restore %d: %w", id, err)
	}
	return op, nil
}

func (s *server) cancelRestore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	op, err := s.ops.CancelRestore(r.Context(), actorOf(r), id)
	if err != nil {
		if e, ok := notFoundAs(err, "Restore %d does not exist.", id); ok {
			return e
		}
		return err
	}
	s.auditBy(r, "restore.cancel", "restore", id, nil)
	writeJSON(w, http.StatusOK, viewRestore(op))
	return nil
}
