//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestBrowser runs the Playwright specs in web/e2e against a real `coffer
// serve` (UI embedded) with versitygw behind a bandwidth-limited proxy, so
// the backup the browser starts runs long enough to be paused and resumed.
// Screenshots of every page land in web/test-results/.
func TestBrowser(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required for the browser tests")
	}
	srv := s3test.Start(t)
	slow := newSlowProxy(t, srv.Endpoint, 5*time.Millisecond, 4<<20)
	n := newNode(t)
	p := n.start(t, "serve")
	localDir := filepath.Join(n.roots, "browser")

	web, _ := filepath.Abs("../../web")
	cmd := exec.Command("npm", "run", "e2e")
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"COFFER_E2E_URL="+p.url,
		"COFFER_E2E_EMAIL="+adminEmail,
		"COFFER_E2E_PASSWORD="+adminPassword,
		"COFFER_E2E_S3_ENDPOINT="+slow,
		"COFFER_E2E_S3_ACCESS_KEY="+srv.AccessKey,
		"COFFER_E2E_S3_SECRET_KEY="+srv.SecretKey,
		"COFFER_E2E_S3_BUCKET=browser-src",
		"COFFER_E2E_S3_REGION="+srv.Region,
		"COFFER_E2E_LOCAL_DIR="+localDir,
		"COFFER_E2E_OBJECTS=40",
		"COFFER_E2E_OBJECT_KB=1024",
		"COFFER_E2E_REQUIRE_PAUSE=true",
		"CI=true", // a missing variable or browser is a failure here, never a skip
	)
	out, err := cmd.CombinedOutput()
	t.Logf("npm run e2e:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}
