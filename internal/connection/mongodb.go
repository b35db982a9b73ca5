package connection

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/mongodb"
	"github.com/coffer-backup/coffer/internal/store"
)

// MongoConfig is the credentials document of a "mongodb" connection.
type MongoConfig struct {
	// URI is a mongodb:// or mongodb+srv:// connection string; its password is secret.
	URI string `json:"uri"`
	// Database limits a backup to one database; empty means every non-system database.
	Database string `json:"database,omitempty"`
	// AuthDatabase is the database the user authenticates against (authSource).
	AuthDatabase string `json:"auth_database,omitempty"`
}

const (
	mongoScheme     = "mongodb://"
	mongoSRVScheme  = "mongodb+srv://"
	uriPasswordMask = "****"
)

func mongoSpec() *spec {
	return &spec{
		typ:     store.TypeMongoDB,
		roles:   []Role{RoleSource, RoleRestoreTarget},
		secrets: []string{"uri"},
		mask:    func(_, v string) string { return MaskMongoURI(v) },
		merge:   func(_, sent, stored string) string { return mergeMongoURI(sent, stored) },
		decode: func(data []byte, _ []string) (any, map[string]string) {
			var c MongoConfig
			if errs := decodeStrict(data, &c); errs != nil {
				return nil, errs
			}
			errs := c.Validate()
			if _, pw, ok := uriPassword(c.URI); ok && pw == uriPasswordMask && errs["uri"] == "" {
				errs["uri"] = "holds the masked password; type the password again when changing the user name"
			}
			if len(errs) > 0 {
				return nil, errs
			}
			return c, nil
		},
		check: func(ctx context.Context, cfg any, _ []string) (connector.CheckResult, error) {
			c := cfg.(MongoConfig)
			mc, err := mongodb.New(ctx, mongodb.Config{URI: c.URI, Database: c.Database, AuthDatabase: c.AuthDatabase})
			if err != nil {
				return connector.CheckResult{}, err
			}
			defer mc.Close()
			return mc.Check(ctx)
		},
	}
}

// Validate checks the configuration without contacting the server and
// returns field name -> reason (empty when valid).
func (c MongoConfig) Validate() map[string]string {
	errs := map[string]string{}
	switch {
	case blank(c.URI):
		errs["uri"] = "is required (mongodb://user:password@host:27017/ or mongodb+srv://...)"
	case len(c.URI) > maxFieldLen:
		checkLen(errs, "uri", c.URI, maxFieldLen)
	default:
		if why := mongoURIProblem(c.URI); why != "" {
			errs["uri"] = why
		}
	}
	checkName := func(field, v string) {
		if v == "" {
			return
		}
		if len(v) > 64 {
			errs[field] = "must be at most 64 characters long"
		} else if strings.ContainsAny(v, "/\\. \"$\x00") {
			errs[field] = `must not contain / \ . " $, spaces or NUL`
		}
	}
	checkName("database", c.Database)
	checkName("auth_database", c.AuthDatabase)
	return errs
}

// mongoURIProblem checks the structure of a MongoDB connection string
// without any network lookup (mongodb+srv:// names are not resolved) and
// says what is wrong with it ("" when nothing is).
func mongoURIProblem(uri string) string {
	var rest string
	srv := false
	switch {
	case strings.HasPrefix(uri, mongoScheme):
		rest = uri[len(mongoScheme):]
	case strings.HasPrefix(uri, mongoSRVScheme):
		rest = uri[len(mongoSRVScheme):]
		srv = true
	default:
		return "must start with mongodb:// or mongodb+srv://"
	}
	if strings.ContainsAny(uri, " \t\r\n\x00") {
		return "must not contain spaces or control characters"
	}
	// The user info ends at the first '@', as the driver reads it.
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
		if why := mongoHostProblem(h, srv); why != "" {
			return why
		}
	}
	if srv && len(list) != 1 {
		return "must name exactly one host with mongodb+srv://"
	}
	db, query, _ := strings.Cut(tail, "?")
	if db != "" {
		name, err := url.PathUnescape(db)
		if err != nil || strings.ContainsAny(name, "/\\. \"$") {
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

// mongoHostProblem checks one host[:port] of a connection string.
func mongoHostProblem(h string, srv bool) string {
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

// uriPassword splits a MongoDB URI into the part before the password and the
// password itself, following the driver's rule that the user info ends at
// the first '@'. ok is false when the URI has no password.
func uriPassword(uri string) (prefix, password string, ok bool) {
	var scheme string
	switch {
	case strings.HasPrefix(uri, mongoSRVScheme):
		scheme = mongoSRVScheme
	case strings.HasPrefix(uri, mongoScheme):
		scheme = mongoScheme
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

// MaskMongoURI hides the password inside a MongoDB connection string
// ("mongodb://user:****@host/db"); a URI without a password is unchanged. A
// string that is not a MongoDB URI is masked whole.
func MaskMongoURI(uri string) string {
	if !strings.HasPrefix(uri, mongoScheme) && !strings.HasPrefix(uri, mongoSRVScheme) {
		return maskSecret("", uri)
	}
	prefix, pw, ok := uriPassword(uri)
	if !ok {
		return uri
	}
	return prefix + uriPasswordMask + uri[len(prefix)+len(pw):]
}

// mergeMongoURI puts the stored password back into a URI whose password is
// the mask, so a client can change the host or options without re-typing
// the password. The user name must be the same as the stored one.
func mergeMongoURI(sent, stored string) string {
	sentPrefix, sentPw, ok := uriPassword(sent)
	if !ok || sentPw != uriPasswordMask {
		return sent
	}
	storedPrefix, storedPw, ok := uriPassword(stored)
	if !ok || storedPrefix[strings.Index(storedPrefix, "://"):] != sentPrefix[strings.Index(sentPrefix, "://"):] {
		return sent
	}
	return sentPrefix + storedPw + sent[len(sentPrefix)+len(sentPw):]
}
