package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestStringShapes(t *testing.T) {
	t.Parallel()
	awsSecret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET12" // 40 characters
	if len(awsSecret) != 40 {
		t.Fatalf("test secret has %d characters", len(awsSecret))
	}
	cases := []struct {
		name, in, secret, keep string
	}{
		{"mongodb uri", "dial mongodb://backup:Pa55-mongo-XYZ@db.example.com:27017/admin failed", "Pa55-mongo-XYZ", "mongodb://backup:****@db.example.com:27017/admin failed"},
		{"mongodb+srv uri", `uri "mongodb+srv://u:srvSecret42@cluster0.x.net/?retryWrites=true"`, "srvSecret42", "mongodb+srv://u:****@cluster0.x.net/"},
		{"password with @", "mongodb://u:p@ss@w0rd!@h:1/", "ss@w0rd!", "mongodb://u:****@h:1/"},
		{"postgres url", "postgres://coffer:pgPassword9@127.0.0.1:5432/db", "pgPassword9", "postgres://coffer:****@127.0.0.1"},
		{"google access token", "token ya29.a0AfH6SMBxQ-distinct_Token.Value was refused", "a0AfH6SMBxQ-distinct_Token", "ya29.**** was refused"},
		{"google refresh token", "refresh 1//0gDistinctRefresh-Token_99 expired", "0gDistinctRefresh-Token_99", "refresh 1//**** expired"},
		{"access_token param", "POST /token body access_token=abcDEF123456&expires_in=3600", "abcDEF123456", "access_token=****&expires_in=3600"},
		{"refresh_token param", "grant_type=refresh_token&refresh_token=rt-Zq81-private", "rt-Zq81-private", "grant_type=refresh_token&refresh_token=****"},
		{"bearer", "Authorization: Bearer opaque-token.value+/== rejected", "opaque-token.value", "Bearer **** rejected"},
		{"api token", "token cof_A1b2C3d4E5f6G7h8 unknown", "A1b2C3d4E5f6G7h8", "token cof_**** unknown"},
		{"presigned url", "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0123abcdef9876&X-Amz-Date=1", "0123abcdef9876", "X-Amz-Signature=****&X-Amz-Date=1"},
		{"sigv2", "https://h/k?AWSAccessKeyId=AKIA&Signature=c2lnbmF0dXJlLXZhbHVl%3D&Expires=1", "c2lnbmF0dXJlLXZhbHVl", "Signature=****&Expires=1"},
		{"aws secret after secret", "secret_key=" + awsSecret + " region=us-east-1", awsSecret, "secret_key=**** region=us-east-1"},
		{"aws secret json", `{"SecretAccessKey": "` + awsSecret + `"}`, awsSecret, `"SecretAccessKey": "****"}`},
		{"json password member", `{"user":"a","password":"hunter2-json\"x"}`, "hunter2-json", `"password":"****"`},
	}
	for _, c := range cases {
		got := String(c.in)
		if strings.Contains(got, c.secret) {
			t.Errorf("%s: %q still holds %q", c.name, got, c.secret)
		}
		if !strings.Contains(got, c.keep) {
			t.Errorf("%s: %q lost %q", c.name, got, c.keep)
		}
	}
}

func TestStringLeavesOrdinaryTextAlone(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"",
		"Backup 12 completed: 3 objects, 1.2 MB written to s3://bucket/prefix/x.tar.gz",
		"The password must be at least 8 characters long.",
		"Enter your email and password.",
		"lease token 5 lost; another worker owns operation 3",
		"https://example.com/path?page=2&per_page=20",
		"secret key is required",
		"mongodb://db.example.com:27017/admin",
		"ETag 0123456789abcdef0123456789abcdef01234567 sha256",
	} {
		if got := String(s); got != s {
			t.Errorf("String(%q) = %q", s, got)
		}
	}
}

func TestSecretsRegistry(t *testing.T) {
	t.Parallel()
	var nilSecrets *Secrets
	nilSecrets.Add("ignored-value")
	if nilSecrets.String("mongodb://u:pw-123456@h/") != "mongodb://u:****@h/" || nilSecrets.Len() != 0 {
		t.Fatal("a nil registry must redact shapes and hold nothing")
	}

	s := NewSecrets()
	s.Add("short", "  ") // too short: ignored
	if s.Len() != 0 {
		t.Fatalf("short values registered: %d", s.Len())
	}
	secret := "s3cr3t/Key+with&odd=chars"
	s.Add(secret)
	for _, in := range []string{
		"plain " + secret + " end",
		"query key=" + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(secret, "/", "%2F"), "+", "%2B"), "&", "%26"), "=", "%3D"),
		`json "` + strings.ReplaceAll(secret, "&", `\u0026`) + `"`,
	} {
		got := s.String(in)
		if strings.Contains(got, "s3cr3t") || !strings.Contains(got, Mask) {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
	if got := s.String("a short text"); got != "a short text" {
		t.Fatalf("unrelated text changed: %q", got)
	}

	// A longer secret that contains a shorter one is hidden whole.
	s.Add("abcdef", "abcdefghijkl")
	if got := s.String("x abcdefghijkl y"); got != "x **** y" {
		t.Fatalf("overlapping secrets: %q", got)
	}
}

func TestAddCredentials(t *testing.T) {
	t.Parallel()
	s := NewSecrets()
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n", "client_email": "x@y.iam"})
	doc, _ := json.Marshal(map[string]any{
		"access_key":           "AKIAEXAMPLEACCESS",
		"secret_key":           "distinct-S3-secret-value",
		"region":               "us-east-1",
		"uri":                  "mongodb://user:mongo-Pass-777@127.0.0.1:1/",
		"refresh_token":        "refresh-value-abc",
		"nested":               map[string]any{"client_secret": "client-secret-xyz"},
		"service_account_json": string(sa),
	})
	s.AddCredentials(doc)
	text := "distinct-S3-secret-value mongo-Pass-777 refresh-value-abc client-secret-xyz MIIEvQIBADANBgkq us-east-1 AKIAEXAMPLEACCESS"
	got := s.String(text)
	for _, leaked := range []string{"distinct-S3-secret-value", "mongo-Pass-777", "refresh-value-abc", "client-secret-xyz", "MIIEvQIBADANBgkq"} {
		if strings.Contains(got, leaked) {
			t.Errorf("%q leaked in %q", leaked, got)
		}
	}
	if !strings.Contains(got, "us-east-1") || !strings.Contains(got, "AKIAEXAMPLEACCESS") {
		t.Errorf("non-secret fields were hidden: %q", got)
	}
	s.AddCredentials([]byte("not json")) // ignored, no panic
}

func TestJSON(t *testing.T) {
	t.Parallel()
	s := NewSecrets()
	s.Add("registered-secret")
	in := json.RawMessage(`{"err":"auth failed for registered-secret","password":"pw-plain","list":["mongodb://a:bpass12@h/"],"n":3}`)
	out := s.JSON(in)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("JSON output %s is not JSON: %v", out, err)
	}
	for _, leaked := range []string{"registered-secret", "pw-plain", "bpass12"} {
		if bytes.Contains(out, []byte(leaked)) {
			t.Errorf("%q leaked in %s", leaked, out)
		}
	}
	if m["n"] != float64(3) {
		t.Errorf("number changed: %s", out)
	}
	if got := s.JSON(json.RawMessage(`not json registered-secret`)); !json.Valid(got) || bytes.Contains(got, []byte("registered-secret")) {
		t.Errorf("invalid JSON input gave %s", got)
	}
}

type stringer struct{ v string }

func (s stringer) String() string { return s.v }

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	secrets := NewSecrets()
	secrets.Add("exact-secret-1")
	h := NewHandler(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil), secrets)
	if NewHandler(h, nil) != h || NewHandler(h, secrets) != h {
		t.Fatal("wrapping a Handler again must keep it")
	}
	if SecretsOf(h) != secrets || SecretsOf(slog.NewTextHandler(&buf, nil)) != nil {
		t.Fatal("SecretsOf")
	}
	log := slog.New(h).With("uri", "mongodb://u:with-attrs-pw@h/").WithGroup("g")
	log.Error("failed with exact-secret-1 and Bearer tok-in-message",
		"err", fmt.Errorf("wrapped: %w", errors.New("refresh_token=rt-in-error")),
		"password", "pw-by-key",
		"obj", stringer{"ya29.in-a-stringer"},
		"plain", map[string]string{"k": "exact-secret-1"},
		slog.Group("inner", "secret_key", "sk-in-group", "note", "cof_abcdefgh12345678"),
		"count", 42,
	)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, leaked := range []string{"exact-secret-1", "tok-in-message", "with-attrs-pw", "rt-in-error", "pw-by-key", "in-a-stringer", "sk-in-group", "abcdefgh12345678"} {
		if strings.Contains(out, leaked) {
			t.Errorf("%q leaked: %s", leaked, out)
		}
	}
	for _, kept := range []string{`"count":42`, `"msg":"failed with **** and Bearer ****"`, `"level":"ERROR"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("output lost %s: %s", kept, out)
		}
	}
	if !h.Enabled(t.Context(), slog.LevelInfo) || h.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("Enabled must follow the wrapped handler")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"mongodb://u:p@h/", "Bearer x", "ya29.abc", "secret=" + strings.Repeat("A", 40), "cof_12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := String(s)
		if String(once) != once {
			t.Fatalf("String is not idempotent on %q: %q then %q", s, once, String(once))
		}
	})
}
