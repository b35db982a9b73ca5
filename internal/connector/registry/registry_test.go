package registry_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

func TestTypesAndRoles(t *testing.T) {
	t.Parallel()
	if got := strings.Join(registry.Names(), ","); got != "s3,mongodb,google_drive,local" {
		t.Fatalf("Names = %s", got)
	}
	roles := map[string][]registry.Role{
		"s3":           {registry.RoleSource, registry.RoleDestination, registry.RoleRestoreTarget},
		"mongodb":      {registry.RoleSource, registry.RoleRestoreTarget},
		"google_drive": {registry.RoleDestination},
		"local":        {registry.RoleDestination},
	}
	for name, want := range roles {
		typ := registry.Lookup(name)
		if typ == nil || typ.Name() != name || !slices.Equal(typ.Roles(), want) {
			t.Fatalf("Lookup(%s) = %+v", name, typ)
		}
		for _, r := range []registry.Role{registry.RoleSource, registry.RoleDestination, registry.RoleRestoreTarget} {
			if registry.HasRole(name, r) != slices.Contains(want, r) {
				t.Errorf("HasRole(%s, %s) is wrong", name, r)
			}
		}
	}
	if registry.Lookup("ftp") != nil || registry.HasRole("ftp", registry.RoleSource) {
		t.Fatal("an unknown type was found")
	}
	if why := registry.UnknownTypeReason("ftp"); !strings.Contains(why, `"ftp"`) || !strings.Contains(why, "google_drive") {
		t.Fatalf("UnknownTypeReason = %q", why)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	t.Parallel()
	s3 := registry.Lookup("s3")
	good := `{"access_key":"AKIA1","secret_key":"secret-value-1","region":"us-east-1","bucket":"bkt"}`
	if _, errs := s3.Decode([]byte(good), registry.Env{}); len(errs) > 0 {
		t.Fatalf("valid credentials refused: %v", errs)
	}
	cases := []struct{ doc, field, want string }{
		{``, "", "required"},
		{`null`, "", "required"},
		{`[1]`, "", "JSON object"},
		{`{"access_key":"a"} {}`, "", "single JSON object"},
		{`{"access_key":`, "", "not valid JSON"},
		{`{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":"bkt","colour":"red"}`, "colour", "not a known field"},
		{`{"access_key":"a","secret_key":"b","region":"us-east-1","bucket":42}`, "bucket", "a string"},
		{`{"access_key":"a","secret_key":"` + strings.Repeat("s", 5000) + `","region":"us-east-1","bucket":"bkt"}`, "secret_key", "at most"},
	}
	for _, c := range cases {
		_, errs := s3.Decode([]byte(c.doc), registry.Env{})
		if !strings.Contains(errs[c.field], c.want) {
			t.Errorf("Decode(%.50s) = %v; want %q for %q", c.doc, errs, c.want, c.field)
		}
	}
	root := t.TempDir()
	local := registry.Lookup("local")
	if _, errs := local.Decode([]byte(`{"path":`+quote(filepath.Join(root, "a"))+`}`), registry.Env{LocalRoots: []string{root}}); len(errs) > 0 {
		t.Fatalf("a path inside the roots refused: %v", errs)
	}
	if _, errs := local.Decode([]byte(`{"path":`+quote(t.TempDir())+`}`), registry.Env{LocalRoots: []string{root}}); errs["path"] == "" {
		t.Fatal("a path outside the roots accepted")
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestMaskMergeAndSecretValues(t *testing.T) {
	t.Parallel()
	s3 := registry.Lookup("s3")
	stored := []byte(`{"access_key":"AKIA1","secret_key":"wJalrXUtnFEMIK7MDENG","region":"us-east-1","bucket":"bkt"}`)
	masked, err := s3.Mask(stored)
	if err != nil || !strings.Contains(string(masked), `"secret_key":"****DENG"`) || !strings.Contains(string(masked), `"access_key":"AKIA1"`) {
		t.Fatalf("Mask = %s, %v", masked, err)
	}
	sent := strings.Replace(string(masked), `"bkt"`, `"other"`, 1)
	merged := s3.MergeMasked([]byte(sent), stored)
	creds, errs := s3.Decode(merged, registry.Env{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	doc, _ := creds.JSON()
	if !strings.Contains(string(doc), "wJalrXUtnFEMIK7MDENG") || !strings.Contains(string(doc), `"other"`) {
		t.Fatalf("merged = %s", doc)
	}
	if got := creds.SecretValues(); !slices.Equal(got, []string{"wJalrXUtnFEMIK7MDENG"}) {
		t.Fatalf("SecretValues = %v", got)
	}

	mongo := registry.Lookup("mongodb")
	storedURI := []byte(`{"uri":"mongodb://backup:s3cr%2Ft-pass@db.example.com:27017/shop"}`)
	masked, err = mongo.Mask(storedURI)
	if err != nil || string(masked) != `{"uri":"mongodb://backup:****@db.example.com:27017/shop"}` {
		t.Fatalf("Mask(mongodb) = %s, %v", masked, err)
	}
	if got := mongo.SecretValues(storedURI); !slices.Contains(got, "s3cr%2Ft-pass") || !slices.Contains(got, "s3cr/t-pass") {
		t.Fatalf("SecretValues(mongodb) = %v", got)
	}
	hostMoved := mongo.MergeMasked([]byte(`{"uri":"mongodb://backup:****@db2.example.com/"}`), storedURI)
	if string(hostMoved) != `{"uri":"mongodb://backup:s3cr%2Ft-pass@db2.example.com/"}` {
		t.Fatalf("merge after a host change = %s", hostMoved)
	}
	otherUser := mongo.MergeMasked([]byte(`{"uri":"mongodb://other:****@db2.example.com/"}`), storedURI)
	if _, errs := mongo.Decode(otherUser, registry.Env{}); !strings.Contains(errs["uri"], "masked password") {
		t.Fatalf("a masked password for another user: %v", errs)
	}
	if masked, _ := mongo.Mask([]byte(`{"uri":"not-a-uri-but-secret"}`)); strings.Contains(string(masked), "not-a-uri") {
		t.Fatalf("a value that is not a URI is shown: %s", masked)
	}
}

func TestOpenOnlyInItsRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	env := registry.Env{LocalRoots: []string{root}}
	local, errs := registry.Lookup("local").Decode([]byte(`{"path":`+quote(root)+`}`), env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, err := local.OpenSource(ctx, env); err == nil || !strings.Contains(err.Error(), "cannot be backed up") {
		t.Fatalf("OpenSource(local) = %v", err)
	}
	if _, err := local.OpenTarget(ctx, env); err == nil {
		t.Fatal("a local connection opened as a restore target")
	}
	d, err := local.OpenDestination(ctx, env, registry.Hooks{})
	if err != nil || d == nil {
		t.Fatalf("OpenDestination(local) = %v, %v", d, err)
	}
	mongo, errs := registry.Lookup("mongodb").Decode([]byte(`{"uri":"mongodb://127.0.0.1:1/"}`), env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if d, err := mongo.OpenDestination(ctx, env, registry.Hooks{}); err == nil || d != nil {
		t.Fatalf("OpenDestination(mongodb) = %v, %v", d, err)
	}
}

func TestS3OpensInEveryRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	doc, _ := json.Marshal(srv.Config(bucket))
	creds, errs := registry.Lookup("s3").Decode(doc, registry.Env{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if res, err := creds.Check(ctx, registry.Env{}, registry.Hooks{}); err != nil || res.Message == "" {
		t.Fatalf("Check = %+v, %v", res, err)
	}
	dst, err := creds.OpenDestination(ctx, registry.Env{}, registry.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.PutFile(ctx, "a/b.sha256", []byte("x")); err != nil {
		t.Fatal(err)
	}
	src, err := creds.OpenSource(ctx, registry.Env{})
	if err != nil || src.Objects == nil || src.Mongo != nil {
		t.Fatalf("OpenSource = %+v, %v", src, err)
	}
	tgt, err := creds.OpenTarget(ctx, registry.Env{})
	if err != nil || tgt.Objects == nil || tgt.Mongo != nil {
		t.Fatalf("OpenTarget = %+v, %v", tgt, err)
	}
	if ok, err := tgt.Objects("", "a/").Exists(ctx, "b.sha256"); err != nil || !ok {
		t.Fatalf("the target does not see what the destination wrote: %v, %v", ok, err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDriveRefreshReachesTheHook opens a Drive destination whose access
// token expired: the refreshed token comes back through Hooks.Refreshed as
// the connection's whole new credentials (folder and refresh token kept).
func TestDriveRefreshReachesTheHook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := drivetest.New(t)
	access, refresh := srv.Authorize()
	folder := srv.AddFolder(drivetest.RootID, "archives")
	doc, _ := json.Marshal(gdrive.Config{AccessToken: access, RefreshToken: refresh, FolderID: folder, Expiry: time.Now().Add(time.Hour)})
	env := registry.Env{GDrive: gdrive.OAuth{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL(), APIURL: srv.APIURL()}}
	creds, errs := registry.Lookup("google_drive").Decode(doc, env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var mu sync.Mutex
	var got []registry.Creds
	dst, err := creds.OpenDestination(ctx, env, registry.Hooks{Refreshed: func(c registry.Creds) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv.ExpireAccessTokens()
	if n, err := dst.FreeBytes(ctx); err != nil || n == 0 {
		t.Fatalf("FreeBytes = %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Type().Name() != "google_drive" {
		t.Fatalf("Refreshed called %d times", len(got))
	}
	next := got[0].Config().(gdrive.Config)
	if next.AccessToken == access || next.AccessToken == "" || next.RefreshToken != refresh || next.FolderID != folder {
		t.Fatalf("refreshed credentials: new access %v, refresh kept %v, folder kept %v",
			next.AccessToken != access, next.RefreshToken == refresh, next.FolderID == folder)
	}

	// Without the server's OAuth client a refreshable grant cannot be used.
	if _, err := creds.OpenDestination(ctx, registry.Env{GDrive: gdrive.OAuth{APIURL: srv.APIURL()}}, registry.Hooks{}); err == nil ||
		!strings.Contains(err.Error(), "COFFER_GDRIVE_CLIENT_ID") {
		t.Fatalf("open without an OAuth client: %v", err)
	}
}
