package notify

import (
	"context"
	"errors"
	"github.com/coffer-backup/coffer/internal/testutil/smtptest"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"strings"
	"testing"
	"time"
)

// emailConfig is a channel to the test server on 127.0.0.1:port.
func emailConfig(port int, security string) *EmailConfig {
	return &EmailConfig{
		Host: "127.0.0.1", Port: port, Security: security,
		From: "Coffer <coffer@example.com>",
		To:   []string{"ops@example.com", "Bob Builder <bob@example.com>"},
	}
}

// body returns the decoded text of a received message and its subject.
func decodeMail(t *testing.T, m smtptest.Message) (subject, text string, header map[string]string) {
	t.Helper()
	msg := parseMail(t, m.Data)
	raw, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	header = map[string]string{}
	for k := range msg.Header {
		header[k] = msg.Header.Get(k)
	}
	return subject, strings.ReplaceAll(string(raw), "\r\n", "\n"), header
}

func TestEmailStartTLSWithLogin(t *testing.T) {
	pki := newTestPKI(t)
	be := &smtptest.Backend{User: "coffer", Pass: "correct-horse-battery"}
	port := smtptest.Start(t, be, smtptest.StartTLS, &pki.cert, false)
	cfg := emailConfig(port, SecurityStartTLS)
	cfg.Username, cfg.Password = "coffer", "correct-horse-battery"

	s := &Sender{PublicURL: "https://coffer.example.com", RootCAs: pki.pool, HelloName: "coffer.example.com"}
	reply, err := s.Send(context.Background(), cfg, failedBackup("could not reach MongoDB at db.internal:27017"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("reply = %q, want the server's 250 line", reply)
	}
	got := be.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != "coffer" || m.From != "coffer@example.com" ||
		strings.Join(m.To, ",") != "ops@example.com,bob@example.com" {
		t.Fatalf("envelope = %+v", m)
	}
	subject, text, h := decodeMail(t, m)
	if want := `Plan "nightly": backup #42 of "mongo-prod" to "s3-archive" failed`; subject != want {
		t.Fatalf("Subject = %q, want %q", subject, want)
	}
	for _, k := range []string{"Date", "Message-Id", "From", "To", "Mime-Version"} {
		if h[k] == "" {
			t.Errorf("header %s missing: %v", k, h)
		}
	}
	if h["Content-Type"] != "text/plain; charset=utf-8" || h["Content-Transfer-Encoding"] != "quoted-printable" ||
		h["X-Coffer-Event"] != "backup.failed" || !strings.HasSuffix(h["Message-Id"], "@example.com>") ||
		h["From"] != `"Coffer" <coffer@example.com>` || h["To"] != `<ops@example.com>, "Bob Builder" <bob@example.com>` {
		t.Errorf("headers = %v", h)
	}
	if _, err := time.Parse(time.RFC1123Z, h["Date"]); err != nil {
		t.Errorf("Date %q: %v", h["Date"], err)
	}
	for _, line := range []string{"Plan: nightly", "Source: mongo-prod", "Destination: s3-archive", "Duration: 3m12s",
		"Size: 1.2 GiB", "Error: could not reach MongoDB at db.internal:27017", "https://coffer.example.com/backups/42"} {
		if !strings.Contains(text, line) {
			t.Errorf("body lacks %q:\n%s", line, text)
		}
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	pki := newTestPKI(t)
	be := &smtptest.Backend{User: "coffer", Pass: "pw-for-implicit"}
	port := smtptest.Start(t, be, smtptest.Implicit, &pki.cert, false)
	cfg := emailConfig(port, SecurityTLS)
	cfg.Username, cfg.Password = "coffer", "pw-for-implicit"
	if _, err := (&Sender{RootCAs: pki.pool}).Test(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got := be.Received()
	if len(got) != 1 || !got[0].TLS {
		t.Fatalf("received %+v, want one message over TLS", got)
	}
	subject, text, _ := decodeMail(t, got[0])
	if subject != "Test message from coffer: this channel works" || !strings.Contains(text, "test message") {
		t.Fatalf("subject %q, text %q", subject, text)
	}
}

// TestEmailPlainLoopback: with security none, a login is allowed only to a
// server on this machine; 127.0.0.1 is one.
func TestEmailPlainLoopback(t *testing.T) {
	be := &smtptest.Backend{User: "relay", Pass: "relay-password"}
	port := smtptest.Start(t, be, smtptest.Plain, nil, true)
	cfg := emailConfig(port, SecurityNone)
	cfg.Username, cfg.Password = "relay", "relay-password"
	if _, err := (&Sender{}).Send(context.Background(), cfg, failedBackup("x")); err != nil {
		t.Fatal(err)
	}
	if got := be.Received(); len(got) != 1 || got[0].TLS || got[0].User != "relay" {
		t.Fatalf("received %+v", got)
	}
	// The same settings to a remote host are refused before anything is sent.
	remote := *cfg
	remote.Host = "mail.example.com"
	_, err := (&Sender{}).Send(context.Background(), &remote, failedBackup("x"))
	if err == nil || Retryable(err) || !strings.Contains(err.Error(), "only to a server on this machine") {
		t.Fatalf("login over plain text to a remote host: %v", err)
	}
}

func TestEmailCertificateMustVerify(t *testing.T) {
	pki := newTestPKI(t)
	for _, mode := range []struct {
		name     string
		mode     smtptest.Mode
		security string
	}{{"starttls", smtptest.StartTLS, SecurityStartTLS}, {"tls", smtptest.Implicit, SecurityTLS}} {
		t.Run(mode.name, func(t *testing.T) {
			be := &smtptest.Backend{}
			port := smtptest.Start(t, be, mode.mode, &pki.self, false)
			cfg := emailConfig(port, mode.security)
			_, err := (&Sender{RootCAs: pki.pool}).Send(context.Background(), cfg, failedBackup("x"))
			var de *DeliveryError
			if !errors.As(err, &de) || !de.Permanent || !strings.Contains(de.Message, "certificate that does not verify") ||
				!strings.Contains(de.Message, "insecure_skip_verify") {
				t.Fatalf("self-signed certificate: %v, want a permanent certificate error", err)
			}
			if len(be.Received()) != 0 {
				t.Fatal("a message went to a server whose certificate does not verify")
			}
			cfg.InsecureSkipVerify = true
			if _, err := (&Sender{RootCAs: pki.pool}).Send(context.Background(), cfg, failedBackup("x")); err != nil {
				t.Fatalf("with insecure_skip_verify: %v", err)
			}
			if len(be.Received()) != 1 {
				t.Fatal("nothing arrived with insecure_skip_verify")
			}
		})
	}
	// The system's authorities (RootCAs nil) do not know the test CA either.
	be := &smtptest.Backend{}
	port := smtptest.Start(t, be, smtptest.StartTLS, &pki.cert, false)
	if _, err := (&Sender{}).Send(context.Background(), emailConfig(port, SecurityStartTLS), failedBackup("x")); err == nil || Retryable(err) {
		t.Fatalf("unknown authority: %v, want a permanent error", err)
	}
}

func TestEmailFailures(t *testing.T) {
	pki := newTestPKI(t)

	t.Run("wrong password", func(t *testing.T) {
		be := &smtptest.Backend{User: "coffer", Pass: "right-password"}
		port := smtptest.Start(t, be, smtptest.StartTLS, &pki.cert, false)
		cfg := emailConfig(port, SecurityStartTLS)
		cfg.Username, cfg.Password = "coffer", "wrong-password-123"
		_, err := (&Sender{RootCAs: pki.pool}).Send(context.Background(), cfg, failedBackup("x"))
		var de *DeliveryError
		if !errors.As(err, &de) || !de.Permanent {
			t.Fatalf("err = %v, want permanent", err)
		}
		if want := "the SMTP server at 127.0.0.1:" + itoa(port) + " refused the login: 535 5.7.8 Authentication failed"; de.Message != want {
			t.Fatalf("message %q, want %q", de.Message, want)
		}
	})

	t.Run("no STARTTLS", func(t *testing.T) {
		be := &smtptest.Backend{}
		port := smtptest.Start(t, be, smtptest.Plain, nil, false)
		_, err := (&Sender{}).Send(context.Background(), emailConfig(port, SecurityStartTLS), failedBackup("x"))
		if err == nil || Retryable(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Fatalf("err = %v", err)
		}
		if len(be.Received()) != 0 {
			t.Fatal("sent in plain text although starttls was asked for")
		}
	})

	t.Run("no login offered", func(t *testing.T) {
		// go-smtp offers AUTH only over TLS unless told otherwise.
		be := &smtptest.Backend{User: "relay", Pass: "relay-password"}
		port := smtptest.Start(t, be, smtptest.Plain, nil, false)
		cfg := emailConfig(port, SecurityNone)
		cfg.Username, cfg.Password = "relay", "relay-password"
		_, err := (&Sender{}).Send(context.Background(), cfg, failedBackup("x"))
		if err == nil || Retryable(err) || !strings.Contains(err.Error(), "does not offer a login (AUTH)") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("recipient refused", func(t *testing.T) {
		be := &smtptest.Backend{FailRcpt: "bob@example.com"}
		port := smtptest.Start(t, be, smtptest.StartTLS, &pki.cert, false)
		_, err := (&Sender{RootCAs: pki.pool}).Send(context.Background(), emailConfig(port, SecurityStartTLS), failedBackup("x"))
		if err == nil || Retryable(err) || !strings.Contains(err.Error(), "refused the recipient bob@example.com: 550 5.1.1 no such mailbox") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, err = (&Sender{}).Send(context.Background(), emailConfig(port, SecurityStartTLS), failedBackup("x"))
		if err == nil || !Retryable(err) || !strings.Contains(err.Error(), "refused the connection") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("server never greets", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		start := time.Now()
		s := &Sender{Timeout: 300 * time.Millisecond}
		_, err = s.Send(context.Background(), emailConfig(ln.Addr().(*net.TCPAddr).Port, SecurityStartTLS), failedBackup("x"))
		if err == nil || !Retryable(err) || !strings.Contains(err.Error(), "did not answer within 300ms") {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("gave up after %v", took)
		}
	})
}

// TestEmailLongHeaders: a long non-ASCII subject and fifty recipients still
// make lines SMTP accepts (at most 998 characters), and decode back intact.
func TestEmailLongHeaders(t *testing.T) {
	be := &smtptest.Backend{}
	port := smtptest.Start(t, be, smtptest.Plain, nil, false)
	cfg := emailConfig(port, SecurityNone)
	cfg.To = nil
	for i := range maxRecipients {
		cfg.To = append(cfg.To, "Recipient Number "+itoa(i)+" <recipient-"+itoa(i)+"@example.com>")
	}
	ev := failedBackup("x")
	ev.Plan.Name = strings.Repeat("é", 300) // Q-encoded: 6 characters each
	s := &Sender{}
	if _, err := s.Send(context.Background(), cfg, ev); err != nil {
		t.Fatal(err)
	}
	got := be.Received()
	if len(got) != 1 || len(got[0].To) != maxRecipients {
		t.Fatalf("received %d messages", len(got))
	}
	for _, line := range strings.Split(string(got[0].Data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d characters: %.80s...", len(line), line)
		}
	}
	subject, _, h := decodeMail(t, got[0])
	if want := s.Prepare(ev).Message; subject != want {
		t.Fatalf("subject %q, want %q", subject, want)
	}
	if !strings.Contains(h["To"], "<recipient-49@example.com>") {
		t.Fatalf("To = %q", h["To"])
	}
}
