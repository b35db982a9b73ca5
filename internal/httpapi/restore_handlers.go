package httpapi

import (
	"errors"
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
