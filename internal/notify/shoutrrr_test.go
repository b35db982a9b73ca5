package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// chatReceiver stands for a chat service's webhook endpoint: it records
// what shoutrrr's generic service posts.
type chatReceiver struct {
	status int // 0: 200

	mu     sync.Mutex
	bodies []string
	types  []string
}

func (c *chatReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, string(body))
	c.types = append(c.types, r.Header.Get("Content-Type"))
	c.mu.Unlock()
	if c.status != 0 {
		w.WriteHeader(c.status)
	}
}

func (c *chatReceiver) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...)
}

// genericURL turns an httptest URL into shoutrrr's generic form.
func genericFor(srvURL, path, query string) string {
	u := "generic://" + strings.TrimPrefix(srvURL, "http://") + path + "?disabletls=yes"
	if query != "" {
		u += "&" + query
	}
	return u
}

func TestShoutrrrGenericWebhook(t *testing.T) {
	rc := &chatReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg, err := DecodeConfig(TypeShoutrrr, []byte(`{"url":"`+genericFor(srv.URL, "/chat/incoming", "")+`"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{PublicURL: "https://coffer.example.com"}
	reply, err := s.Send(context.Background(), cfg, failedBackup("disk full"))
	if err != nil {
		t.Fatal(err)
	}
	if reply != "sent to the generic service" {
		t.Fatalf("reply = %q", reply)
	}
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d posts, want 1", len(got))
	}
	want := Text(s.Prepare(failedBackup("disk full")))
	if got[0] != want {
		t.Fatalf("posted text:\n%s\nwant:\n%s", got[0], want)
	}
	if !strings.HasPrefix(rc.types[0], "text/plain") {
		t.Fatalf("Content-Type = %q", rc.types[0])
	}

	// With shoutrrr's JSON template the one line arrives as the title.
	rc2 := &chatReceiver{}
	srv2 := httptest.NewServer(rc2)
	defer srv2.Close()
	if _, err := s.Send(context.Background(), &ShoutrrrConfig{URL: genericFor(srv2.URL, "/j", "template=json")}, failedBackup("disk full")); err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(rc2.got()[0]), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["title"] != `Plan "nightly": backup #42 of "mongo-prod" to "s3-archive" failed` || doc["message"] != want {
		t.Fatalf("JSON body = %v", doc)
	}
}

func TestShoutrrrFailures(t *testing.T) {
	for _, tc := range []struct {
		status    int
		retryable bool
	}{{500, true}, {502, true}, {429, true}, {401, false}, {404, false}} {
		rc := &chatReceiver{status: tc.status}
		srv := httptest.NewServer(rc)
		_, err := (&Sender{}).Send(context.Background(), &ShoutrrrConfig{URL: genericFor(srv.URL, "/hook", "")}, failedBackup("x"))
		srv.Close()
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if Retryable(err) != tc.retryable || !strings.HasPrefix(de.Message, "the generic service did not take the message") {
			t.Errorf("%d: retryable %v, message %q; want retryable %v", tc.status, Retryable(err), de.Message, tc.retryable)
		}
	}
	// A URL that is not valid is a permanent error, not a panic or a retry.
	_, err := (&Sender{}).Send(context.Background(), &ShoutrrrConfig{URL: "pigeon://coop"}, failedBackup("x"))
	if err == nil || Retryable(err) || !strings.Contains(err.Error(), `unknown service "pigeon"`) {
		t.Fatalf("unknown service: %v", err)
	}
}
