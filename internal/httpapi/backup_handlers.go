package httpapi

import (
	"net/http"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
)

func (s *server) createBackup(w http.ResponseWriter, r *http.Request) error {
	var req engine.BackupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.SourceConnectionID <= 0 {
		fields["source_connection_id"] = "is required"
	}
	if req.DestinationConnectionID <= 0 {
		fields["destination_connection_id"] = "is required"
	}
	requireObject(fields, "options", req.Options)
	if len(fields) > 0 {
		return apperr.InvalidFields("The backup was not started; correct the fields marked.", fields)
	}
	if err := s.allowStart(w, r); err != nil {
		return err
	}
	op, err := s.ops.StartBackup(r.Context(), actorOf(r), req)
	if err != nil {
		return err
	}
	s.auditBy(r, "backup.start", "backup", op.ID, map[string]int64{
		"source_connection_id": op.SourceConnectionID, "destination_connection_id": op.DestinationConnectionID})
	w.Header().Set("Location", apiPrefix+"/backups/"+strconv.FormatInt(op.ID, 10))
	writeJSON(w, http.StatusAccepted, viewBackup(op))
	return nil
}
