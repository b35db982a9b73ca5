package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// metricsHandler serves GET /metrics (Prometheus text format). Unless
// COFFER_METRICS_PUBLIC is set it needs an API token of any active user
// (Authorization: Bearer); a session cookie is not enough, since scrapers
// have none and a browser has no business here.
func (s *server) metricsHandler() http.Handler {
	serve := s.metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.MetricsPublic {
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
				s.writeError(w, r, apperr.New(apperr.Unauthorized,
					"Reading /metrics needs an API token: send \"Authorization: Bearer <token>\" (create a token in coffer), or set COFFER_METRICS_PUBLIC=true."))
				return
			}
			if _, err := s.authenticate(w, r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="coffer", error="invalid_token"`)
				s.writeError(w, r, err)
				return
			}
		}
		serve.ServeHTTP(w, r)
	})
}

// observeRequests records every request's latency in the HTTP histogram,
// labelled by the ServeMux pattern that matched (which the mux sets on the
// request it is given), never by the raw path.
func (s *server) observeRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if i := strings.IndexByte(route, ' '); i >= 0 {
			route = route[i+1:]
		}
		s.metrics.ObserveHTTP(r.Method, route, rec.code(), time.Since(start))
	})
}
