package notify

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/coffer-backup/coffer/internal/testutil/tlstest"
)

// testPKI is a certificate authority and a server certificate it signed for
// 127.0.0.1 and localhost, made fresh for a test.
type testPKI struct {
	pool *x509.CertPool  // trusts the authority
	cert tls.Certificate // the server's certificate and key
	self tls.Certificate // a self-signed certificate no pool trusts
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := tlstest.NewAuthority(t)
	return &testPKI{pool: ca.Pool, cert: ca.Server(t), self: tlstest.SelfSigned(t)}
}

// smtpMessage is one message the test SMTP server accepted.
type smtpMessage struct {
	From string
	To   []string
	Data []byte
	User string // who logged in ("" without AUTH)
	TLS  bool   // whether the session was encrypted
}

// smtpBackend records what arrives; it checks AUTH PLAIN against one user.
type smtpBackend struct {
	user, pass string
	// failRcpt makes RCPT TO of this address fail with 550.
	failRcpt string

	mu       sync.Mutex
	messages []smtpMessage
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{b: b, tls: isTLS}, nil
}

func (b *smtpBackend) received() []smtpMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]smtpMessage(nil), b.messages...)
}

type smtpSession struct {
	b    *smtpBackend
	tls  bool
	user string
	msg  smtpMessage
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = smtpMessage{From: from, User: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.b.failRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
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

func (s *smtpSession) Reset()        { s.msg = smtpMessage{} }
func (s *smtpSession) Logout() error { return nil }

// smtpMode is how the test server speaks TLS.
type smtpMode int

const (
	smtpPlain    smtpMode = iota // no TLS at all
	smtpStartTLS                 // STARTTLS offered
	smtpImplicit                 // TLS from the first byte
)

// startSMTP starts a real SMTP server on 127.0.0.1 with backend b and
// returns its port. cert is the server certificate for the TLS modes.
func startSMTP(t *testing.T, b *smtpBackend, mode smtpMode, cert *tls.Certificate, allowInsecureAuth bool) int {
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
	case smtpStartTLS:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	case smtpImplicit:
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

// parseMail parses a received message.
func parseMail(t *testing.T, data []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }
