package main

// The profiled server: with -profile, the bench starts itself in place of
// bin/coffer, running `coffer serve`'s own wiring (internal/app) in this
// program, with
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
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	rtrace "runtime/trace"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coffer-backup/coffer/internal/app"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/engine"
)

// profiledServeFlag is the hidden argument that runs the profiled server.
const profiledServeFlag = "-profiled-serve"

// profiledServe is `coffer serve` (the same internal/app wiring) with
// profiling endpoints.
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
	// Experiments with the engine's own knobs, for this script only.
	var fetch int
	var every time.Duration
	if v := os.Getenv("COFFER_BENCH_FETCH_CONCURRENCY"); v != "" {
		if fetch, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("COFFER_BENCH_FETCH_CONCURRENCY: %w", err)
		}
	}
	if v := os.Getenv("COFFER_BENCH_CHECKPOINT_EVERY"); v != "" {
		if every, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("COFFER_BENCH_CHECKPOINT_EVERY: %w", err)
		}
	}
	tune := func(opt *engine.Options) {
		opt.Version = "bench-profiled"
		if fetch != 0 {
			opt.FetchConcurrency = fetch
		}
		if every != 0 {
			opt.CheckpointEvery = every
		}
	}
	a, err := app.New(ctx, app.Config{Settings: cfg, Mode: app.Serve, Stdout: os.Stdout, Log: os.Stderr, Engine: tune})
	if err != nil {
		return err
	}
	defer a.Close()
	go servePprof(os.Getenv("COFFER_BENCH_PPROF"))
	return a.Run(ctx)
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
