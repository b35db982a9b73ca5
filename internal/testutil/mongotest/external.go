//go:build race

package mongotest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/testutil/syncbuf"
)

// Under the race detector FerretDB runs in a process of its own, built
// without the detector (cmd/ferretdb-test): instrumented, FerretDB and its
// SQLite run about ten times slower and add minutes to the race build,
// while only coffer's code, in the test process, needs the detector.

// helperPkg is the command that serves FerretDB.
const helperPkg = "github.com/coffer-backup/coffer/internal/testutil/mongotest/cmd/ferretdb-test"

// helper is the binary of helperPkg, built once per test process.
var helper struct {
	once sync.Once
	path string
	err  error
}

// helperBinary builds helperPkg without the race detector and cgo (the
// build configuration of make test's other Go steps, whose build cache it
// reuses) into a directory of the user's, replacing an older build
// atomically so that concurrent test processes can share it.
func helperBinary() (string, error) {
	helper.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			helper.err = fmt.Errorf("the go command, which builds %s, is not on PATH: %w", helperPkg, err)
			return
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("coffer-mongotest-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			helper.err = err
			return
		}
		tmp, err := os.CreateTemp(dir, "ferretdb-test-*")
		if err != nil {
			helper.err = err
			return
		}
		tmp.Close()
		cmd := exec.Command(goBin, "build", "-o", tmp.Name(), helperPkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.Remove(tmp.Name())
			helper.err = fmt.Errorf("build %s: %w\n%s", helperPkg, err, out)
			return
		}
		helper.path = filepath.Join(dir, "ferretdb-test")
		helper.err = os.Rename(tmp.Name(), helper.path)
	})
	return helper.path, helper.err
}

// Start runs a fresh FerretDB in a process of its own on 127.0.0.1 (a free
// port) with its SQLite files under t.TempDir(), waits until it answers a
// ping, and stops it when the test ends. When it cannot start, the test is
// skipped, or fails when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := helperBinary()
	if err != nil {
		unavailable(t, err)
		return nil
	}
	cmd := exec.Command(bin, "-dir", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		unavailable(t, err)
		return nil
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		unavailable(t, err)
		return nil
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		unavailable(t, fmt.Errorf("start %s: %w", bin, err))
		return nil
	}
	// Read the URI line before Wait closes the pipe; the helper prints
	// nothing more.
	uri := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		uri <- strings.TrimSpace(line)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the helper stops when its standard input closes
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("mongotest: FerretDB did not stop within 15s")
		}
	})
	var u string
	select {
	case u = <-uri:
	case <-time.After(30 * time.Second):
	}
	if !strings.HasPrefix(u, "mongodb://") {
		unavailable(t, fmt.Errorf("%s did not print its URI (got %q): %s", bin, u, stderr.String()))
		return nil
	}
	return started(t, u)
}
