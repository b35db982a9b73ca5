package httpapi

import (
	"context"
	"net/http"
	"time"
)

// healthTimeout bounds each health probe.
const healthTimeout = 5 * time.Second

type healthView struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	Queue    string `json:"queue"`
	Error    string `json:"error,omitempty"`
}

// healthz pings the catalog and asks the queue whether it is healthy: 200
// when both are, 503 otherwise (the causes are logged, not shown).
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	v := healthView{Status: "ok", Database: "ok", Queue: "ok"}
	if err := s.cat.Ping(ctx); err != nil {
		s.log.ErrorContext(ctx, "health: database ping failed", "err", err)
		v.Database = "unavailable"
	}
	if err := s.ops.QueueHealthy(ctx); err != nil {
		s.log.ErrorContext(ctx, "health: job queue unhealthy", "err", err)
		v.Queue = "unavailable"
	}
	status := http.StatusOK
	if v.Database != "ok" || v.Queue != "ok" {
		status = http.StatusServiceUnavailable
		v.Status = "unavailable"
		v.Error = "coffer is not healthy: the database or the job queue is unavailable; see the server log."
	}
	writeJSON(w, status, v)
	return nil
}
