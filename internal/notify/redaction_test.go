package notify

import (
	"context"
	"github.com/coffer-backup/coffer/internal/testutil/smtptest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/redact"
)

// TestNoSecretInMessages sends an event whose error sentence and detail hold
// secrets (a URI password, an OAuth token, a value the caller registered)
// through every channel type and checks that none of them arrives.
func TestNoSecretInMessages(t *testing.T) {
	secrets := []string{"Sup3rS3cretPw", "ya29.a0AfH6SMBx-secret-token", "registered-value-9f8e7d"}
	reg := redact.NewSecrets()
	reg.Add("registered-value-9f8e7d")
	ev := failedBackup("dump failed: mongodb://admin:Sup3rS3cretPw@db.internal:27017/app refused; " +
		"token refresh with access_token=ya29.a0AfH6SMBx-secret-token failed; key registered-value-9f8e7d rejected")
	ev.Detail = "Retried with Bearer ya29.a0AfH6SMBx-secret-token and registered-value-9f8e7d."
	s := &Sender{PublicURL: "https://coffer.example.com", Redact: reg.String}

	check := func(t *testing.T, what, out string) {
		t.Helper()
		if out == "" {
			t.Fatalf("%s: nothing arrived", what)
		}
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("%s holds the secret %q:\n%s", what, sec, out)
			}
		}
		if !strings.Contains(out, "****") {
			t.Errorf("%s shows no mask; was the error dropped?\n%s", what, out)
		}
	}

	t.Run("email", func(t *testing.T) {
		be := &smtptest.Backend{}
		port := smtptest.Start(t, be, smtptest.Plain, nil, false)
		if _, err := s.Send(context.Background(), emailConfig(port, SecurityNone), ev); err != nil {
			t.Fatal(err)
		}
		got := be.Received()
		if len(got) != 1 {
			t.Fatalf("%d messages", len(got))
		}
		_, text, _ := decodeMail(t, got[0])
		check(t, "e-mail", text)
		check(t, "raw e-mail", string(got[0].Data))
	})

	t.Run("webhook", func(t *testing.T) {
		rc := &receiver{}
		srv := startReceiver(t, rc)
		if _, err := s.Send(context.Background(), &WebhookConfig{URL: srv.URL}, ev); err != nil {
			t.Fatal(err)
		}
		got := rc.got()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		check(t, "webhook body", string(got[0].body))
	})

	t.Run("shoutrrr", func(t *testing.T) {
		rc := &chatReceiver{}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		if _, err := s.Send(context.Background(), &ShoutrrrConfig{URL: genericFor(srv.URL, "/chat", "template=json")}, ev); err != nil {
			t.Fatal(err)
		}
		got := rc.got()
		if len(got) != 1 {
			t.Fatalf("%d posts", len(got))
		}
		check(t, "chat message", got[0])
	})

	t.Run("prepared event", func(t *testing.T) {
		p := s.Prepare(ev)
		check(t, "prepared error", p.Operation.Error)
		check(t, "prepared detail", p.Detail)
	})
}

// TestNoChannelSecretInErrors: a receiver that echoes what it was sent in
// an error answer must not get the channel's own secrets into the error
// sentence (which is stored and shown).
func TestNoChannelSecretInErrors(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "bad auth "+r.Header.Get("Authorization")+" at "+r.URL.String()+" sig "+r.Header.Get(HeaderSignature))
	}))
	defer echo.Close()
	cfg := &WebhookConfig{
		URL:     echo.URL + "/hook?token=url-token-4455&x=1",
		Headers: map[string]string{"Authorization": "Bearer header-secret-7788"},
		Secret:  "signing-secret-99887766",
	}
	_, err := (&Sender{}).Send(context.Background(), cfg, failedBackup("x"))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, sec := range []string{"url-token-4455", "header-secret-7788", "signing-secret-99887766"} {
		if strings.Contains(err.Error(), sec) {
			t.Errorf("error %q holds %q", err, sec)
		}
	}
	if !strings.Contains(err.Error(), "answered 500 Internal Server Error: bad auth") {
		t.Errorf("error %q lost the answer", err)
	}

	// A shoutrrr URL's token does not come back in an error either.
	rc := &chatReceiver{status: 500}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	u := genericFor(srv.URL, "/hooks/Zk29xQ8wLm4PathToken", "@Authorization=Bearer%20gen-secret-5566")
	_, err = (&Sender{}).Send(context.Background(), &ShoutrrrConfig{URL: u}, failedBackup("x"))
	if err == nil || strings.Contains(err.Error(), "Zk29xQ8wLm4PathToken") || strings.Contains(err.Error(), "gen-secret-5566") {
		t.Fatalf("shoutrrr error %v", err)
	}
}
