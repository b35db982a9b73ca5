package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
)

func (s *server) listBackups(w http.ResponseWriter, r *http.Request) error {
	status, err := queryStatus(r, backupStatuses)
	if err != nil {
		return err
	}
	src, err := queryInt(r, "source_id", 0, 0, 1<<62)
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
	ops, total, err := s.cat.ListBackups(r.Context(), store.BackupFilter{Status: status, SourceID: src, DestinationID: dst}, page)
	if err != nil {
		return err
	}
	out := listView[*operationView]{Items: make([]*operationView, 0, len(ops)), Page: page.Page, PerPage: page.PerPage, Total: total}
	for i := range ops {
		out.Items = append(out.Items, viewBackup(&ops[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

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

func (s *server) getBackup(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	op, err := s.backup(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewBackup(op))
	return nil
}

// backup reads one backup, with a 404 sentence when it does not exist.
func (s *server) backup(ctx context.Context, id int64) (*store.BackupOperation, error) {
	op, err := s.cat.GetBackup(ctx, id)
	if err != nil {
		if e, ok := notFoundAs(err, "Backup %d does not exist.", id); ok {
			return nil, e
		}
		return nil, fmt.Errorf("read backup %d: %w", id, err)
	}
	return op, nil
}

// backupAction runs one of the engine's steering calls on the backup in the path.
func (s *server) backupAction(action string, act func(context.Context, engine.Actor, int64) (*store.BackupOperation, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		op, err := act(r.Context(), actorOf(r), id)
		if err != nil {
			if e, ok := notFoundAs(err, "Backup %d does not exist.", id); ok {
				return e
			}
			return err
		}
		s.auditBy(r, action, "backup", id, nil)
		writeJSON(w, http.StatusOK, viewBackup(op))
		return nil
	}
}

func (s *server) pauseBackup(w http.ResponseWriter, r *http.Request) error {
	return s.backupAction("backup.pause", s.ops.PauseBackup)(w, r)
}

func (s *server) resumeBackup(w http.ResponseWriter, r *http.Request) error {
	return s.backupAction("backup.resume", s.ops.ResumeBackup)(w, r)
}

func (s *server) cancelBackup(w http.ResponseWriter, r *http.Request) error {
	return s.backupAction("backup.cancel", s.ops.CancelBackup)(w, r)
}
