package notify

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/coffer-backup/coffer/internal/strictjson"
)

// The channel types.
const (
	// TypeEmail sends e-mail through an SMTP server.
	TypeEmail = "email"
	// TypeWebhook POSTs a signed JSON event to a URL.
	TypeWebhook = "webhook"
	// TypeShoutrrr sends a chat or push message through a shoutrrr service
	// URL (Slack, Discord, Telegram, Teams, ntfy, Gotify, Pushover, Matrix, ...).
	TypeShoutrrr = "shoutrrr"
)

// Types lists the channel types.
func Types() []string { return []string{TypeEmail, TypeWebhook, TypeShoutrrr} }

// maxFieldLen bounds every string of a channel configuration.
const maxFieldLen = 4096

// FieldErrors is a validation failure: a field's JSON name ("host",
// "to", "headers", "url"; "" for the whole document) to a sentence saying
// what is wrong with it. Callers that nest the configuration prefix the keys
// ("config.host").
type FieldErrors map[string]string

// Error lists the reasons in field order.
func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "config"
		}
		parts[i] = name + " " + e[k]
	}
	return "invalid notification channel: " + strings.Join(parts, "; ")
}

// Config is the configuration of one channel: *EmailConfig, *WebhookConfig
// or *ShoutrrrConfig. It is JSON in the shapes docs/notifications.md documents.
type Config interface {
	// Type is the channel type (TypeEmail, TypeWebhook or TypeShoutrrr).
	Type() string
	// Validate checks the configuration without contacting anything and
	// returns field → reason, empty when valid.
	Validate() FieldErrors
	// Masked returns a copy with every secret masked, for API responses.
	Masked() Config
	// SecretValues returns the secret values of the configuration, for a
	// redactor to hide wherever they might appear.
	SecretValues() []string
	// keepStored puts the stored secret back into every secret field that
	// holds its masked form (the value a response showed).
	keepStored(stored Config)
}

// newConfig returns an empty configuration of type typ, or nil.
func newConfig(typ string) Config {
	switch typ {
	case TypeEmail:
		return &EmailConfig{}
	case TypeWebhook:
		return &WebhookConfig{}
	case TypeShoutrrr:
		return &ShoutrrrConfig{}
	}
	return nil
}

// DecodeConfig strictly decodes and validates the configuration of a
// channel of type typ. On an update, stored is the configuration saved
// before (plaintext JSON): every secret that data sends back in its masked
// form keeps the stored value. On a create stored is nil. Invalid input is
// a FieldErrors (the key "type" for an unknown type, otherwise the config's
// field names); a stored document that does not decode is a plain error,
// an internal failure rather than the client's.
func DecodeConfig(typ string, data, stored []byte) (Config, error) {
	cfg := newConfig(typ)
	if cfg == nil {
		return nil, FieldErrors{"type": unknownTypeReason(typ)}
	}
	if errs := strictjson.Decode(data, cfg); errs != nil {
		return nil, FieldErrors(errs)
	}
	if len(stored) > 0 {
		old := newConfig(typ)
		if err := json.Unmarshal(stored, old); err != nil {
			return nil, fmt.Errorf("decode the stored %s channel configuration: %w", typ, err)
		}
		cfg.keepStored(old)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	if e, ok := cfg.(*EmailConfig); ok {
		e.Security = e.security()
	}
	return cfg, nil
}

func unknownTypeReason(typ string) string {
	if typ == "" {
		return "is required; use one of " + strings.Join(Types(), ", ")
	}
	return fmt.Sprintf("unknown channel type %q; use one of %s", typ, strings.Join(Types(), ", "))
}

// checkText records a reason when value is too long, not UTF-8 or holds
// control characters (which could split a header or a command line).
func checkText(errs FieldErrors, field, value string) bool {
	switch {
	case len(value) > maxFieldLen:
		errs[field] = fmt.Sprintf("must be at most %d bytes long", maxFieldLen)
	case !utf8.ValidString(value):
		errs[field] = "must be valid UTF-8 text"
	case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		errs[field] = "must not contain line breaks or control characters"
	default:
		return true
	}
	return false
}

// maskedReason is the reason for a masked value that has no stored value to
// stand for.
const maskedReason = "holds a masked value (****) but no secret is stored for it; type the value again"
