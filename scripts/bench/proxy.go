package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// delayProxy is a loopback reverse proxy that waits a fixed delay before
// forwarding every request, standing in for a distant S3 endpoint. The Host
// header the client signed is passed through unchanged.
type delayProxy struct {
	url      string
	requests atomic.Int64
	srv      *http.Server

	inFlight atomic.Int64
	peak     atomic.Int64 // most requests in flight at once since resetPeak
	lastDone atomic.Int64 // when the last request was answered (Unix ns)
}

// resetPeak starts counting the peak of requests in flight again.
func (p *delayProxy) resetPeak() { p.peak.Store(p.inFlight.Load()) }

// lastAnswer is when the proxy last finished answering a request.
func (p *delayProxy) lastAnswer() time.Time { return time.Unix(0, p.lastDone.Load()) }

func startDelayProxy(target string, delay time.Duration) (*delayProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy target %q: %w", target, err)
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the signature covers the host the client used
		},
		Transport:     transport,
		FlushInterval: -1,
	}
	p := &delayProxy{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		n := p.inFlight.Add(1)
		for peak := p.peak.Load(); n > peak && !p.peak.CompareAndSwap(peak, n); peak = p.peak.Load() {
		}
		defer func() {
			p.inFlight.Add(-1)
			p.lastDone.Store(time.Now().UnixNano())
		}()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listener: %w", err)
	}
	p.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	p.url = "http://" + ln.Addr().String()
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("proxy stopped: %v\n", err)
		}
	}()
	return p, nil
}

func (p *delayProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
}
