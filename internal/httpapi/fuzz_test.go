package httpapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// decodeTargets are the request bodies the API decodes strictly, each with
// a function that makes a fresh value to decode into.
var decodeTargets = []struct {
	name string
	make func() any
}{
	{"create connection", func() any { return new(createConnectionRequest) }},
	{"update connection", func() any { return new(updateConnectionRequest) }},
	{"start backup", func() any { return new(engine.BackupRequest) }},
	{"start restore", func() any { return new(engine.RestoreRequest) }},
}

// bodySeeds are request bodies, valid and not, shared by both fuzz targets.
var bodySeeds = []string{
	`{"name":"disk","type":"local","credentials":{"path":"/tmp/x"}}`,
	`{"name":"src","type":"s3","save_unchecked":true,"credentials":{"access_key":"AK","secret_key":"SK","region":"us-east-1","bucket":"b","force_path_style":true}}`,
	`{"name":"src2","type":"s3","credentials":{"access_key":"AK","secret_key":"SK","region":"us-east-1","bucket":"b","endpoint":"http://127.0.0.1:1"}}`,
	`{"name":"m","type":"mongodb","save_unchecked":true,"credentials":{"uri":"mongodb://u:p@127.0.0.1:1/db","database":"db"}}`,
	`{"name":"d","type":"google_drive","credentials":{"folder_id":"f","refresh_token":"r"}}`,
	`{"name":"n","credentials":{"secret_key":"****abcd"},"is_active":false}`,
	`{"source_connection_id":1,"destination_connection_id":2,"options":{"compression":"zstd"}}`,
	`{"source_connection_id":2,"destination_connection_id":1}`,
	`{"backup_operation_id":1,"destination_connection_id":2,"config":{"bucket":"b","prefix":"p/","overwrite":true}}`,
	`{"backup_operation_id":1,"destination_connection_id":3,"config":{"database":"d","collections":["a"],"drop":true}}`,
	`{"name":1}`, `{"options":"gzip"}`, `{"config":[]}`, `[]`, `null`, `{} {}`, `{"a":`, `"\ud800"`,
	`{"name":"x","unknown":true}`, `{"source_connection_id":1e400}`, `{"source_connection_id":-1}`,
}

// FuzzDecodeJSON feeds arbitrary bodies to the strict decoder for every
// request type: it never panics, every refusal is a client error (4xx) with
// a sentence, and whatever it accepts is one JSON value that decodes the
// same way again after a round trip.
func FuzzDecodeJSON(f *testing.F) {
	for i, b := range bodySeeds {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target := decodeTargets[int(which)%len(decodeTargets)]
		dst := target.make()
		err := decodeJSON(httptest.NewRecorder(), jsonRequest(body), dst)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok {
				t.Fatalf("%s: decodeJSON(%q) = %v, not a coded error (would be a 500)", target.name, body, err)
			}
			if st := statusOf(e.Code); st < 400 || st >= 500 {
				t.Fatalf("%s: decodeJSON(%q) answers %d (%v)", target.name, body, st, err)
			}
			if strings.TrimSpace(e.Message) == "" || strings.HasPrefix(e.Message, "json:") {
				t.Fatalf("%s: decodeJSON(%q): message %q is not a user-facing sentence", target.name, body, e.Message)
			}
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("%s: decodeJSON accepted %q, which is not one JSON value", target.name, body)
		}
		again, err := json.Marshal(dst)
		if err != nil {
			t.Fatalf("%s: re-encode: %v", target.name, err)
		}
		dst2 := target.make()
		if err := decodeJSON(httptest.NewRecorder(), jsonRequest(again), dst2); err != nil {
			t.Fatalf("%s: %q decoded but its re-encoding %q does not: %v", target.name, body, again, err)
		}
		if third, _ := json.Marshal(dst2); !bytes.Equal(third, again) {
			t.Fatalf("%s: round trip changed %q into %q", target.name, again, third)
		}
	})
}

func jsonRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// fuzzAPI is a real API handler over a SQLite catalog, the real engine with
// an insert-only River queue (jobs are queued, never run), a local
// destination, an unreachable S3 source, a MongoDB target and one completed
// backup, so valid bodies get all the way to 201/202.
type fuzzAPI struct {
	h      http.Handler
	bearer string
	local  int64
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	ctx := context.Background()
	cat := storetest.SQLite(tb)
	keys, err := secret.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	roots := tb.TempDir()
	log := slog.New(slog.DiscardHandler)
	q, err := queue.New(ctx, cat, queue.Options{DatabaseURL: cat.URL(), Workers: 0, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	// Fuzzed bodies that pass validation are checked live against servers
	// that are not there: keep those checks short.
	conns, err := connection.New(cat, keys, connection.Options{LocalRoots: []string{roots}, CheckTimeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	eng := engine.New(cat, conns, q, engine.Options{}, log)
	h, err := newHandler(Deps{
		Catalog:     cat,
		Connections: conns,
		Ops:         eng,
		Config:      config.Config{PublicURL: "https://coffer.example.com", SessionTTL: time.Hour, LocalRoots: []string{roots}},
		Logger:      log,
	}, defaultTimings())
	if err != nil {
		tb.Fatal(err)
	}
	hash, err := auth.HashPassword("fuzz password 123")
	if err != nil {
		tb.Fatal(err)
	}
	u := &store.User{Email: "fuzz@example.com", PasswordHash: hash, Role: store.RoleAdmin}
	if err := cat.CreateUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	tok, tokHash, err := auth.NewToken(auth.APITokenPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	if err := cat.CreateAPIToken(ctx, &store.APIToken{UserID: u.ID, Name: "fuzz", TokenHash: tokHash, CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	// Saved unchecked: the fuzzed requests need rows, not servers.
	mk := func(name, typ, creds string) int64 {
		v, err := conns.Create(ctx, connection.NewConnection{Name: name, Type: typ, Credentials: json.RawMessage(creds), SaveUnchecked: true})
		if err != nil {
			if e, ok := apperr.As(err); ok {
				tb.Fatalf("create %s connection: %v %v", typ, err, e.Fields)
			}
			tb.Fatalf("create %s connection: %v", typ, err)
		}
		return v.ID
	}
	local := mk("disk", "local", fmt.Sprintf(`{"path":%q}`, filepath.Join(roots, "archives")))
	s3 := mk("src", "s3", `{"access_key":"AK","secret_key":"SK","region":"us-east-1","bucket":"bucket","endpoint":"http://127.0.0.1:1","force_path_style":true}`)
	mk("mongo", "mongodb", `{"uri":"mongodb://127.0.0.1:1","database":"db"}`)
	done := time.Now().UTC()
	op := &store.BackupOperation{SourceConnectionID: s3, DestinationConnectionID: local,
		ArchivePath: "src/x.tar.gz", ArchiveSize: 10, SHA256: strings.Repeat("a", 64),
		Operation: store.Operation{Status: store.StatusCompleted, StartedAt: &done, CompletedAt: &done}}
	if err := cat.InTx(ctx, func(tx *sql.Tx) error { return cat.CreateBackup(ctx, tx, op) }); err != nil {
		tb.Fatal(err)
	}
	return &fuzzAPI{h: h, bearer: tok, local: local}
}

// fuzzRoute is one route whose body is fuzzed.
type fuzzRoute struct{ method, path string }

// send sends body to route which (modulo the number of routes) as the admin.
func (a *fuzzAPI) send(which uint8, body []byte) (fuzzRoute, *httptest.ResponseRecorder) {
	routes := []fuzzRoute{
		{"POST", "/api/v1/connections"},
		{"PUT", fmt.Sprintf("/api/v1/connections/%d", a.local)},
		{"POST", "/api/v1/backups"},
		{"POST", "/api/v1/restores"},
	}
	rt := routes[int(which)%len(routes)]
	req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.bearer)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rt, rec
}

// TestFuzzAPIReachesSuccess makes sure the fuzzed routes can succeed in the
// fuzz setup, so the fuzzer explores past validation rather than against a
// server that refuses everything.
func TestFuzzAPIReachesSuccess(t *testing.T) {
	t.Parallel()
	api := newFuzzAPI(t)
	for i, c := range []struct {
		body string
		want int
	}{
		{`{"name":"another","type":"mongodb","credentials":{"uri":"mongodb://127.0.0.1:1"},"save_unchecked":true}`, http.StatusCreated},
		{`{"name":"renamed disk"}`, http.StatusOK},
		{`{"source_connection_id":2,"destination_connection_id":1,"options":{"compression":"zstd"}}`, http.StatusAccepted},
		{`{"backup_operation_id":1,"destination_connection_id":2,"config":{"bucket":"other-bucket"}}`, http.StatusAccepted},
	} {
		rt, rec := api.send(uint8(i), []byte(c.body))
		if rec.Code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", rt.method, rt.path, c.body, rec.Code, rec.Body, c.want)
		}
	}
}

// FuzzAPIRequestBodies sends arbitrary bodies through the real handlers
// that decode them (connection create and update, backup and restore start)
// and checks that none answers 5xx and that every error is the JSON error
// shape with a message.
func FuzzAPIRequestBodies(f *testing.F) {
	for _, b := range bodySeeds {
		for i := range 4 {
			f.Add(uint8(i), []byte(b))
		}
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rt, rec := api.send(which, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d, body %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s with %q: Content-Type %q", rt.method, rt.path, body, rec.Header().Get("Content-Type"))
		}
		if rec.Code >= 400 {
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || strings.TrimSpace(eb.Error) == "" {
				t.Fatalf("%s %s with %q: error body %s (%v)", rt.method, rt.path, body, rec.Body, err)
			}
		}
	})
}
