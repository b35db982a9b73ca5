//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// noSecretsOnDisk reads every file under dir (the SQLite catalog, its WAL
// and shared memory, the key file) and fails if any secret appears in it.
func noSecretsOnDisk(t *testing.T, dir string, secrets []string) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("secret %q found in %s", s[:6]+"…", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSecretsAtRestAndKeyRotation creates connections with distinctive
// secrets, checks that no file under the data dir holds one (WAL included),
// rotates the key with `coffer keys rotate`, and checks the connections
// still work and the old key no longer opens anything.
func TestSecretsAtRestAndKeyRotation(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	n := newNode(t)
	n.key = "" // the key file in the data dir, created at first start
	p := n.start(t, "serve")
	c := p.login(t)
	bucket := srv.NewBucket(t)
	mongoPassword := "Mongo-Pa55word-" + fmt.Sprint(time.Now().UnixNano())
	driveToken := "ya29.drive-access-token-" + fmt.Sprint(time.Now().UnixNano())
	refresh := "1//refresh-token-" + fmt.Sprint(time.Now().UnixNano())
	s3id := c.createConn("s3-src", "s3", s3creds(srv, srv.Endpoint, bucket))
	// No MongoDB or Drive answers here: saved without their live checks.
	c.createConnUnchecked("mongo-src", "mongodb", map[string]any{"uri": "mongodb://backup:" + mongoPassword + "@db.internal:27017/app"})
	c.createConnUnchecked("drive", "google_drive", map[string]any{"access_token": driveToken, "refresh_token": refresh, "folder_id": "folder123"})
	secrets := []string{srv.SecretKey, mongoPassword, driveToken, refresh}

	// Responses show secrets masked, never in full.
	var list struct {
		Items []map[string]any `json:"items"`
	}
	var raw []map[string]any
	if code := c.do("GET", "/api/v1/connections", nil, &list); code != 200 {
		t.Fatalf("list connections: %d", code)
	}
	_ = raw
	body := fmt.Sprint(list.Items)
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Fatalf("a secret appears in GET /connections")
		}
	}

	files := noSecretsOnDisk(t, n.dataDir, secrets) // while running: the WAL holds the recent writes
	t.Logf("searched %d files under the data dir while the server runs", files)
	p.term(30 * time.Second)
	noSecretsOnDisk(t, n.dataDir, secrets)

	oldKey, err := os.ReadFile(filepath.Join(n.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "keys", "rotate")
	cmd.Env = append(os.Environ(), "COFFER_DATA_DIR="+n.dataDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("coffer keys rotate: %v\n%s", err, out)
	}
	t.Logf("coffer keys rotate: %s", out)
	newKey, _ := os.ReadFile(filepath.Join(n.dataDir, "secret.key"))
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the key file did not change")
	}
	if info, err := os.Stat(filepath.Join(n.dataDir, "secret.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key mode: %v %v", info.Mode(), err)
	}

	p2 := n.start(t, "serve")
	c2 := p2.login(t)
	var check struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if code := c2.do("POST", fmt.Sprintf("/api/v1/connections/%d/test", s3id), nil, &check); code != 200 || !check.OK {
		t.Fatalf("the S3 connection does not work after the rotation: %d %+v", code, check)
	}
	p2.term(30 * time.Second)

	// With the old key back in place, nothing opens any more.
	if err := os.WriteFile(filepath.Join(n.dataDir, "secret.key"), oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	p3 := n.start(t, "serve")
	c3 := p3.login(t)
	var e struct {
		Error string `json:"error"`
		OK    bool   `json:"ok"`
	}
	code := c3.do("POST", fmt.Sprintf("/api/v1/connections/%d/test", s3id), nil, &e)
	if code != 409 || !strings.Contains(e.Error, "cannot be decrypted with the current secret key") {
		t.Fatalf("with the old key: %d %q, want 409 saying the credentials cannot be decrypted", code, e.Error)
	}
	// The list still answers, naming the connection that needs its credentials again.
	if code := c3.do("GET", "/api/v1/connections", nil, &list); code != 200 || len(list.Items) != 3 {
		t.Fatalf("list with the old key: %d, %d items", code, len(list.Items))
	}
}
