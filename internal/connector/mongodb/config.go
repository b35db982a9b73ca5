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
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Config is the credentials document of a "mongodb" connection (docs/api.md).
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

// The schemes of MongoDB connection strings.
const (
	schemePlain = "mongodb://"
	schemeSRV   = "mongodb+srv://"
)

// uriProblem checks the structure of a connection string without any
// network lookup (mongodb+srv:// names are not resolved) and says what is
// wrong with it ("" when nothing is). The user info ends at the first '@',
// as the driver reads it. It never quotes the user info, which may hold a
// password.
func uriProblem(uri string) string {
	var rest string
	srv := false
	switch {
	case strings.TrimSpace(uri) == "":
		return "is required (mongodb://user:password@host:27017/ or mongodb+srv://...)"
	case len(uri) > maxURILen:
		return fmt.Sprintf("must be at most %d bytes long", maxURILen)
	case !utf8.ValidString(uri):
		return "must be valid UTF-8 text"
	case strings.HasPrefix(uri, schemePlain):
		rest = uri[len(schemePlain):]
	case strings.HasPrefix(uri, schemeSRV):
		rest = uri[len(schemeSRV):]
		srv = true
	default:
		return "must start with mongodb:// or mongodb+srv://"
	}
	if strings.ContainsAny(uri, " \t\r\n\x00") {
		return "must not contain spaces or control characters"
	}
	if at := strings.Index(rest, "@"); at >= 0 {
		user, pw, _ := strings.Cut(rest[:at], ":")
		switch {
		case strings.Contains(user, "/"):
			return "has an unescaped / in the user name; percent-encode it as %2F"
		case strings.ContainsAny(pw, ":/"):
			return "has an unescaped : or / in the password; percent-encode them (%3A, %2F)"
		}
		if _, err := url.PathUnescape(user); err != nil {
			return "has a badly percent-encoded user name"
		}
		if _, err := url.PathUnescape(pw); err != nil {
			return "has a badly percent-encoded password"
		}
		rest = rest[at+1:]
	}
	hosts, tail := rest, ""
	if i := strings.IndexAny(rest, "/?@"); i >= 0 {
		switch rest[i] {
		case '@':
			return "has an unescaped @ in the user name or password; percent-encode it as %40"
		case '?':
			return "must have a / before the ? of the options (host/?option=value)"
		}
		hosts, tail = rest[:i], rest[i+1:]
	}
	list := strings.Split(hosts, ",")
	for _, h := range list {
		if why := hostProblem(h, srv); why != "" {
			return why
		}
	}
	if srv && len(list) != 1 {
		return "must name exactly one host with mongodb+srv://"
	}
	db, query, _ := strings.Cut(tail, "?")
	if db != "" {
		name, err := url.PathUnescape(db)
		if err != nil || dbNameProblem(name) != "" {
			return "names a database that is not valid in its path"
		}
	}
	if query != "" {
		if _, err := url.ParseQuery(query); err != nil {
			return "has options that do not parse (use ?name=value&name=value)"
		}
	}
	return ""
}

// hostProblem checks one host[:port] of a connection string.
func hostProblem(h string, srv bool) string {
	if h == "" {
		return "must name at least one host"
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return fmt.Sprintf("has an IPv6 host without a closing ]: %q", h)
		}
		host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
	} else if i := strings.LastIndex(h, ":"); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	if host == "" || host == "[]" {
		return fmt.Sprintf("has an empty host name in %q", h)
	}
	if port != "" || strings.HasSuffix(h, ":") {
		if srv {
			return "must not give a port with mongodb+srv://"
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("has an invalid port in %q (use 1-65535)", h)
		}
	}
	return ""
}

// PasswordMask is what stands for the password in a masked connection string.
const PasswordMask = "****"

// URIPassword splits a connection string into the part before its password
// ("mongodb://user:") and the password itself, by the driver's rule that the
// user info ends at the first '@'. ok is false when there is no password.
func URIPassword(uri string) (prefix, password string, ok bool) {
	var scheme string
	switch {
	case strings.HasPrefix(uri, schemeSRV):
		scheme = schemeSRV
	case strings.HasPrefix(uri, schemePlain):
		scheme = schemePlain
	default:
		return "", "", false
	}
	rest := uri[len(scheme):]
	at := strings.Index(rest, "@")
	if at < 0 {
		return "", "", false
	}
	user, pw, hasPw := strings.Cut(rest[:at], ":")
	if !hasPw {
		return "", "", false
	}
	return scheme + user + ":", pw, true
}

// IsURI reports whether s starts like a MongoDB connection string.
func IsURI(s string) bool {
	return strings.HasPrefix(s, schemePlain) || strings.HasPrefix(s, schemeSRV)
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

// maxURILen bounds a connection string, in bytes.
const maxURILen = 4096

// dbNameProblem applies MongoDB's database naming rules ("" = fine or empty).
func dbNameProblem(name string) string {
	switch {
	case name == "":
		return ""
	case !utf8.ValidString(name):
		return "must be valid UTF-8 text"
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
