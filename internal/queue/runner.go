package queue

import (
	"context"
	"log/slog"
	"sync"
)

// lateRunner lets the queue be built before the engine that runs its jobs
// (the engine needs the queue to enqueue; the queue's workers need the engine).
type lateRunner struct {
	mu sync.RWMutex
	r  Runner
}

func (l *lateRunner) set(r Runner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r = r
}

func (l *lateRunner) get() Runner {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.r
}

// quietLogger keeps River's own chatter at warning level and above, so the
// server's log shows coffer's lines, not the queue's internals.
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{h: l.Handler(), min: slog.LevelWarn})
}

type levelFloor struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFloor) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h: f.h.WithGroup(n), min: f.min}
}
