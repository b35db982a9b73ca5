package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const hookSecret = "whsec-0123456789abcdef"

// receiver is a webhook endpoint on 127.0.0.1 that checks signatures with
// Verify, as a user's receiver would, and records what it accepted.
type receiver struct {
	secret string
	// answers are the statuses of the first requests; later ones get 200.
	answers []int

	mu       sync.Mutex
	requests int
	accepted []acceptedRequest
}

type acceptedRequest struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if rc.secret != "" {
		if err := Verify(rc.secret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature), 5*time.Minute); err != nil {
			http.Error(w, "bad signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
	}
	rc.mu.Lock()
	n := rc.requests
	rc.requests++
	rc.mu.Unlock()
	if n < len(rc.answers) {
		http.Error(w, "try later", rc.answers[n])
		return
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, acceptedRequest{header: r.Header.Clone(), body: body})
	rc.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (rc *receiver) got() []acceptedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]acceptedRequest(nil), rc.accepted...)
}

func startReceiver(t *testing.T, rc *receiver) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSignedDelivery(t *testing.T) {
	rc := &receiver{secret: hookSecret}
	srv := startReceiver(t, rc)
	cfg := &WebhookConfig{URL: srv.URL + "/hooks/coffer", Secret: hookSecret, Headers: map[string]string{"X-Team": "ops"}}
	s := &Sender{PublicURL: "https://coffer.example.com"}
	reply, err := s.Send(context.Background(), cfg, failedBackup("upload part 3: connection reset"))
	if err != nil {
		t.Fatal(err)
	}
	if reply != "200 OK: ok" {
		t.Fatalf("reply = %q", reply)
	}
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("receiver accepted %d requests, want 1", len(got))
	}
	h := got[0].header
	if h.Get("Content-Type") != "application/json" || h.Get(HeaderEvent) != "backup.failed" || h.Get("X-Team") != "ops" {
		t.Fatalf("headers = %v", h)
	}
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Fatalf("timestamp %q is not the current Unix time", h.Get(HeaderTimestamp))
	}
	if want := Sign(hookSecret, ts, got[0].body); h.Get(HeaderSignature) != want {
		t.Fatalf("signature %q, want %q", h.Get(HeaderSignature), want)
	}
	var ev Event
	if err := json.Unmarshal(got[0].body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Name != EventBackupFailed || ev.URL != "https://coffer.example.com/backups/42" ||
		ev.Plan.Name != "nightly" || ev.Operation.Error != "upload part 3: connection reset" || *ev.Operation.DurationS != 192 {
		t.Fatalf("body = %s", got[0].body)
	}

	// Replaying the captured request later than the window is refused.
	err = verifyAt(time.Unix(ts, 0).Add(6*time.Minute), hookSecret, h.Get(HeaderTimestamp), got[0].body, h.Get(HeaderSignature), 5*time.Minute)
	if !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("replay after the window: %v, want ErrStaleTimestamp", err)
	}
}

func TestWebhookWrongSecret(t *testing.T) {
	rc := &receiver{secret: "receiver-knows-another-secret"}
	srv := startReceiver(t, rc)
	cfg := &WebhookConfig{URL: srv.URL + "/hook", Secret: hookSecret}
	_, err := (&Sender{}).Send(context.Background(), cfg, failedBackup("x"))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Permanent {
		t.Fatalf("err = %v, want a permanent DeliveryError", err)
	}
	if want := "the webhook at " + srv.URL + "/hook answered 401 Unauthorized: bad signature"; !strings.HasPrefix(de.Message, want) {
		t.Fatalf("message %q, want it to start with %q", de.Message, want)
	}
	if len(rc.got()) != 0 {
		t.Fatal("the receiver accepted a request signed with the wrong secret")
	}
	// Without a secret there is no signature at all, which a receiver
	// that expects one refuses.
	_, err = (&Sender{}).Send(context.Background(), &WebhookConfig{URL: srv.URL + "/hook"}, failedBackup("x"))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("unsigned request: %v, want 401", err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event":"backup.failed"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(hookSecret, now.Unix(), body)
	tests := []struct {
		name      string
		secret    string
		timestamp string
		body      []byte
		signature string
		at        time.Time
		want      error
	}{
		{"valid", hookSecret, ts, body, sig, now, nil},
		{"valid within skew", hookSecret, ts, body, sig, now.Add(4 * time.Minute), nil},
		{"wrong secret", "another-secret-value", ts, body, sig, now, ErrBadSignature},
		{"tampered body", hookSecret, ts, []byte(`{"event":"backup.completed"}`), sig, now, ErrBadSignature},
		{"timestamp changed", hookSecret, strconv.FormatInt(now.Unix()+1, 10), body, sig, now, ErrBadSignature},
		{"replayed later", hookSecret, ts, body, sig, now.Add(10 * time.Minute), ErrStaleTimestamp},
		{"from the future", hookSecret, ts, body, sig, now.Add(-10 * time.Minute), ErrStaleTimestamp},
		{"no timestamp", hookSecret, "", body, sig, now, ErrStaleTimestamp},
		{"no prefix", hookSecret, ts, body, strings.TrimPrefix(sig, "sha256="), now, ErrBadSignature},
		{"not hex", hookSecret, ts, body, "sha256=zz", now, ErrBadSignature},
		{"empty", hookSecret, ts, body, "", now, ErrBadSignature},
	}
	for _, tc := range tests {
		err := verifyAt(tc.at, tc.secret, tc.timestamp, tc.body, tc.signature, 5*time.Minute)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The exported Verify uses the clock.
	fresh := time.Now().Unix()
	if err := Verify(hookSecret, strconv.FormatInt(fresh, 10), body, Sign(hookSecret, fresh, body), time.Minute); err != nil {
		t.Fatalf("Verify of a fresh signature: %v", err)
	}
}

// TestWebhookRetries plays the delivery job's loop against a receiver that
// answers 500 three times, then 200: every failure is retryable, and the
// event is accepted exactly once, on the fourth attempt.
func TestWebhookRetries(t *testing.T) {
	rc := &receiver{secret: hookSecret, answers: []int{500, 502, 503}}
	srv := startReceiver(t, rc)
	cfg := &WebhookConfig{URL: srv.URL + "/hook", Secret: hookSecret}
	s := &Sender{}
	attempts := 0
	var waits []time.Duration
	for attempt := 1; ; attempt++ {
		attempts = attempt
		_, err := s.Send(context.Background(), cfg, failedBackup("x"))
		if err == nil {
			break
		}
		if !Retryable(err) {
			t.Fatalf("attempt %d: %v is not retryable", attempt, err)
		}
		wait, ok := NextRetry(attempt)
		if !ok {
			t.Fatalf("gave up after attempt %d: %v", attempt, err)
		}
		waits = append(waits, wait)
	}
	if attempts != 4 || len(rc.got()) != 1 {
		t.Fatalf("%d attempts, %d accepted; want 4 attempts and exactly one accepted", attempts, len(rc.got()))
	}
	if want := []time.Duration{time.Minute, 3 * time.Minute, 8 * time.Minute}; len(waits) != 3 || waits[2] != want[2] {
		t.Fatalf("waits = %v, want %v", waits, want)
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		retryable  bool
		wantAfter  time.Duration
	}{
		{500, "", true, 0},
		{503, "120", true, 2 * time.Minute},
		{429, "7", true, 7 * time.Second},
		{408, "", true, 0},
		{400, "", false, 0},
		{403, "", false, 0},
		{404, "", false, 0},
		{410, "", false, 0},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, "  nope\n\n  not today  ")
		}))
		_, err := (&Sender{}).Send(context.Background(), &WebhookConfig{URL: srv.URL}, failedBackup("x"))
		srv.Close()
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if Retryable(err) != tc.retryable || de.RetryAfter != tc.wantAfter {
			t.Errorf("%d: retryable %v after %v, want %v after %v (%s)", tc.status, Retryable(err), de.RetryAfter, tc.retryable, tc.wantAfter, de.Message)
		}
		if want := strconv.Itoa(tc.status) + " " + http.StatusText(tc.status) + ": nope not today"; !strings.HasSuffix(de.Message, want) {
			t.Errorf("%d: message %q, want it to end in %q", tc.status, de.Message, want)
		}
	}
}

func TestWebhookRedirects(t *testing.T) {
	other := &receiver{}
	otherSrv := startReceiver(t, other)
	var sameHost atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherSrv.URL+"/stolen", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new-home", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/new-home", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && strings.Contains(string(body), "backup.failed") {
			sameHost.Add(1)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	_, err := (&Sender{}).Send(context.Background(), &WebhookConfig{URL: srv.URL + "/away"}, failedBackup("x"))
	if err == nil || Retryable(err) || !strings.Contains(err.Error(), "does not follow") {
		t.Fatalf("redirect to another host: %v, want a permanent refusal", err)
	}
	if len(other.got()) != 0 {
		t.Fatal("the event went to another host")
	}
	if _, err := (&Sender{}).Send(context.Background(), &WebhookConfig{URL: srv.URL + "/moved"}, failedBackup("x")); err != nil {
		t.Fatalf("redirect on the same host: %v", err)
	}
	if sameHost.Load() != 1 {
		t.Fatalf("same-host redirect target got %d events, want 1", sameHost.Load())
	}
}

func TestWebhookTimeoutAndRefused(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s := &Sender{Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := s.Send(context.Background(), &WebhookConfig{URL: slow.URL}, failedBackup("x"))
	if err == nil || !Retryable(err) || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Fatalf("slow receiver: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("timeout took %v", took)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, err = (&Sender{}).Send(context.Background(), &WebhookConfig{URL: url}, failedBackup("x"))
	if err == nil || !Retryable(err) || !strings.Contains(err.Error(), "refused the connection") {
		t.Fatalf("nothing listening: %v", err)
	}
}
