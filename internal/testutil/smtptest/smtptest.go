// Package smtptest runs a real SMTP server (emersion/go-smtp) on 127.0.0.1
// for tests: plain, STARTTLS or TLS from the first byte, optional AUTH
// PLAIN for one user, and every accepted message kept for the test to read.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	User string // who logged in ("" without AUTH)
	TLS  bool   // whether the session was encrypted
}

// Backend records what arrives; with User set it requires AUTH PLAIN as
// User with Pass before MAIL FROM.
type Backend struct {
	User, Pass string
	// FailRcpt makes RCPT TO of this address fail with 550.
	FailRcpt string

	mu       sync.Mutex
	messages []Message
}

// NewSession implements smtp.Backend.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{b: b, tls: isTLS}, nil
}

// Received returns the messages accepted so far.
func (b *Backend) Received() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// Wait waits up to d for at least n messages and returns what arrived.
func (b *Backend) Wait(n int, d time.Duration) []Message {
	deadline := time.Now().Add(d)
	for {
		got := b.Received()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type session struct {
	b    *Backend
	tls  bool
	user string
	msg  Message
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.User || password != s.b.Pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = Message{From: from, User: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.b.FailRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = data
	s.msg.TLS = s.tls
	s.b.mu.Lock()
	s.b.messages = append(s.b.messages, s.msg)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

// Mode is how the server speaks TLS.
type Mode int

const (
	Plain    Mode = iota // no TLS at all
	StartTLS             // STARTTLS offered
	Implicit             // TLS from the first byte
)

// Start starts a server on 127.0.0.1 with backend b, stopped when the test
// ends, and returns its port. cert is the server certificate for the TLS
// modes; allowInsecureAuth lets AUTH happen without TLS.
func Start(t testing.TB, b *Backend, mode Mode, cert *tls.Certificate, allowInsecureAuth bool) int {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = allowInsecureAuth
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case StartTLS:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	case Implicit:
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}
