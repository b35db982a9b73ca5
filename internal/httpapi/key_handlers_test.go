package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestEncryptionKeysAPI: an admin adds keys of every kind (a generated
// identity is in the creation answer only), anyone signed in lists them
// without a secret, bad input is a 422 that names the field, and a key a
// plan uses cannot be deleted.
func TestEncryptionKeysAPI(t *testing.T) {
	t.Parallel()
	cat := storetest.SQLite(t)
	e := newEnv(t, cat)
	c := e.admin()
	viewer := e.login(e.user("viewer@example.com", store.RoleViewer).Email)

	r := e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"offsite","type":"x25519","generate":true}`), http.StatusCreated)
	gen := r.json(t)
	identity, _ := gen["identity"].(string)
	if !strings.HasPrefix(identity, "AGE-SECRET-KEY-1") || !strings.HasPrefix(gen["recipient"].(string), "age1") ||
		gen["keeps_identity"] != false || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generated key %s (Cache-Control %q)", r.body, r.Header.Get("Cache-Control"))
	}
	id := int64(gen["id"].(float64))
	e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"kept","type":"x25519","generate":true,"keep_identity":true}`), http.StatusCreated)
	e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"pasted","type":"x25519","recipient":"`+gen["recipient"].(string)+`"}`), http.StatusCreated)
	e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"pass","type":"passphrase","passphrase":"a long enough passphrase"}`), http.StatusCreated)

	for body, field := range map[string]string{
		`{"name":"x","type":"x25519"}`:                                                                      "recipient",
		`{"name":"x","type":"x25519","recipient":"age1nope"}`:                                               "recipient",
		`{"name":"x","type":"x25519","recipient":"` + gen["recipient"].(string) + `","keep_identity":true}`: "keep_identity",
		`{"name":"x","type":"passphrase","passphrase":"short"}`:                                             "passphrase",
		`{"name":"x","type":"rsa"}`:                                                                         "type",
		`{"name":"offsite","type":"x25519","generate":true}`:                                                "name",
		`{"name":"x","type":"x25519","generate":true,"extra":1}`:                                            "extra",
	} {
		got := e.expect(e.do(c, "POST", "/api/v1/encryption-keys", body), http.StatusUnprocessableEntity).json(t)
		if _, ok := got["fields"].(map[string]any)[field]; !ok {
			t.Errorf("%s: 422 %v, want field %q", body, got, field)
		}
	}
	e.expect(e.do(viewer, "POST", "/api/v1/encryption-keys", `{"name":"v","type":"x25519","generate":true}`), http.StatusForbidden)

	list := e.expect(e.do(viewer, "GET", "/api/v1/encryption-keys", ""), http.StatusOK)
	if bytes.Contains(list.body, []byte("AGE-SECRET-KEY")) || bytes.Contains(list.body, []byte("a long enough passphrase")) {
		t.Fatalf("the key list shows a secret: %s", list.body)
	}
	if n := len(list.json(t)["items"].([]any)); n != 4 {
		t.Fatalf("%d keys listed, want 4", n)
	}
	one := e.expect(e.do(viewer, "GET", fmt.Sprintf("/api/v1/encryption-keys/%d", id), ""), http.StatusOK)
	if bytes.Contains(one.body, []byte(`"identity":`)) {
		t.Fatalf("GET shows the identity: %s", one.body)
	}
	audit, _, err := cat.ListAudit(context.Background(), store.AuditFilter{Action: "encryption_key.create"}, store.Page{Page: 1, PerPage: 100})
	if err != nil || len(audit) != 4 {
		t.Fatalf("audit: %d events, %v", len(audit), err)
	}
	if raw, _ := json.Marshal(audit); bytes.Contains(raw, []byte(identity)) || bytes.Contains(raw, []byte("a long enough passphrase")) {
		t.Fatal("the audit log holds a secret")
	}
	if strings.Contains(e.serverLog(), identity) {
		t.Fatal("the server log holds an identity")
	}

	// A plan that encrypts with the key keeps it.
	src := e.connection("src", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":"bkt"}`)
	dst := e.connection("dst", "local", fmt.Sprintf(`{"path":%q}`, e.roots+"/a"))
	plan := &store.Plan{Name: "nightly", SourceConnectionID: src, DestinationConnectionID: dst, Options: json.RawMessage(fmt.Sprintf(`{"encryption_key_id":%d}`, id)),
		Schedule: "0 3 * * *", Timezone: "UTC", Retention: json.RawMessage(`{}`), Verify: "none"}
	if err := cat.CreatePlan(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	got := e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/encryption-keys/%d", id), ""), http.StatusConflict).json(t)
	if !strings.Contains(fmt.Sprint(got["error"]), `plan "nightly"`) {
		t.Fatalf("409 %v", got)
	}
	e.expect(e.do(viewer, "DELETE", fmt.Sprintf("/api/v1/encryption-keys/%d", id), ""), http.StatusForbidden)
	if err := cat.DeletePlan(context.Background(), plan.ID); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/encryption-keys/%d", id), ""), http.StatusNoContent)
	e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/encryption-keys/%d", id), ""), http.StatusNotFound)
}

// TestEncryptedRestoreThroughTheAPI: a backup encrypted with a key coffer
// does not keep restores only with the identity; without it the answer is
// a 422 on "identity", with another key a 422 that says the key cannot
// decrypt the archive, and the identity is kept nowhere once it ended.
func TestEncryptedRestoreThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	cat := storetest.SQLite(t)
	e := newEnv(t, cat, withEngine(t, 1, slog.New(slog.DiscardHandler)))
	c := e.admin()
	bucket := srv.NewBucket(t)
	put := func(key, body string) {
		t.Helper()
		s3c := srv.Client(t)
		if _, err := s3c.PutObject(context.Background(), s3Put(bucket, key, body)); err != nil {
			t.Fatal(err)
		}
	}
	put("a.txt", "alpha")
	put("b.txt", strings.Repeat("b", 70_000))
	create := func(name, typ string, creds any) int64 {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": name, "type": typ, "credentials": creds})
		return int64(e.expect(e.do(c, "POST", "/api/v1/connections", string(body)), http.StatusCreated).json(t)["id"].(float64))
	}
	src := create("source", "s3", srv.Config(bucket))
	dst := create("disk", "local", map[string]string{"path": e.roots + "/archives"})
	target := create("target", "s3", srv.Config(srv.NewBucket(t)))
	key := e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"k","type":"x25519","generate":true}`), http.StatusCreated).json(t)
	other := e.expect(e.do(c, "POST", "/api/v1/encryption-keys", `{"name":"other","type":"x25519","generate":true}`), http.StatusCreated).json(t)

	for _, bad := range []string{"-1", "9999"} {
		got := e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"encryption_key_id":%s}}`, src, dst, bad)), http.StatusUnprocessableEntity).json(t)
		if _, ok := got["fields"].(map[string]any)["options.encryption_key_id"]; !ok {
			t.Fatalf("encryption_key_id %s: %v", bad, got)
		}
	}
	r := e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"encryption_key_id":%v}}`, src, dst, key["id"])), http.StatusAccepted)
	id := int64(r.json(t)["id"].(float64))
	done := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", id))
	if done["status"] != store.StatusCompleted || !strings.HasSuffix(done["archive_path"].(string), ".tar.gz.age") {
		t.Fatalf("backup %v", done)
	}
	restore := func(extra string) resp {
		return e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d%s}`, id, target, extra))
	}
	got := e.expect(restore(""), http.StatusUnprocessableEntity).json(t)
	if _, ok := got["fields"].(map[string]any)["identity"]; !ok {
		t.Fatalf("restore without the identity: %v", got)
	}
	got = e.expect(restore(fmt.Sprintf(`,"identity":%q`, other["identity"])), http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(fmt.Sprint(got["error"]), "cannot decrypt archive") {
		t.Fatalf("restore with another key: %v", got)
	}
	r = e.expect(restore(fmt.Sprintf(`,"identity":%q`, key["identity"])), http.StatusAccepted)
	rid := int64(r.json(t)["id"].(float64))
	if bytes.Contains(r.body, []byte("AGE-SECRET-KEY")) {
		t.Fatalf("the restore shows the identity: %s", r.body)
	}
	if rd := waitFinal(t, e, c, fmt.Sprintf("/api/v1/restores/%d", rid)); rd["status"] != store.StatusCompleted {
		t.Fatalf("restore %v", rd)
	}
	if sealed, err := cat.RestoreSecret(context.Background(), rid); err != nil || sealed != nil {
		t.Fatalf("after the restore the catalog still holds its key (%d bytes, %v)", len(sealed), err)
	}
	logs := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/restores/%d/logs", rid), ""), http.StatusOK)
	if bytes.Contains(logs.body, []byte("AGE-SECRET-KEY")) || strings.Contains(e.serverLog(), "AGE-SECRET-KEY") {
		t.Fatal("an identity reached a log")
	}
}

func s3Put(bucket, key, body string) *awss3.PutObjectInput {
	return &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
}
