package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/store"
)

// fetchOpenAPI gets the document as an anonymous client.
func fetchOpenAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	r := e.expect(e.do(cred{}, "GET", "/api/v1/openapi.json", ""), http.StatusOK)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	return r.json(t)
}

// TestOpenAPIMatchesRoutes: every route of the table is in the served
// document with the same method, path and least role, and the document has
// nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	doc := fetchOpenAPI(t, e)
	s, err := newServer(Deps{Catalog: e.cat, Connections: e.conns, Ops: e.ops}, defaultTimings())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, rt := range s.routes() {
		want[rt.method+" "+rt.path] = roleName(rt.access)
	}
	got := map[string]string{}
	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	for path, item := range doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			if !slices.Contains(methods, m) {
				t.Errorf("path %s has %q, which is not an HTTP method", path, m)
				continue
			}
			role, _ := op.(map[string]any)["x-coffer-role"].(string)
			got[strings.ToUpper(m)+" "+path] = role
		}
	}
	for k, role := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("route %s is not in the OpenAPI document", k)
		} else if g != role {
			t.Errorf("route %s: the document says role %q, the route table %q", k, g, role)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("the OpenAPI document has %s, which is not a route", k)
		}
	}
}

// TestOpenAPIServedIsWhatTheGeneratorReads: the web UI's types are
// generated from OpenAPI(), which must be the very document the server
// serves.
func TestOpenAPIServedIsWhatTheGeneratorReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	served := e.expect(e.do(cred{}, "GET", "/api/v1/openapi.json", ""), http.StatusOK).body
	gen, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served, gen) {
		t.Fatalf("the served document (%d bytes) differs from OpenAPI() (%d bytes)", len(served), len(gen))
	}
	// Not a 404: the document's path is a route like any other.
	r := e.expect(e.do(cred{}, "POST", "/api/v1/openapi.json", ""), http.StatusMethodNotAllowed)
	if r.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
}

// TestOpenAPIRefusesUndocumentedRoutes: a route whose doc is missing or
// wrong stops the document (and so the server) from being built.
func TestOpenAPIRefusesUndocumentedRoutes(t *testing.T) {
	t.Parallel()
	noop := func(http.ResponseWriter, *http.Request) error { return nil }
	ok := doc{tag: "t", summary: "Does a thing.", responses: obj{"200": jsonResponse("Done.", "User")}}
	with := func(change func(*doc)) doc {
		d := ok
		d.responses = obj{"200": jsonResponse("Done.", "User")}
		change(&d)
		return d
	}
	good := route{"GET", "/things/{id}", reader, noop, ok}
	if _, err := openapiDocument([]route{good}); err != nil {
		t.Fatalf("a documented route was refused: %v", err)
	}
	tests := []struct {
		name   string
		routes []route
		want   string
	}{
		{"no doc", []route{{"GET", "/things", reader, noop, doc{}}}, "no tag"},
		{"no summary", []route{{"GET", "/things", reader, noop, with(func(d *doc) { d.summary = "" })}}, "no summary"},
		{"only errors", []route{{"GET", "/things", reader, noop, with(func(d *doc) { d.responses = obj{"404": respNotFound()} })}}, "no success response"},
		{"undocumented wildcard", []route{{"GET", "/things/{name}", reader, noop, ok}}, "{name}"},
		{"unknown body", []route{{"POST", "/things", reader, noop, with(func(d *doc) { d.body = "Thing" })}}, `"Thing"`},
		{"unknown response schema", []route{{"GET", "/things", reader, noop, with(func(d *doc) { d.responses = obj{"200": jsonResponse("Done.", "Thing")} })}}, "Thing"},
		{"listed twice", []route{good, good}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openapiDocument(tt.routes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %s", err, tt.want)
			}
		})
	}
}

// TestOpenAPIDocumentIsSound checks the document's own consistency: every
// $ref resolves, every path parameter is declared, operation ids are
// unique, every operation has a success answer, and public routes are
// exactly those without security.
func TestOpenAPIDocumentIsSound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	doc := fetchOpenAPI(t, e)
	if doc["openapi"] != "3.0.3" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				name, found := strings.CutPrefix(r, "#/components/schemas/")
				if _, ok := schemas[name]; !found || !ok {
					t.Errorf("%s: $ref %q does not resolve", where, r)
				}
			}
			for k, c := range x {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s/%d", where, i), c)
			}
		}
	}
	walk("#", doc)

	pathParam := regexp.MustCompile(`\{([a-z_]+)\}`)
	ids := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for m, raw := range item.(map[string]any) {
			op := raw.(map[string]any)
			where := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if prev, dup := ids[id]; id == "" || dup {
				t.Errorf("%s: operationId %q missing or also used by %s", where, id, prev)
			}
			ids[id] = where
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				pm := p.(map[string]any)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s is not declared", where, m[1])
				}
			}
			responses := op["responses"].(map[string]any)
			ok := false
			for code := range responses {
				if code[0] == '2' || code[0] == '3' {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: no success response", where)
			}
			sec, hasSec := op["security"].([]any)
			public := op["x-coffer-role"] == "public"
			if public != (hasSec && len(sec) == 0) {
				t.Errorf("%s: public=%v but security=%v", where, public, op["security"])
			}
			if !public {
				if _, ok := responses["401"]; !ok {
					t.Errorf("%s: needs a login but documents no 401", where)
				}
			}
		}
	}
}

// schemaChecker validates JSON values against the document's schemas: the
// types, required properties, enums, and that no property is undocumented.
type schemaChecker struct {
	t       *testing.T
	schemas map[string]any
}

func (c schemaChecker) resolve(s map[string]any) map[string]any {
	for {
		r, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = c.schemas[strings.TrimPrefix(r, "#/components/schemas/")].(map[string]any)
	}
}

// problems returns why v does not fit s ("" entries never appear).
func (c schemaChecker) problems(where string, s map[string]any, v any) []string {
	s = c.resolve(s)
	if v == nil {
		if s["nullable"] == true {
			return nil
		}
		return []string{where + ": null but not nullable"}
	}
	if all, ok := s["allOf"].([]any); ok {
		var out []string
		for _, sub := range all {
			out = append(out, c.loose(where, sub.(map[string]any), v)...)
		}
		return out
	}
	// oneOf: exactly one member fits; anyOf: at least one.
	members, exactlyOne := s["oneOf"].([]any)
	if !exactlyOne {
		members, _ = s["anyOf"].([]any)
	}
	if members != nil {
		var all []string
		fits := 0
		for _, sub := range members {
			p := c.problems(where, sub.(map[string]any), v)
			if len(p) == 0 {
				fits++
			}
			all = append(all, p...)
		}
		switch {
		case fits == 0:
			return append([]string{where + ": fits none of oneOf/anyOf"}, all...)
		case fits > 1 && exactlyOne:
			return []string{fmt.Sprintf("%s: fits %d members of oneOf, want exactly one", where, fits)}
		}
		return nil
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", where, v, e)}
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", where, v)}
		}
		var out []string
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				out = append(out, where+": lacks required "+r.(string))
			}
		}
		for k, val := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					out = append(out, c.problems(where+"."+k, ap, val)...)
				} else if props != nil && s["additionalProperties"] != true {
					out = append(out, where+": has undocumented property "+k)
				}
				continue
			}
			out = append(out, c.problems(where+"."+k, ps, val)...)
		}
		return out
	case "array":
		a, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an array", where, v)}
		}
		var out []string
		for i, val := range a {
			out = append(out, c.problems(fmt.Sprintf("%s[%d]", where, i), s["items"].(map[string]any), val)...)
		}
		return out
	case "string":
		if _, ok := v.(string); !ok {
			return []string{fmt.Sprintf("%s: %T, want a string", where, v)}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return []string{fmt.Sprintf("%s: %v, want an integer", where, v)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s: %T, want a boolean", where, v)}
		}
	}
	return nil
}

// loose checks s against v without flagging properties s does not list
// (for allOf members, which each describe part of the object).
func (c schemaChecker) loose(where string, s map[string]any, v any) []string {
	s = c.resolve(s)
	cp := map[string]any{}
	for k, x := range s {
		cp[k] = x
	}
	if cp["type"] == "object" {
		cp["additionalProperties"] = true
	}
	return c.problems(where, cp, v)
}

// check fails the test when body does not fit the schema of the response
// the document gives for method path status.
func (c schemaChecker) check(doc map[string]any, method, path string, status int, body []byte) {
	c.t.Helper()
	item, _ := doc["paths"].(map[string]any)[path].(map[string]any)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		c.t.Errorf("the document has no %s %s", method, path)
		return
	}
	resp, ok := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
	if !ok {
		c.t.Errorf("%s %s answered %d, which the document does not list", method, path, status)
		return
	}
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(body) > 0 {
			c.t.Errorf("%s %s %d: the document says no body, got %s", method, path, status, body)
		}
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	schema := content["application/json"].(map[string]any)["schema"].(map[string]any)
	if p := c.problems(method+" "+path, schema, v); len(p) > 0 {
		sort.Strings(p)
		c.t.Errorf("%s %s %d does not fit the document:\n  %s\nbody: %s", method, path, status, strings.Join(p, "\n  "), body)
	}
}

// TestOpenAPIDescribesRealResponses sends real requests and checks each
// answer (success and error) against the document's schema for it.
func TestOpenAPIDescribesRealResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	doc := fetchOpenAPI(t, e)
	c := schemaChecker{t: t, schemas: doc["components"].(map[string]any)["schemas"].(map[string]any)}
	admin := e.admin()
	call := func(method, docPath, path, body string, status int) resp {
		t.Helper()
		r := e.expect(e.do(admin, method, path, body), status)
		c.check(doc, method, docPath, status, r.body)
		return r
	}
	call("GET", "/auth/me", "/api/v1/auth/me", "", 200)
	conn := call("POST", "/connections", "/api/v1/connections",
		fmt.Sprintf(`{"name":"disk","type":"local","credentials":{"path":%q}}`, e.roots+"/archives"), 201).json(t)
	id := int64(conn["id"].(float64))
	src := e.connection("src", "s3", `{"access_key":"AKIAEXAMPLE","secret_key":"secretsecret","region":"us-east-1","bucket":"bucket","endpoint":"http://127.0.0.1:1","force_path_style":true}`)
	call("POST", "/connections", "/api/v1/connections", `{"name":"disk","type":"local","credentials":{"path":"/"}}`, 422)
	call("POST", "/connections", "/api/v1/connections", `{"name":"disk","bogus":1}`, 400)
	call("GET", "/connections", "/api/v1/connections", "", 200)
	call("GET", "/connections/{id}", fmt.Sprintf("/api/v1/connections/%d", src), "", 200)
	call("PUT", "/connections/{id}", fmt.Sprintf("/api/v1/connections/%d", id), `{"name":"disk 2"}`, 200)
	call("GET", "/connections/{id}", "/api/v1/connections/999", "", 404)
	call("POST", "/connections/{id}/test", fmt.Sprintf("/api/v1/connections/%d/test", id), "", 200)

	op := e.backupRow(src, id, store.StatusCompleted)
	call("GET", "/backups", "/api/v1/backups", "", 200)
	call("GET", "/backups", "/api/v1/backups?status=nope", "", 422)
	call("GET", "/backups/{id}", fmt.Sprintf("/api/v1/backups/%d", op.ID), "", 200)
	call("GET", "/backups/{id}/logs", fmt.Sprintf("/api/v1/backups/%d/logs", op.ID), "", 200)
	e.backupRow(src, id, store.StatusRunning)
	rs := &store.RestoreOperation{BackupOperationID: op.ID, DestinationConnectionID: src, Operation: store.Operation{Status: store.StatusFailed, ErrorMessage: "boom"}}
	if err := e.cat.CreateRestore(context.Background(), nil, rs); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.AppendLog(context.Background(), &store.JobLog{OperationKind: store.KindRestore, OperationID: rs.ID, Level: store.LevelWarning, Message: "slow", Context: json.RawMessage(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	call("GET", "/restores", "/api/v1/restores", "", 200)
	call("GET", "/restores/{id}", fmt.Sprintf("/api/v1/restores/%d", rs.ID), "", 200)
	call("GET", "/restores/{id}/logs", fmt.Sprintf("/api/v1/restores/%d/logs", rs.ID), "", 200)
	d := call("GET", "/dashboard", "/api/v1/dashboard", "", 200).json(t)
	if len(d["running"].([]any)) != 1 || len(d["recent_failures"].([]any)) != 1 {
		t.Fatalf("the dashboard should list a running backup and a failed restore: %v", d)
	}
	call("POST", "/tokens", "/api/v1/tokens", `{"name":"ci"}`, 201)
	call("GET", "/tokens", "/api/v1/tokens", "", 200)
	call("GET", "/users", "/api/v1/users", "", 200)
	call("GET", "/audit", "/api/v1/audit", "", 200)
	call("GET", "/healthz", "/api/v1/healthz", "", 200)
	r := e.expect(e.do(cred{}, "GET", "/api/v1/backups", ""), 401)
	c.check(doc, "GET", "/backups", 401, r.body)
}
