package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestBackupAndRestoreThroughTheAPI drives the real engine and job queue
// (River on the SQLite catalog) through the API: a backup of a versitygw
// bucket into a local directory, its logs streamed, then a restore into
// another bucket.
func TestBackupAndRestoreThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	s3c := srv.Client(t)
	srcBucket, dstBucket := srv.NewBucket(t), srv.NewBucket(t)
	objects := map[string]string{"a.txt": "alpha", "dir/b.txt": strings.Repeat("b", 10000), "c.json": `{"c":3}`}
	for k, v := range objects {
		if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(k), Body: strings.NewReader(v)}); err != nil {
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

	// Roles are checked by the engine: a local directory is no source.
	e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d}`, dst, dst)), http.StatusUnprocessableEntity)

	r := e.expect(e.do(c, "POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d,"options":{"compression":"gzip"}}`, src, dst)), http.StatusAccepted)
	op := r.json(t)
	id := int64(op["id"].(float64))
	if r.Header.Get("Location") != "/api/v1/backups/"+strconv.FormatInt(id, 10) || op["status"] != store.StatusPending {
		t.Fatalf("202 %v %s", r.Header, r.body)
	}
	// The log stream ends by itself once the backup is final.
	stream := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d/logs/stream", id), ""), http.StatusOK)
	if !bytes.Contains(stream.body, []byte("event: log")) || !bytes.Contains(stream.body, []byte(`event: end`)) {
		t.Fatalf("stream %s", stream.body)
	}
	done := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", id))
	if done["status"] != store.StatusCompleted || done["sha256"] == "" || done["archive_size"].(float64) <= 0 || done["completed_at"] == nil {
		t.Fatalf("backup %v", done)
	}
	if !bytes.Contains(stream.body, []byte(`"status":"completed"`)) {
		t.Fatalf("end event %s", stream.body)
	}
	// Steering a finished backup is a conflict, not a server error.
	e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/backups/%d/pause", id), ""), http.StatusConflict)
	e.expect(e.do(c, "POST", "/api/v1/backups/9999/cancel", ""), http.StatusNotFound)

	r = e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d,"config":{"overwrite":true}}`, id, target)), http.StatusAccepted)
	rid := int64(r.json(t)["id"].(float64))
	rdone := waitFinal(t, e, c, fmt.Sprintf("/api/v1/restores/%d", rid))
	if rdone["status"] != store.StatusCompleted {
		t.Fatalf("restore %v", rdone)
	}
	for k, v := range objects {
		out, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("restored %s: %v", k, err)
		}
		got, _ := io.ReadAll(out.Body)
		_ = out.Body.Close()
		if string(got) != v {
			t.Fatalf("restored %s = %q", k, got)
		}
	}
	logs := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/restores/%d/logs", rid), ""), http.StatusOK).json(t)
	if len(logs["items"].([]any)) == 0 {
		t.Fatal("restore wrote no logs")
	}
	d := e.expect(e.do(c, "GET", "/api/v1/dashboard", ""), http.StatusOK).json(t)
	if d["backups_by_status"].(map[string]any)["completed"] != float64(1) || d["restores_by_status"].(map[string]any)["completed"] != float64(1) {
		t.Fatalf("dashboard %v", d)
	}
	// Connections used by finished operations can be deleted.
	e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/connections/%d", target), ""), http.StatusNoContent)
}

// waitFinal polls an operation until its status is final.
func waitFinal(t *testing.T, e *env, c cred, path string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		op := e.expect(e.do(c, "GET", path, ""), http.StatusOK).json(t)
		if finalStatus(op["status"].(string)) {
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not finish: %v", path, op)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
