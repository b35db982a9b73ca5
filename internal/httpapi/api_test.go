package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.admin()
	valid := `{"name":"disk","type":"local","credentials":{"path":` + strconv.Quote(e.roots) + `}}`
	cases := []struct {
		name   string
		body   string
		hdr    []string
		status int
		field  string
	}{
		{"invalid JSON", `{"name":`, nil, 400, ""},
		{"not an object", `[1,2]`, nil, 400, ""},
		{"empty body", ` `, nil, 400, ""},
		{"unknown field", `{"name":"x","type":"local","credentials":{},"colour":"red"}`, nil, 400, "colour"},
		{"wrong type", `{"name":5,"type":"local","credentials":{}}`, nil, 400, "name"},
		{"trailing data", valid + ` {}`, nil, 400, ""},
		{"unknown connection type", `{"name":"x","type":"ftp","credentials":{}}`, nil, 422, "type"},
		{"unknown credentials field", `{"name":"x","type":"local","credentials":{"path":"/x","mode":1}}`, nil, 422, "credentials.mode"},
		{"missing field", `{"type":"local","credentials":{"path":` + strconv.Quote(e.roots) + `}}`, nil, 422, "name"},
		{"missing credentials", `{"name":"x","type":"local"}`, nil, 422, "credentials"},
		{"oversized field", `{"name":"` + strings.Repeat("n", 300) + `","type":"local","credentials":{"path":` + strconv.Quote(e.roots) + `}}`, nil, 422, "name"},
		{"wrong content type", valid, []string{"Content-Type", "text/plain"}, 415, ""},
		{"form content type", valid, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"body over 1 MiB", `{"name":"` + strings.Repeat("n", maxBodyBytes) + `"}`, nil, 413, ""},
	}
	for _, tc := range cases {
		r := e.do(c, "POST", "/api/v1/connections", tc.body, tc.hdr...)
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.StatusCode, tc.status, r.body)
			continue
		}
		e.expect(r, tc.status)
		if tc.field != "" {
			fields, _ := r.json(t)["fields"].(map[string]any)
			if fields[tc.field] == nil {
				t.Errorf("%s: fields %v do not name %q", tc.name, fields, tc.field)
			}
			if tc.status == 400 && !strings.Contains(r.json(t)["error"].(string), tc.field) {
				t.Errorf("%s: message does not name %q: %s", tc.name, tc.field, r.body)
			}
		}
		if strings.Contains(string(r.body), "goroutine") || strings.Contains(string(r.body), "internal error") {
			t.Errorf("%s: body %s", tc.name, r.body)
		}
		e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusOK)
	}
	// Query parameters: wrong types are 400 naming the parameter, out of range 422.
	e.expect(e.do(c, "GET", "/api/v1/backups?source_id=abc", ""), http.StatusBadRequest)
	e.expect(e.do(c, "GET", "/api/v1/backups?per_page=1000", ""), http.StatusUnprocessableEntity)
	e.expect(e.do(c, "GET", "/api/v1/backups?status=sleeping", ""), http.StatusUnprocessableEntity)
	e.expect(e.do(c, "GET", "/api/v1/backups/abc", ""), http.StatusNotFound)
	// Operation requests are validated before the engine sees them.
	r := e.expect(e.do(c, "POST", "/api/v1/backups", `{"options":[]}`), http.StatusUnprocessableEntity)
	fields, _ := r.json(t)["fields"].(map[string]any)
	if fields["source_connection_id"] == nil || fields["destination_connection_id"] == nil || fields["options"] == nil {
		t.Fatalf("backup fields %s", r.body)
	}
	e.expect(e.do(c, "POST", "/api/v1/backups", `{"source_connection_id":"1"}`), http.StatusBadRequest)
	e.expect(e.do(c, "POST", "/api/v1/restores", `{"backup_operation_id":1}`), http.StatusUnprocessableEntity)
	e.expect(e.do(c, "POST", "/api/v1/backups", `{"source_connection_id":1,"destination_connection_id":2}`), http.StatusServiceUnavailable)
	if e.ops.lastActor.Email != "admin@example.com" || e.ops.lastActor.IP != "127.0.0.1" {
		t.Fatalf("actor passed to the engine: %+v", e.ops.lastActor)
	}
	// Wrong method: JSON 405 with Allow.
	r = e.expect(e.do(c, "PATCH", "/api/v1/connections/1", `{}`), http.StatusMethodNotAllowed)
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "PUT") || !strings.Contains(allow, "DELETE") {
		t.Fatalf("Allow %q", allow)
	}
	if strings.Contains(e.serverLog(), "internal error") {
		t.Fatalf("bad input became an internal error: %s", e.serverLog())
	}
}

func TestConnectionsCRUD(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newEnv(t, cat)
		c := e.admin()
		const secretKey = "super-secret-key-value-1234"
		creds := `{"access_key":"AKIA1","secret_key":"` + secretKey + `","region":"eu-west-1","bucket":"my-bucket","endpoint":"http://127.0.0.1:1"}`
		// Nothing answers at the endpoint: the live check refuses the
		// connection with its reason, and save_unchecked saves it anyway.
		refused := e.expect(e.do(c, "POST", "/api/v1/connections", `{"name":"bucket","type":"s3","credentials":`+creds+`}`), http.StatusUnprocessableEntity).json(t)
		if msg, _ := refused["error"].(string); !strings.Contains(msg, "could not be reached") || strings.Contains(string(mustMarshal(t, refused)), secretKey) {
			t.Fatalf("refused with %v", refused)
		}
		if f, _ := refused["fields"].(map[string]any); f["save_unchecked"] == nil {
			t.Fatalf("the refusal does not point at save_unchecked: %v", refused)
		}
		body := `{"name":"bucket","type":"s3","save_unchecked":true,"credentials":` + creds + `}`
		r := e.expect(e.do(c, "POST", "/api/v1/connections", body), http.StatusCreated)
		v := r.json(t)
		id := int64(v["id"].(float64))
		shown := v["credentials"].(map[string]any)
		if shown["secret_key"] != "****1234" || v["last_validated_at"] != nil || v["last_validation_error"] != nil || v["is_active"] != true {
			t.Fatalf("created %s", r.body)
		}
		for _, k := range []string{"id", "name", "type", "credentials", "is_active", "last_validated_at", "last_validation_error", "needs_reauth", "roles", "created_at", "updated_at"} {
			if _, ok := v[k]; !ok {
				t.Errorf("view lacks %q", k)
			}
		}
		if _, err := time.Parse(time.RFC3339, v["created_at"].(string)); err != nil || !strings.HasSuffix(v["created_at"].(string), "Z") {
			t.Fatalf("created_at %v", v["created_at"])
		}
		path := "/api/v1/connections/" + strconv.FormatInt(id, 10)
		e.expect(e.do(c, "POST", "/api/v1/connections", body), http.StatusConflict)

		// PUT back what GET shows, with another region: the secret stays.
		got := e.expect(e.do(c, "GET", path, ""), http.StatusOK).json(t)
		gc := got["credentials"].(map[string]any)
		gc["region"] = "us-east-1"
		put, _ := json.Marshal(map[string]any{"name": "renamed", "type": "s3", "credentials": gc, "is_active": false})
		e.expect(e.do(c, "PUT", path, string(put)), http.StatusUnprocessableEntity) // changed credentials are checked
		put, _ = json.Marshal(map[string]any{"name": "renamed", "type": "s3", "credentials": gc, "is_active": false, "save_unchecked": true})
		r = e.expect(e.do(c, "PUT", path, string(put)), http.StatusOK)
		if m := r.json(t); m["name"] != "renamed" || m["is_active"] != false {
			t.Fatalf("put %s", r.body)
		}
		cfg, err := storedCreds[s3conn.Config](t, e, id)
		if err != nil || cfg.SecretKey != secretKey || cfg.Region != "us-east-1" {
			t.Fatalf("stored after masked PUT: %+v %v", cfg, err)
		}
		e.expect(e.do(c, "PUT", path, `{"type":"local"}`), http.StatusUnprocessableEntity)
		e.expect(e.do(c, "PUT", "/api/v1/connections/999", `{"name":"x"}`), http.StatusNotFound)

		list := e.expect(e.do(c, "GET", "/api/v1/connections", ""), http.StatusOK)
		if strings.Contains(string(list.body), secretKey) || !strings.Contains(string(list.body), `"renamed"`) {
			t.Fatalf("list %s", list.body)
		}

		// Test runs a real check (a local directory).
		lid := e.connection("disk", "local", `{"path":`+strconv.Quote(e.roots+"/archives")+`}`)
		tr := e.expect(e.do(c, "POST", "/api/v1/connections/"+strconv.FormatInt(lid, 10)+"/test", ""), http.StatusOK).json(t)
		if tr["ok"] != true || tr["free_bytes"] == nil || tr["checked_at"] == nil || tr["message"] == "" {
			t.Fatalf("test result %v", tr)
		}
		e.expect(e.do(c, "POST", "/api/v1/connections/424242/test", ""), http.StatusNotFound)

		// Delete refused while an operation uses the connection.
		op := e.backupRow(id, lid, store.StatusPaused)
		r = e.expect(e.do(c, "DELETE", path, ""), http.StatusConflict)
		if !strings.Contains(string(r.body), "is used by a pending, running or paused operation") {
			t.Fatalf("409 body %s", r.body)
		}
		if _, err := cat.TransitionOperation(context.Background(), nil, store.KindBackup, op.ID, []string{store.StatusPaused}, store.StatusCancelled); err != nil {
			t.Fatal(err)
		}
		e.expect(e.do(c, "DELETE", path, ""), http.StatusNoContent)
		e.expect(e.do(c, "GET", path, ""), http.StatusNotFound)

		if strings.Contains(e.serverLog(), secretKey) {
			t.Fatal("secret in the server log")
		}
	})
}

func TestBackupsAndRestoresRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.admin()
	src := e.connection("src", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":"bkt"}`)
	dst := e.connection("dst", "local", `{"path":`+strconv.Quote(e.roots)+`}`)
	other := e.connection("other", "local", `{"path":`+strconv.Quote(e.roots+"/x")+`}`)
	var ids []int64
	for i := range 5 {
		d := dst
		if i == 4 {
			d = other
		}
		st := store.StatusCompleted
		if i == 3 {
			st = store.StatusRunning
		}
		ids = append(ids, e.backupRow(src, d, st).ID)
	}
	page := e.expect(e.do(c, "GET", "/api/v1/backups?per_page=2&page=2", ""), http.StatusOK).json(t)
	if page["total"] != float64(5) || page["page"] != float64(2) || page["per_page"] != float64(2) || len(page["items"].([]any)) != 2 {
		t.Fatalf("page %v", page)
	}
	running := e.expect(e.do(c, "GET", "/api/v1/backups?status=running", ""), http.StatusOK).json(t)
	if running["total"] != float64(1) {
		t.Fatalf("status filter %v", running)
	}
	byDst := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups?destination_id=%d&source_id=%d", other, src), ""), http.StatusOK).json(t)
	if byDst["total"] != float64(1) {
		t.Fatalf("destination filter %v", byDst)
	}
	op := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/backups/%d", ids[0]), ""), http.StatusOK).json(t)
	for _, k := range []string{"id", "status", "source_connection_id", "destination_connection_id", "options", "archive_path", "archive_size", "sha256", "progress", "error_message", "started_at", "completed_at", "created_at"} {
		if _, ok := op[k]; !ok {
			t.Errorf("operation lacks %q: %v", k, op)
		}
	}
	if op["started_at"] != nil || op["options"] == nil {
		t.Fatalf("operation %v", op)
	}
	prog := op["progress"].(map[string]any)
	if _, ok := prog["bytes_written"]; !ok {
		t.Fatalf("progress %v", prog)
	}
	e.expect(e.do(c, "GET", "/api/v1/backups/9999", ""), http.StatusNotFound)
	e.expect(e.do(c, "GET", "/api/v1/backups/9999/logs", ""), http.StatusNotFound)
	e.expect(e.do(c, "GET", "/api/v1/restores/9999", ""), http.StatusNotFound)
	e.expect(e.do(c, "GET", "/api/v1/restores/9999/logs/stream", ""), http.StatusNotFound)

	rs := &store.RestoreOperation{BackupOperationID: ids[0], DestinationConnectionID: src,
		Operation: store.Operation{Status: store.StatusFailed, ErrorMessage: "boom"}}
	if err := e.cat.CreateRestore(context.Background(), nil, rs); err != nil {
		t.Fatal(err)
	}
	rl := e.expect(e.do(c, "GET", "/api/v1/restores?status=failed", ""), http.StatusOK).json(t)
	if rl["total"] != float64(1) {
		t.Fatalf("restores %v", rl)
	}
	rv := e.expect(e.do(c, "GET", fmt.Sprintf("/api/v1/restores/%d", rs.ID), ""), http.StatusOK).json(t)
	if rv["backup_operation_id"] != float64(ids[0]) || rv["destination_config"] == nil || rv["error_message"] != "boom" {
		t.Fatalf("restore %v", rv)
	}
	e.expect(e.do(c, "GET", "/api/v1/restores?status=paused", ""), http.StatusUnprocessableEntity)

	// Dashboard.
	d := e.expect(e.do(c, "GET", "/api/v1/dashboard", ""), http.StatusOK).json(t)
	bs := d["backups_by_status"].(map[string]any)
	if bs["completed"] != float64(4) || bs["running"] != float64(1) || bs["paused"] != float64(0) {
		t.Fatalf("backups_by_status %v", bs)
	}
	run := d["running"].([]any)
	if len(run) != 1 || run[0].(map[string]any)["kind"] != "backup" || run[0].(map[string]any)["id"] != float64(ids[3]) {
		t.Fatalf("running %v", run)
	}
	fails := d["recent_failures"].([]any)
	if len(fails) != 1 || fails[0].(map[string]any)["kind"] != "restore" || fails[0].(map[string]any)["error_message"] != "boom" {
		t.Fatalf("recent_failures %v", fails)
	}
	conns := d["connections"].(map[string]any)
	if conns["unchecked"] != float64(3) || conns["healthy"] != float64(0) || len(conns["items"].([]any)) != 3 {
		t.Fatalf("connections %v", conns)
	}
	if strings.Contains(fmt.Sprint(d), `"b"`) {
		t.Fatal("secret in the dashboard")
	}
}

func TestLogsAndStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.admin()
	src := e.connection("src", "s3", `{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":"bkt"}`)
	dst := e.connection("dst", "local", `{"path":`+strconv.Quote(e.roots)+`}`)
	op := e.backupRow(src, dst, store.StatusRunning)
	ctx := context.Background()
	var logIDs []int64
	appendLog := func(msg string) {
		l := &store.JobLog{OperationKind: store.KindBackup, OperationID: op.ID, Level: store.LevelInfo, Message: msg, Context: json.RawMessage(`{"n":1}`)}
		if err := e.cat.AppendLog(ctx, l); err != nil {
			t.Fatal(err)
		}
		logIDs = append(logIDs, l.ID)
	}
	for i := range 5 {
		appendLog(fmt.Sprintf("line %d", i))
	}
	base := fmt.Sprintf("/api/v1/backups/%d/logs", op.ID)
	p := e.expect(e.do(c, "GET", base+"?limit=2", ""), http.StatusOK).json(t)
	items := p["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["message"] != "line 0" || p["next_after"] != float64(logIDs[1]) {
		t.Fatalf("first page %v", p)
	}
	p = e.expect(e.do(c, "GET", fmt.Sprintf("%s?after=%d", base, logIDs[1]), ""), http.StatusOK).json(t)
	items = p["items"].([]any)
	if len(items) != 3 || items[2].(map[string]any)["message"] != "line 4" {
		t.Fatalf("second page %v", p)
	}
	for _, k := range []string{"id", "level", "message", "context", "created_at"} {
		if _, ok := items[0].(map[string]any)[k]; !ok {
			t.Errorf("log lacks %q", k)
		}
	}
	e.expect(e.do(c, "GET", base+"?limit=1001", ""), http.StatusUnprocessableEntity)

	// The stream: backlog after Last-Event-ID, live lines, heartbeats, end.
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+base+"/stream", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
	req.Header.Set("Last-Event-ID", strconv.FormatInt(logIDs[2], 10))
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	events := make(chan sseEvent, 100)
	go readSSE(res, events)
	next := func() sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10 s")
		}
		return sseEvent{}
	}
	nextLog := func() sseEvent {
		t.Helper()
		for {
			ev := next()
			if ev.comment == "heartbeat" {
				continue
			}
			return ev
		}
	}
	for _, want := range logIDs[3:] {
		ev := nextLog()
		if ev.event != "log" || ev.id != strconv.FormatInt(want, 10) {
			t.Fatalf("backlog event %+v, want id %d", ev, want)
		}
	}
	appendLog("live line")
	ev := nextLog()
	var lv map[string]any
	if err := json.Unmarshal([]byte(ev.data), &lv); err != nil || lv["message"] != "live line" || ev.id != strconv.FormatInt(logIDs[5], 10) {
		t.Fatalf("live event %+v", ev)
	}
	// A heartbeat arrives while nothing happens.
	for {
		if ev := next(); ev.comment == "heartbeat" {
			break
		}
	}
	// The final line is written before the status turns final; end follows it.
	appendLog("done")
	if _, err := e.cat.TransitionOperation(ctx, nil, store.KindBackup, op.ID, store.ActiveStatuses, store.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	if ev := nextLog(); ev.event != "log" || !strings.Contains(ev.data, `"done"`) {
		t.Fatalf("last line %+v", ev)
	}
	if ev := nextLog(); ev.event != "end" || !strings.Contains(ev.data, "completed") {
		t.Fatalf("end %+v", ev)
	}
	if _, ok := <-events; ok {
		t.Fatal("stream continued after end")
	}

	// A finished operation's stream sends the backlog (from ?after=) and ends.
	r := e.expect(e.do(c, "GET", fmt.Sprintf("%s/stream?after=%d", base, logIDs[4]), ""), http.StatusOK)
	body := string(r.body)
	if strings.Count(body, "event: log") != 2 || !strings.HasSuffix(strings.TrimSpace(body), `data: {"status":"completed"}`) {
		t.Fatalf("finished stream %q", body)
	}
	e.expect(e.do(c, "GET", base+"/stream", "", "Last-Event-ID", "x"), http.StatusBadRequest)
}

type sseEvent struct {
	id, event, data, comment string
}

func readSSE(res *http.Response, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(res.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			out <- sseEvent{comment: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusOK).json(t)
	if r["status"] != "ok" || r["database"] != "ok" || r["queue"] != "ok" {
		t.Fatalf("healthz %v", r)
	}
	e.ops.mu.Lock()
	e.ops.queueErr = errors.New("river: client not started (secret detail)")
	e.ops.mu.Unlock()
	res := e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusServiceUnavailable)
	if m := res.json(t); m["queue"] != "unavailable" || m["database"] != "ok" || strings.Contains(string(res.body), "secret detail") {
		t.Fatalf("unhealthy %s", res.body)
	}
	e.ops.mu.Lock()
	e.ops.queueErr = nil
	e.ops.mu.Unlock()
	if err := e.cat.Close(); err != nil {
		t.Fatal(err)
	}
	res = e.expect(e.do(cred{}, "GET", "/api/v1/healthz", ""), http.StatusServiceUnavailable)
	if res.json(t)["database"] != "unavailable" {
		t.Fatalf("closed DB %s", res.body)
	}
}

func TestUI(t *testing.T) {
	t.Parallel()
	ui := fstest.MapFS{
		"index.html":           {Data: []byte("<!doctype html><title>coffer</title>")},
		"assets/app-3f2a1b.js": {Data: []byte("console.log(1)")},
		"favicon.svg":          {Data: []byte("<svg/>")},
	}
	e := newEnv(t, nil, withUI(ui))
	for _, p := range []string{"/", "/backups/12", "/connections/new", "/index.html"} {
		r := e.expect(e.do(cred{}, "GET", p, ""), http.StatusOK)
		if !strings.Contains(string(r.body), "<title>coffer</title>") || r.Header.Get("Cache-Control") != "no-cache" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %v %q", p, r.Header, r.body)
		}
	}
	r := e.expect(e.do(cred{}, "GET", "/assets/app-3f2a1b.js", ""), http.StatusOK)
	if r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || string(r.body) != "console.log(1)" {
		t.Fatalf("asset %v %q", r.Header, r.body)
	}
	r = e.expect(e.do(cred{}, "GET", "/favicon.svg", ""), http.StatusOK)
	if r.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("favicon %v", r.Header)
	}
	e.expect(e.do(cred{}, "GET", "/assets/missing.js", ""), http.StatusNotFound)
	r = e.expect(e.do(cred{}, "GET", "/api/v1/no/such/route", ""), http.StatusNotFound)
	if r.json(t)["error"] == "" {
		t.Fatal("API 404 without a JSON error")
	}
	e.expect(e.do(cred{}, "GET", "/api/other", ""), http.StatusNotFound)
	e.expect(e.do(cred{}, "GET", "/api", ""), http.StatusNotFound)

	// Without a built UI, / explains how to build it.
	bare := newEnv(t, nil, withUI(fstest.MapFS{".gitkeep": {}}))
	r = bare.expect(bare.do(cred{}, "GET", "/", ""), http.StatusOK)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(r.body), "npm run build") {
		t.Fatalf("unbuilt UI %v %q", r.Header, r.body)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
