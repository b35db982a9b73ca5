// Package joblog writes an operation's log lines to the catalog, where the
// API pages and streams them, and mirrors them to the server log.
package joblog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/coffer-backup/coffer/internal/store"
)

// Logger logs for one operation.
type Logger struct {
	cat  store.Catalog
	kind string
	id   int64
	log  *slog.Logger
}

// New returns a Logger for operation id of kind (store.KindBackup or store.KindRestore).
func New(cat store.Catalog, kind string, id int64, log *slog.Logger) *Logger {
	if log == nil {
		log = slog.Default()
	}
	return &Logger{cat: cat, kind: kind, id: id, log: log.With("operation", kind, "id", id)}
}

// Info logs an informational line; kv are key/value pairs kept as the line's context.
func (l *Logger) Info(ctx context.Context, msg string, kv ...any) {
	l.write(ctx, store.LevelInfo, msg, kv)
}

// Warn logs a warning: something was skipped or retried, and the user should know.
func (l *Logger) Warn(ctx context.Context, msg string, kv ...any) {
	l.write(ctx, store.LevelWarning, msg, kv)
}

// Error logs a failure.
func (l *Logger) Error(ctx context.Context, msg string, kv ...any) {
	l.write(ctx, store.LevelError, msg, kv)
}

func (l *Logger) write(ctx context.Context, level, msg string, kv []any) {
	var ctxJSON json.RawMessage
	if len(kv) > 0 {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		if b, err := json.Marshal(m); err == nil {
			ctxJSON = b
		}
	}
	switch level {
	case store.LevelError:
		l.log.Error(msg, kv...)
	case store.LevelWarning:
		l.log.Warn(msg, kv...)
	default:
		l.log.Info(msg, kv...)
	}
	// A log line must not be lost because the run's context was cancelled
	// (pause, cancel, shutdown): write it on a context that outlives it.
	wctx := context.WithoutCancel(ctx)
	line := &store.JobLog{OperationKind: l.kind, OperationID: l.id, Level: level, Message: msg, Context: ctxJSON}
	if err := l.cat.AppendLog(wctx, line); err != nil {
		l.log.Error("could not store log line", "err", err)
	}
}
