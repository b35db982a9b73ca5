//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// newSlowProxy adds latency to every request to target, so a backup runs
// long enough to be interrupted.
func newSlowProxy(t *testing.T, target string, latency time.Duration) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(latency)
		rp.ServeHTTP(w, r)
	})}
	ln := listenLocal(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
