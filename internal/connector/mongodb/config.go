// Package mongodb connects coffer to MongoDB with the official Go driver: as
// a source whose collections are backed up in mongodump's layout (raw BSON
// documents in _id order plus a .metadata.json per collection) and as a
// restore target (collections created with their options, documents bulk
// inserted, indexes recreated). It knows nothing of archives, HTTP or the
// catalog; the engine drives it.
//
// Passwords never appear in what this package returns or logs: every error
// text passes through Redact.
package mongodb

import (
	"net/url"
	"strings"
)

// Config is the credentials document of a "mongodb" connection (DESIGN §5).
type Config struct {
	// URI is a mongodb:// or mongodb+srv:// connection string; its password
	// is secret.
	URI string `json:"uri"`
	// Database limits a backup to one database; empty means every
	// non-system database (admin, local and config are skipped).
	Database string `json:"database,omitempty"`
	// AuthDatabase is the database the user authenticates against
	// (authSource); empty keeps what the URI says.
	AuthDatabase string `json:"auth_database,omitempty"`
}

// Validate checks the configuration without contacting the server (and
// without resolving mongodb+srv:// names). It returns JSON field name -> the
// reason it is wrong; an empty map means the configuration is acceptable.
func (c Config) Validate() map[string]string {
	errs := map[string]string{}
	if why := uriProblem(c.URI); why != "" {
		errs["uri"] = why
	}
	if why := dbNameProblem(c.Database); why != "" {
		errs["database"] = why
	}
	if why := dbNameProblem(c.AuthDatabase); why != "" {
		errs["auth_database"] = why
	}
	return errs
}

// uriProblem says what is structurally wrong with a connection string ("" when
// nothing is). It never quotes the URI, which may hold a password.
func uriProblem(uri string) string {
	var rest string
	switch {
	case strings.TrimSpace(uri) == "":
		return "is required (mongodb://user:password@host:27017/ or mongodb+srv://...)"
	case len(uri) > 4096:
		return "must be at most 4096 bytes long"
	case strings.HasPrefix(uri, "mongodb://"):
		rest = uri[len("mongodb://"):]
	case strings.HasPrefix(uri, "mongodb+srv://"):
		rest = uri[len("mongodb+srv://"):]
	default:
		return "must start with mongodb:// or mongodb+srv://"
	}
	if strings.ContainsAny(uri, " \t\r\n\x00") {
		return "must not contain spaces or control characters"
	}
	if at := strings.LastIndex(hostPart(rest), "@"); at >= 0 {
		user, pw, _ := strings.Cut(rest[:at], ":")
		if strings.Contains(rest[:at], "@") {
			return "has an unescaped @ in the user name or password; percent-encode it as %40"
		}
		if _, err := url.PathUnescape(user); err != nil {
			return "has a badly percent-encoded user name"
		}
		if _, err := url.PathUnescape(pw); err != nil {
			return "has a badly percent-encoded password"
		}
		rest = rest[at+1:]
	}
	hosts, _, _ := strings.Cut(rest, "/")
	if i := strings.Index(hosts, "?"); i >= 0 {
		return "must have a / before the ? of the options (host/?option=value)"
	}
	for _, h := range strings.Split(hosts, ",") {
		if strings.TrimSpace(h) == "" || strings.HasPrefix(h, ":") {
			return "must name at least one host"
		}
	}
	return ""
}

// hostPart is the part of a URI (after the scheme) where a user info can be:
// up to the first / that follows the last @ (or the first / when there is no @).
func hostPart(rest string) string {
	end := len(rest)
	if q := strings.Index(rest, "?"); q >= 0 {
		end = q
	}
	s := rest[:end]
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if slash := strings.Index(s[at:], "/"); slash >= 0 {
			return s[:at+slash]
		}
		return s
	}
	if slash := strings.Index(s, "/"); slash >= 0 {
		return s[:slash]
	}
	return s
}

// dbNameProblem applies MongoDB's database naming rules ("" = fine or empty).
func dbNameProblem(name string) string {
	switch {
	case name == "":
		return ""
	case len(name) > 63:
		return "must be at most 63 characters long"
	case strings.ContainsAny(name, "/\\. \"$*<>:|?\x00"):
		return `must not contain / \ . " $ * < > : | ?, spaces or NUL`
	}
	return ""
}

// redactMask replaces secrets in redacted text.
const redactMask = "****"

// Redact hides the passwords of every mongodb:// and mongodb+srv:// URI inside
// s ("mongodb://user:****@host/"), and the values of URI options that carry
// secrets (names containing "password", "secret" or "token", and
// authMechanismProperties). Text that is not part of such a URI is unchanged.
// A URI runs to the next white space; when in doubt more is hidden, not less.
func Redact(s string) string {
	lower := strings.ToLower(s)
	var b strings.Builder
	pos := 0
	for {
		i, scheme := nextScheme(lower, pos)
		if i < 0 {
			break
		}
		start := i + len(scheme)
		end := start
		for end < len(s) && !isSpace(s[end]) {
			end++
		}
		b.WriteString(s[pos:start])
		b.WriteString(redactURIRest(s[start:end]))
		pos = end
	}
	if pos == 0 {
		return s
	}
	b.WriteString(s[pos:])
	return b.String()
}

// nextScheme finds the next MongoDB scheme in lower at or after pos.
func nextScheme(lower string, pos int) (int, string) {
	best, scheme := -1, ""
	for _, sc := range []string{"mongodb://", "mongodb+srv://"} {
		if j := strings.Index(lower[pos:], sc); j >= 0 && (best < 0 || pos+j < best) {
			best, scheme = pos+j, sc
		}
	}
	return best, scheme
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// redactURIRest masks the password and secret options of a URI after its
// scheme. The user info ends at the last @ of the token, so a password with
// an unescaped @ or / is hidden whole.
func redactURIRest(rest string) string {
	out := rest
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			out = rest[:colon+1] + redactMask + rest[at:]
		}
	}
	q := strings.Index(out, "?")
	if q < 0 {
		return out
	}
	params := strings.Split(out[q+1:], "&")
	for i, p := range params {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		n := strings.ToLower(name)
		if strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token") ||
			n == "authmechanismproperties" {
			params[i] = name + "=" + redactMask
		}
	}
	return out[:q+1] + strings.Join(params, "&")
}
