package queue

import (
	"context"
	"log/slog"
	"sync"
)

// late holds a value bound after the queue is built: the engine that runs
// its jobs (the engine needs the queue to enqueue; the queue's workers need
// the engine), and the plan scheduler, built after both.
type late[T any] struct {
	mu sync.RWMutex
	v  T
}

func (l *late[T]) set(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.v = v
}

func (l *late[T]) get() T {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v
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
