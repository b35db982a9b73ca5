package notify

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/mail"
	"strconv"
	"testing"

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
