package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler is a slog.Handler that hides secrets in every record before
// passing it on: the message, string attributes, errors, and values whose
// printed form holds a secret. Attributes with a sensitive name
// (SensitiveKey) are masked whole.
type Handler struct {
	next    slog.Handler
	secrets *Secrets
}

// NewHandler wraps next so that everything logged through it is redacted
// with secrets (which may be nil: shapes only). Wrapping a *Handler again
// keeps the inner one.
func NewHandler(next slog.Handler, secrets *Secrets) *Handler {
	if h, ok := next.(*Handler); ok {
		if secrets == nil || secrets == h.secrets {
			return h
		}
		next = h.next
	}
	return &Handler{next: next, secrets: secrets}
}

// Secrets is the registry the handler redacts with.
func (h *Handler) Secrets() *Secrets { return h.secrets }

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts r and passes it to the wrapped handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.secrets.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs once and returns a handler carrying them.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &Handler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

// WithGroup returns a handler that nests further attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// attr returns a redacted copy of a.
func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	}
	if SensitiveKey(a.Key) {
		return slog.String(a.Key, Mask)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.String(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return slog.Attr{Key: a.Key, Value: v}
		case error:
			return slog.String(a.Key, h.secrets.String(x.Error()))
		default:
			s := fmt.Sprintf("%+v", x)
			if clean := h.secrets.String(s); clean != s {
				return slog.String(a.Key, clean)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// SecretsOf returns the registry of h when h is a *Handler, else nil.
func SecretsOf(h slog.Handler) *Secrets {
	if rh, ok := h.(*Handler); ok {
		return rh.secrets
	}
	return nil
}
