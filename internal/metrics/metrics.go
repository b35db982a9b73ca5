// Package metrics exposes coffer's Prometheus metrics.
//
// Everything about operations and the job queue is read from the catalog
// database at scrape time, so any process (serve or a worker on another
// host) reports the same figures for the whole installation:
//
//	coffer_operations{type,status}                        gauge: operations per kind and status
//	coffer_operation_bytes_read_total{type}               counter: bytes read from sources (restores: from archives)
//	coffer_operation_bytes_written_total{type}            counter: bytes written to destinations (restores: to targets)
//	coffer_operation_duration_seconds{type,status}        histogram: run time of finished operations
//	coffer_queue_jobs{state}                              gauge: River jobs per state (queue depth: available, running...)
//	coffer_metrics_collector_up{collector}                gauge: 1 when the collector's catalog query worked
//
// HTTP request latencies are kept in memory by the process that serves
// them (coffer_http_request_duration_seconds{method,route,status}), with
// route the ServeMux pattern that matched ("/api/v1/backups/{id}"), never
// the raw path, so the label set stays small.
package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/version"
)

// durationBuckets are the upper bounds, in seconds, of the operation
// duration histogram: one second to a day.
var durationBuckets = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400}

// httpBuckets are the upper bounds, in seconds, of the HTTP latency histogram.
var httpBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// riverStates are River's job states, always reported (0 when none).
var riverStates = []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"}

// finalStatuses are the statuses whose operations have a duration.
var finalStatuses = []string{store.StatusCompleted, store.StatusFailed, store.StatusCancelled}

// backupStatuses and restoreStatuses are always reported (0 when none).
var (
	backupStatuses  = []string{store.StatusPending, store.StatusRunning, store.StatusPaused, store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
	restoreStatuses = []string{store.StatusPending, store.StatusRunning, store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
)

// scrapeTimeout bounds the catalog queries of one scrape.
const scrapeTimeout = 10 * time.Second

// Metrics collects coffer's metrics; create it with New. It is safe for
// concurrent use.
type Metrics struct {
	cat  store.Catalog
	log  *slog.Logger
	http *httpHistograms
}

// New returns the metrics of the installation whose catalog is cat. log
// receives the errors of failed catalog queries (nil discards them).
func New(cat store.Catalog, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Metrics{cat: cat, log: log, http: newHTTPHistograms(httpBuckets)}
}

// ObserveHTTP records one finished HTTP request: its method, the ServeMux
// pattern that matched (without the method; "" when none did, reported as
// "unmatched"), its status
// and how long it took.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.http.observe(normalMethod(method), route, status, d.Seconds())
}

// normalMethod keeps the method label to a known set.
func normalMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// Handler serves the metrics in the Prometheus text format. It does no
// authentication; the caller decides who may read it.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := m.Write(r.Context(), &buf); err != nil {
			m.log.ErrorContext(r.Context(), "write metrics", "err", err)
			http.Error(w, "The metrics could not be written; see the server log.", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
}

// Write writes every metric to w in the Prometheus text format. A failed
// catalog query does not fail the scrape: its families are left out,
// coffer_metrics_collector_up says which one failed and the error is logged.
// Only an error writing to w is returned.
func (m *Metrics) Write(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	e := newEncoder(w)

	e.family("coffer_build_info", "gauge", "Always 1; the version label is the coffer build.")
	e.sample("coffer_build_info", []Label{{"version", version.Version}}, 1)

	up := map[string]bool{}
	collect := func(name string, fn func(context.Context) (func(*encoder), error)) {
		write, err := fn(ctx)
		if err != nil {
			m.log.WarnContext(ctx, "metrics: collector failed", "collector", name, "err", err)
			up[name] = false
			return
		}
		up[name] = true
		write(e)
	}
	collect("operations", m.operations)
	collect("bytes", m.bytes)
	collect("durations", m.durations)
	collect("queue", m.queue)

	e.family("coffer_metrics_collector_up", "gauge", "1 when the collector's catalog query succeeded in this scrape, 0 when it failed (see the server log).")
	for _, name := range sortedKeys(up) {
		v := 0.0
		if up[name] {
			v = 1
		}
		e.sample("coffer_metrics_collector_up", []Label{{"collector", name}}, v)
	}

	m.http.write(e, "coffer_http_request_duration_seconds",
		"Time to answer HTTP requests, by method, matched route pattern and status (for log streams: how long the stream stayed open).")
	return e.flush()
}

// operations reports operations per kind and status.
func (m *Metrics) operations(ctx context.Context) (func(*encoder), error) {
	backups, err := m.cat.CountBackupsByStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("count backups by status: %w", err)
	}
	restores, err := m.cat.CountRestoresByStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("count restores by status: %w", err)
	}
	return func(e *encoder) {
		e.family("coffer_operations", "gauge", "Backup and restore operations in the catalog, by type and status.")
		for _, k := range []struct {
			typ      string
			counts   store.StatusCounts
			statuses []string
		}{{store.KindBackup, backups, backupStatuses}, {store.KindRestore, restores, restoreStatuses}} {
			seen := map[string]bool{}
			for _, st := range k.statuses {
				seen[st] = true
				e.sample("coffer_operations", []Label{{"type", k.typ}, {"status", st}}, float64(k.counts[st]))
			}
			for _, st := range sortedKeys(k.counts) { // any status this code does not know yet
				if !seen[st] {
					e.sample("coffer_operations", []Label{{"type", k.typ}, {"status", st}}, float64(k.counts[st]))
				}
			}
		}
	}, nil
}

// tables are the operation tables by kind.
var tables = []struct{ kind, table string }{
	{store.KindBackup, "backup_operations"},
	{store.KindRestore, "restore_operations"},
}

// progressField is the SQL for an integer field of the progress JSON column.
func progressField(dialect, field string) string {
	if dialect == "postgres" {
		return "COALESCE((progress::jsonb->>'" + field + "')::bigint, 0)"
	}
	return "COALESCE(CASE WHEN json_valid(progress) THEN CAST(json_extract(progress, '$." + field + "') AS INTEGER) END, 0)"
}

// bytes reports the bytes read and written by all operations, from their progress.
func (m *Metrics) bytes(ctx context.Context) (func(*encoder), error) {
	type totals struct{ read, written int64 }
	got := map[string]totals{}
	d := m.cat.Dialect()
	for _, t := range tables {
		q := fmt.Sprintf("SELECT CAST(COALESCE(SUM(%s), 0) AS BIGINT), CAST(COALESCE(SUM(%s), 0) AS BIGINT) FROM %s",
			progressField(d, "bytes_read"), progressField(d, "bytes_written"), t.table)
		var tt totals
		if err := m.cat.DB().QueryRowContext(ctx, q).Scan(&tt.read, &tt.written); err != nil {
			return nil, fmt.Errorf("sum the progress of %s: %w", t.table, err)
		}
		got[t.kind] = tt
	}
	return func(e *encoder) {
		e.family("coffer_operation_bytes_read_total", "counter", "Bytes read by operations (backups: from sources; restores: from archives), summed over every operation in the catalog.")
		for _, t := range tables {
			e.sample("coffer_operation_bytes_read_total", []Label{{"type", t.kind}}, float64(got[t.kind].read))
		}
		e.family("coffer_operation_bytes_written_total", "counter", "Bytes written by operations (backups: compressed, to destinations; restores: to targets), summed over every operation in the catalog.")
		for _, t := range tables {
			e.sample("coffer_operation_bytes_written_total", []Label{{"type", t.kind}}, float64(got[t.kind].written))
		}
	}, nil
}

// durationSeconds is the SQL for completed_at - started_at in seconds.
func durationSeconds(dialect string) string {
	if dialect == "postgres" {
		return "CAST(EXTRACT(EPOCH FROM (completed_at - started_at)) AS DOUBLE PRECISION)"
	}
	// SQLite keeps times as integer Unix microseconds.
	return "(CAST(completed_at - started_at AS REAL) / 1000000.0)"
}

// histo is one histogram's data.
type histo struct {
	counts []uint64 // cumulative, per durationBuckets
	sum    float64
	count  uint64
}

// durations reports the run time of finished operations as histograms,
// counted by the database (one row per kind and final status).
func (m *Metrics) durations(ctx context.Context) (func(*encoder), error) {
	d := m.cat.Dialect()
	var cols strings.Builder
	for _, b := range durationBuckets {
		fmt.Fprintf(&cols, ", SUM(CASE WHEN d <= %s THEN 1 ELSE 0 END)", strconv.FormatFloat(b, 'f', -1, 64))
	}
	final := "'" + strings.Join(finalStatuses, "','") + "'"
	got := map[string]map[string]*histo{}
	for _, t := range tables {
		q := fmt.Sprintf("SELECT status, COUNT(*), COALESCE(SUM(d), 0)%s FROM (SELECT status, %s AS d FROM %s "+
			"WHERE status IN (%s) AND started_at IS NOT NULL AND completed_at IS NOT NULL) x GROUP BY status",
			cols.String(), durationSeconds(d), t.table, final)
		rows, err := m.cat.DB().QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("durations of %s: %w", t.table, err)
		}
		byStatus := map[string]*histo{}
		for rows.Next() {
			var status string
			var count int64
			var sum float64
			buckets := make([]int64, len(durationBuckets))
			dest := []any{&status, &count, &sum}
			for i := range buckets {
				dest = append(dest, &buckets[i])
			}
			if err := rows.Scan(dest...); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("durations of %s: %w", t.table, err)
			}
			h := &histo{counts: make([]uint64, len(buckets)), sum: sum, count: uint64(count)}
			for i, c := range buckets {
				h.counts[i] = uint64(c)
			}
			byStatus[status] = h
		}
		if err := rows.Err(); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("durations of %s: %w", t.table, err)
		}
		_ = rows.Close()
		got[t.kind] = byStatus
	}
	return func(e *encoder) {
		e.family("coffer_operation_duration_seconds", "histogram", "Run time (started to finished) of finished operations, by type and final status.")
		for _, t := range tables {
			for _, st := range finalStatuses {
				h := got[t.kind][st]
				if h == nil {
					h = &histo{counts: make([]uint64, len(durationBuckets))}
				}
				e.histogram("coffer_operation_duration_seconds", []Label{{"type", t.kind}, {"status", st}}, durationBuckets, h.counts, h.sum, h.count)
			}
		}
	}, nil
}

// queue reports River's jobs per state.
func (m *Metrics) queue(ctx context.Context) (func(*encoder), error) {
	q := "SELECT state, COUNT(*) FROM river_job GROUP BY state"
	if m.cat.Dialect() == "postgres" {
		q = "SELECT state::text, COUNT(*) FROM river_job GROUP BY state"
	}
	rows, err := m.cat.DB().QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("count queue jobs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	counts := map[string]int64{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count queue jobs: %w", err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count queue jobs: %w", err)
	}
	for _, s := range riverStates {
		if _, ok := counts[s]; !ok {
			counts[s] = 0
		}
	}
	return func(e *encoder) {
		e.family("coffer_queue_jobs", "gauge", "Jobs in the River queue by state; available and scheduled are waiting, running are being worked.")
		for _, s := range sortedKeys(counts) {
			e.sample("coffer_queue_jobs", []Label{{"state", s}}, float64(counts[s]))
		}
	}, nil
}

// httpKey is the label set of one HTTP histogram.
type httpKey struct {
	method, route string
	status        int
}

// httpHistograms are the in-memory HTTP latency histograms.
type httpHistograms struct {
	bounds []float64
	mu     sync.Mutex
	series map[httpKey]*histo
}

func newHTTPHistograms(bounds []float64) *httpHistograms {
	return &httpHistograms{bounds: bounds, series: map[httpKey]*histo{}}
}

func (h *httpHistograms) observe(method, route string, status int, secs float64) {
	k := httpKey{method, route, status}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[k]
	if s == nil {
		s = &histo{counts: make([]uint64, len(h.bounds))}
		h.series[k] = s
	}
	for i, b := range h.bounds {
		if secs <= b {
			s.counts[i]++
		}
	}
	s.sum += secs
	s.count++
}

func (h *httpHistograms) write(e *encoder, name, help string) {
	h.mu.Lock()
	keys := make([]httpKey, 0, len(h.series))
	snap := make(map[httpKey]histo, len(h.series))
	for k, s := range h.series {
		keys = append(keys, k)
		snap[k] = histo{counts: append([]uint64(nil), s.counts...), sum: s.sum, count: s.count}
	}
	h.mu.Unlock()
	sortHTTPKeys(keys)
	e.family(name, "histogram", help)
	for _, k := range keys {
		s := snap[k]
		e.histogram(name, []Label{{"method", k.method}, {"route", k.route}, {"status", strconv.Itoa(k.status)}}, h.bounds, s.counts, s.sum, s.count)
	}
}

func sortHTTPKeys(keys []httpKey) {
	less := func(a, b httpKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		if c := strings.Compare(a.method, b.method); c != 0 {
			return c
		}
		return a.status - b.status
	}
	slices.SortFunc(keys, less)
}
