package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// MinSecretLen is the shortest value a Secrets registers: shorter values
// (a region, "true") would mangle ordinary text wherever they occur.
const MinSecretLen = 6

// maxSecrets bounds the registry; beyond it the oldest values are forgotten.
const maxSecrets = 4096

// Secrets is a registry of exact secret values that are replaced by Mask
// wherever they appear. It is safe for concurrent use; the zero value is not
// usable, make one with NewSecrets. A nil *Secrets registers nothing and
// redacts shapes only.
type Secrets struct {
	mu     sync.RWMutex
	order  []string            // registration order, for forgetting the oldest
	known  map[string]struct{} // every registered form
	sorted []string            // longest first, so a secret never leaves a tail of itself
}

// NewSecrets returns an empty registry.
func NewSecrets() *Secrets {
	return &Secrets{known: make(map[string]struct{})}
}

// Add registers secret values, together with their URL- and JSON-escaped
// forms. Values shorter than MinSecretLen are ignored.
func (s *Secrets) Add(values ...string) {
	if s == nil {
		return
	}
	var forms []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinSecretLen {
			continue
		}
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v))
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, string(b[1:len(b)-1]))
		}
		if un, err := url.PathUnescape(v); err == nil {
			forms = append(forms, un)
		}
	}
	if len(forms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, f := range forms {
		if len(f) < MinSecretLen {
			continue
		}
		if _, ok := s.known[f]; ok {
			continue
		}
		s.known[f] = struct{}{}
		s.order = append(s.order, f)
		changed = true
	}
	if !changed {
		return
	}
	for len(s.order) > maxSecrets {
		delete(s.known, s.order[0])
		s.order = s.order[1:]
	}
	s.sorted = slices.Clone(s.order)
	slices.SortFunc(s.sorted, func(a, b string) int { return len(b) - len(a) })
}

// AddCredentials registers the secrets inside a credentials document (the
// plaintext JSON of a connection): the values of secret-named members
// (secret_key, access_token, refresh_token, password, service_account_json
// and the private key inside it, ...) and the password of every URI with
// user info (a MongoDB uri). Anything that is not a JSON object is ignored.
func (s *Secrets) AddCredentials(doc []byte) {
	if s == nil || len(doc) == 0 {
		return
	}
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return
	}
	s.addTree("", v)
}

func (s *Secrets) addTree(key string, v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			s.addTree(k, child)
		}
	case []any:
		for _, child := range t {
			s.addTree(key, child)
		}
	case string:
		if SensitiveKey(key) {
			s.Add(t)
			// A PEM key shows up in texts line by line as often as whole.
			if strings.Contains(t, "-----BEGIN") {
				for _, line := range strings.Split(t, "\n") {
					if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
						s.Add(line)
					}
				}
			}
			// A service-account key file is JSON itself.
			if strings.HasPrefix(strings.TrimSpace(t), "{") {
				s.AddCredentials([]byte(t))
			}
		}
		if pw := URIPassword(t); pw != "" {
			s.Add(pw)
		}
	}
}

// URIPassword returns the password in the user info of a URI
// (scheme://user:password@host...), or "" when there is none.
func URIPassword(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return ""
	}
	// The authority ends at the first / ? or # after the last @ of the user info;
	// a password may hold an unescaped @, so take the last @ before the path.
	end := len(rest)
	if i := strings.IndexAny(rest, " \t\r\n"); i >= 0 {
		end = i
	}
	rest = rest[:end]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return pw
}

// Len is the number of registered forms.
func (s *Secrets) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.known)
}

// String hides every registered value and every secret of a known shape in text.
func (s *Secrets) String(text string) string {
	if text == "" {
		return text
	}
	if s != nil {
		s.mu.RLock()
		for _, v := range s.sorted {
			if strings.Contains(text, v) {
				text = strings.ReplaceAll(text, v, Mask)
			}
		}
		s.mu.RUnlock()
	}
	return String(text)
}

// JSON returns doc with every string value (and object member name) passed
// through String, and the values of sensitive members (SensitiveKey)
// replaced by Mask. A document that is not valid JSON is redacted as text
// and returned as a JSON string so it stays valid.
func (s *Secrets) JSON(doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return doc
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		b, _ := json.Marshal(s.String(string(doc)))
		return b
	}
	out, err := json.Marshal(s.Value("", v))
	if err != nil {
		b, _ := json.Marshal(Mask)
		return b
	}
	return out
}

// Value redacts a decoded JSON value (maps, slices, strings, numbers...)
// found under key, returning a redacted copy.
func (s *Secrets) Value(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, child := range t {
			m[s.String(k)] = s.Value(k, child)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, child := range t {
			l[i] = s.Value(key, child)
		}
		return l
	case string:
		if SensitiveKey(key) && t != "" {
			return Mask
		}
		return s.String(t)
	}
	return v
}
