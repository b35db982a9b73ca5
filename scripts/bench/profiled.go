package main

// The profiled server: with -profile, the bench starts itself in place of
// bin/coffer, running the same wiring as `coffer serve` (catalog, keyring,
// River queue, engine, connections, HTTP API) in this program, with
// net/http/pprof and CPU-profile start/stop endpoints on
// $COFFER_BENCH_PPROF. Only this script has these hooks; the product has none.
// COFFER_BENCH_FETCH_CONCURRENCY and COFFER_BENCH_CHECKPOINT_EVERY (pass them
// with -coffer-env) set the engine's FetchConcurrency and CheckpointEvery
// options, to measure what they change.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	rtrace "runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coffer-backup/coffer/internal/auth"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/httpapi"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/web"
)

// profiledServeFlag is the hidden argument that runs the profiled server.
const profiledServeFlag = "-profiled-serve"

// profiledServe is `coffer serve` with profiling endpoints.
func profiledServe() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("profiled-serve", flag.ContinueOnError)
	f := config.Register(fs)
	if err := fs.Parse(nil); err != nil {
		return err
	}
	cfg, err := config.Resolve(f, fs, os.Getenv)
	if err != nil {
		return err
	}
	engine.SetGCPercent(os.Getenv)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + cfg.SQLitePath()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	keys, err := secret.Load(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(cfg.AdminPassword)
	if err != nil {
		return err
	}
	if err := st.CreateUser(ctx, &store.User{Email: strings.ToLower(cfg.AdminEmail), PasswordHash: hash, Role: store.RoleAdmin}); err != nil {
		return err
	}
	q, err := queue.New(ctx, st, queue.Options{DatabaseURL: dbURL, Workers: cfg.Workers, Logger: log})
	if err != nil {
		return err
	}
	opt := engine.Options{
		LeaseTimeout:    cfg.LeaseTimeout,
		CheckpointEvery: cfg.CheckpointInterval,
		Heartbeat:       min(2*time.Second, cfg.LeaseTimeout/5),
		LogRetention:    time.Duration(cfg.LogRetentionDays) * 24 * time.Hour,
		Version:         "bench-profiled",
	}
	// Experiments with the engine's own knobs, for this script only.
	if v := os.Getenv("COFFER_BENCH_FETCH_CONCURRENCY"); v != "" {
		if opt.FetchConcurrency, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("COFFER_BENCH_FETCH_CONCURRENCY: %w", err)
		}
	}
	if v := os.Getenv("COFFER_BENCH_CHECKPOINT_EVERY"); v != "" {
		if opt.CheckpointEvery, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("COFFER_BENCH_CHECKPOINT_EVERY: %w", err)
		}
	}
	conns, err := connection.New(st, keys, connection.Options{LocalRoots: cfg.LocalRoots})
	if err != nil {
		return err
	}
	eng := engine.New(st, conns, q, opt, log)
	q.SetRunner(eng)
	if err := q.Start(ctx); err != nil {
		return err
	}
	go eng.RunReaper(ctx, min(10*time.Second, cfg.LeaseTimeout/2))
	handler, err := httpapi.New(httpapi.Deps{Catalog: st, Connections: conns, Ops: eng, Config: cfg, Logger: log, UI: web.Dist()})
	if err != nil {
		return err
	}
	go servePprof(os.Getenv("COFFER_BENCH_PPROF"))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return q.Stop(sctx)
}

// servePprof serves net/http/pprof plus /bench/cpu/start?file= and
// /bench/cpu/stop, so a profile covers exactly one operation.
func servePprof(addr string) {
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(time.Millisecond))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	var mu sync.Mutex
	var cpuFile, traceFile *os.File
	mux.HandleFunc("POST /bench/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			if err = rpprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if name := r.URL.Query().Get("trace"); name != "" {
			tf, err := os.Create(name)
			if err == nil {
				if err = rtrace.Start(tf); err != nil {
					tf.Close()
				}
			}
			if err != nil {
				rpprof.StopCPUProfile()
				f.Close()
				http.Error(w, "execution trace: "+err.Error(), http.StatusInternalServerError)
				return
			}
			traceFile = tf
		}
		cpuFile = f
	})
	mux.HandleFunc("POST /bench/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rpprof.StopCPUProfile()
		if cpuFile != nil {
			cpuFile.Close()
			cpuFile = nil
		}
		if traceFile != nil {
			rtrace.Stop()
			traceFile.Close()
			traceFile = nil
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "pprof server: %v\n", err)
	}
}

// profiler drives a profiled server from the bench: a CPU profile over one
// operation and heap snapshots every 500 ms while it runs.
type profiler struct {
	addr, dir string
	stop      chan struct{}
	done      chan struct{}
}

func (p *profiler) post(path string) error {
	resp, err := http.Post("http://"+p.addr+path, "text/plain", nil)
	if err != nil {
		return fmt.Errorf("profiler %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiler %s: %d %s", path, resp.StatusCode, body)
	}
	return nil
}

// begin starts the CPU profile and the heap snapshots of phase name.
func (p *profiler) begin(name string) error {
	if p == nil {
		return nil
	}
	if err := p.post("/bench/cpu/start?file=" + filepath.Join(p.dir, name+"-cpu.pprof") + "&trace=" + filepath.Join(p.dir, name+"-trace.out")); err != nil {
		return err
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			_ = p.fetch("/debug/pprof/heap", filepath.Join(p.dir, fmt.Sprintf("%s-heap-%03d.pprof", name, i)))
			_ = p.fetch("/debug/pprof/heap?debug=1", filepath.Join(p.dir, fmt.Sprintf("%s-heap-%03d.txt", name, i)))
			select {
			case <-p.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return nil
}

// end stops phase name's CPU profile and snapshots, and saves the
// cumulative allocations and the blocking and mutex profiles.
func (p *profiler) end(name string) error {
	if p == nil {
		return nil
	}
	close(p.stop)
	<-p.done
	if err := p.post("/bench/cpu/stop"); err != nil {
		return err
	}
	for _, prof := range []string{"allocs", "block", "mutex", "goroutine"} {
		if err := p.fetch("/debug/pprof/"+prof, filepath.Join(p.dir, name+"-"+prof+".pprof")); err != nil {
			return err
		}
	}
	logf("profiles of %s in %s", name, p.dir)
	return nil
}

func (p *profiler) fetch(path, file string) error {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return fmt.Errorf("profiler %s: %w", path, err)
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("profiler: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("profiler %s: %w", path, err)
	}
	return nil
}
