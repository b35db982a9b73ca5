package mongodb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/testutil/tlstest"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"mongodb://user:pa55word@host:27017/db", "mongodb://user:****@host:27017/db"},
		{"mongodb+srv://user:pa55word@cluster0.example.net/?retryWrites=true", "mongodb+srv://user:****@cluster0.example.net/?retryWrites=true"},
		{"dial mongodb://u:p%40ss@h1,h2:27018/?replicaSet=rs failed", "dial mongodb://u:****@h1,h2:27018/?replicaSet=rs failed"},
		{"MONGODB://u:secret@h/", "MONGODB://u:****@h/"},
		{"mongodb://u:p@ss/w@rd@host/", "mongodb://u:****@host/"},
		{"mongodb://onlyuser@host/", "mongodb://onlyuser@host/"},
		{"mongodb://host:27017/", "mongodb://host:27017/"},
		{"no uri here: user:password@host", "no uri here: user:password@host"},
		{"a mongodb://a:x1@h/ b mongodb+srv://b:y2@h2/ c", "a mongodb://a:****@h/ b mongodb+srv://b:****@h2/ c"},
		{"mongodb://h/?tlsCertificateKeyFilePassword=k3y&authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t0k",
			"mongodb://h/?tlsCertificateKeyFilePassword=****&authMechanism=MONGODB-AWS&authMechanismProperties=****"},
		{`{"uri":"mongodb://u:pw@h/"}`, `{"uri":"mongodb://u:****@h/"}`},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := []Config{
		{URI: "mongodb://localhost"},
		{URI: "mongodb://u:p%40ss@h1:27017,h2:27018/admin?replicaSet=rs", Database: "app", AuthDatabase: "admin"},
		{URI: "mongodb+srv://u:p@cluster0.example.net/"},
		{URI: "mongodb+srv://cluster0.example.net/?retryWrites=true"},
		{URI: "mongodb://[::1]:27017"},
		{URI: "mongodb://app:pw@db1:27017,db2:27018/admin?replicaSet=rs0", Database: "shop"},
	}
	for _, c := range ok {
		if errs := c.Validate(); len(errs) > 0 {
			t.Errorf("Validate(%s) = %v", Redact(c.URI), errs)
		}
	}
	bad := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "uri"},
		{Config{URI: "http://localhost"}, "uri"},
		{Config{URI: "mongodb://u:secret pw@h/"}, "uri"},
		{Config{URI: "mongodb://u:se@cret@h/"}, "uri"},
		{Config{URI: "mongodb://u:%zz@h/"}, "uri"},
		{Config{URI: "mongodb://h?x=1"}, "uri"},
		{Config{URI: "mongodb://"}, "uri"},
		{Config{URI: "mongodb://u:p@h:99999/"}, "uri"},
		{Config{URI: "mongodb://u:p@h:/"}, "uri"},
		{Config{URI: "mongodb+srv://u:p@h1,h2/"}, "uri"},
		{Config{URI: "mongodb+srv://u:p@h:27017/"}, "uri"},
		{Config{URI: "mongodb://[::1/"}, "uri"},
		{Config{URI: "mongodb://us/er:secret@h/"}, "uri"},
		{Config{URI: "mongodb://u:sec/ret@h/"}, "uri"},
		{Config{URI: "mongodb://h/a.b"}, "uri"},
		{Config{URI: "mongodb://h/?%zz"}, "uri"},
		{Config{URI: "mongodb://h/" + strings.Repeat("x", 4096)}, "uri"},
		{Config{URI: "mongodb://h", Database: "a.b"}, "database"},
		{Config{URI: "mongodb://h", Database: strings.Repeat("d", 64)}, "database"},
		{Config{URI: "mongodb://h", AuthDatabase: "a$b"}, "auth_database"},
	}
	for _, tc := range bad {
		errs := tc.cfg.Validate()
		if errs[tc.field] == "" {
			t.Errorf("Validate(%+v) = %v, want a reason for %s", tc.cfg, errs, tc.field)
		}
		for _, why := range errs {
			if strings.Contains(why, "secret") || strings.Contains(why, "cret@") || strings.Contains(why, "ret@") {
				t.Errorf("reason %q repeats the password", why)
			}
		}
	}
	if _, err := New(context.Background(), Config{URI: "ftp://x"}); err == nil {
		t.Error("New accepted an invalid configuration")
	} else if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Invalid || ae.Fields["uri"] == "" {
		t.Errorf("New error %v is not a 422 naming uri", err)
	}
}

// tlsListener accepts TLS connections with a self-signed certificate nobody
// trusts and completes handshakes, like a TLS-only server would.
func tlsListener(t *testing.T) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tlstest.SelfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	return l.Addr().String()
}

func TestCheckTLSFailureIsExplained(t *testing.T) {
	t.Parallel()
	const password = "tls-Secret-99"
	addr := tlsListener(t)
	c, err := New(context.Background(), Config{URI: fmt.Sprintf("mongodb://app:%s@%s/?tls=true&serverSelectionTimeoutMS=5000", password, addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Check(context.Background())
	if err == nil {
		t.Fatal("Check succeeded against an untrusted certificate")
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Fatalf("error shows the password: %s", msg)
	}
	t.Log(msg)
	if !strings.Contains(msg, "TLS connection to MongoDB") || !strings.Contains(msg, "unknown authority") {
		t.Fatalf("error %q does not explain the untrusted certificate", msg)
	}
}

func TestExplainServerErrors(t *testing.T) {
	t.Parallel()
	const password = "hunter2-long"
	c := &Client{hosts: "db.example:27017", secret: uriSecrets("mongodb://u:" + password + "@db.example:27017/")}
	cases := []struct {
		err  error
		code apperr.Code
		want string
	}{
		{mongo.CommandError{Code: 18, Name: "AuthenticationFailed", Message: "Authentication failed."}, apperr.Invalid, "authentication failed"},
		{fmt.Errorf("auth error: sasl conversation error: unable to authenticate using mechanism \"SCRAM-SHA-256\": %w",
			mongo.CommandError{Code: 18, Message: "Authentication failed."}), apperr.Invalid, "Check the credentials"},
		{mongo.CommandError{Code: 13, Name: "Unauthorized", Message: "not authorized on app to execute command"}, apperr.Forbidden, "backup role"},
		{mongo.CommandError{Code: 2, Message: "bad mongodb://u:" + password + "@x/ here"}, apperr.Unavailable, "MongoDB failed to list the databases"},
		{&net.DNSError{Err: "no such host", Name: "db.example", IsNotFound: true}, apperr.Unavailable, "could not be resolved"},
		{errors.New("server selection error: context deadline exceeded, current topology: { Type: Unknown }"), apperr.Unavailable, "could not be reached"},
	}
	for _, tc := range cases {
		err := c.explain(tc.err, "list the databases")
		ae, ok := apperr.As(err)
		if !ok || ae.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("explain(%v) = %v (code %v), want code %s and %q", tc.err, err, ae, tc.code, tc.want)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("explain(%v) shows the password: %v", tc.err, err)
		}
	}
	// A cancelled context stays recognisable and is not dressed up.
	if err := c.explain(context.Canceled, "read"); !errors.Is(err, context.Canceled) {
		t.Errorf("explain(Canceled) = %v", err)
	}
	// The password itself is hidden even outside a URI.
	if got := c.hide(errors.New("weird driver text " + password)).Error(); strings.Contains(got, password) {
		t.Errorf("hide left the password in %q", got)
	}
}

func TestRangeFilter(t *testing.T) {
	t.Parallel()
	// Same bracket: a plain, fully indexable range.
	f, empty := rangeFilter(mustValue(t, int32(1)), false, mustValue(t, int64(9)), false)
	if empty || len(f) != 1 || f[0].Key != "_id" {
		t.Fatalf("same-bracket filter = %v", f)
	}
	// Nothing is above MaxKey, and MinKey is a single value.
	if _, empty := rangeFilter(mustValue(t, bson.MaxKey{}), false, mustValue(t, bson.MaxKey{}), false); !empty {
		t.Error("(MaxKey, MaxKey] is not empty")
	}
	// Across brackets: one $or branch per part.
	f, _ = rangeFilter(mustValue(t, "s"), false, mustValue(t, true), false)
	if f[0].Key != "$or" {
		t.Fatalf("cross-bracket filter = %v", f)
	}
	s := fmt.Sprint(f)
	for _, want := range []string{"$gt", "$lte", "$type"} {
		if !strings.Contains(s, want) {
			t.Errorf("cross-bracket filter %s lacks %s", s, want)
		}
	}
	// Basic mode leaves out MinKey/MaxKey/Decimal128 codes.
	f, _ = rangeFilter(mustValue(t, nil), true, mustValue(t, "x"), true)
	if s := fmt.Sprint(f); strings.Contains(s, "-1") || strings.Contains(s, "19") {
		t.Errorf("basic filter %s names codes the server refused", s)
	}
}

// mustValue returns v as a BSON value.
func mustValue(t testing.TB, v any) bson.RawValue {
	t.Helper()
	doc, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		t.Fatal(err)
	}
	return bson.Raw(doc).Lookup("v")
}

func TestURIPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		uri, prefix, pw string
		ok              bool
	}{
		{"mongodb://u:p%40ss@h/", "mongodb://u:", "p%40ss", true},
		{"mongodb+srv://app:x@cluster/", "mongodb+srv://app:", "x", true},
		{"mongodb://u@h/", "", "", false},
		{"mongodb://h/", "", "", false},
		{"http://u:p@h/", "", "", false},
	}
	for _, c := range cases {
		prefix, pw, ok := URIPassword(c.uri)
		if prefix != c.prefix || pw != c.pw || ok != c.ok {
			t.Errorf("URIPassword(%q) = %q, %q, %v", c.uri, prefix, pw, ok)
		}
	}
}
