package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	adminEmail    = "bench@example.com"
	adminPassword = "bench password that is long enough"
)

// cofferProc is one `coffer serve` child process with its own data dir and TMPDIR.
type cofferProc struct {
	url     string
	dataDir string
	tmpDir  string
	roots   string
	cmd     *exec.Cmd
	exited  chan struct{}
	output  *lockedBuffer
	http    *http.Client
	prof    *profiler // nil unless -profile
}

// startCoffer runs `bin serve` with a fresh data dir under dir, waits for
// /api/v1/healthz and logs in as the configured admin.
func startCoffer(ctx context.Context, s settings, dir string) (*cofferProc, error) {
	bin := s.coffer
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("coffer binary %s is missing (run `make build` or pass -coffer): %w", bin, err)
	}
	p := &cofferProc{
		dataDir: filepath.Join(dir, "data"),
		tmpDir:  filepath.Join(dir, "tmp"),
		roots:   filepath.Join(dir, "archives"),
		exited:  make(chan struct{}),
		output:  &lockedBuffer{},
	}
	for _, d := range []string{p.dataDir, p.tmpDir, p.roots} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("coffer dirs: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	p.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	p.cmd = exec.Command(bin, "serve")
	if s.profile != "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the bench binary: %w", err)
		}
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		p.prof = &profiler{addr: fmt.Sprintf("127.0.0.1:%d", pport), dir: s.profile}
		p.cmd = exec.Command(self, profiledServeFlag)
		p.cmd.Env = []string{"COFFER_BENCH_PPROF=" + p.prof.addr}
	}
	p.cmd.Env = append(append(p.cmd.Env, os.Environ()...),
		"TMPDIR="+p.tmpDir,
		"COFFER_DATA_DIR="+p.dataDir,
		"COFFER_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"COFFER_SECRET_KEY="+base64.StdEncoding.EncodeToString(key[:]),
		"COFFER_ADMIN_EMAIL="+adminEmail,
		"COFFER_ADMIN_PASSWORD="+adminPassword,
		"COFFER_LOCAL_ROOTS="+p.roots,
		"COFFER_LOG_LEVEL=warn",
	)
	for _, kv := range strings.Split(s.cofferEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	var out io.Writer = p.output
	if s.cofferLog != "" {
		f, err := os.OpenFile(s.cofferLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("coffer log: %w", err)
		}
		defer f.Close() // the child holds its own descriptor
		out = f
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()

	jar, _ := cookiejar.New(nil)
	p.http = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.http.Get(p.url + "/api/v1/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("coffer serve exited at start: %s", p.output.String())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("coffer serve did not answer /api/v1/healthz within 30s: %s", p.output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.do(ctx, "POST", "/api/v1/auth/login", map[string]string{"email": adminEmail, "password": adminPassword}, nil, http.StatusOK); err != nil {
		p.stop()
		return nil, fmt.Errorf("logging in as the bench admin: %w", err)
	}
	return p, nil
}

func (p *cofferProc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 10 s, then kills.
func (p *cofferProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// do sends a JSON request and decodes a JSON answer into out; a status
// other than want is an error carrying the answer.
func (p *cofferProc) do(ctx context.Context, method, path string, body, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	ok := len(want) == 0 && resp.StatusCode < 300
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding %q: %w", method, path, data, err)
		}
	}
	return nil
}

// createConnection adds a connection and returns its id.
func (p *cofferProc) createConnection(ctx context.Context, name, typ string, creds any) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	err := p.do(ctx, "POST", "/api/v1/connections", map[string]any{"name": name, "type": typ, "credentials": creds}, &out, 200, 201)
	if err != nil {
		return 0, fmt.Errorf("creating connection %s: %w", name, err)
	}
	return out.ID, nil
}

// operation is the part of a backup or restore the bench reads.
type operation struct {
	ID           int64      `json:"id"`
	Status       string     `json:"status"`
	ArchivePath  string     `json:"archive_path"`
	ArchiveSize  int64      `json:"archive_size"`
	ErrorMessage string     `json:"error_message"`
	StartedAt    *time.Time `json:"started_at"`
	CompletedAt  *time.Time `json:"completed_at"`
	// Mode is "full" or "incremental", BaseBackupID the backup an
	// incremental is built on, ChangedObjects how many objects' bytes the
	// archive holds (set once an S3 backup completes).
	Mode           string `json:"mode"`
	BaseBackupID   *int64 `json:"base_backup_id"`
	ChangedObjects *int64 `json:"changed_objects"`
	Progress       struct {
		ItemsDone    int64  `json:"items_done"`
		ItemsTotal   *int64 `json:"items_total"`
		BytesRead    int64  `json:"bytes_read"`
		BytesWritten int64  `json:"bytes_written"`
	} `json:"progress"`
}

// engineTime is started_at to completed_at as the catalog recorded them.
func (o operation) engineTime() time.Duration {
	if o.StartedAt == nil || o.CompletedAt == nil {
		return 0
	}
	return o.CompletedAt.Sub(*o.StartedAt)
}

// pollEvery is how often the bench reads a running operation. The UI polls
// every 2 s; polling much faster would measure the API's reads (each one
// loads the operation row) more than the backup.
const pollEvery = time.Second

// run posts body to /api/v1/<kind> and polls the operation until it
// completes; it returns the operation and the wall time from the POST to
// the operation's completed_at (the server runs on this machine's clock),
// so the poll interval does not blur the figure.
func (p *cofferProc) run(ctx context.Context, kind string, body any, limit time.Duration) (operation, time.Duration, error) {
	var op operation
	start := time.Now()
	if err := p.do(ctx, "POST", "/api/v1/"+kind, body, &op, http.StatusAccepted); err != nil {
		return op, 0, fmt.Errorf("starting a %s: %w", strings.TrimSuffix(kind, "s"), err)
	}
	id := op.ID
	deadline := start.Add(limit)
	for {
		if err := p.do(ctx, "GET", fmt.Sprintf("/api/v1/%s/%d", kind, id), nil, &op, http.StatusOK); err != nil {
			return op, 0, err
		}
		switch op.Status {
		case "completed":
			observed := time.Since(start)
			if op.CompletedAt != nil {
				if d := op.CompletedAt.Sub(start); d > 0 && d <= observed {
					return op, d, nil
				}
			}
			return op, observed, nil
		case "failed", "cancelled", "paused":
			return op, 0, fmt.Errorf("%s %d ended %s: %s", kind, id, op.Status, op.ErrorMessage)
		}
		select {
		case <-p.exited:
			return op, 0, fmt.Errorf("coffer exited during %s %d: %s", kind, id, p.output.String())
		case <-ctx.Done():
			return op, 0, ctx.Err()
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			return op, 0, fmt.Errorf("%s %d still %s after %s (progress %+v)", kind, id, op.Status, limit, op.Progress)
		}
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTick = 100

// procCPU is the user + system CPU time a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading process CPU time: %w", err)
	}
	// The command name is in parentheses and may hold spaces; fields follow the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the one-minute load average, to judge how busy the machine was.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// procStatus reads a field (in kB) of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading process status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q: %w", field, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux
// clear_refs value 5), so a phase's peak can be read on its own.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	return nil
}

// watcher samples a process's RSS and the largest file under a directory
// while a phase runs.
type watcher struct {
	stop chan struct{}
	done chan struct{}

	mu          sync.Mutex
	maxRSS      int64
	maxRSSParts string // RssAnon / RssFile / RssShmem at the largest sample
	largest     int64
	largestName string
	samples     int
}

func watch(pid int, dir string, every time.Duration) *watcher {
	w := &watcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			w.sample(pid, dir)
			select {
			case <-w.stop:
				w.sample(pid, dir)
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *watcher) sample(pid int, dir string) {
	rss, _ := procStatus(pid, "VmRSS")
	var big int64
	var bigName string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // files come and go while we walk
		}
		if info, err := d.Info(); err == nil && info.Size() > big {
			big, bigName = info.Size(), path
		}
		return nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	if rss > w.maxRSS {
		w.maxRSS = rss
		anon, _ := procStatus(pid, "RssAnon")
		file, _ := procStatus(pid, "RssFile")
		shm, _ := procStatus(pid, "RssShmem")
		w.maxRSSParts = fmt.Sprintf("anon %s, file %s, shmem %s", sizeMiB(anon), sizeMiB(file), sizeMiB(shm))
	}
	if big > w.largest {
		w.largest, w.largestName = big, bigName
	}
}

// finish stops sampling and returns the largest RSS sample, the largest
// file seen and its name.
func (w *watcher) finish() (maxRSS, largest int64, name string, samples int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxRSS, w.largest, w.largestName, w.samples
}
