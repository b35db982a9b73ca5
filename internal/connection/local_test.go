package connection_test

import (
	"context"
	"encoding/json"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"os"
	"path/filepath"
	"testing"
)

func TestLocalDestination(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	target := filepath.Join(b.dir, "archives")

	// Outside the allowed roots: refused before anything is stored.
	outside := t.TempDir()
	_, err := b.svc.Create(ctx, "outside", "local", json.RawMessage(`{"path":`+mustJSON(t, outside)+`}`))
	if fields(t, err)["credentials.path"] == "" {
		t.Fatalf("path outside the roots accepted: %v", err)
	}
	if _, err := b.svc.Create(ctx, "rel", "local", json.RawMessage(`{"path":"relative/dir"}`)); fields(t, err)["credentials.path"] == "" {
		t.Fatal("relative path accepted")
	}

	v, err := b.svc.Create(ctx, "disk", "local", json.RawMessage(`{"path":`+mustJSON(t, target)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, v.Roles); got != `["destination"]` {
		t.Fatalf("roles = %s", got)
	}
	res, err := b.svc.Test(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.FreeBytes == nil || *res.FreeBytes <= 0 {
		t.Fatalf("check = %+v", res)
	}
	if st, err := os.Stat(target); err != nil || !st.IsDir() {
		t.Fatalf("the check did not create the directory: %v", err)
	}
	cfg, err := b.svc.LocalConfig(ctx, v.ID)
	if err != nil || cfg.Path != target {
		t.Fatalf("LocalConfig = %+v, %v", cfg, err)
	}

	// A file where the directory should be: the check runs and fails.
	file := filepath.Join(b.dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := b.svc.Create(ctx, "file", "local", json.RawMessage(`{"path":`+mustJSON(t, file)+`}`))
	if err != nil {
		t.Skipf("the local connector refuses a file path up front: %v", err)
	}
	res, err = b.svc.Test(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Message == "" || res.FreeBytes != nil {
		t.Fatalf("check of a file = %+v", res)
	}
}
