package httpapi

import (
	"context"
)

// learnSecrets registers the secrets of the given connections with the
// server's redact.Secrets, so that they are hidden from logs and messages
// if an operation using them fails in this process. Connections that cannot
// be opened are skipped: the operation itself reports that.
func (s *server) learnSecrets(ctx context.Context, ids ...int64) {
	for _, id := range ids {
		if id <= 0 {
			continue
		}
		if _, plain, err := s.conns.Open(ctx, id); err == nil {
			s.secrets.AddCredentials(plain)
		}
	}
}

// redactFields returns the field reasons of an error with secrets hidden.
func (s *server) redactFields(fields map[string]string) map[string]string {
	if len(fields) == 0 {
		return fields
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = s.secrets.String(v)
	}
	return out
}
