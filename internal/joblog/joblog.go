// Package joblog writes an operation's log lines to the catalog, where the
// API pages and streams them, and mirrors them to the server log. Every
// message and context value passes through internal/redact first.
package joblog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
)

// Appender stores one log line; the catalog (store.Store) implements it,
// setting the line's ID and CreatedAt.
type Appender interface {
	AppendLog(ctx context.Context, l *store.JobLog) error
}

// Logger logs for one operation.
type Logger struct {
	cat     Appender
	kind    string
	id      int64
	log     *slog.Logger
	secrets *redact.Secrets
}

// New returns a Logger for operation id of kind (store.KindBackup or
// store.KindRestore) that stores its lines through cat. When log's handler
// is a redact.Handler, the lines are also cleaned of the exact secrets
// registered with it; secrets of known shapes are always hidden.
func New(cat Appender, kind string, id int64, log *slog.Logger) *Logger {
	if log == nil {
		log = slog.Default()
	}
	return &Logger{cat: cat, kind: kind, id: id, log: log.With("operation", kind, "id", id), secrets: redact.SecretsOf(log.Handler())}
}

// WithSecrets returns a copy of l that also hides the values registered in s.
func (l *Logger) WithSecrets(s *redact.Secrets) *Logger {
	c := *l
	c.secrets = s
	return &c
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

// clean redacts the message and the key/value pairs: errors become their
// (redacted) text, strings are redacted, values under sensitive keys are
// masked, and anything else is redacted through its JSON form.
func (l *Logger) clean(msg string, kv []any) (string, []any, json.RawMessage) {
	msg = l.secrets.String(msg)
	if len(kv) == 0 {
		return msg, nil, nil
	}
	out := make([]any, 0, len(kv))
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		key := fmt.Sprint(kv[i])
		var v any
		switch x := kv[i+1].(type) {
		case error:
			v = x.Error()
		default:
			v = x
		}
		// Through JSON and back, so nested strings are redacted too; a value
		// with nothing to hide is kept as it is (durations stay durations).
		if b, err := json.Marshal(v); err == nil {
			var generic any
			if json.Unmarshal(b, &generic) == nil {
				red := l.secrets.Value(key, generic)
				if rb, err := json.Marshal(red); err != nil || !bytes.Equal(b, rb) {
					v = red
				}
			}
		} else {
			v = l.secrets.String(fmt.Sprint(v))
		}
		m[key] = v
		out = append(out, key, v)
	}
	var ctxJSON json.RawMessage
	if b, err := json.Marshal(m); err == nil {
		ctxJSON = b
	}
	return msg, out, ctxJSON
}

func (l *Logger) write(ctx context.Context, level, msg string, kv []any) {
	msg, kv, ctxJSON := l.clean(msg, kv)
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
		l.log.Error("could not store log line", "err", l.secrets.String(err.Error()))
	}
}
