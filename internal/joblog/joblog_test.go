package joblog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/syncbuf"
)

// TestLinesAreRedacted writes lines holding secrets (registered values and
// known shapes, in the message, in errors and nested in the context) and
// reads them back from the SQLite catalog and the server log.
func TestLinesAreRedacted(t *testing.T) {
	t.Parallel()
	cat := storetest.SQLite(t)
	ctx := context.Background()
	secrets := redact.NewSecrets()
	secrets.Add("Registered-S3-Secret-0001")
	var buf syncbuf.Buffer
	log := slog.New(redact.NewHandler(slog.NewTextHandler(&buf, nil), secrets))

	lg := New(cat, store.KindBackup, 7, log)
	lg.Error(ctx, "upload failed: SignatureDoesNotMatch for key Registered-S3-Secret-0001",
		"err", fmt.Errorf("open source: %w", errors.New("mongodb://u:Mongo-Pass-0002@h:1/ refused")),
		"detail", map[string]any{"auth": "Bearer ya29.Token-0003", "n": 2},
		"password", "Plain-Password-0004",
		"elapsed", 1500*time.Millisecond)
	lg.Info(ctx, "copied 3 objects", "objects", 3)

	// Without a redact handler, shapes are still hidden, and WithSecrets adds a registry.
	var plain syncbuf.Buffer
	bare := New(cat, store.KindRestore, 8, slog.New(slog.NewTextHandler(&plain, nil)))
	bare.Warn(ctx, "token cof_ApiToken0005xyz refused; Registered-S3-Secret-0001 stays visible here")
	bare.WithSecrets(secrets).Warn(ctx, "but not here: Registered-S3-Secret-0001")

	lines, err := cat.ListLogs(ctx, store.KindBackup, 7, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Level != store.LevelError || lines[1].Message != "copied 3 objects" {
		t.Fatalf("lines %+v", lines)
	}
	restoreLines, err := cat.ListLogs(ctx, store.KindRestore, 8, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(restoreLines) != 2 {
		t.Fatalf("restore lines %+v", restoreLines)
	}
	var stored strings.Builder
	for _, l := range append(lines, restoreLines...) {
		stored.WriteString(l.Message + " " + string(l.Context) + "\n")
	}
	all := stored.String() + buf.String() + plain.String()
	for _, leaked := range []string{"Mongo-Pass-0002", "Token-0003", "Plain-Password-0004", "ApiToken0005"} {
		if strings.Contains(all, leaked) {
			t.Errorf("%s leaked:\n%s", leaked, all)
		}
	}
	if strings.Count(all, "Registered-S3-Secret-0001") != 2 { // the bare logger's catalog line and its server log line
		t.Errorf("registered secret should appear only where no registry applies:\n%s", all)
	}
	if !strings.Contains(string(lines[0].Context), `"n":2`) || !strings.Contains(buf.String(), "elapsed=1.5s") {
		t.Errorf("ordinary values changed: %s / %s", lines[0].Context, buf.String())
	}
	if !strings.Contains(string(lines[0].Context), "open source: mongodb://u:****@h:1/ refused") {
		t.Errorf("errors should be kept as their redacted text: %s", lines[0].Context)
	}
}
