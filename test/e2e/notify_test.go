//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
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
	bad := map[string]any{"name": "oncall", "type": "email", "events": []string{"backup.failed", "plan.overdue", "prune.failed"},
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

	subjects := func() (failed, overdue, pruneFailed int) {
		for _, m := range be.Received()[1:] {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatalf("a message does not parse: %v", err)
			}
			subject := msg.Header.Get("Subject")
			switch {
			case strings.Contains(subject, "Removing old backups"):
				pruneFailed++
			case strings.Contains(subject, "overdue"):
				overdue++
			case strings.Contains(subject, "failed"):
				failed++
			default:
				t.Fatalf("unexpected message %q", subject)
			}
		}
		return failed, overdue, pruneFailed
	}
	// waitMail waits until arrived says the e-mail has come, at most until
	// deadline, and returns when it came.
	waitMail := func(what string, deadline time.Time, arrived func() bool) time.Time {
		t.Helper()
		for !arrived() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s e-mail by %s", what, deadline.Format(time.TimeOnly))
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Now()
	}
	at := waitMail("backup.failed (within 30 s of the plan's creation)", created.Add(30*time.Second), func() bool { failed, _, _ := subjects(); return failed > 0 })
	t.Logf("backup.failed e-mail arrived %s after the plan was created", at.Sub(created).Round(100*time.Millisecond))
	at = waitMail("plan.overdue (within 45 s of the plan's creation, alert_after 20s)", created.Add(45*time.Second), func() bool { _, overdue, _ := subjects(); return overdue > 0 })
	t.Logf("plan.overdue e-mail arrived %s after the plan was created (alert_after 20s)", at.Sub(created).Round(100*time.Millisecond))

	// A prune that cannot remove an archive: a working plan with keep_last
	// 1 whose first archive's sidecar has become a folder.
	srv := s3test.Start(t)
	bucket, _ := fill(t, srv, 3, 1000)
	good := c.createConn("bucket", "s3", s3creds(srv, srv.Endpoint, bucket))
	keep := filepath.Join(n.roots, "keep-one")
	kept := c.createConn("keep-one", "local", map[string]any{"path": keep})
	var p2 struct {
		ID int64 `json:"id"`
	}
	if st := c.do("POST", "/api/v1/plans", map[string]any{"name": "keep-one", "source_connection_id": good, "destination_connection_id": kept,
		"schedule": "@daily", "retention": map[string]any{"keep_last": 1}}, &p2); st != 201 {
		t.Fatalf("create plan: %d", st)
	}
	run := func() operation {
		var op operation
		if st := c.do("POST", fmt.Sprintf("/api/v1/plans/%d/run", p2.ID), nil, &op); st != 202 {
			t.Fatalf("run plan: %d", st)
		}
		return c.wait("backups", op.ID, "completed", time.Minute)
	}
	run()
	sidecars, _ := filepath.Glob(filepath.Join(keep, "*", "*.sha256"))
	if len(sidecars) != 1 {
		t.Fatalf("sidecars after the first run: %v", sidecars)
	}
	if err := os.Remove(sidecars[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sidecars[0], 0o755); err != nil {
		t.Fatal(err)
	}
	run()
	waitMail("prune.failed (within 30 s of the run whose prune failed)", time.Now().Add(30*time.Second), func() bool { _, _, pruneFailed := subjects(); return pruneFailed == 1 })

	time.Sleep(3 * time.Second) // more ticks and failed runs of the doomed plan
	failed, overdue, pruneFailed := subjects()
	if overdue != 1 || pruneFailed != 1 {
		t.Fatalf("%d plan.overdue and %d prune.failed e-mails, want exactly 1 each", overdue, pruneFailed)
	}
	var log struct {
		Items []struct {
			Event     string    `json:"event"`
			Status    string    `json:"status"`
			Attempts  int       `json:"attempts"`
			CreatedAt time.Time `json:"created_at"`
			SentAt    time.Time `json:"sent_at"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/notification-deliveries?channel_id=%d&status=sent", ch.ID), nil, &log); st != 200 {
		t.Fatalf("delivery log: %d", st)
	}
	var slowest time.Duration
	for _, d := range log.Items {
		slowest = max(slowest, d.SentAt.Sub(d.CreatedAt))
	}
	t.Logf("%d e-mails (%d backup.failed, 1 plan.overdue, 1 prune.failed); slowest from event to sent: %s",
		log.Total, failed, slowest.Round(time.Millisecond))
	if log.Total != failed+overdue+pruneFailed {
		t.Fatalf("the delivery log lists %d sent deliveries, %d e-mails arrived", log.Total, failed+overdue+pruneFailed)
	}
	for _, m := range be.Received() {
		if strings.Contains(string(m.Data), "secret-key-for-a-gone-server") {
			t.Fatal("an e-mail holds the source's secret key")
		}
	}
}
