package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestPlansThroughTheAPI: a plan is created, previewed, run now to a
// completed backup on the real engine, shown with its last run, history and
// retention dry run; bad input is a 422 naming the field; the connections a
// plan uses cannot be deleted; deleting the plan keeps its backups.
func TestPlansThroughTheAPI(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	if _, err := srv.Client(t).PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("alpha")}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, storetest.SQLite(t), withEngine(t, 1, slog.New(slog.DiscardHandler)), withPlans())
	c := e.admin()
	src := e.expect(e.do(c, "POST", "/api/v1/connections", fmt.Sprintf(`{"name":"bucket","type":"s3","credentials":%s}`, mustJSON(t, srv.Config(bucket)))), http.StatusCreated).json(t)["id"].(float64)
	dst := e.expect(e.do(c, "POST", "/api/v1/connections", fmt.Sprintf(`{"name":"disk","type":"local","credentials":{"path":%q}}`, e.roots+"/archives")), http.StatusCreated).json(t)["id"].(float64)

	// The schedule preview and its refusals.
	pv := e.expect(e.do(c, "GET", "/api/v1/schedules/preview?schedule="+url.QueryEscape("30 2 * * *")+"&timezone=Europe/Berlin&count=3", ""), http.StatusOK).json(t)
	if times := pv["times"].([]any); len(times) != 3 || !strings.HasSuffix(times[0].(string), ":30:00Z") {
		t.Fatalf("preview %v", pv)
	}
	bad := e.expect(e.do(c, "GET", "/api/v1/schedules/preview?schedule=@every+1ms", ""), http.StatusUnprocessableEntity).json(t)
	if _, ok := bad["fields"].(map[string]any)["schedule"]; !ok {
		t.Fatalf("preview of a too frequent schedule: %v", bad)
	}

	body := fmt.Sprintf(`{"name":"nightly","source_connection_id":%d,"destination_connection_id":%d,"schedule":"@daily","timezone":"Europe/Berlin","retention":{"keep_last":2}}`, int64(src), int64(dst))
	// A viewer reads plans but cannot create one.
	viewer := e.login(e.user("viewer@example.com", store.RoleViewer).Email)
	e.expect(e.do(viewer, "POST", "/api/v1/plans", body), http.StatusForbidden)
	for field, b := range map[string]string{
		"timezone":                  strings.Replace(body, "Europe/Berlin", "Europe/Atlantis", 1),
		"retention.keep_last":       strings.Replace(body, `"keep_last":2`, `"keep_last":-2`, 1),
		"destination_connection_id": strings.Replace(body, fmt.Sprintf(`"destination_connection_id":%d`, int64(dst)), fmt.Sprintf(`"destination_connection_id":%d`, int64(src)+1000), 1),
		"catchup":                   strings.Replace(body, `"name"`, `"catchup":true,"name"`, 1),
	} {
		r := e.expect(e.do(c, "POST", "/api/v1/plans", b), http.StatusUnprocessableEntity).json(t)
		if _, ok := r["fields"].(map[string]any)[field]; !ok {
			t.Errorf("bad %s: %v", field, r)
		}
	}
	p := e.expect(e.do(c, "POST", "/api/v1/plans", body), http.StatusCreated).json(t)
	id := int64(p["id"].(float64))
	if p["next_run_at"] == nil || p["last_run"] != nil || p["schedule_text"] == "" || p["catch_up"] != true {
		t.Fatalf("new plan %v", p)
	}

	r := e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/plans/%d/run", id), ""), http.StatusAccepted).json(t)
	backupID := int64(r["id"].(float64))
	if r["plan_id"] != float64(id) {
		t.Fatalf("run now: %v", r)
	}
	done := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", backupID))
	if done["status"] != store.StatusCompleted {
		t.Fatalf("plan run %v", done)
	}
	p = e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d", id), ""), http.StatusOK).json(t)
	if last := p["last_run"].(map[string]any); last["backup_id"] != float64(backupID) || last["status"] != store.StatusCompleted {
		t.Fatalf("last run %v", p["last_run"])
	}
	list := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups?plan_id=%d", id), ""), http.StatusOK).json(t)
	if list["total"] != float64(1) {
		t.Fatalf("backups of the plan %v", list)
	}
	evs := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d/events", id), ""), http.StatusOK).json(t)["items"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["kind"] != store.PlanEventRun {
		t.Fatalf("history %v", evs)
	}
	ret := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d/retention", id), ""), http.StatusOK).json(t)["items"].([]any)
	if len(ret) != 1 || ret[0].(map[string]any)["keep"] != true {
		t.Fatalf("retention dry run %v", ret)
	}
	e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d/retention?retention=%s", id, url.QueryEscape(`{"keep_daily":"x"}`)), ""), http.StatusUnprocessableEntity)

	// keep_last 1: the second run prunes the first (archive and sidecar
	// gone, row kept and marked), which can then not be restored.
	first := done["archive_path"].(string)
	e.expect(e.do(c, "PUT", fmt.Sprintf("/api/v1/plans/%d", id), strings.Replace(body, `"keep_last":2`, `"keep_last":1`, 1)), http.StatusOK)
	second := int64(e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/plans/%d/run", id), ""), http.StatusAccepted).json(t)["id"].(float64))
	if b := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", second)); b["status"] != store.StatusCompleted {
		t.Fatalf("second run %v", b)
	}
	// The prune runs in the worker right after the second run is recorded
	// as completed: wait for it.
	var pruned map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pruned = e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d", backupID), ""), http.StatusOK).json(t)
		if pruned["pruned_at"] != nil || time.Now().After(deadline) {
			break
		}
	}
	if pruned["prune_reason"] != store.PruneRetention || pruned["pruned_at"] == nil {
		t.Fatalf("first backup after keep_last 1: %v", pruned)
	}
	for _, name := range []string{first, first + ".sha256"} {
		if _, err := os.Stat(filepath.Join(e.roots, "archives", name)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s still at the destination: %v", name, err)
		}
	}
	e.expect(e.do(c, "POST", "/api/v1/restores", fmt.Sprintf(`{"backup_operation_id":%d,"destination_connection_id":%d}`, backupID, int64(src))), http.StatusConflict)
	if r := e.expect(e.do(c, "POST", fmt.Sprintf("/api/v1/plans/%d/prune", id), ""), http.StatusOK).json(t); r["pruned"] != float64(0) || r["kept"] != float64(1) {
		t.Fatalf("prune with nothing to prune: %v", r)
	}
	// DELETE /backups/{id} removes the newest archive too when a user asks.
	del0 := e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/backups/%d", second), ""), http.StatusOK).json(t)
	if del0["prune_reason"] != store.PruneDeleted {
		t.Fatalf("deleted backup %v", del0)
	}
	kinds := map[string]int{}
	for _, ev := range e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d/events", id), ""), http.StatusOK).json(t)["items"].([]any) {
		kinds[ev.(map[string]any)["kind"].(string)]++
	}
	if kinds[store.PlanEventRun] != 2 || kinds[store.PlanEventPruned] != 1 {
		t.Fatalf("history %v", kinds)
	}

	// The connections of a plan stay while it does.
	del := e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/connections/%d", int64(src)), ""), http.StatusConflict).json(t)
	if !strings.Contains(fmt.Sprint(del["error"]), "backup plan") {
		t.Fatalf("delete a plan's connection: %v", del)
	}
	// Changing the plan: disabled, it has no next run.
	upd := e.expect(e.do(c, "PUT", fmt.Sprintf("/api/v1/plans/%d", id), strings.Replace(body, `"name"`, `"enabled":false,"name"`, 1)), http.StatusOK).json(t)
	if upd["enabled"] != false || upd["next_run_at"] != nil {
		t.Fatalf("disabled plan %v", upd)
	}
	e.expect(e.do(c, "DELETE", fmt.Sprintf("/api/v1/plans/%d", id), ""), http.StatusNoContent)
	kept := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d", backupID), ""), http.StatusOK).json(t)
	if kept["plan_id"] != nil || kept["status"] != store.StatusCompleted {
		t.Fatalf("backup of a deleted plan %v", kept)
	}
	e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/plans/%d", id), ""), http.StatusNotFound)
	audit := e.expect(e.do(c, "GET", "/api/v1/audit?target_type=plan", ""), http.StatusOK).json(t)["items"].([]any)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.(map[string]any)["action"].(string))
	}
	if got := strings.Join(actions, ","); got != "plan.delete,plan.update,plan.prune,plan.run,plan.update,plan.run,plan.create" {
		t.Fatalf("audit %s", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
