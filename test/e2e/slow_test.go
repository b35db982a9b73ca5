//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// newSlowProxy serves target with latency added to every request and all
// response bodies together held to bytesPerSec, so a backup runs long enough
// to be interrupted.
func newSlowProxy(t *testing.T, target string, latency time.Duration, bytesPerSec float64) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	lim := &rateLimit{rate: bytesPerSec}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(latency)
		rp.ServeHTTP(&slowWriter{ResponseWriter: w, lim: lim}, r)
	})}
	ln := listenLocal(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

type rateLimit struct {
	mu   sync.Mutex
	next time.Time
	rate float64
}

func (l *rateLimit) wait(n int) {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	time.Sleep(d)
}

type slowWriter struct {
	http.ResponseWriter
	lim *rateLimit
}

func (s *slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := min(len(p), 32<<10)
		s.lim.wait(chunk)
		n, err := s.ResponseWriter.Write(p[:chunk])
		written += n
		if err != nil {
			return written, err
		}
		p = p[chunk:]
	}
	return written, nil
}

func (s *slowWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
