package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// Log paging limits.
const (
	defaultLogLimit = 200
	maxLogLimit     = 1000
	streamBatch     = 500
)

// logPage is the answer of GET .../logs: lines in ascending id order and the
// cursor to pass as ?after= for the next page.
type logPage struct {
	Items     []logView `json:"items"`
	NextAfter int64     `json:"next_after"`
}

// statusFunc reads the current status of the operation whose logs are served;
// it returns a 404 *apperr.Error when the operation does not exist.
type statusFunc func(ctx context.Context) (string, error)

func (s *server) pageLogs(w http.ResponseWriter, r *http.Request, kind string, id int64, status statusFunc) error {
	if _, err := status(r.Context()); err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", defaultLogLimit, 1, maxLogLimit)
	if err != nil {
		return err
	}
	lines, err := s.cat.ListLogs(r.Context(), kind, id, after, int(limit))
	if err != nil {
		return fmt.Errorf("list logs of %s %d: %w", kind, id, err)
	}
	out := logPage{Items: make([]logView, 0, len(lines)), NextAfter: after}
	for i := range lines {
		out.Items = append(out.Items, viewLog(&lines[i]))
		out.NextAfter = lines[i].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// streamLogs serves an operation's log as Server-Sent Events: the backlog
// after Last-Event-ID (or ?after=), then new lines as the catalog is polled,
// a heartbeat comment now and then, and an "end" event once the operation
// is final and every line was sent. Polling the catalog makes it work when
// the worker is another process.
func (s *server) streamLogs(w http.ResponseWriter, r *http.Request, kind string, id int64, status statusFunc) error {
	ctx := r.Context()
	if _, err := status(ctx); err != nil {
		return err
	}
	after := int64(0)
	if raw := strings.TrimSpace(r.Header.Get("Last-Event-ID")); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 0 {
			return apperr.New(apperr.BadRequest, "The Last-Event-ID header must be a log id (a non-negative integer).")
		}
		after = v
	} else {
		v, err := queryInt(r, "after", 0, 0, 1<<62)
		if err != nil {
			return err
		}
		after = v
	}

	rc := http.NewResponseController(w)
	// The stream lives longer than any server write timeout; lift it.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		s.log.WarnContext(ctx, "log stream cannot flush", "err", err)
		return nil
	}

	poll := time.NewTicker(s.t.pollInterval)
	defer poll.Stop()
	heartbeat := time.NewTicker(s.t.heartbeatInterval)
	defer heartbeat.Stop()
	for {
		// Read the status before the lines: when it is final, the worker
		// wrote its last line before it, so draining afterwards sends all.
		st, err := status(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "log stream: read operation status", "kind", kind, "id", id, "err", err)
			}
			return nil
		}
		for {
			lines, err := s.cat.ListLogs(ctx, kind, id, after, streamBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "log stream: list logs", "kind", kind, "id", id, "err", err)
				}
				return nil
			}
			for i := range lines {
				data, err := json.Marshal(viewLog(&lines[i]))
				if err != nil {
					s.log.ErrorContext(ctx, "log stream: encode line", "id", lines[i].ID, "err", err)
					return nil
				}
				if _, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", lines[i].ID, data); err != nil {
					return nil
				}
				after = lines[i].ID
			}
			if len(lines) < streamBatch {
				break
			}
		}
		if finalStatus(st) {
			data, _ := json.Marshal(map[string]string{"status": st})
			_, _ = fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
			_ = rc.Flush()
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
		}
	}
}
