package httpapi

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/store"
)

// Dashboard sizes.
const (
	dashboardRunning  = 100
	dashboardFailures = 10
)

// dashboardOp is an operation of either kind: its usual JSON shape with a
// "kind" field ("backup" or "restore") added.
type dashboardOp struct {
	kind     string
	backup   *operationView
	restore  *restoreView
	finished time.Time
}

func backupItem(op *store.BackupOperation) dashboardOp {
	v := viewBackup(op)
	return dashboardOp{kind: store.KindBackup, backup: v, finished: finishedAt(v.CompletedAt, v.CreatedAt)}
}

func restoreItem(op *store.RestoreOperation) dashboardOp {
	v := viewRestore(op)
	return dashboardOp{kind: store.KindRestore, restore: v, finished: finishedAt(v.CompletedAt, v.CreatedAt)}
}

func finishedAt(completed *time.Time, created time.Time) time.Time {
	if completed != nil {
		return *completed
	}
	return created
}

// MarshalJSON writes the operation's view with "kind" first.
func (o dashboardOp) MarshalJSON() ([]byte, error) {
	var view any = o.backup
	if o.restore != nil {
		view = o.restore
	}
	body, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	kind, err := json.Marshal(o.kind)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"kind":`), kind...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

type connectionSummary struct {
	Healthy   int               `json:"healthy"`
	Failing   int               `json:"failing"`
	Unchecked int               `json:"unchecked"`
	Items     []connection.View `json:"items"`
}

type dashboardView struct {
	BackupsByStatus  store.StatusCounts `json:"backups_by_status"`
	RestoresByStatus store.StatusCounts `json:"restores_by_status"`
	Running          []dashboardOp      `json:"running"`
	RecentFailures   []dashboardOp      `json:"recent_failures"`
	Connections      connectionSummary  `json:"connections"`
}

// withAll returns counts with a zero for every status that has none.
func withAll(c store.StatusCounts, statuses []string) store.StatusCounts {
	out := store.StatusCounts{}
	for _, st := range statuses {
		out[st] = 0
	}
	for k, v := range c {
		out[k] = v
	}
	return out
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var d dashboardView
	bc, err := s.cat.CountBackupsByStatus(ctx)
	if err != nil {
		return err
	}
	rc, err := s.cat.CountRestoresByStatus(ctx)
	if err != nil {
		return err
	}
	d.BackupsByStatus = withAll(bc, backupStatuses)
	d.RestoresByStatus = withAll(rc, restoreStatuses)

	d.Running = []dashboardOp{}
	runningB, _, err := s.cat.ListBackups(ctx, store.BackupFilter{Status: store.StatusRunning}, store.Page{Page: 1, PerPage: dashboardRunning})
	if err != nil {
		return err
	}
	for i := range runningB {
		d.Running = append(d.Running, backupItem(&runningB[i]))
	}
	runningR, _, err := s.cat.ListRestores(ctx, store.RestoreFilter{Status: store.StatusRunning}, store.Page{Page: 1, PerPage: dashboardRunning})
	if err != nil {
		return err
	}
	for i := range runningR {
		d.Running = append(d.Running, restoreItem(&runningR[i]))
	}

	var failures []dashboardOp
	failedB, _, err := s.cat.ListBackups(ctx, store.BackupFilter{Status: store.StatusFailed}, store.Page{Page: 1, PerPage: dashboardFailures})
	if err != nil {
		return err
	}
	for i := range failedB {
		failures = append(failures, backupItem(&failedB[i]))
	}
	failedR, _, err := s.cat.ListRestores(ctx, store.RestoreFilter{Status: store.StatusFailed}, store.Page{Page: 1, PerPage: dashboardFailures})
	if err != nil {
		return err
	}
	for i := range failedR {
		failures = append(failures, restoreItem(&failedR[i]))
	}
	slices.SortStableFunc(failures, func(a, b dashboardOp) int { return cmp.Compare(b.finished.UnixNano(), a.finished.UnixNano()) })
	if len(failures) > dashboardFailures {
		failures = failures[:dashboardFailures]
	}
	d.RecentFailures = append([]dashboardOp{}, failures...)

	views, err := s.conns.List(ctx)
	if err != nil {
		return err
	}
	d.Connections.Items = views
	for i := range views {
		switch views[i].Health() {
		case connection.HealthHealthy:
			d.Connections.Healthy++
		case connection.HealthFailing:
			d.Connections.Failing++
		default:
			d.Connections.Unchecked++
		}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
