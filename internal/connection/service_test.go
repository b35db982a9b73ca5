package connection_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

type bundle struct {
	svc  *connection.Service
	cat  *store.Store
	keys *secret.Keyring
	dir  string
}

func setup(t *testing.T, cat *store.Store) bundle {
	t.Helper()
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc, err := connection.New(cat, keys, connection.Options{LocalRoots: []string{dir}, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{svc: svc, cat: cat, keys: keys, dir: dir}
}

// fields asserts err is a 422 *apperr.Error and returns its fields.
func fields(t *testing.T, err error) map[string]string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid {
		t.Fatalf("want a 422 apperr, got %v", err)
	}
	return e.Fields
}

// refusedCheck asserts that err is the 422 of a live check that failed
// on save (its fields point at save_unchecked) and returns its sentence.
func refusedCheck(t *testing.T, err error) string {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid || e.Fields["save_unchecked"] == "" || e.Message == "" {
		t.Fatalf("want the 422 of a failed check, got %v", err)
	}
	return e.Message
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unchecked is a connection saved without its live check: its server is
// not there (the live check is tested against real servers below).
func unchecked(name, typ string, creds json.RawMessage) connection.NewConnection {
	return connection.NewConnection{Name: name, Type: typ, Credentials: creds, SaveUnchecked: true}
}

const s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func s3Creds(secretKey string) json.RawMessage {
	return json.RawMessage(`{"access_key":"AKIAEXAMPLE","secret_key":"` + secretKey + `","region":"us-east-1","bucket":"my-bucket"}`)
}

func TestCreateMasksAndSealsSecrets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		b := setup(t, cat)
		ctx := context.Background()
		v, err := b.svc.Create(ctx, unchecked("  prod bucket ", "s3", s3Creds(s3Secret)))
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != "prod bucket" || v.Type != "s3" || !v.IsActive || v.LastValidatedAt != nil || v.LastValidationError != nil {
			t.Fatalf("unexpected view %+v", v)
		}
		if got := mustJSON(t, v.Roles); got != `["source","destination","restore_target"]` {
			t.Fatalf("roles = %s", got)
		}
		out := mustJSON(t, v)
		if strings.Contains(out, s3Secret) {
			t.Fatalf("secret in view: %s", out)
		}
		var creds map[string]any
		if err := json.Unmarshal(v.Credentials, &creds); err != nil {
			t.Fatal(err)
		}
		if creds["secret_key"] != "****EKEY" || creds["access_key"] != "AKIAEXAMPLE" || creds["bucket"] != "my-bucket" {
			t.Fatalf("credentials = %v", creds)
		}
		// The catalog holds ciphertext only.
		stored, err := cat.GetConnection(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored.Credentials), s3Secret) || strings.Contains(string(stored.Credentials), "AKIAEXAMPLE") {
			t.Fatal("credentials stored in plaintext")
		}
		cfg, err := connection.ConfigOf[s3conn.Config](ctx, b.svc, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SecretKey != s3Secret || cfg.Bucket != "my-bucket" {
			t.Fatalf("S3Config = %+v", cfg)
		}
		list, err := b.svc.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || strings.Contains(mustJSON(t, list), s3Secret) {
			t.Fatalf("list = %s", mustJSON(t, list))
		}
		if _, err := b.svc.Create(ctx, unchecked("prod bucket", "s3", s3Creds(s3Secret))); err == nil {
			t.Fatal("duplicate name accepted")
		} else if e, ok := apperr.As(err); !ok || e.Code != apperr.Conflict {
			t.Fatalf("duplicate name: %v", err)
		}
	})
}

func TestCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	cases := []struct {
		name, typ, creds string
		field            string
	}{
		{"x", "ftp", `{}`, "type"},
		{"x", "", `{}`, "type"},
		{"", "s3", string(s3Creds(s3Secret)), "name"},
		{strings.Repeat("n", 101), "s3", string(s3Creds(s3Secret)), "name"},
		{"a/b", "s3", string(s3Creds(s3Secret)), "name"},
		{"x", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":"bkt","colour":"red"}`, "credentials.colour"},
		{"x", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":42}`, "credentials.bucket"},
		{"x", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1"}`, "credentials.bucket"},
		{"x", "s3", `{"access_key":"a","secret_key":"` + strings.Repeat("s", 5000) + `","region":"us-east-1","bucket":"bkt"}`, "credentials.secret_key"},
		{"x", "s3", ``, "credentials"},
		{"x", "s3", `[1]`, "credentials"},
		{"x", "s3", `{"access_key":"a"} {}`, "credentials"},
		{"x", "mongodb", `{"uri":"http://example.com"}`, "credentials.uri"},
		{"x", "mongodb", `{"uri":"mongodb://u:p@h:99999/"}`, "credentials.uri"},
		{"x", "mongodb", `{"uri":"mongodb+srv://u:p@h1,h2/"}`, "credentials.uri"},
		{"x", "mongodb", `{"uri":"mongodb://h/","database":"a.b"}`, "credentials.database"},
		{"x", "google_drive", `{"refresh_token":"r"}`, "credentials.folder_id"},
		{"x", "google_drive", `{"folder_id":"f"}`, "credentials.refresh_token"},
		{"x", "google_drive", `{"folder_id":"f","service_account_json":"{nope"}`, "credentials.service_account_json"},
		{"x", "google_drive", `{"folder_id":"f","service_account_json":"{\"type\":\"service_account\"}"}`, "credentials.service_account_json"},
		{"x", "google_drive", `{"folder_id":"f","refresh_token":"r","service_account_json":"{}"}`, "credentials.service_account_json"},
	}
	for _, c := range cases {
		_, err := b.svc.Create(ctx, unchecked(c.name, c.typ, json.RawMessage(c.creds)))
		f := fields(t, err)
		if f[c.field] == "" {
			t.Errorf("create(%q, %q, %.60s): fields %v lack %q", c.name, c.typ, c.creds, f, c.field)
		}
	}
	list, err := b.svc.List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("refused input was stored: %v %v", list, err)
	}
}

func TestValidCredentialsOfEveryType(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	ok := []struct{ typ, creds string }{
		{"mongodb", `{"uri":"mongodb://app:pw@db1:27017,db2:27018/admin?replicaSet=rs0","database":"shop"}`},
		{"mongodb", `{"uri":"mongodb+srv://cluster0.example.net/?retryWrites=true"}`},
		{"mongodb", `{"uri":"mongodb://[::1]:27017"}`},
		{"google_drive", `{"folder_id":"1AbC_d-E","refresh_token":"1//0gRefresh"}`},
		{"google_drive", `{"folder_id":"1AbC","service_account_json":"{\"type\":\"service_account\",\"client_email\":\"a@b.iam.gserviceaccount.com\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\"}"}`},
	}
	for i, c := range ok {
		if _, err := b.svc.Create(ctx, unchecked("c"+string(rune('a'+i)), c.typ, json.RawMessage(c.creds))); err != nil {
			t.Errorf("create %s %s: %v", c.typ, c.creds, err)
		}
	}
}

func TestMaskedSecretsSurviveUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	v, err := b.svc.Create(ctx, unchecked("s3", "s3", s3Creds(s3Secret)))
	if err != nil {
		t.Fatal(err)
	}
	// Send back what was shown, with another bucket: the secret stays.
	var shown map[string]any
	if err := json.Unmarshal(v.Credentials, &shown); err != nil {
		t.Fatal(err)
	}
	shown["bucket"] = "other-bucket"
	name := "renamed"
	active := false
	v2, err := b.svc.Update(ctx, v.ID, connection.Change{Name: &name, Credentials: json.RawMessage(mustJSON(t, shown)), IsActive: &active, SaveUnchecked: true})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Name != "renamed" || v2.IsActive {
		t.Fatalf("update ignored: %+v", v2)
	}
	cfg, err := connection.ConfigOf[s3conn.Config](ctx, b.svc, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecretKey != s3Secret || cfg.Bucket != "other-bucket" {
		t.Fatalf("after masked update: %+v", cfg)
	}
	// A new value replaces it.
	if _, err := b.svc.Update(ctx, v.ID, connection.Change{Credentials: s3Creds("brand-new-secret-value"), SaveUnchecked: true}); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = connection.ConfigOf[s3conn.Config](ctx, b.svc, v.ID); cfg.SecretKey != "brand-new-secret-value" {
		t.Fatalf("new secret not stored: %q", cfg.SecretKey)
	}
	// Invalid updates change nothing.
	if _, err := b.svc.Update(ctx, v.ID, connection.Change{Credentials: json.RawMessage(`{"bucket":"x"}`), SaveUnchecked: true}); len(fields(t, err)) == 0 {
		t.Fatal("no fields")
	}
	if _, err := b.svc.Update(ctx, 9999, connection.Change{Name: &name, SaveUnchecked: true}); !isCode(err, apperr.NotFound) {
		t.Fatalf("update of a missing connection: %v", err)
	}

	// MongoDB: only the password inside the URI is secret.
	const uri = "mongodb://backup:s3cr%2Ft-pass@db.example.com:27017/shop?authSource=admin"
	m, err := b.svc.Create(ctx, unchecked("mongo", "mongodb", json.RawMessage(`{"uri":"`+uri+`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	var mc map[string]string
	if err := json.Unmarshal(m.Credentials, &mc); err != nil {
		t.Fatal(err)
	}
	if mc["uri"] != "mongodb://backup:****@db.example.com:27017/shop?authSource=admin" {
		t.Fatalf("masked uri = %q", mc["uri"])
	}
	// Masked URI sent back unchanged: stored URI stays.
	if _, err := b.svc.Update(ctx, m.ID, connection.Change{Credentials: json.RawMessage(`{"uri":"` + mc["uri"] + `","database":"shop"}`), SaveUnchecked: true}); err != nil {
		t.Fatal(err)
	}
	got, err := connection.ConfigOf[mongodb.Config](ctx, b.svc, m.ID)
	if err != nil || got.URI != uri || got.Database != "shop" {
		t.Fatalf("MongoConfig = %+v, %v", got, err)
	}
	// Another host with the masked password keeps the password.
	if _, err := b.svc.Update(ctx, m.ID, connection.Change{Credentials: json.RawMessage(`{"uri":"mongodb://backup:****@db2.example.com/"}`), SaveUnchecked: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ = connection.ConfigOf[mongodb.Config](ctx, b.svc, m.ID); got.URI != "mongodb://backup:s3cr%2Ft-pass@db2.example.com/" {
		t.Fatalf("host change lost the password: %q", got.URI)
	}
	// Another user with the masked password is refused, not stored as "****".
	if _, err := b.svc.Update(ctx, m.ID, connection.Change{Credentials: json.RawMessage(`{"uri":"mongodb://other:****@db2.example.com/"}`), SaveUnchecked: true}); fields(t, err)["credentials.uri"] == "" {
		t.Fatal("masked password for another user accepted")
	}
	// Connection of the wrong type for a typed accessor.
	if _, err := connection.ConfigOf[s3conn.Config](ctx, b.svc, m.ID); err == nil {
		t.Fatal("S3Config of a mongodb connection")
	}
}

func isCode(err error, code apperr.Code) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == code
}

func TestDeleteRefusedWhileInUse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		b := setup(t, cat)
		ctx := context.Background()
		src, err := b.svc.Create(ctx, unchecked("src", "s3", s3Creds(s3Secret)))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := b.svc.Create(ctx, unchecked("dst", "mongodb", json.RawMessage(`{"uri":"mongodb://h/"}`)))
		if err != nil {
			t.Fatal(err)
		}
		op := &store.BackupOperation{SourceConnectionID: src.ID, DestinationConnectionID: dst.ID, Operation: store.Operation{Status: store.StatusRunning}}
		if err := cat.InTx(ctx, func(tx *sql.Tx) error { return cat.CreateBackup(ctx, tx, op) }); err != nil {
			t.Fatal(err)
		}
		err = b.svc.Delete(ctx, src.ID)
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.Conflict || !strings.Contains(e.Message, `"src" is used by a pending, running or paused operation`) {
			t.Fatalf("delete in use: %v", err)
		}
		if _, err := cat.TransitionOperation(ctx, nil, store.KindBackup, op.ID, []string{store.StatusRunning}, store.StatusCompleted); err != nil {
			t.Fatal(err)
		}
		if err := b.svc.Delete(ctx, src.ID); err != nil {
			t.Fatalf("delete after the operation finished: %v", err)
		}
		if _, err := b.svc.Get(ctx, src.ID); !isCode(err, apperr.NotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if err := b.svc.Delete(ctx, src.ID); !isCode(err, apperr.NotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestLiveCheckS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()

	cfg := srv.Config(bucket)
	good, err := b.svc.Create(ctx, connection.NewConnection{Name: "good", Type: "s3", Credentials: json.RawMessage(mustJSON(t, cfg))})
	if err != nil {
		t.Fatal(err)
	}
	if good.Health() != connection.HealthHealthy || good.LastValidatedAt == nil || !good.LastValidatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("a connection saved after its check: %+v", good)
	}
	res, err := b.svc.Test(ctx, good.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Message == "" || !res.CheckedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("good check = %+v", res)
	}
	v, _ := b.svc.Get(ctx, good.ID)
	if v.Health() != connection.HealthHealthy || v.LastValidationError != nil || v.LastValidatedAt == nil {
		t.Fatalf("after a good check: %+v", v)
	}

	goodSecret := cfg.SecretKey
	cfg.SecretKey = "wrong-secret-key-0123456789"
	bad, err := b.svc.Create(ctx, unchecked("bad", "s3", json.RawMessage(mustJSON(t, cfg))))
	if err != nil {
		t.Fatal(err)
	}
	res, err = b.svc.Test(ctx, bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Message == "" || strings.Contains(res.Message, cfg.SecretKey) {
		t.Fatalf("bad check = %+v", res)
	}
	v, _ = b.svc.Get(ctx, bad.ID)
	if v.Health() != connection.HealthFailing || v.LastValidationError == nil || *v.LastValidationError != res.Message {
		t.Fatalf("after a failed check: %+v", v)
	}
	// Good credentials are checked on update and clear the old result.
	cfg.SecretKey = goodSecret
	v, err = b.svc.Update(ctx, bad.ID, connection.Change{Credentials: json.RawMessage(mustJSON(t, cfg))})
	if err != nil {
		t.Fatal(err)
	}
	if v.Health() != connection.HealthHealthy || v.LastValidatedAt == nil {
		t.Fatalf("after new, checked credentials: %+v", v)
	}
	// Wrong ones are refused on update and change nothing.
	cfg.Bucket = "no-such-bucket-here"
	_, err = b.svc.Update(ctx, bad.ID, connection.Change{Credentials: json.RawMessage(mustJSON(t, cfg))})
	refusedCheck(t, err)
	if got, _ := connection.ConfigOf[s3conn.Config](ctx, b.svc, bad.ID); got.Bucket != bucket {
		t.Fatalf("a refused update changed the bucket to %q", got.Bucket)
	}
	// Saving the same credentials again (the masked form sent back) and a
	// rename run no check and keep its result.
	name := "renamed"
	v, err = b.svc.Update(ctx, bad.ID, connection.Change{Name: &name, Credentials: v.Credentials})
	if err != nil || v.Name != "renamed" || v.Health() != connection.HealthHealthy {
		t.Fatalf("rename with unchanged credentials = %+v, %v", v, err)
	}

	if _, err := b.svc.Test(ctx, 12345); !isCode(err, apperr.NotFound) {
		t.Fatalf("test of a missing connection: %v", err)
	}
}

// TestSaveRunsTheLiveCheck saves connections that cannot work, as a user
// would type them: a wrong secret key, a missing bucket, an unreachable
// endpoint or MongoDB server. Each is refused with 422 and the very
// sentence the test of a saved connection gives, with no secret in it;
// save_unchecked stores it anyway, as unchecked.
func TestSaveRunsTheLiveCheck(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()

	wrongKey := srv.Config(bucket)
	wrongKey.SecretKey = "wrong-secret-key-0123456789"
	missing := srv.Config("no-such-bucket-here")
	unreachable := srv.Config(bucket)
	unreachable.Endpoint = "http://127.0.0.1:1"
	cases := []struct {
		name, typ string
		creds     json.RawMessage
		want      string // in the sentence
		secret    string // never in it
	}{
		{"wrong-key", "s3", json.RawMessage(mustJSON(t, wrongKey)), "", wrongKey.SecretKey},
		{"missing-bucket", "s3", json.RawMessage(mustJSON(t, missing)), "no-such-bucket-here", missing.SecretKey},
		{"unreachable-s3", "s3", json.RawMessage(mustJSON(t, unreachable)), "", unreachable.SecretKey},
		{"unreachable-mongo", "mongodb", json.RawMessage(`{"uri":"mongodb://app:Pa55-word-xyz@127.0.0.1:1/?serverSelectionTimeoutMS=500"}`), "reached", "Pa55-word-xyz"},
	}
	for _, c := range cases {
		_, err := b.svc.Create(ctx, connection.NewConnection{Name: c.name, Type: c.typ, Credentials: c.creds})
		msg := refusedCheck(t, err)
		if !strings.Contains(msg, c.want) || strings.Contains(msg, c.secret) || strings.Contains(fmt.Sprint(err), c.secret) {
			t.Errorf("%s: refused with %q", c.name, msg)
		}
		v, err := b.svc.Create(ctx, unchecked(c.name, c.typ, c.creds))
		if err != nil {
			t.Fatalf("%s with save_unchecked: %v", c.name, err)
		}
		if v.Health() != connection.HealthUnchecked {
			t.Errorf("%s saved unchecked is %s", c.name, v.Health())
		}
		res, err := b.svc.Test(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Message != msg {
			t.Errorf("%s: the test says %q, the refused save said %q", c.name, res.Message, msg)
		}
	}
	list, err := b.svc.List(ctx)
	if err != nil || len(list) != len(cases) {
		t.Fatalf("%d connections stored, want only the %d saved unchecked (%v)", len(list), len(cases), err)
	}
}
