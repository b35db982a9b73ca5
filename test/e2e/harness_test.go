//go:build e2e

// Package e2e runs the real coffer binary as subprocesses against real S3
// (versitygw) and PostgreSQL: the API end to end, crashes at exact points,
// graceful stops, two processes sharing one database, and the browser tests.
// Run with `make test-e2e`: it builds bin/coffer-e2e, the release binary
// plus the crash tests' hook (build tag crashhook), and runs the tests
// side by side (t.Parallel; each test has its own servers and data).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/syncbuf"
)

var binary string

func TestMain(m *testing.M) {
	binary = os.Getenv("COFFER_BIN")
	if binary == "" {
		root, _ := filepath.Abs("../..")
		binary = filepath.Join(root, "bin", "coffer-e2e")
	}
	if _, err := os.Stat(binary); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %s is missing; run `make e2e-bin` (or set COFFER_BIN to a binary built with -tags crashhook)\n", binary)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery staple"
)

// proc is one coffer process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	out    *syncbuf.Buffer
	exited chan struct{}
}

// node is the shared setting of the processes of one test: data dir, database, key.
type node struct {
	dataDir string
	dbURL   string // "" = SQLite in dataDir
	key     string
	roots   string
}

func newNode(t *testing.T) *node {
	var k [32]byte
	_, _ = rand.Read(k[:])
	dir := t.TempDir()
	return &node{dataDir: dir, key: base64.StdEncoding.EncodeToString(k[:]), roots: filepath.Join(dir, "archives")}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs `coffer <cmd>` with the node's settings plus extra env.
func (n *node) start(t *testing.T, command string, extra ...string) *proc {
	t.Helper()
	port := freePort(t)
	env := append(os.Environ(),
		"COFFER_DATA_DIR="+n.dataDir,
		"COFFER_LISTEN=127.0.0.1:"+fmt.Sprint(port),
		"COFFER_SECRET_KEY="+n.key,
		"COFFER_ADMIN_EMAIL="+adminEmail,
		"COFFER_ADMIN_PASSWORD="+adminPassword,
		"COFFER_LOCAL_ROOTS="+n.roots,
		"COFFER_LEASE_TIMEOUT=3s",
		"COFFER_CHECKPOINT_INTERVAL=0s", // a checkpoint after every part: the crash points count them
		"COFFER_WORKERS=2",
	)
	if n.dbURL != "" {
		env = append(env, "COFFER_DATABASE_URL="+n.dbURL)
	}
	env = append(env, extra...)
	p := &proc{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, command)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of coffer %s (pid %d):\n%s", command, p.cmd.Process.Pid, p.out.String())
		}
	})
	if command == "serve" {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(p.url + "/api/v1/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case <-p.exited:
				t.Fatalf("coffer serve exited at start:\n%s", p.out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("coffer serve did not become healthy:\n%s", p.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	} else {
		time.Sleep(500 * time.Millisecond)
	}
	return p
}

func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(within time.Duration) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			p.t.Fatalf("coffer exited %d after SIGTERM", code)
		}
	case <-time.After(within):
		p.t.Fatalf("coffer did not stop within %s of SIGTERM", within)
	}
}

// waitExit waits for the process to die by itself (a crash point).
func (p *proc) waitExit(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("coffer did not exit within %s:\n%s", within, p.out.String())
	}
}

// client is a logged-in API client.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func (p *proc) login(t *testing.T) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: p.url, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var me map[string]any
	if code := c.do("POST", "/api/v1/auth/login", map[string]string{"email": adminEmail, "password": adminPassword}, &me); code != 200 {
		t.Fatalf("login: %d %v", code, me)
	}
	return c
}

// do sends a JSON request and decodes the JSON answer into out; it returns the status.
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type operation struct {
	ID           int64  `json:"id"`
	Status       string `json:"status"`
	ArchivePath  string `json:"archive_path"`
	SHA256       string `json:"sha256"`
	ErrorMessage string `json:"error_message"`
	Progress     struct {
		ItemsDone    int64 `json:"items_done"`
		BytesRead    int64 `json:"bytes_read"`
		BytesWritten int64 `json:"bytes_written"`
	} `json:"progress"`
}

// createConn saves a connection after the server's live check of it.
func (c *client) createConn(name, typ string, creds any) int64 {
	c.t.Helper()
	return c.postConn(map[string]any{"name": name, "type": typ, "credentials": creds})
}

// createConnUnchecked saves a connection whose server is not there, with
// save_unchecked (the server would refuse it after its live check).
func (c *client) createConnUnchecked(name, typ string, creds any) int64 {
	c.t.Helper()
	return c.postConn(map[string]any{"name": name, "type": typ, "credentials": creds, "save_unchecked": true})
}

func (c *client) postConn(body map[string]any) int64 {
	c.t.Helper()
	var out struct {
		ID    int64  `json:"id"`
		Error string `json:"error"`
	}
	if code := c.do("POST", "/api/v1/connections", body, &out); code != 201 && code != 200 {
		c.t.Fatalf("create connection %s: %d %s", body["name"], code, out.Error)
	}
	return out.ID
}

func (c *client) startBackup(src, dst int64) int64 {
	c.t.Helper()
	var op operation
	if code := c.do("POST", "/api/v1/backups", map[string]any{"source_connection_id": src, "destination_connection_id": dst}, &op); code != 202 {
		c.t.Fatalf("start backup: %d %+v", code, op)
	}
	return op.ID
}

func (c *client) startRestore(backup, target int64, cfg any) int64 {
	c.t.Helper()
	var op operation
	if code := c.do("POST", "/api/v1/restores", map[string]any{"backup_operation_id": backup, "destination_connection_id": target, "config": cfg}, &op); code != 202 {
		c.t.Fatalf("start restore: %d %+v", code, op)
	}
	return op.ID
}

// wait polls kind ("backups"/"restores") id until its status is want.
func (c *client) wait(kind string, id int64, want string, within time.Duration) operation {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var op operation
	for {
		c.do("GET", fmt.Sprintf("/api/v1/%s/%d", kind, id), nil, &op)
		if op.Status == want {
			return op
		}
		if time.Now().After(deadline) || (op.Status == "failed" && want != "failed") {
			c.t.Fatalf("%s %d is %q (%s), want %s", kind, id, op.Status, op.ErrorMessage, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitProgress polls a backup until it has done at least items.
func (c *client) waitProgress(id, items int64, within time.Duration) operation {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var op operation
	for time.Now().Before(deadline) {
		c.do("GET", fmt.Sprintf("/api/v1/backups/%d", id), nil, &op)
		if op.Progress.ItemsDone >= items {
			return op
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("backup %d did not reach %d items (%+v)", id, items, op)
	return op
}

func (c *client) logs(kind string, id int64) []string {
	var page struct {
		Items []struct {
			Message string `json:"message"`
		} `json:"items"`
	}
	c.do("GET", fmt.Sprintf("/api/v1/%s/%d/logs?limit=1000", kind, id), nil, &page)
	var out []string
	for _, l := range page.Items {
		out = append(out, l.Message)
	}
	return out
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

var _ = context.Background
