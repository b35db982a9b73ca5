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
//	coffer_plan_last_success_timestamp_seconds{plan}      gauge: when the plan's newest completed backup completed
//	coffer_plan_runs_total{plan,result}                   counter: finished backups of the plan by result
//	coffer_backups_pruned_total                           counter: backups whose archive was removed (retention or deleted)
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

// Source is what the metrics ask of the catalog at each scrape; the
// catalog (store.Store) implements it with queries on integer columns and
// indexes only.
type Source interface {
	// CountBackupsByStatus, CountRestoresByStatus and
	// CountVerificationsByStatus count operations per status.
	CountBackupsByStatus(ctx context.Context) (store.StatusCounts, error)
	CountRestoresByStatus(ctx context.Context) (store.StatusCounts, error)
	CountVerificationsByStatus(ctx context.Context) (store.StatusCounts, error)
	// OperationBytes sums the bytes read and written per kind.
	OperationBytes(ctx context.Context) (map[string]store.ByteTotals, error)
	// OperationDurations is the run-time histogram per kind and status.
	OperationDurations(ctx context.Context, statuses []string, bounds []float64) (map[string]map[string]store.Histogram, error)
	// CountQueueJobsByState counts the job queue's jobs per state.
	CountQueueJobsByState(ctx context.Context) (map[string]int64, error)
	// PlanFigures are every plan's runs and last success by name, and the
	// number of pruned backups.
	PlanFigures(ctx context.Context) (map[string]*store.PlanFigures, int64, error)
}

// Metrics collects coffer's metrics; create it with New. It is safe for
// concurrent use.
type Metrics struct {
	cat  Source
	log  *slog.Logger
	http *httpHistograms
}

// New returns the metrics of the installation whose catalog is cat. log
// receives the errors of failed catalog queries (nil discards them).
func New(cat Source, log *slog.Logger) *Metrics {
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
	collect("plans", m.plans)

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
	verifies, err := m.cat.CountVerificationsByStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("count verifications by status: %w", err)
	}
	return func(e *encoder) {
		e.family("coffer_operations", "gauge", "Backup, restore and verify operations in the catalog, by type and status.")
		for _, k := range []struct {
			typ      string
			counts   store.StatusCounts
			statuses []string
		}{{store.KindBackup, backups, backupStatuses}, {store.KindRestore, restores, restoreStatuses}, {store.KindVerify, verifies, restoreStatuses}} {
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

// planResults are the results coffer_plan_runs_total always reports.
var planResults = finalStatuses

// plans reports each plan's runs and last success, and the pruned backups.
func (m *Metrics) plans(ctx context.Context) (func(*encoder), error) {
	figs, pruned, err := m.cat.PlanFigures(ctx)
	if err != nil {
		return nil, err
	}
	return func(e *encoder) {
		names := sortedKeys(figs)
		e.family("coffer_plan_last_success_timestamp_seconds", "gauge", "When the plan's newest completed backup completed (Unix time); absent while it has none.")
		for _, name := range names {
			if t := figs[name].LastSuccess; t != nil {
				e.sample("coffer_plan_last_success_timestamp_seconds", []Label{{"plan", name}}, float64(t.UnixMilli())/1000)
			}
		}
		e.family("coffer_plan_runs_total", "counter", "Finished backups started by the plan, by result.")
		for _, name := range names {
			for _, r := range planResults {
				e.sample("coffer_plan_runs_total", []Label{{"plan", name}, {"result", r}}, float64(figs[name].Runs[r]))
			}
		}
		e.family("coffer_backups_pruned_total", "counter", "Backups whose archive was removed, by a plan's retention or by a user.")
		e.sample("coffer_backups_pruned_total", nil, float64(pruned))
	}, nil
}

// kinds are the operation kinds, in the order they are written.
var kinds = []string{store.KindBackup, store.KindRestore, store.KindVerify}

// bytes reports the bytes read and written by all operations.
func (m *Metrics) bytes(ctx context.Context) (func(*encoder), error) {
	got, err := m.cat.OperationBytes(ctx)
	if err != nil {
		return nil, err
	}
	return func(e *encoder) {
		e.family("coffer_operation_bytes_read_total", "counter", "Bytes read by operations (backups: from sources; restores and verifications: from archives), summed over every operation in the catalog.")
		for _, k := range kinds {
			e.sample("coffer_operation_bytes_read_total", []Label{{"type", k}}, float64(got[k].Read))
		}
		e.family("coffer_operation_bytes_written_total", "counter", "Bytes written by operations (backups: compressed, to destinations; restores: to targets), summed over every operation in the catalog.")
		for _, k := range kinds {
			e.sample("coffer_operation_bytes_written_total", []Label{{"type", k}}, float64(got[k].Written))
		}
	}, nil
}

// histo is one histogram's data.
type histo struct {
	counts []uint64 // cumulative, per bucket bound
	sum    float64
	count  uint64
}

// durations reports the run time of finished operations as histograms,
// counted by the database (one row per kind and final status).
func (m *Metrics) durations(ctx context.Context) (func(*encoder), error) {
	got, err := m.cat.OperationDurations(ctx, finalStatuses, durationBuckets)
	if err != nil {
		return nil, err
	}
	return func(e *encoder) {
		e.family("coffer_operation_duration_seconds", "histogram", "Run time (started to finished) of finished operations, by type and final status.")
		for _, k := range kinds {
			for _, st := range finalStatuses {
				h, ok := got[k][st]
				if !ok {
					h = store.Histogram{Counts: make([]uint64, len(durationBuckets))}
				}
				e.histogram("coffer_operation_duration_seconds", []Label{{"type", k}, {"status", st}}, durationBuckets, h.Counts, h.Sum, h.Count)
			}
		}
	}, nil
}

// queue reports the job queue's jobs per state.
func (m *Metrics) queue(ctx context.Context) (func(*encoder), error) {
	counts, err := m.cat.CountQueueJobsByState(ctx)
	if err != nil {
		return nil, err
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
