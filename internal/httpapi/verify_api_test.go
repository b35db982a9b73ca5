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

// TestVerifyBrowseAndScanThroughTheAPI drives the real engine through the
// verification, browsing and scanning routes: a backup verified (202, then
// its result), its entries browsed by folder and searched, two keys
// restored, and a scan of the destination that finds the archive known.
func TestVerifyBrowseAndScanThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	s3c := srv.Client(t)
	srcBucket, dstBucket := srv.NewBucket(t), srv.NewBucket(t)
	keys := []string{"a.txt", "docs/b.txt", "docs/c.txt", "docs/deep/d.txt", "img/e.png"}
	for _, k := range keys {
		if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(k),
			Body: strings.NewReader("body of " + k), ContentType: aws.String("text/plain")}); err != nil {
			t.Fatal(err)
		}
	}
	cat := storetest.SQLite(t)
	e := newEnv(t, cat, withEngine(t, 1, slog.New(slog.DiscardHandler)))
	c := e.admin()
	create := func(name, typ string, creds any) int64 {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": name, "type": typ, "credentials": creds})
		return int64(e.expect(e.do(c, "POST", "/api/v1/connections", string(body)), http.StatusCreated).json(t)["id"].(float64))
	}
	src := create("source", "s3", srv.Config(srcBucket))
	dst := create("disk", "local", map[string]string{"path": e.roots + "/archives"})
	target := create("target", "s3", srv.Config(dstBucket))
	r := e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d}`, src, dst)), http.StatusAccepted)
	id := int64(r.json(t)["id"].(float64))
	if b := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", id)); b["status"] != store.StatusCompleted || b["last_verify_status"] != nil || b["imported"] != false {
		t.Fatalf("backup %v", b)
	}

	// Verify.
	r = e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/backups/%d/verify", id), ""), http.StatusAccepted)
	vid := int64(r.json(t)["id"].(float64))
	if r.Header.Get("Location") != fmt.Sprintf("/api/v1/verifications/%d", vid) {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	v := waitFinal(t, e, c, fmt.Sprintf("/api/v1/verifications/%d", vid))
	res, _ := v["result"].(map[string]any)
	if v["status"] != store.StatusCompleted || res == nil || res["entries_checked"] != float64(len(keys)) || res["contents_checked"] != true {
		t.Fatalf("verification %v", v)
	}
	if b := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d", id), ""), http.StatusOK).json(t); b["last_verify_status"] != store.VerifyPassed || b["last_verified_at"] == nil {
		t.Fatalf("backup after verification %v", b)
	}
	logs := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/verifications/%d/logs", vid), ""), http.StatusOK)
	if !strings.Contains(string(logs.body), "Archive verified") {
		t.Fatalf("verification log %s", logs.body)
	}
	list := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/verifications?backup_operation_id=%d", id), ""), http.StatusOK).json(t)
	if list["total"] != float64(1) {
		t.Fatalf("verification list %v", list)
	}
	e.expect(e.do(c, "POST", "/api/v1/backups/999/verify", ""), http.StatusNotFound)
	e.user("viewer@example.com", store.RoleViewer)
	e.expect(e.do(e.login("viewer@example.com"), "POST", fmt.Sprintf("/api/v1/backups/%d/verify", id), ""), http.StatusForbidden)

	// Browse.
	top := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d/entries", id), ""), http.StatusOK).json(t)
	if fmt.Sprint(paths(top["items"])) != "[a.txt]" || fmt.Sprint(prefixes(top["folders"])) != "[docs/ img/]" || top["total"] != float64(1) {
		t.Fatalf("top level %v", top)
	}
	docs := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d/entries?prefix=docs/", id), ""), http.StatusOK).json(t)
	if fmt.Sprint(paths(docs["items"])) != "[docs/b.txt docs/c.txt]" || fmt.Sprint(prefixes(docs["folders"])) != "[docs/deep/]" {
		t.Fatalf("docs/ %v", docs)
	}
	item := docs["items"].([]any)[0].(map[string]any)
	if item["content_type"] != "text/plain" || item["size"] != float64(len("body of docs/b.txt")) || len(item["sha256"].(string)) != 64 {
		t.Fatalf("entry %v", item)
	}
	found := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d/entries?q=TXT&per_page=2&page=2", id), ""), http.StatusOK).json(t)
	if fmt.Sprint(paths(found["items"])) != "[docs/c.txt docs/deep/d.txt]" || found["total"] != float64(4) {
		t.Fatalf("search %v", found)
	}

	// Restore two keys; a key not in the backup is a 422 on config.keys.
	bad := e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d,"config":{"keys":["a.txt","zzz"]}}`, id, target)), http.StatusUnprocessableEntity)
	if !strings.Contains(string(bad.body), "config.keys") {
		t.Fatalf("422 %s", bad.body)
	}
	r = e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d,"config":{"keys":["docs/c.txt","img/e.png"]}}`, id, target)), http.StatusAccepted)
	if rd := waitFinal(t, e, c, fmt.Sprintf("/api/v1/restores/%d", int64(r.json(t)["id"].(float64)))); rd["status"] != store.StatusCompleted {
		t.Fatalf("restore %v", rd)
	}
	out, err := s3c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(dstBucket)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range out.Contents {
		got = append(got, *o.Key)
	}
	if fmt.Sprint(got) != "[docs/c.txt img/e.png]" {
		t.Fatalf("restored %v", got)
	}

	// Scan: the archive is known; a source is not a destination.
	scan := e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/connections/%d/scan", dst), ""), http.StatusOK).json(t)
	if scan["found"] != float64(1) || scan["already_known"] != float64(1) || scan["imported"] != float64(0) {
		t.Fatalf("scan %v", scan)
	}
	e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/connections/%d/scan", target+100), ""), http.StatusNotFound)
}

func paths(items any) []string {
	var out []string
	for _, it := range items.([]any) {
		out = append(out, it.(map[string]any)["path"].(string))
	}
	return out
}

func prefixes(folders any) []string {
	var out []string
	for _, f := range folders.([]any) {
		out = append(out, f.(map[string]any)["prefix"].(string))
	}
	return out
}
