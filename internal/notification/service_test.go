package notification_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/notification"
	"github.com/coffer-backup/coffer/internal/notify"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/smtptest"
	"github.com/coffer-backup/coffer/internal/testutil/tlstest"
)

// noOperations is the queue's Runner in these tests: they enqueue no
// operation, so any call is a failure.
type noOperations struct{ t *testing.T }

func (n noOperations) RunOperation(context.Context, string, int64) error {
	n.t.Error("an operation job ran in a notification test")
	return nil
}
func (noOperations) Maintain(context.Context, string) error { return nil }

// env is a catalog, a running River queue on it and the service.
type env struct {
	st  *store.Store
	svc *notification.Service
}

func newEnv(t *testing.T, st *store.Store, sender *notify.Sender, retry func(int) (time.Duration, bool)) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.New(ctx, st, queue.Options{DatabaseURL: st.URL(), Workers: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	svc := notification.New(st, keys, q, sender, log)
	if retry != nil {
		svc.SetRetry(retry)
	}
	q.SetRunner(noOperations{t})
	q.SetDeliverer(svc)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = q.Stop(stop)
	})
	return &env{st: st, svc: svc}
}

func (e *env) channel(t *testing.T, body string) *notification.View {
	t.Helper()
	in, err := notification.DecodeInput([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("create channel %s: %v", body, err)
	}
	return v
}

// waitDelivery waits until channel ch has a delivery in a final status
// (sent or failed) and returns it.
func (e *env) waitDelivery(t *testing.T, ch int64, within time.Duration) store.Delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ds, _, err := e.st.ListDeliveries(context.Background(), store.DeliveryFilter{ChannelID: ch}, store.Page{Page: 1, PerPage: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 && ds[0].Status != store.DeliveryPending {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %d: no delivery ended within %v (%+v)", ch, within, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func deliveries(t *testing.T, st *store.Store, ch int64) []store.Delivery {
	t.Helper()
	ds, _, err := st.ListDeliveries(context.Background(), store.DeliveryFilter{ChannelID: ch}, store.Page{Page: 1, PerPage: 50})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// newPlan records a plan (and the two connections it names) and returns its id.
func newPlan(t *testing.T, st *store.Store) int64 {
	t.Helper()
	ctx := context.Background()
	var ids [2]int64
	for i, name := range []string{"plan-src", "plan-dst"} {
		c := &store.Connection{Name: name, Type: store.TypeS3, Credentials: []byte("sealed"), IsActive: true}
		if err := st.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	p := &store.Plan{Name: "nightly", SourceConnectionID: ids[0], DestinationConnectionID: ids[1], Schedule: "@daily", Timezone: "UTC", Enabled: true}
	if err := st.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// receiver is a webhook endpoint on 127.0.0.1 that checks each request's
// signature and answers 500 to the first failFirst requests.
type receiver struct {
	secret    string
	failFirst int

	mu       sync.Mutex
	requests int
	bodies   [][]byte
	badSig   []string
}

func (rv *receiver) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		defer rv.mu.Unlock()
		rv.requests++
		if err := notify.Verify(rv.secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature), 5*time.Minute); err != nil {
			rv.badSig = append(rv.badSig, err.Error())
		}
		if rv.requests <= rv.failFirst {
			http.Error(w, "receiver is restarting", http.StatusInternalServerError)
			return
		}
		rv.bodies = append(rv.bodies, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/coffer"
}

// TestWebhookRetriedUntilDelivered: a receiver that answers 500 three times
// and then 204 gets the event exactly once, signed; the delivery log shows
// four attempts. Channels not subscribed to the event, limited to other
// plans or disabled get nothing. On SQLite and PostgreSQL.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		e := newEnv(t, st, &notify.Sender{PublicURL: "https://coffer.example.com"}, func(int) (time.Duration, bool) { return 100 * time.Millisecond, true })
		rv := &receiver{secret: "whsec-0123456789abcdef", failFirst: 3}
		url := rv.start(t)
		hook := e.channel(t, fmt.Sprintf(`{"name":"hook","type":"webhook","config":{"url":%q,"secret":%q},"events":["backup.failed"]}`, url, rv.secret))
		other := e.channel(t, fmt.Sprintf(`{"name":"completions","type":"webhook","config":{"url":%q},"events":["backup.completed"]}`, url))
		planID := newPlan(t, st)
		limited := e.channel(t, fmt.Sprintf(`{"name":"one plan only","type":"webhook","config":{"url":%q},"events":["backup.failed"],"plan_ids":[%d]}`, url, planID))
		off := e.channel(t, fmt.Sprintf(`{"name":"off","type":"webhook","config":{"url":%q},"events":["backup.failed"],"enabled":false}`, url))

		started := time.Now().Add(-time.Minute).UTC()
		ended := time.Now().UTC()
		e.svc.Notify(context.Background(), notify.Event{Name: notify.EventBackupFailed, Operation: &notify.Operation{
			Kind: notify.KindBackup, ID: 42, Status: "failed", Source: "prod-bucket", Destination: "offsite",
			StartedAt: &started, CompletedAt: &ended, Error: "the source bucket does not exist",
		}}, 0)
		d := e.waitDelivery(t, hook.ID, time.Minute)
		if d.Status != store.DeliverySent || d.Attempts != 4 || d.SentAt == nil {
			t.Fatalf("delivery: %+v, want sent after 4 attempts", d)
		}
		rv.mu.Lock()
		requests, bodies, badSig := rv.requests, rv.bodies, rv.badSig
		rv.mu.Unlock()
		if requests != 4 || len(bodies) != 1 {
			t.Fatalf("the receiver saw %d requests and accepted %d; want 4 and exactly 1", requests, len(bodies))
		}
		if len(badSig) != 0 {
			t.Fatalf("signatures did not verify: %v", badSig)
		}
		var got notify.Event
		if err := json.Unmarshal(bodies[0], &got); err != nil {
			t.Fatal(err)
		}
		if got.Name != notify.EventBackupFailed || got.Operation == nil || got.Operation.ID != 42 ||
			!strings.Contains(got.Message, "prod-bucket") || got.URL != "https://coffer.example.com/backups/42" {
			t.Fatalf("webhook body: %s", bodies[0])
		}
		for _, ch := range []*notification.View{other, off, limited} {
			if ds := deliveries(t, st, ch.ID); len(ds) != 0 {
				t.Fatalf("channel %q got %d deliveries of an event it does not take", ch.Name, len(ds))
			}
		}
		// The plan a channel is limited to cannot go while the channel names it.
		var inUse *store.PlanInUseError
		if err := st.DeletePlan(context.Background(), planID); !errors.As(err, &inUse) || inUse.Channel != limited.Name || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("deleting the plan a channel is limited to: %v", err)
		}
		if _, err := e.svc.Delete(context.Background(), limited.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePlan(context.Background(), planID); err != nil {
			t.Fatalf("deleting the plan once no channel names it: %v", err)
		}
	})
}

// TestDeliveryGivesUp: a receiver that always fails is tried as often as
// the retry policy allows, then the delivery is marked failed with the
// reason; a 4xx answer (nothing to gain from trying again) fails at once.
func TestDeliveryGivesUp(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	e := newEnv(t, st, &notify.Sender{}, func(attempt int) (time.Duration, bool) { return 100 * time.Millisecond, attempt < 2 })
	failing := &receiver{failFirst: 1 << 30}
	hook := e.channel(t, fmt.Sprintf(`{"name":"down","type":"webhook","config":{"url":%q},"events":["restore.failed"]}`, failing.start(t)))
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusGone)
	}))
	t.Cleanup(gone.Close)
	refused := e.channel(t, fmt.Sprintf(`{"name":"gone","type":"webhook","config":{"url":%q},"events":["restore.failed"]}`, gone.URL))

	e.svc.Notify(context.Background(), notify.Event{Name: notify.EventRestoreFailed, Detail: "test"}, 0)
	d := e.waitDelivery(t, hook.ID, time.Minute)
	if d.Status != store.DeliveryFailed || d.Attempts != 2 || !strings.Contains(d.LastError, "500") {
		t.Fatalf("always-failing receiver: %+v, want failed after 2 attempts naming the 500", d)
	}
	d = e.waitDelivery(t, refused.ID, time.Minute)
	if d.Status != store.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "410") {
		t.Fatalf("410 receiver: %+v, want failed after 1 attempt naming the 410", d)
	}
}

// TestEmailDelivery sends an event over STARTTLS with AUTH to a real SMTP
// server and reads what arrived.
func TestEmailDelivery(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewAuthority(t)
	cert := ca.Server(t)
	be := &smtptest.Backend{User: "coffer", Pass: "smtp-password-123"}
	port := smtptest.Start(t, be, smtptest.StartTLS, &cert, false)
	st := storetest.SQLite(t)
	e := newEnv(t, st, &notify.Sender{RootCAs: ca.Pool}, nil)
	ch := e.channel(t, fmt.Sprintf(`{"name":"ops mail","type":"email","config":{"host":"127.0.0.1","port":%d,"username":"coffer","password":"smtp-password-123",
		"from":"coffer@example.com","to":["oncall@example.com","backup@example.com"],"security":"starttls"},"events":["plan.overdue"]}`, port))
	if pw := ch.Config.(*notify.EmailConfig).Password; pw == "smtp-password-123" {
		t.Fatal("the channel view shows the SMTP password")
	}
	reply, err := e.svc.Test(context.Background(), ch.ID)
	if err != nil {
		t.Fatalf("test message: %v", err)
	}
	if reply == "" {
		t.Fatal("the test message answered no reply")
	}
	e.svc.Notify(context.Background(), notify.Event{Name: notify.EventPlanOverdue, Plan: &notify.PlanRef{ID: 7, Name: "nightly"},
		Detail: "No run of this plan has succeeded since 2026-12-05T03:00:00Z."}, 7)
	if d := e.waitDelivery(t, ch.ID, 30*time.Second); d.Status != store.DeliverySent || d.Attempts != 1 {
		t.Fatalf("delivery: %+v", d)
	}
	got := be.Wait(2, 5*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d messages arrived, want the test and the event", len(got))
	}
	m := got[1]
	if !m.TLS || m.User != "coffer" || len(m.To) != 2 || !strings.Contains(string(m.Data), "nightly") {
		t.Fatalf("message: TLS %v, user %q, to %v:\n%s", m.TLS, m.User, m.To, m.Data)
	}
	if strings.Contains(string(m.Data), "smtp-password-123") {
		t.Fatal("the message holds the SMTP password")
	}
}

// TestChannelValidation: bad input is a 422 naming the field; secrets are
// masked in views, and a masked secret sent back keeps the stored one.
func TestChannelValidation(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	e := newEnv(t, st, &notify.Sender{}, nil)
	ctx := context.Background()
	for _, tc := range []struct{ body, field string }{
		{`{"name":"a","type":"webhook","config":{"url":"ftp://example.com/x"}}`, "config.url"},
		{`{"name":"a","type":"email","config":{"host":"smtp.example.com","port":587,"from":"coffer@example.com","to":["not an address"]}}`, "config.to"},
		{`{"name":"a","type":"email","config":{"host":"smtp.example.com","port":0,"from":"coffer@example.com","to":["a@example.com"]}}`, "config.port"},
		{`{"name":"a","type":"webhook","config":{"url":"https://example.com/h"},"events":["backup.exploded"]}`, "events"},
		{`{"name":"a","type":"pager","config":{}}`, "type"},
		{`{"name":"","type":"webhook","config":{"url":"https://example.com/h"}}`, "name"},
		{`{"name":"a","type":"webhook","config":{"url":"https://example.com/h"},"plan_ids":[12345]}`, "plan_ids"},
		{`{"name":"a","type":"webhook","config":{"url":"https://example.com/h"},"colour":"red"}`, "colour"},
	} {
		in, err := notification.DecodeInput([]byte(tc.body))
		if err == nil {
			_, err = e.svc.Create(ctx, in)
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.Invalid || ae.Fields[tc.field] == "" {
			t.Errorf("%s: got %v, want a 422 naming %q", tc.body, err, tc.field)
		}
	}

	v := e.channel(t, `{"name":"signed","type":"webhook","config":{"url":"https://hooks.example.com/h","secret":"s3cr3t-signing-key","headers":{"Authorization":"Bearer tok-abcdef123456"}}}`)
	masked, _ := json.Marshal(v.Config)
	if strings.Contains(string(masked), "s3cr3t-signing-key") || strings.Contains(string(masked), "tok-abcdef123456") {
		t.Fatalf("view shows a secret: %s", masked)
	}
	var want []string
	for _, ev := range notify.DefaultEvents() {
		want = append(want, string(ev))
	}
	if strings.Join(v.Events, ",") != strings.Join(want, ",") {
		t.Fatalf("events of a channel created without a list: %v, want %v", v.Events, want)
	}
	// Send the masked view back with a new name: the secrets stay.
	in, err := notification.DecodeInput([]byte(fmt.Sprintf(`{"name":"signed hook","type":"webhook","config":%s}`, masked)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Update(ctx, v.ID, in); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetChannel(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(c.Config), "s3cr3t-signing-key") {
		t.Fatal("the catalog holds the configuration unsealed")
	}
	rv := &receiver{secret: "s3cr3t-signing-key"}
	url := rv.start(t)
	in, _ = notification.DecodeInput([]byte(fmt.Sprintf(`{"name":"signed hook","type":"webhook","config":{"url":%q,"secret":"****","headers":{"Authorization":"****"}}}`, url)))
	if _, _, err := e.svc.Update(ctx, v.ID, in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Test(ctx, v.ID); err != nil {
		t.Fatalf("test after update: %v", err)
	}
	if len(rv.badSig) != 0 || rv.requests != 1 {
		t.Fatalf("after sending the masks back the signature did not verify (%d requests, %v)", rv.requests, rv.badSig)
	}
	// A type cannot change.
	in, _ = notification.DecodeInput([]byte(`{"name":"signed hook","type":"shoutrrr","config":{"url":"generic://example.com/x"}}`))
	if _, _, err := e.svc.Update(ctx, v.ID, in); err == nil {
		t.Fatal("changing a channel's type succeeded")
	} else if ae, ok := apperr.As(err); !ok || ae.Fields["type"] == "" {
		t.Fatalf("changing the type: %v", err)
	}
	if _, err := e.svc.Get(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.NotFound {
			t.Fatalf("get a missing channel: %v", err)
		}
	}
}

// TestRetryAfterIsHonoured: a receiver that answers 503 with Retry-After: 2
// is not tried again sooner, although the retry policy would.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	e := newEnv(t, st, &notify.Sender{}, func(int) (time.Duration, bool) { return 50 * time.Millisecond, true })
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) == 1 {
			w.Header().Set("Retry-After", "2")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	ch := e.channel(t, fmt.Sprintf(`{"name":"busy","type":"webhook","config":{"url":%q},"events":["backup.failed"]}`, srv.URL))
	e.svc.Notify(context.Background(), notify.Event{Name: notify.EventBackupFailed, Detail: "test"}, 0)
	if d := e.waitDelivery(t, ch.ID, 30*time.Second); d.Status != store.DeliverySent || d.Attempts != 2 {
		t.Fatalf("delivery: %+v, want sent at the second attempt", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := at[1].Sub(at[0]); gap < 2*time.Second {
		t.Fatalf("tried again after %v; the receiver asked for 2 s", gap)
	}
}

// TestVerifyFailedIsSent: a failed verification of a plan's backup sends
// verify.failed (to a channel limited to that plan), linking the
// verification; a passed one sends nothing.
func TestVerifyFailedIsSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, st, &notify.Sender{PublicURL: "https://coffer.example.com"}, nil)
		rv := &receiver{secret: "whsec-0123456789abcdef"}
		url := rv.start(t)
		planID := newPlan(t, st)
		hook := e.channel(t, fmt.Sprintf(`{"name":"hook","type":"webhook","config":{"url":%q,"secret":%q},"events":["verify.failed"],"plan_ids":[%d]}`, url, rv.secret, planID))
		p, err := st.GetPlan(ctx, planID)
		if err != nil {
			t.Fatal(err)
		}
		b := &store.BackupOperation{SourceConnectionID: p.SourceConnectionID, DestinationConnectionID: p.DestinationConnectionID, PlanID: planID,
			Operation: store.Operation{Status: store.StatusCompleted}}
		if err := st.CreateBackup(ctx, nil, b); err != nil {
			t.Fatal(err)
		}
		for _, status := range []string{store.StatusCompleted, store.StatusFailed} {
			v := &store.VerifyOperation{BackupOperationID: b.ID, Operation: store.Operation{Status: status, ErrorMessage: "The archive failed verification: entry x differs."}}
			if err := st.CreateVerification(ctx, nil, v); err != nil {
				t.Fatal(err)
			}
			e.svc.OperationEnded(ctx, store.KindVerify, v.ID)
			if status == store.StatusCompleted {
				if ds := deliveries(t, st, hook.ID); len(ds) != 0 {
					t.Fatalf("a passed verification was told: %+v", ds)
				}
				continue
			}
			d := e.waitDelivery(t, hook.ID, time.Minute)
			if d.Status != store.DeliverySent || d.Event != string(notify.EventVerifyFailed) {
				t.Fatalf("delivery %+v", d)
			}
			rv.mu.Lock()
			body := rv.bodies[0]
			rv.mu.Unlock()
			var got notify.Event
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Operation == nil || got.Operation.ID != v.ID || got.Plan == nil || got.Plan.ID != planID ||
				got.URL != fmt.Sprintf("https://coffer.example.com/verifications/%d", v.ID) || !strings.Contains(string(body), "entry x differs") {
				t.Fatalf("verify.failed body %s", body)
			}
		}
	})
}
