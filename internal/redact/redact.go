// Package redact hides secrets in text that leaves coffer: server logs, job
// logs and error messages shown to users. It knows two kinds of secrets:
//
//   - shapes: passwords in URIs (mongodb://user:pass@, mongodb+srv://, any
//     scheme://user:pass@), OAuth tokens (ya29., 1//, access_token=,
//     refresh_token=, Bearer ...), coffer API tokens (cof_...), S3 request
//     signatures (X-Amz-Signature=, Signature=) and 40-character AWS secret
//     keys written after the word "secret";
//   - exact values registered in a Secrets (for example a connection's
//     secret_key once it is opened), replaced wherever they appear.
//
// String applies the shapes only; (*Secrets).String applies both. A nil
// *Secrets is valid and applies the shapes only. NewHandler wraps a
// slog.Handler so every message and attribute passes through a Secrets.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces every hidden secret.
const Mask = "****"

// rule is one shape of secret and how to hide it.
type rule struct {
	re   *regexp.Regexp
	repl string
	// hint is a lower-case substring that must occur for the rule to apply,
	// so most texts skip the regular expression entirely.
	hint string
}

// rules are compiled once; they are read-only after that.
var rules = []rule{
	// scheme://user:password@host — MongoDB (mongodb://, mongodb+srv://),
	// PostgreSQL and any other URL with a password. The password runs to the
	// last @ of the token, so an unescaped @ or / in it is hidden whole.
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://[^\s/@:"'<>]*):[^\s"'<>]*@`), "${1}:" + Mask + "@", "://"},
	// Query and form parameters carrying secrets.
	{regexp.MustCompile(`(?i)\b(access_token|refresh_token|id_token|client_secret|secret_key|secret_access_key|aws_secret_access_key|password|passwd|pwd|x-amz-signature|x-amz-security-token|signature)=[^&\s"'<>,;]+`), "${1}=" + Mask, "="},
	// The same names as JSON members: "password":"...".
	{regexp.MustCompile(`(?i)"(access_token|refresh_token|id_token|client_secret|secret_key|secret_access_key|password|private_key|service_account_json)"(\s*:\s*)"(?:[^"\\]|\\.)*"`), `"${1}"${2}"` + Mask + `"`, `"`},
	// Authorization header values.
	{regexp.MustCompile(`(?i)\b(Bearer)\s+[A-Za-z0-9\-._~+/]+=*`), "${1} " + Mask, "bearer"},
	{regexp.MustCompile(`(?i)\b(Basic)\s+[A-Za-z0-9+/]{8,}=*`), "${1} " + Mask, "basic"},
	// Google OAuth access tokens and refresh tokens.
	{regexp.MustCompile(`\bya29\.[0-9A-Za-z\-_.]+`), "ya29." + Mask, "ya29."},
	{regexp.MustCompile(`\b1//[0-9A-Za-z\-_.]{8,}`), "1//" + Mask, "1//"},
	// coffer API tokens.
	{regexp.MustCompile(`\bcof_[0-9A-Za-z\-_]{8,}`), "cof_" + Mask, "cof_"},
	// An AWS secret access key (40 base64 characters) after the word
	// "secret" (secret_key=, "SecretAccessKey": , secret: ...).
	{regexp.MustCompile(`(?i)(secret[a-z_\-]*["']?\s*[:=]?\s*["']?\s*)[A-Za-z0-9/+]{40}([^A-Za-z0-9/+=]|$)`), "${1}" + Mask + "${2}", "secret"},
}

// String hides every secret of a known shape in s.
func String(s string) string {
	if s == "" {
		return s
	}
	var lower string
	for _, r := range rules {
		if lower == "" {
			lower = strings.ToLower(s)
		}
		if !strings.Contains(lower, r.hint) {
			continue
		}
		next := r.re.ReplaceAllString(s, r.repl)
		if next != s {
			s = next
			lower = ""
		}
	}
	return s
}

// sensitiveKeys are attribute and field names whose values are secrets as a whole.
var sensitiveKeys = map[string]bool{
	"password":             true,
	"passwd":               true,
	"current_password":     true,
	"new_password":         true,
	"secret":               true,
	"secret_key":           true,
	"secret_access_key":    true,
	"access_token":         true,
	"refresh_token":        true,
	"id_token":             true,
	"client_secret":        true,
	"private_key":          true,
	"service_account_json": true,
	"authorization":        true,
	"api_token":            true,
	"session_token":        true,
	"cookie":               true,
}

// SensitiveKey reports whether a field or attribute named key holds a
// secret as a whole (password, secret_key, access_token, ...), so its value
// should be hidden whatever it looks like.
func SensitiveKey(key string) bool {
	return sensitiveKeys[strings.ToLower(key)]
}
