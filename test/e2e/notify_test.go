//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/smtptest"
)

// TestNotificationsByEmail: a plan whose source is unreachable fails, and
// its e-mail arrives within 30 s of the plan's creation; with alert_after
// 20s and every run failing, plan.overdue is sent exactly once. The channel
// is set up and tested through the API, and the delivery log shows both.
func TestNotificationsByEmail(t *testing.T) {
	t.Parallel()
	be := &smtptest.Backend{}
	port := smtptest.Start(t, be, smtptest.Plain, nil, false)
	n := newNode(t)
	a := n.start(t, "serve", "COFFER_MIN_SCHEDULE_INTERVAL=1s", "COFFER_SCHEDULER_TICK=1s", "COFFER_PUBLIC_URL=https://coffer.example.com")
	c := a.login(t)

	var ch struct {
		ID     int64    `json:"id"`
		Events []string `json:"events"`
		Error  string   `json:"error"`
		Fields map[string]string
	}
	bad := map[string]any{"name": "oncall", "type": "email", "events": []string{"backup.failed", "plan.overdue"},
		"config": map[string]any{"host": "127.0.0.1", "port": 0, "from": "coffer@example.com", "to": []string{"oncall@example.com"}, "security": "none"}}
	if st := c.do("POST", "/api/v1/notification-channels", bad, &ch); st != 422 || ch.Fields["config.port"] == "" {
		t.Fatalf("port 0: %d %+v, want 422 naming config.port", st, ch)
	}
	bad["config"].(map[string]any)["port"] = port
	if st := c.do("POST", "/api/v1/notification-channels", bad, &ch); st != 201 {
		t.Fatalf("create channel: %d %+v", st, ch)
	}
	var test struct {
		OK    bool   `json:"ok"`
		Reply string `json:"reply"`
	}
	if st := c.do("POST", fmt.Sprintf("/api/v1/notification-channels/%d/test", ch.ID), nil, &test); st != 200 || !test.OK {
		t.Fatalf("test message: %d %+v", st, test)
	}
	if got := be.Wait(1, 10*time.Second); len(got) != 1 {
		t.Fatalf("the test message did not arrive (%d messages)", len(got))
	}

	src := c.createConnUnchecked("gone", "s3", map[string]any{"endpoint": "http://127.0.0.1:1", "region": "us-east-1",
		"access_key": "AKIAEXAMPLE", "secret_key": "secret-key-for-a-gone-server", "bucket": "nothing", "force_path_style": true})
	dst := c.createConn("disk", "local", map[string]any{"path": filepath.Join(n.roots, "notify")})
	created := time.Now()
	var p struct {
		ID int64 `json:"id"`
	}
	if st := c.do("POST", "/api/v1/plans", map[string]any{"name": "doomed", "source_connection_id": src, "destination_connection_id": dst,
		"schedule": "@every 8s", "alert_after": "20s"}, &p); st != 201 {
		t.Fatalf("create plan: %d", st)
	}

	subjects := func() (failed, overdue int) {
		for _, m := range be.Received()[1:] {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatalf("a message does not parse: %v", err)
			}
			subject := msg.Header.Get("Subject")
			switch {
			case strings.Contains(subject, "overdue"):
				overdue++
			case strings.Contains(subject, "failed"):
				failed++
			default:
				t.Fatalf("unexpected message %q", subject)
			}
		}
		return failed, overdue
	}
	for {
		if failed, _ := subjects(); failed > 0 {
			t.Logf("backup.failed e-mail arrived %s after the plan was created", time.Since(created).Round(100*time.Millisecond))
			break
		}
		if time.Since(created) > 30*time.Second {
			t.Fatal("no backup.failed e-mail within 30 s of the plan's creation")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if _, overdue := subjects(); overdue > 0 {
			t.Logf("plan.overdue e-mail arrived %s after the plan was created (alert_after 20s)", time.Since(created).Round(100*time.Millisecond))
			break
		}
		if time.Since(created) > 45*time.Second {
			t.Fatal("no plan.overdue e-mail within 45 s of the plan's creation (alert_after 20s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // several more ticks and failed runs
	failed, overdue := subjects()
	if overdue != 1 {
		t.Fatalf("%d plan.overdue e-mails, want exactly 1 while the plan stays overdue", overdue)
	}
	var log struct {
		Items []struct {
			Event    string `json:"event"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/notification-deliveries?channel_id=%d&status=sent", ch.ID), nil, &log); st != 200 {
		t.Fatalf("delivery log: %d", st)
	}
	if log.Total != failed+overdue {
		t.Fatalf("the delivery log lists %d sent deliveries, %d e-mails arrived", log.Total, failed+overdue)
	}
	for _, m := range be.Received() {
		if strings.Contains(string(m.Data), "secret-key-for-a-gone-server") {
			t.Fatal("an e-mail holds the source's secret key")
		}
	}
}
