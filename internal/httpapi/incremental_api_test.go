package httpapi

import (
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

// TestIncrementalThroughTheAPI: a backup asked for as incremental with
// nothing to build on answers mode full; the next, after one object
// changed, is incremental on it with changed_objects 1 of 3; the base then
// cannot be deleted (409); a MongoDB source cannot be incremental (422 on
// options.mode), nor can a mode or level be unknown; a plan keeps
// full_every and refuses a bad one.
func TestIncrementalThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	s3c := srv.Client(t)
	bucket := srv.NewBucket(t)
	put := func(key, body string) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		put(k, "first "+k)
	}
	e := newEnv(t, storetest.SQLite(t), withEngine(t, 1, slog.New(slog.DiscardHandler)), withPlans())
	c := e.admin()
	create := func(name, typ string, creds any) int64 {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": name, "type": typ, "credentials": creds, "save_unchecked": typ == "mongodb"})
		r := e.expect(e.do(c, "POST", "/api/v1/connections", string(body)), http.StatusCreated)
		return int64(r.json(t)["id"].(float64))
	}
	src := create("source", "s3", srv.Config(bucket))
	dst := create("disk", "local", map[string]string{"path": e.roots + "/archives"})
	backup := func() map[string]any {
		t.Helper()
		r := e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"mode":"incremental","compression_level":"fastest"}}`, src, dst)), http.StatusAccepted)
		b := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", int64(r.json(t)["id"].(float64))))
		if b["status"] != store.StatusCompleted {
			t.Fatalf("backup %v", b)
		}
		return b
	}
	first := backup()
	if first["mode"] != "full" || first["base_backup_id"] != nil || first["changed_objects"] != float64(3) {
		t.Fatalf("the first backup: mode %v base %v changed %v", first["mode"], first["base_backup_id"], first["changed_objects"])
	}
	put("b", "second b")
	second := backup()
	progress, _ := second["progress"].(map[string]any)
	if second["mode"] != "incremental" || second["base_backup_id"] != first["id"] || second["changed_objects"] != float64(1) || progress["items_total"] != float64(3) {
		t.Fatalf("the second backup: mode %v base %v changed %v progress %v", second["mode"], second["base_backup_id"], second["changed_objects"], progress)
	}
	r := e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/backups/%v", first["id"]), ""), http.StatusConflict)
	if !strings.Contains(string(r.body), "base of incremental backup") {
		t.Fatalf("deleting a base: %s", r.body)
	}

	mongo := create("db", "mongodb", map[string]string{"uri": "mongodb://127.0.0.1:1", "database": "x"})
	for _, c2 := range []struct{ body, field string }{
		{fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"mode":"incremental"}}`, mongo, dst), "options.mode"},
		{fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"mode":"sometimes"}}`, src, dst), "options.mode"},
		{fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"compression_level":"11"}}`, src, dst), "options.compression_level"},
	} {
		r := e.expect(e.do(c, "POST", "/api/v1/backups", c2.body), http.StatusUnprocessableEntity)
		if fields, _ := r.json(t)["fields"].(map[string]any); fields[c2.field] == nil {
			t.Errorf("%s: %s, want a problem on %s", c2.body, r.body, c2.field)
		}
	}

	plan := fmt.Sprintf(`{"name":"nightly","source_connection_id":%d,"destination_connection_id":%d,"schedule":"@daily","options":{"mode":"incremental"},"full_every":"0 3 * * 0"}`, src, dst)
	p := e.expect(e.do(c, "POST", "/api/v1/plans", plan), http.StatusCreated).json(t)
	if p["full_every"] != "0 3 * * 0" {
		t.Fatalf("plan %v", p)
	}
	r = e.expect(e.do(c, "PUT", fmt.Sprintf("/api/v1/plans/%v", p["id"]), strings.Replace(plan, `"0 3 * * 0"`, `"0"`, 1)), http.StatusUnprocessableEntity)
	if fields, _ := r.json(t)["fields"].(map[string]any); fields["full_every"] == nil {
		t.Fatalf("a bad full_every: %s", r.body)
	}
}
