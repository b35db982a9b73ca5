package notify

import (
	"net"
	"net/url"
	"strings"

	"github.com/coffer-backup/coffer/internal/secret"
)

// rawURL is a URL split into its raw (still escaped) parts, so that parts can
// be masked and put back without re-encoding anything else.
type rawURL struct {
	scheme   string   // before "://"
	user     string   // user name of the user info; "" when there is none
	pass     string   // password of the user info
	hasUser  bool     // there is user info (an @ in the authority)
	hasPass  bool     // the user info has a ":"
	host     string   // host without the port
	port     string   // ":1234" or ""
	segments []string // path segments after the first "/" ("" for empty ones)
	hasPath  bool
	query    []queryPair
	hasQuery bool
	fragment string // with its "#", or ""
}

type queryPair struct {
	key, value string
	hasValue   bool
}

// splitURL splits s; ok is false when s has no "scheme://".
func splitURL(s string) (rawURL, bool) {
	var u rawURL
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return u, false
	}
	u.scheme = scheme
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		u.fragment = rest[i:]
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.hasQuery = true
		for _, kv := range strings.Split(rest[i+1:], "&") {
			k, v, has := strings.Cut(kv, "=")
			u.query = append(u.query, queryPair{key: k, value: v, hasValue: has})
		}
		rest = rest[:i]
	}
	// The authority ends at the first "/" after the user info; a password
	// may hold an unescaped "/" or "@", so find the last "@" first.
	authority := rest
	path := ""
	at := strings.LastIndex(rest, "@")
	slash := strings.IndexByte(rest[max(at, 0):], '/')
	if slash >= 0 {
		authority = rest[:max(at, 0)+slash]
		path = rest[max(at, 0)+slash:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		u.hasUser = true
		info := authority[:i]
		authority = authority[i+1:]
		u.user, u.pass, u.hasPass = strings.Cut(info, ":")
	}
	u.host = authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		u.host, u.port = authority[:i], authority[i:]
	}
	if path != "" {
		u.hasPath = true
		u.segments = strings.Split(path[1:], "/")
	}
	return u, true
}

// String joins the parts again.
func (u rawURL) String() string {
	var b strings.Builder
	b.WriteString(u.scheme)
	b.WriteString("://")
	if u.hasUser {
		b.WriteString(u.user)
		if u.hasPass {
			b.WriteByte(':')
			b.WriteString(u.pass)
		}
		b.WriteByte('@')
	}
	b.WriteString(u.host)
	b.WriteString(u.port)
	if u.hasPath {
		b.WriteByte('/')
		b.WriteString(strings.Join(u.segments, "/"))
	}
	if u.hasQuery {
		b.WriteByte('?')
		for i, q := range u.query {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(q.key)
			if q.hasValue {
				b.WriteByte('=')
				b.WriteString(q.value)
			}
		}
	}
	b.WriteString(u.fragment)
	return b.String()
}

// urlPolicy says which parts of a URL are secret.
type urlPolicy struct {
	// allSegments masks every path segment; otherwise only those that look
	// like tokens (tokenLike).
	allSegments bool
	// tokenHosts masks a host that is not a DNS name or IP address but looks
	// like a token or an ID (discord://token@id, pushbullet://token).
	tokenHosts bool
	// bareUser masks a user name that has no password (a token written as
	// the user, e.g. telegram://token@telegram).
	bareUser bool
}

// The policies are read-only after initialisation.

// serviceURLPolicy is for shoutrrr URLs, whose parts are nearly all tokens,
// IDs or topics: every path segment, a token-like host that is not a DNS
// name, a bare user name, the password and secret-named query values are
// masked.
var serviceURLPolicy = urlPolicy{allSegments: true, tokenHosts: true, bareUser: true}

// webURLPolicy is for webhook URLs: the password (or a user name without
// one), secret-named query values and path segments that look like tokens
// (Slack's and Discord's webhook URLs carry theirs in the path) are masked.
var webURLPolicy = urlPolicy{bareUser: true}

// secretUser reports whether the user name is hidden: a user name without a
// password is a token in many service URLs.
func (p urlPolicy) secretUser(u rawURL) bool { return u.hasUser && !u.hasPass && p.bareUser }

func (p urlPolicy) secretHost(u rawURL) bool {
	return p.tokenHosts && u.host != "" && !dnsLikeHost(u.host) && tokenLike(u.host)
}

func (p urlPolicy) secretSegment(s string) bool {
	return s != "" && (p.allSegments || tokenLike(s))
}

// maskURL hides the secret parts of s under policy p. A string that is not
// a URL is masked whole.
func maskURL(s string, p urlPolicy) string {
	u, ok := splitURL(s)
	if !ok {
		if s == "" {
			return s
		}
		return secret.Mask(s)
	}
	if p.secretUser(u) && u.user != "" {
		u.user = secret.Mask(u.user)
	}
	if u.hasPass && u.pass != "" {
		u.pass = secret.Mask(u.pass)
	}
	if p.secretHost(u) {
		u.host = secret.Mask(u.host)
	}
	for i, seg := range u.segments {
		if p.secretSegment(seg) {
			u.segments[i] = secret.Mask(seg)
		}
	}
	for i, q := range u.query {
		if q.value != "" && secretQueryKey(q.key) {
			u.query[i].value = secret.Mask(q.value)
		}
	}
	return u.String()
}

// mergeURL puts the stored value back into every part of sent that holds a
// masked value, matching parts by position (user, password, host, path
// segment i) or query key. Parts with no stored counterpart stay masked,
// for validation to refuse.
func mergeURL(sent, stored string) string {
	if !strings.Contains(sent, "****") {
		return sent
	}
	su, ok := splitURL(sent)
	if !ok {
		if secret.IsMasked(sent) && stored != "" {
			return stored
		}
		return sent
	}
	old, ok := splitURL(stored)
	if !ok {
		return sent
	}
	if secret.IsMasked(su.user) && old.user != "" {
		su.user = old.user
	}
	if secret.IsMasked(su.pass) && old.pass != "" {
		su.pass = old.pass
	}
	if secret.IsMasked(su.host) && old.host != "" {
		su.host = old.host
	}
	for i, seg := range su.segments {
		if secret.IsMasked(seg) && i < len(old.segments) && old.segments[i] != "" {
			su.segments[i] = old.segments[i]
		}
	}
	for i, q := range su.query {
		if !secret.IsMasked(q.value) {
			continue
		}
		for _, oq := range old.query {
			if oq.key == q.key && oq.value != "" {
				su.query[i].value = oq.value
				break
			}
		}
	}
	return su.String()
}

// urlSecrets returns the secret parts of s under policy p, raw and
// unescaped, for redaction.
func urlSecrets(s string, p urlPolicy) []string {
	u, ok := splitURL(s)
	if !ok {
		return []string{s}
	}
	var out []string
	add := func(v string) {
		if v == "" {
			return
		}
		out = append(out, v)
		if un, err := url.PathUnescape(v); err == nil && un != v {
			out = append(out, un)
		}
	}
	if p.secretUser(u) {
		add(u.user)
	}
	if u.hasPass {
		add(u.pass)
	}
	if p.secretHost(u) {
		add(u.host)
	}
	for _, seg := range u.segments {
		if p.secretSegment(seg) {
			add(seg)
		}
	}
	for _, q := range u.query {
		if secretQueryKey(q.key) {
			add(q.value)
			if un, err := url.QueryUnescape(q.value); err == nil && un != q.value {
				out = append(out, un)
			}
		}
	}
	return out
}

// secretQueryKey reports whether a query parameter's value is a secret: its
// name mentions a token, key, secret, password, signature or credential, or
// it is a header of shoutrrr's generic service ("@Authorization=...").
func secretQueryKey(k string) bool {
	if strings.HasPrefix(k, "@") || strings.HasPrefix(k, "%40") {
		return true
	}
	k = strings.ToLower(k)
	for _, w := range []string{"token", "key", "secret", "pass", "pwd", "auth", "sig", "cred", "session"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// dnsLikeHost reports whether h reads as a server address (a dotted name, an
// IP address or localhost) rather than a token or ID.
func dnsLikeHost(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasPrefix(h, "[") {
		return true
	}
	if net.ParseIP(h) != nil {
		return true
	}
	return strings.Contains(h, ".")
}

// tokenLike reports whether a path segment looks like a token or an ID
// rather than a word: at least 16 characters, or at least 8 mixing letters
// and digits.
func tokenLike(s string) bool {
	if len(s) >= 16 {
		return true
	}
	if len(s) < 8 {
		return false
	}
	var letter, digit bool
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			letter = true
		}
	}
	return letter && digit
}
