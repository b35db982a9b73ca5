package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// Distinctive secrets: none of them may appear in any output.
const (
	wrongS3Secret   = "WrongS3Secret0001DistinctValueXYZabcdefg" // 40 characters, AWS-shaped
	unreachS3Secret = "Unreach-S3-Secret-0002-Distinct"
	mongoPassword   = "Mongo-Pass-0004-Distinct"
	driveClientSec  = "Drive-Client-Secret-0003-Distinct"
)

// outputs collects everything coffer shows: API responses and headers, the
// server log, and job logs read back from the catalog.
type outputs struct {
	mu  sync.Mutex
	all []string
}

func (o *outputs) add(what, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, what+": "+text)
}

func (o *outputs) check(t *testing.T, secrets map[string]string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, sec := range secrets {
		for _, out := range o.all {
			if strings.Contains(out, sec) {
				t.Errorf("%s (%q) leaked in %s", name, sec, out)
			}
		}
	}
}

// TestRedactionAcrossConnectors drives every connector's failure paths with
// distinctive secrets — S3 with a wrong secret against versitygw, an
// unreachable S3 endpoint, a local directory that is a file, Google Drive
// with a revoked grant, MongoDB with a password and a wrong host — through
// the API, the real engine and job queue, and directly, and searches every
// output for the secrets.
func TestRedactionAcrossConnectors(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	drv := drivetest.New(t)
	drv.ClientSecret = driveClientSec
	folder := drv.AddFolder(drivetest.RootID, "Backups")
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	if _, err := srv.Client(t).PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("alpha")}); err != nil {
		t.Fatal(err)
	}
	driveOAuth := gdrive.OAuth{ClientID: drv.ClientID, ClientSecret: drv.ClientSecret, AuthURL: drv.AuthURL(), TokenURL: drv.TokenURL(), APIURL: drv.APIURL()}

	var logBuf bytes.Buffer
	var logMu sync.Mutex
	secrets := redact.NewSecrets()
	secrets.Add(driveClientSec) // the server's own OAuth client secret, as cmd/coffer registers it
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(lockedWriter{&logMu, &logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}), secrets))

	cat := storetest.SQLite(t)
	e := newEnv(t, cat,
		func(s *envSetup) { s.deps.Logger = logger; s.deps.Secrets = secrets },
		withEngine(t, 2, logger))
	e.conns.SetDrive(driveOAuth, "https://coffer.example.com/api/v1/oauth/google/callback")

	var out outputs
	c := e.admin()
	call := func(method, path, body string) resp {
		t.Helper()
		r := e.do(c, method, path, body)
		hdr, _ := json.Marshal(r.Header)
		out.add(method+" "+path, string(r.body)+" "+string(hdr))
		return r
	}
	// create saves a connection after its live check; one whose check
	// fails (its 422 answer is among the outputs searched for secrets) is
	// saved again with save_unchecked.
	refusedOnSave := 0
	create := func(name, typ string, creds any) int64 {
		t.Helper()
		req := map[string]any{"name": name, "type": typ, "credentials": creds}
		body, _ := json.Marshal(req)
		r := call("POST", "/api/v1/connections", string(body))
		if r.StatusCode == http.StatusUnprocessableEntity {
			refusedOnSave++
			req["save_unchecked"] = true
			body, _ = json.Marshal(req)
			r = call("POST", "/api/v1/connections", string(body))
		}
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, r.StatusCode, r.body)
		}
		return idOf(t, r)
	}

	good := srv.Config(bucket)
	wrong := srv.Config(bucket)
	wrong.SecretKey = wrongS3Secret
	unreachable := srv.Config(bucket)
	unreachable.SecretKey = unreachS3Secret
	unreachable.Endpoint = "http://127.0.0.1:1"
	accessTok, refreshTok := drv.Authorize()
	mongoURI := "mongodb://coffer:" + mongoPassword + "@127.0.0.1:1/admin?serverSelectionTimeoutMS=700&connectTimeoutMS=500"
	badDir := filepath.Join(e.roots, "not-a-dir")
	secretsToFind := map[string]string{
		"wrong S3 secret": wrongS3Secret, "unreachable S3 secret": unreachS3Secret, "MongoDB password": mongoPassword,
		"Drive access token": accessTok, "Drive refresh token": refreshTok, "Drive client secret": driveClientSec,
	}

	goodID := create("good-s3", "s3", good)
	wrongID := create("wrong-secret-s3", "s3", wrong)
	unreachID := create("unreachable-s3", "s3", unreachable)
	diskID := create("disk", "local", map[string]string{"path": filepath.Join(e.roots, "archives")})
	badDiskID := create("bad-disk", "local", map[string]string{"path": badDir})
	driveID := create("drive", "google_drive", map[string]string{"access_token": accessTok, "refresh_token": refreshTok, "folder_id": folder})
	mongoID := create("mongo", "mongodb", map[string]string{"uri": mongoURI})
	if refusedOnSave != 3 {
		t.Errorf("%d connections were refused on save, want 3 (the wrong S3 key, the unreachable S3 and MongoDB)", refusedOnSave)
	}
	// The local directory (made by the check on save) becomes a file, and
	// the Drive grant is revoked.
	if err := os.Remove(badDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	drv.ExpireAccessTokens()
	drv.RevokeRefreshToken(refreshTok)

	// Live checks: a failed check is a 200 with the reason, or 503 where a type has none.
	failedChecks := 0
	for _, id := range []int64{wrongID, unreachID, badDiskID, driveID, mongoID} {
		r := call("POST", fmt.Sprintf("/api/v1/connections/%d/test", id), "")
		if r.StatusCode == http.StatusOK && r.json(t)["ok"] == false {
			failedChecks++
		} else if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("check of connection %d: %d %s", id, r.StatusCode, r.body)
		}
	}
	if failedChecks < 3 {
		t.Errorf("only %d live checks failed; the S3 and local failures should", failedChecks)
	}
	call("GET", "/api/v1/connections", "")
	// Validation errors that echo what was sent.
	call("POST", "/api/v1/connections", `{"name":"bad/name","type":"mongodb","credentials":{"uri":"mongodb://u:`+mongoPassword+`@"}}`)
	call("PUT", fmt.Sprintf("/api/v1/connections/%d", wrongID), `{"credentials":{"secret_key":"`+wrongS3Secret+`","bucket":""}}`)

	// Backups through the real engine that fail at the source or the destination.
	var backups []int64
	for _, pair := range [][2]int64{{wrongID, diskID}, {unreachID, diskID}, {goodID, badDiskID}, {goodID, driveID}, {mongoID, diskID}} {
		r := call("POST", "/api/v1/backups", fmt.Sprintf(`{"source_connection_id":%d,"destination_connection_id":%d}`, pair[0], pair[1]))
		switch r.StatusCode {
		case http.StatusAccepted:
			backups = append(backups, idOf(t, r))
		case http.StatusUnprocessableEntity: // refused before it started
		default:
			t.Errorf("backup %v: %d %s", pair, r.StatusCode, r.body)
		}
	}
	if len(backups) < 4 {
		t.Fatalf("only %d backups started", len(backups))
	}
	failed := 0
	for _, id := range backups {
		op := waitFinal(t, e, c, fmt.Sprintf("/api/v1/backups/%d", id))
		if op["status"] == store.StatusFailed && op["error_message"] != "" {
			failed++
		}
		call("GET", fmt.Sprintf("/api/v1/backups/%d", id), "")
		call("GET", fmt.Sprintf("/api/v1/backups/%d/logs?limit=1000", id), "")
		lines, err := cat.ListLogs(ctx, store.KindBackup, id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			t.Errorf("backup %d wrote no log lines", id)
		}
		for _, l := range lines {
			out.add(fmt.Sprintf("job log of backup %d", id), l.Message+" "+string(l.Context))
		}
	}
	if failed < 4 {
		t.Errorf("%d of %d backups failed with a message; the four broken connections should fail theirs", failed, len(backups))
	}
	call("GET", "/api/v1/backups?per_page=100", "")
	call("GET", "/api/v1/audit?per_page=100", "")

	// Directly: each connector's own error, wrapped by a careless caller that
	// also prints the plaintext credentials, then shown to a user, written to a
	// job log and to the server log.
	s, err := newServer(Deps{Catalog: cat, Connections: e.conns, Ops: e.ops, Logger: logger}, defaultTimings())
	if err != nil {
		t.Fatal(err)
	}
	direct := map[string]error{}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if cl, err := s3conn.New(cctx, wrong, s3conn.Options{}); err != nil {
		direct["s3 wrong secret"] = err
	} else if _, err := cl.Check(cctx); err != nil {
		direct["s3 wrong secret"] = err
	}
	if cl, err := s3conn.New(cctx, unreachable, s3conn.Options{}); err != nil {
		direct["s3 unreachable"] = err
	} else if _, err := cl.Check(cctx); err != nil {
		direct["s3 unreachable"] = err
	}
	if d, err := local.New(local.Config{Path: badDir}); err != nil {
		direct["local bad path"] = err
	} else if _, err := d.Check(cctx); err != nil {
		direct["local bad path"] = err
	}
	dcfg := gdrive.Config{AccessToken: accessTok, RefreshToken: refreshTok, FolderID: folder, Expiry: time.Now().Add(time.Hour)}
	if cl, err := gdrive.New(cctx, dcfg, gdrive.Options{OAuth: driveOAuth}); err != nil {
		direct["drive revoked"] = err
	} else if _, err := cl.Check(cctx); err != nil {
		direct["drive revoked"] = err
	}
	if cl, err := mongodb.New(cctx, mongodb.Config{URI: mongoURI}); err != nil {
		direct["mongodb wrong host"] = err
	} else {
		if _, err := cl.Check(cctx); err != nil {
			direct["mongodb wrong host"] = err
		}
		_ = cl.Close()
	}
	for _, name := range []string{"s3 wrong secret", "s3 unreachable", "local bad path", "drive revoked", "mongodb wrong host"} {
		if direct[name] == nil {
			t.Errorf("%s: the connector reported no error", name)
		}
	}
	plain := map[string]any{"s3 wrong secret": wrong, "s3 unreachable": unreachable, "local bad path": map[string]string{"path": badDir},
		"drive revoked": dcfg, "mongodb wrong host": mongodb.Config{URI: mongoURI}}
	lg := joblog.New(cat, store.KindBackup, 999, logger)
	for name, cause := range direct {
		creds, _ := json.Marshal(plain[name])
		careless := fmt.Errorf("%s failed with credentials %s, uri %s, token %s: %w", name, creds, mongoURI, "Bearer "+accessTok, cause)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/connections/1/test", nil)
		s.writeError(rec, req, apperr.Wrap(apperr.Invalid, careless, "%s", careless.Error()))
		out.add("error response for "+name, rec.Body.String())
		rec = httptest.NewRecorder()
		s.writeError(rec, req, careless) // a 500: logged, shown as "internal error"
		out.add("internal error for "+name, rec.Body.String())
		lg.Error(ctx, "check failed: "+careless.Error(), "err", careless, "credentials", json.RawMessage(creds))
		s.log.Warn("connector error", "err", careless, "config", plain[name])
	}
	lines, err := cat.ListLogs(ctx, store.KindBackup, 999, 0, 100)
	if err != nil || len(lines) != len(direct) {
		t.Fatalf("direct job log lines: %v %d", err, len(lines))
	}
	for _, l := range lines {
		out.add("direct job log", l.Message+" "+string(l.Context))
	}

	logMu.Lock()
	serverLog := logBuf.String()
	logMu.Unlock()
	if !strings.Contains(serverLog, "connector error") || !strings.Contains(serverLog, redact.Mask) {
		t.Fatalf("the server log did not capture the direct errors:\n%s", serverLog)
	}
	out.add("server log", serverLog)
	out.check(t, secretsToFind)
}
