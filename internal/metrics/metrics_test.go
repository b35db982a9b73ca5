package metrics

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// exposition is a parsed scrape: family types and sample values by their
// full series text (name{labels} with labels in written order).
type exposition struct {
	types   map[string]string
	samples map[string]float64
	order   []string
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"`)
)

// parseExposition checks text against the Prometheus text format 0.0.4 and
// returns what it holds: every family has one HELP and one TYPE line before
// its samples, sample names belong to the family announced last, values
// parse, no series repeats, and histograms have cumulative buckets ending in
// +Inf equal to _count.
func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	ex := exposition{types: map[string]string{}, samples: map[string]float64{}}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("exposition does not end in a line feed")
	}
	help := map[string]bool{}
	current := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(why string) { t.Fatalf("line %d %q: %s", i+1, line, why) }
		if strings.HasPrefix(line, "# HELP ") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if !metricName.MatchString(name) || help[name] {
				fail("bad or repeated HELP")
			}
			help[name] = true
			continue
		}
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(strings.TrimPrefix(line, "# TYPE "))
			if len(f) != 2 || !help[f[0]] || ex.types[f[0]] != "" {
				fail("TYPE without HELP before it, or repeated")
			}
			switch f[1] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				fail("unknown type")
			}
			ex.types[f[0]], current = f[1], f[0]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			fail("unexpected line")
		}
		name, rest := line, ""
		if j := strings.IndexAny(line, "{ "); j >= 0 {
			name, rest = line[:j], line[j:]
		}
		series := name
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
			var labels []string
			for !strings.HasPrefix(rest, "}") {
				m := labelPair.FindStringSubmatch(rest)
				if m == nil {
					fail("bad label")
				}
				labels = append(labels, m[0])
				rest = strings.TrimPrefix(rest[len(m[0]):], ",")
			}
			series += "{" + strings.Join(labels, ",") + "}"
			rest = rest[1:]
		}
		if !strings.HasPrefix(rest, " ") {
			fail("no value")
		}
		v, err := strconv.ParseFloat(strings.TrimPrefix(rest, " "), 64)
		if err != nil {
			fail("value: " + err.Error())
		}
		base := name
		if ex.types[current] == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suf); ok && b == current {
					base = b
				}
			}
		}
		if base != current {
			fail("sample outside its family " + current)
		}
		if _, dup := ex.samples[series]; dup {
			fail("repeated series")
		}
		ex.samples[series] = v
		ex.order = append(ex.order, series)
	}
	// Histogram buckets: cumulative, +Inf last and equal to _count.
	prev := map[string]float64{}
	for _, s := range ex.order {
		name, labels, _ := strings.Cut(s, "{")
		base, ok := strings.CutSuffix(name, "_bucket")
		if !ok || ex.types[base] != "histogram" {
			continue
		}
		idx := strings.Index(labels, `le="`)
		le := labels[idx+4 : idx+4+strings.Index(labels[idx+4:], `"`)]
		others := strings.TrimSuffix(strings.Replace(labels, `le="`+le+`"`, "", 1), "}")
		others = strings.Trim(strings.ReplaceAll(others, ",,", ","), ",")
		key := base + "{" + others + "}"
		if ex.samples[s] < prev[key] {
			t.Fatalf("%s: bucket count goes down", s)
		}
		prev[key] = ex.samples[s]
		if le == "+Inf" {
			count := base + "_count"
			if others != "" {
				count += "{" + others + "}"
			}
			if c, ok := ex.samples[count]; !ok || c != ex.samples[s] {
				t.Fatalf("%s = %v but %s = %v", s, ex.samples[s], count, c)
			}
		}
	}
	return ex
}

// value returns one sample, failing when it is missing.
func (ex exposition) value(t *testing.T, series string) float64 {
	t.Helper()
	v, ok := ex.samples[series]
	if !ok {
		t.Fatalf("no sample %s", series)
	}
	return v
}

func scrape(t *testing.T, m *Metrics) (exposition, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return parseExposition(t, buf.String()), buf.String()
}

// seed fills a catalog with connections and operations of known progress
// and durations.
func seed(t *testing.T, cat *store.Store) {
	t.Helper()
	ctx := context.Background()
	src := &store.Connection{Name: "src", Type: "s3", Credentials: []byte("sealed"), IsActive: true}
	dst := &store.Connection{Name: "dst", Type: "local", Credentials: []byte("sealed"), IsActive: true}
	for _, c := range []*store.Connection{src, dst} {
		if err := cat.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(sec float64) *time.Time {
		v := base.Add(time.Duration(sec * float64(time.Second)))
		return &v
	}
	backups := []store.Operation{
		{Status: store.StatusCompleted, Progress: store.Progress{BytesRead: 1000, BytesWritten: 400}, StartedAt: at(0), CompletedAt: at(3)},
		{Status: store.StatusCompleted, Progress: store.Progress{BytesRead: 7, BytesWritten: 3}, StartedAt: at(0), CompletedAt: at(0.5)},
		{Status: store.StatusFailed, Progress: store.Progress{BytesRead: 50}, StartedAt: at(0), CompletedAt: at(100)},
		{Status: store.StatusRunning, Progress: store.Progress{BytesRead: 20, BytesWritten: 10}, StartedAt: at(0)},
		{Status: store.StatusCancelled}, // never started: no duration
		{Status: store.StatusPending},
	}
	var first int64
	for _, b := range backups {
		op := &store.BackupOperation{Operation: b, SourceConnectionID: src.ID, DestinationConnectionID: dst.ID}
		if err := cat.InTx(ctx, func(tx *sql.Tx) error { return cat.CreateBackup(ctx, tx, op) }); err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first = op.ID
		}
	}
	restore := &store.RestoreOperation{BackupOperationID: first, DestinationConnectionID: src.ID, Operation: store.Operation{
		Status: store.StatusCompleted, Progress: store.Progress{BytesRead: 400, BytesWritten: 1000}, StartedAt: at(10), CompletedAt: at(12)}}
	if err := cat.InTx(ctx, func(tx *sql.Tx) error { return cat.CreateRestore(ctx, tx, restore) }); err != nil {
		t.Fatal(err)
	}
	verification := &store.VerifyOperation{BackupOperationID: first, Operation: store.Operation{
		Status: store.StatusFailed, Progress: store.Progress{BytesRead: 400}, StartedAt: at(20), CompletedAt: at(21)}}
	if err := cat.CreateVerification(ctx, nil, verification); err != nil {
		t.Fatal(err)
	}
}

func TestWriteReadsTheCatalog(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		seed(t, cat)
		ctx := context.Background()
		q, err := queue.New(ctx, cat, queue.Options{DatabaseURL: cat.URL(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		if err := cat.InTx(ctx, func(tx *sql.Tx) error { return q.InsertOperationTx(ctx, tx, store.KindBackup, 6) }); err != nil {
			t.Fatal(err)
		}

		m := New(cat, nil)
		ex, text := scrape(t, m)
		want := map[string]float64{
			`coffer_operations{type="backup",status="completed"}`:                    2,
			`coffer_operations{type="backup",status="failed"}`:                       1,
			`coffer_operations{type="backup",status="running"}`:                      1,
			`coffer_operations{type="backup",status="cancelled"}`:                    1,
			`coffer_operations{type="backup",status="pending"}`:                      1,
			`coffer_operations{type="backup",status="paused"}`:                       0,
			`coffer_operations{type="restore",status="completed"}`:                   1,
			`coffer_operations{type="restore",status="running"}`:                     0,
			`coffer_operations{type="verify",status="failed"}`:                       1,
			`coffer_operations{type="verify",status="completed"}`:                    0,
			`coffer_operation_bytes_read_total{type="verify"}`:                       400,
			`coffer_operation_duration_seconds_count{type="verify",status="failed"}`: 1,

			`coffer_operation_bytes_read_total{type="backup"}`:     1077,
			`coffer_operation_bytes_written_total{type="backup"}`:  413,
			`coffer_operation_bytes_read_total{type="restore"}`:    400,
			`coffer_operation_bytes_written_total{type="restore"}`: 1000,

			`coffer_operation_duration_seconds_bucket{type="backup",status="completed",le="1"}`:    1,
			`coffer_operation_duration_seconds_bucket{type="backup",status="completed",le="5"}`:    2,
			`coffer_operation_duration_seconds_bucket{type="backup",status="completed",le="+Inf"}`: 2,
			`coffer_operation_duration_seconds_sum{type="backup",status="completed"}`:              3.5,
			`coffer_operation_duration_seconds_count{type="backup",status="completed"}`:            2,
			`coffer_operation_duration_seconds_bucket{type="backup",status="failed",le="60"}`:      0,
			`coffer_operation_duration_seconds_bucket{type="backup",status="failed",le="300"}`:     1,
			`coffer_operation_duration_seconds_count{type="backup",status="cancelled"}`:            0,
			`coffer_operation_duration_seconds_bucket{type="restore",status="completed",le="1"}`:   0,
			`coffer_operation_duration_seconds_bucket{type="restore",status="completed",le="5"}`:   1,
			`coffer_operation_duration_seconds_sum{type="restore",status="completed"}`:             2,

			`coffer_queue_jobs{state="available"}`: 1,
			`coffer_queue_jobs{state="running"}`:   0,

			`coffer_metrics_collector_up{collector="operations"}`: 1,
			`coffer_metrics_collector_up{collector="bytes"}`:      1,
			`coffer_metrics_collector_up{collector="durations"}`:  1,
			`coffer_metrics_collector_up{collector="queue"}`:      1,
		}
		for series, v := range want {
			if got := ex.value(t, series); math.Abs(got-v) > 1e-9 {
				t.Errorf("%s = %v, want %v", series, got, v)
			}
		}
		for fam, typ := range map[string]string{
			"coffer_operations": "gauge", "coffer_operation_bytes_read_total": "counter",
			"coffer_operation_duration_seconds": "histogram", "coffer_queue_jobs": "gauge",
			"coffer_http_request_duration_seconds": "histogram", "coffer_build_info": "gauge",
		} {
			if ex.types[fam] != typ {
				t.Errorf("family %s has type %q, want %q", fam, ex.types[fam], typ)
			}
		}
		if t.Failed() {
			t.Logf("exposition:\n%s", text)
		}
	})
}

// TestWriteKeepsGoingWhenAQueryFails: a failed catalog query leaves its
// families out, marks its collector down, logs why, and the rest is served.
func TestWriteKeepsGoingWhenAQueryFails(t *testing.T) {
	t.Parallel()
	cat := storetest.SQLite(t)
	seed(t, cat)
	if _, err := cat.DB().Exec("ALTER TABLE river_job RENAME TO river_job_gone"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m := New(cat, slog.New(slog.NewTextHandler(&logs, nil)))
	ex, _ := scrape(t, m)
	if ex.value(t, `coffer_metrics_collector_up{collector="queue"}`) != 0 ||
		ex.value(t, `coffer_metrics_collector_up{collector="operations"}`) != 1 {
		t.Fatalf("collector_up wrong: %v", ex.samples)
	}
	if _, ok := ex.types["coffer_queue_jobs"]; ok {
		t.Fatal("coffer_queue_jobs written although its query failed")
	}
	ex.value(t, `coffer_operations{type="backup",status="completed"}`)
	if !strings.Contains(logs.String(), "collector=queue") || !strings.Contains(logs.String(), "river_job") {
		t.Fatalf("log does not name the failed collector: %s", logs.String())
	}
}

func TestHTTPHistogram(t *testing.T) {
	t.Parallel()
	m := New(storetest.SQLite(t), nil)
	m.ObserveHTTP("GET", "/api/v1/backups/{id}", 200, 3*time.Millisecond)
	m.ObserveHTTP("GET", "/api/v1/backups/{id}", 200, 300*time.Millisecond)
	m.ObserveHTTP("GET", "/api/v1/backups/{id}", 404, 20*time.Millisecond)
	m.ObserveHTTP("BREW", "", 404, time.Minute)
	ex, text := scrape(t, m)
	for series, v := range map[string]float64{
		`coffer_http_request_duration_seconds_bucket{method="GET",route="/api/v1/backups/{id}",status="200",le="0.005"}`: 1,
		`coffer_http_request_duration_seconds_bucket{method="GET",route="/api/v1/backups/{id}",status="200",le="0.25"}`:  1,
		`coffer_http_request_duration_seconds_bucket{method="GET",route="/api/v1/backups/{id}",status="200",le="0.5"}`:   2,
		`coffer_http_request_duration_seconds_count{method="GET",route="/api/v1/backups/{id}",status="200"}`:             2,
		`coffer_http_request_duration_seconds_sum{method="GET",route="/api/v1/backups/{id}",status="200"}`:               0.303,
		`coffer_http_request_duration_seconds_bucket{method="GET",route="/api/v1/backups/{id}",status="404",le="0.025"}`: 1,
		`coffer_http_request_duration_seconds_bucket{method="OTHER",route="unmatched",status="404",le="30"}`:             0,
		`coffer_http_request_duration_seconds_count{method="OTHER",route="unmatched",status="404"}`:                      1,
	} {
		if got := ex.value(t, series); math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v, want %v\n%s", series, got, v, text)
		}
	}
}

func TestLabelEscaping(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := newEncoder(&buf)
	e.family("x", "gauge", "back\\slash\nnew \"line\"")
	e.sample("x", []Label{{"a", "q\"uo\\te\nnl"}}, math.Inf(1))
	if err := e.flush(); err != nil {
		t.Fatal(err)
	}
	want := "# HELP x back\\\\slash\\nnew \"line\"\n# TYPE x gauge\nx{a=\"q\\\"uo\\\\te\\nnl\"} +Inf\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
	parseExposition(t, buf.String())
}

func TestHandler(t *testing.T) {
	t.Parallel()
	m := New(storetest.SQLite(t), nil)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ContentType {
			t.Fatalf("%s: %d %q", method, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if method == "GET" {
			ex := parseExposition(t, body.String())
			ex.value(t, `coffer_operations{type="backup",status="pending"}`)
			if res.ContentLength != int64(body.Len()) {
				t.Fatalf("Content-Length %d for %d bytes", res.ContentLength, body.Len())
			}
		} else if body.Len() != 0 || res.ContentLength <= 0 {
			t.Fatalf("HEAD: body %d bytes, Content-Length %d", body.Len(), res.ContentLength)
		}
	}
}

// TestPlanMetrics: per plan, the finished runs by result and the last
// success; the pruned backups of every plan and of none.
func TestPlanMetrics(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		ctx := context.Background()
		seed(t, cat) // connections 1 (src) and 2 (dst), ad-hoc backups
		nightly := &store.Plan{Name: "nightly", SourceConnectionID: 1, DestinationConnectionID: 2, Schedule: "@daily", Timezone: "UTC", Enabled: true, Verify: "none"}
		idle := &store.Plan{Name: "idle \"one\"", SourceConnectionID: 1, DestinationConnectionID: 2, Schedule: "@daily", Timezone: "UTC", Enabled: true, Verify: "none"}
		for _, p := range []*store.Plan{nightly, idle} {
			if err := cat.CreatePlan(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		last := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
		for i, st := range []string{store.StatusCompleted, store.StatusCompleted, store.StatusFailed, store.StatusRunning} {
			done := last.Add(time.Duration(i-1) * time.Hour)
			op := &store.BackupOperation{Operation: store.Operation{Status: st, CompletedAt: &done}, SourceConnectionID: 1, DestinationConnectionID: 2, PlanID: nightly.ID}
			if st == store.StatusRunning {
				op.CompletedAt = nil
			}
			if err := cat.InTx(ctx, func(tx *sql.Tx) error { return cat.CreateBackup(ctx, tx, op) }); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if err := cat.MarkPruned(ctx, op.ID, store.PruneRetention, last); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := cat.MarkPruned(ctx, 1, store.PruneDeleted, last); err != nil { // an ad-hoc backup deleted by a user
			t.Fatal(err)
		}
		ex, text := scrape(t, New(cat, nil))
		for series, v := range map[string]float64{
			`coffer_plan_last_success_timestamp_seconds{plan="nightly"}`:     float64(last.Unix()),
			`coffer_plan_runs_total{plan="nightly",result="completed"}`:      2,
			`coffer_plan_runs_total{plan="nightly",result="failed"}`:         1,
			`coffer_plan_runs_total{plan="nightly",result="cancelled"}`:      0,
			`coffer_plan_runs_total{plan="idle \"one\"",result="completed"}`: 0,
			`coffer_backups_pruned_total`:                                    2,
			`coffer_metrics_collector_up{collector="plans"}`:                 1,
		} {
			if got := ex.value(t, series); math.Abs(got-v) > 1e-6 {
				t.Errorf("%s = %v, want %v", series, got, v)
			}
		}
		if strings.Contains(text, `coffer_plan_last_success_timestamp_seconds{plan="idle`) {
			t.Error("a plan with no completed backup has a last success")
		}
		if t.Failed() {
			t.Logf("exposition:\n%s", text)
		}
	})
}
