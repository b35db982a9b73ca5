// Package tlstest makes certificates for tests: a certificate authority
// made fresh for one test, server certificates for 127.0.0.1 and localhost
// that it signs, and self-signed ones that nobody trusts.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Authority is a certificate authority made for one test.
type Authority struct {
	// Pool trusts the authority (and so every certificate it signs).
	Pool *x509.CertPool
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewAuthority makes a certificate authority valid for an hour either side
// of now.
func NewAuthority(t testing.TB) *Authority {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "coffer test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	cert, _ := sign(t, tmpl, tmpl, key, key)
	a := &Authority{Pool: x509.NewCertPool(), cert: cert, key: key}
	a.Pool.AddCert(cert)
	return a
}

// Server is a server certificate for 127.0.0.1 and localhost signed by a.
func (a *Authority) Server(t testing.TB) tls.Certificate {
	t.Helper()
	return server(t, a.cert, a.key)
}

// SelfSigned is a server certificate for 127.0.0.1 and localhost signed by
// its own key: no pool trusts it unless its Leaf is added.
func SelfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	return server(t, nil, nil)
}

// server makes a server certificate signed by parent, or by itself when
// parent is nil.
func server(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	leaf, der := sign(t, tmpl, parent, key, parentKey)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// sign makes the certificate tmpl for key, signed by parent's parentKey,
// and returns it parsed and in DER.
func sign(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("tlstest: create the certificate of %s: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse the certificate of %s: %v", tmpl.Subject.CommonName, err)
	}
	return cert, der
}

// WriteFiles writes c's certificate and key as PEM files in a temporary
// directory of t and returns their paths.
func WriteFiles(t testing.TB, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("tlstest: the key is a %T, not one of this package", c.PrivateKey)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: encode the key: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate a key: %v", err)
	}
	return key
}

// serial is a random certificate serial number.
func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}
