package connection_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

func TestLocalDestination(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	target := filepath.Join(b.dir, "archives")
	pathJSON := func(p string) json.RawMessage { return json.RawMessage(`{"path":` + mustJSON(t, p) + `}`) }

	// Outside the allowed roots: refused before anything is stored or checked.
	outside := t.TempDir()
	_, err := b.svc.Create(ctx, unchecked("outside", "local", pathJSON(outside)))
	if fields(t, err)["credentials.path"] == "" {
		t.Fatalf("path outside the roots accepted: %v", err)
	}
	if _, err := b.svc.Create(ctx, unchecked("rel", "local", pathJSON("relative/dir"))); fields(t, err)["credentials.path"] == "" {
		t.Fatal("relative path accepted")
	}

	// Saved after its check, which creates the directory.
	v, err := b.svc.Create(ctx, connection.NewConnection{Name: "disk", Type: "local", Credentials: pathJSON(target)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, v.Roles); got != `["destination"]` {
		t.Fatalf("roles = %s", got)
	}
	if v.LastValidatedAt == nil || v.Health() != connection.HealthHealthy {
		t.Fatalf("a connection saved after its check is %s (last_validated_at %v)", v.Health(), v.LastValidatedAt)
	}
	if st, err := os.Stat(target); err != nil || !st.IsDir() {
		t.Fatalf("the check did not create the directory: %v", err)
	}
	res, err := b.svc.Test(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.FreeBytes == nil || *res.FreeBytes <= 0 {
		t.Fatalf("check = %+v", res)
	}
	cfg, err := connection.ConfigOf[local.Config](ctx, b.svc, v.ID)
	if err != nil || cfg.Path != target {
		t.Fatalf("stored config = %+v, %v", cfg, err)
	}

	// A file where the directory should be: the check on save refuses it
	// with the sentence the test of a saved connection gives.
	file := filepath.Join(b.dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Create(ctx, connection.NewConnection{Name: "file", Type: "local", Credentials: pathJSON(file)})
	refused := refusedCheck(t, err)
	if !strings.Contains(refused, "not a directory") {
		t.Fatalf("a file as the directory: %q", refused)
	}
	f, err := b.svc.Create(ctx, unchecked("file", "local", pathJSON(file)))
	if err != nil {
		t.Fatal(err)
	}
	if f.LastValidatedAt != nil || f.Health() != connection.HealthUnchecked {
		t.Fatalf("a connection saved unchecked is %s", f.Health())
	}
	res, err = b.svc.Test(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Message != refused || res.FreeBytes != nil {
		t.Fatalf("check of a file = %+v; want the sentence of the refused save, %q", res, refused)
	}
}
