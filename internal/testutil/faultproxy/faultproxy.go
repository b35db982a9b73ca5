// Package faultproxy is an HTTP reverse proxy for tests that injects faults
// (503 SlowDown answers, connection resets, response bodies cut short) and
// latency in front of a real server, so retry and resume paths get exercised
// over real sockets.
package faultproxy

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// FailRate is the share (0..1) of requests that get a fault instead of
	// (or, for a cut body, part of) the target's answer.
	FailRate float64
	// Latency is added before every request is forwarded.
	Latency time.Duration
	// Seed makes the sequence of fault decisions repeatable.
	Seed int64
	// Kinds limits the faults to these kinds (Fault503, FaultReset,
	// FaultCutBody); empty means all three. A cut body applies to GETs only;
	// other requests get one of the remaining kinds (503 when none is left).
	Kinds []string
	// Observe, when set, sees every request as it reaches the proxy (a
	// test counting listings, say). It must not read the body.
	Observe func(r *http.Request)
}

// Fault kinds, as counted by Proxy.
const (
	// Fault503 answers 503 with an S3 SlowDown error; the target never sees
	// the request.
	Fault503 = "503"
	// FaultReset resets the connection before the request is forwarded.
	FaultReset = "reset"
	// FaultCutBody forwards a GET, sends the headers and half of the body,
	// then resets the connection.
	FaultCutBody = "cut-body"
)

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:PORT); use it as the
	// endpoint in place of the target's.
	URL string

	target   *url.URL
	opts     Options
	rp       *httputil.ReverseProxy
	upstream *http.Client

	mu  sync.Mutex
	rng *rand.Rand

	requests atomic.Int64
	faults   atomic.Int64
	perKind  sync.Map // kind -> *atomic.Int64
	disabled atomic.Bool
	gate     atomic.Pointer[chan struct{}]
}

// New starts a proxy in front of target (a base URL such as
// http://127.0.0.1:7070) and closes it when the test ends.
func New(t testing.TB, target string, opts Options) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("faultproxy: bad target %q: %v", target, err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableCompression = true
	p := &Proxy{
		target:   u,
		opts:     opts,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		upstream: &http.Client{Transport: transport, CheckRedirect: noRedirect},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// Keep the Host the client signed (SigV4 covers it).
			r.Out.Host = r.In.Host
		},
		Transport: transport,
		ErrorLog:  nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Requests is how many requests reached the proxy.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Faults is how many requests got a fault.
func (p *Proxy) Faults() int64 { return p.faults.Load() }

// FaultsOf is how many faults of one kind (Fault503, FaultReset,
// FaultCutBody) were injected.
func (p *Proxy) FaultsOf(kind string) int64 {
	if v, ok := p.perKind.Load(kind); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Hold makes every request that reaches the proxy from now on wait until
// Release (or until its client gives up). A test uses it to keep an
// operation from running to its end while a pause or cancel it asked for is
// on its way, whatever the speed of the machine.
func (p *Proxy) Hold() {
	ch := make(chan struct{})
	p.gate.Store(&ch)
}

// Release lets the requests waiting since Hold, and all later ones, through.
func (p *Proxy) Release() {
	if ch := p.gate.Swap(nil); ch != nil {
		close(*ch)
	}
}

// SetEnabled turns fault injection on or off (latency stays); a test can
// set up its data cleanly and then enable faults.
func (p *Proxy) SetEnabled(on bool) { p.disabled.Store(!on) }

func (p *Proxy) count(kind string) {
	p.faults.Add(1)
	v, _ := p.perKind.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// decide returns the fault for the next request ("" for none).
func (p *Proxy) decide(r *http.Request) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	hit := p.rng.Float64() < p.opts.FailRate
	pick := p.rng.Uint64()
	if !hit || p.disabled.Load() {
		return ""
	}
	kinds := p.opts.Kinds
	if len(kinds) == 0 {
		kinds = []string{Fault503, FaultReset, FaultCutBody}
	}
	var usable []string
	for _, k := range kinds {
		if k != FaultCutBody || r.Method == http.MethodGet {
			usable = append(usable, k)
		}
	}
	if len(usable) == 0 {
		return Fault503
	}
	return usable[pick%uint64(len(usable))]
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.opts.Observe != nil {
		p.opts.Observe(r)
	}
	if g := p.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-r.Context().Done():
			return
		}
	}
	if p.opts.Latency > 0 {
		select {
		case <-time.After(p.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	switch fault := p.decide(r); fault {
	case Fault503:
		p.count(fault)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>`+
			`<RequestId>faultproxy</RequestId></Error>`)
	case FaultReset:
		p.count(fault)
		resetConn(w)
	case FaultCutBody:
		if p.cutBody(w, r) {
			p.count(fault)
		}
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// resetConn closes the client's connection with a TCP RST.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "faultproxy: cannot reset this connection", http.StatusServiceUnavailable)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cutBody forwards r, sends the status, the headers and half of the body,
// then resets the connection. It reports whether a cut happened (an answer
// with fewer than 2 body bytes is passed through whole).
func (p *Proxy) cutBody(w http.ResponseWriter, r *http.Request) bool {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = p.target.Scheme
	out.URL.Host = p.target.Host
	out.Host = r.Host
	resp, err := p.upstream.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return false
	}
	if len(body) < 2 {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return false
	}
	hj := w.(http.Hijacker)
	conn, buf, err := hj.Hijack()
	if err != nil {
		return false
	}
	defer func() {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}()
	writeHead(buf.Writer, resp, len(body))
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
	return true
}

func writeHead(w *bufio.Writer, resp *http.Response, length int) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	resp.Header.Del("Transfer-Encoding")
	resp.Header.Set("Content-Length", fmt.Sprint(length))
	resp.Header.Set("Connection", "close")
	_ = resp.Header.Write(w)
	_, _ = w.WriteString("\r\n")
}
