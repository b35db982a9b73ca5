package httpapi

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
