package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/metrics"
)

func TestMetricsNeedsAnAPIToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.admin()
	tok := e.expect(e.do(admin, "POST", "/api/v1/tokens", `{"name":"prometheus"}`), http.StatusCreated).json(t)["token"].(string)

	r := e.expect(e.do(cred{}, "GET", "/metrics", ""), http.StatusUnauthorized)
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(r.json(t)["error"].(string), "COFFER_METRICS_PUBLIC") {
		t.Fatalf("401 without a token: %v %s", r.Header, r.body)
	}
	e.expect(e.do(admin, "GET", "/metrics", ""), http.StatusUnauthorized) // a session is not a token
	e.expect(e.do(cred{bearer: "coffer_not-a-token"}, "GET", "/metrics", ""), http.StatusUnauthorized)

	// Traffic to observe: an id in the path must show as the route pattern.
	e.expect(e.do(admin, "GET", "/api/v1/backups/123456789", ""), http.StatusNotFound)
	e.expect(e.do(admin, "GET", "/api/v1/auth/me", ""), http.StatusOK)

	r = e.expect(e.do(cred{bearer: tok}, "GET", "/metrics", ""), http.StatusOK)
	if r.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	body := string(r.body)
	for _, want := range []string{
		`coffer_operations{type="backup",status="completed"} 0`,
		`coffer_queue_jobs{state="available"} 0`,
		`coffer_metrics_collector_up{collector="queue"} 1`,
		`coffer_http_request_duration_seconds_count{method="GET",route="/api/v1/backups/{id}",status="404"} 1`,
		`coffer_http_request_duration_seconds_count{method="GET",route="/api/v1/auth/me",status="200"} 1`,
		`coffer_http_request_duration_seconds_count{method="GET",route="/metrics",status="401"} 3`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "123456789") {
		t.Error("a raw path reached a metric label")
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("security headers missing on /metrics")
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestMetricsPublic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, withConfig(func(c *config.Config) { c.MetricsPublic = true }))
	r := e.expect(e.do(cred{}, "GET", "/metrics", ""), http.StatusOK)
	if !strings.Contains(string(r.body), "# TYPE coffer_operations gauge\n") {
		t.Fatalf("body %s", r.body)
	}
	e.expect(e.do(cred{}, "POST", "/metrics", ""), http.StatusMethodNotAllowed)
}
