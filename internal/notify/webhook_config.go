package notify

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/coffer-backup/coffer/internal/secret"
)

// Limits of a webhook's extra headers.
const (
	maxHeaders = 20
	// minSecretLen is the shortest webhook secret accepted: a short secret
	// can be guessed from one signed request.
	minSecretLen = 16
)

// WebhookConfig is the configuration of a "webhook" channel.
type WebhookConfig struct {
	// URL is where events are POSTed (http or https). Its password, secret
	// query values and token-like path segments are secret.
	URL string `json:"url"`
	// Headers are extra request headers (e.g. Authorization); their values
	// are secret. Content-Type, Host, Content-Length, Transfer-Encoding,
	// Connection and X-Coffer-* are set by coffer and refused here.
	Headers map[string]string `json:"headers,omitempty"`
	// Secret, when set, signs every request (X-Coffer-Signature); secret.
	Secret string `json:"secret,omitempty"`
}

// Type is TypeWebhook.
func (c *WebhookConfig) Type() string { return TypeWebhook }

// reservedHeaders are set by coffer or by the HTTP client.
var reservedHeaders = map[string]bool{
	"content-type":      true,
	"content-length":    true,
	"host":              true,
	"transfer-encoding": true,
	"connection":        true,
}

// Validate checks the configuration without contacting the receiver.
func (c *WebhookConfig) Validate() FieldErrors {
	errs := FieldErrors{}
	if reason := webURLReason(c.URL); reason != "" {
		errs["url"] = reason
	}
	if len(c.Headers) > maxHeaders {
		errs["headers"] = fmt.Sprintf("must hold at most %d headers", maxHeaders)
	} else {
		names := make([]string, 0, len(c.Headers))
		for k := range c.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			if reason := headerReason(name, c.Headers[name]); reason != "" {
				errs["headers"] = reason
				break
			}
		}
	}
	if c.Secret != "" {
		switch {
		case secret.IsMasked(c.Secret):
			errs["secret"] = maskedReason
		case len(c.Secret) < minSecretLen:
			errs["secret"] = fmt.Sprintf("must be at least %d characters long (e.g. the output of `openssl rand -hex 32`)", minSecretLen)
		default:
			checkText(errs, "secret", c.Secret)
		}
	}
	return errs
}

// webURLReason returns why raw is not a usable webhook URL, or "".
func webURLReason(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return "is required (an http:// or https:// URL)"
	}
	if len(raw) > maxFieldLen {
		return fmt.Sprintf("must be at most %d bytes long", maxFieldLen)
	}
	if strings.Contains(raw, "****") {
		return maskedReason
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must start with http:// or https://"
	}
	if u.Hostname() == "" {
		return "must name a host (https://host/path)"
	}
	if u.Fragment != "" {
		return "must not have a #fragment"
	}
	return ""
}

// headerReason returns why a user header is refused, or "".
func headerReason(name, value string) string {
	if !validToken(name) {
		return fmt.Sprintf("%q is not a valid header name", name)
	}
	lower := strings.ToLower(name)
	if reservedHeaders[lower] || strings.HasPrefix(lower, "x-coffer-") {
		return fmt.Sprintf("%s is set by coffer and cannot be changed", name)
	}
	if secret.IsMasked(value) {
		return fmt.Sprintf("%s %s", name, maskedReason)
	}
	if len(value) > maxFieldLen {
		return fmt.Sprintf("%s must be at most %d bytes long", name, maxFieldLen)
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return fmt.Sprintf("%s must not contain line breaks or control characters", name)
		}
	}
	return ""
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// grammar of a header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// Masked returns a copy with the URL's secrets, every header value and the
// secret masked.
func (c *WebhookConfig) Masked() Config {
	m := WebhookConfig{URL: maskURL(c.URL, webURLPolicy)}
	if c.Headers != nil {
		m.Headers = make(map[string]string, len(c.Headers))
		for k, v := range c.Headers {
			m.Headers[k] = secret.Mask(v)
		}
	}
	if c.Secret != "" {
		m.Secret = secret.Mask(c.Secret)
	}
	return &m
}

// SecretValues returns the secret, the header values and the URL's secret parts.
func (c *WebhookConfig) SecretValues() []string {
	out := urlSecrets(c.URL, webURLPolicy)
	for _, v := range c.Headers {
		out = append(out, v)
	}
	if c.Secret != "" {
		out = append(out, c.Secret)
	}
	return out
}

func (c *WebhookConfig) keepStored(stored Config) {
	old, ok := stored.(*WebhookConfig)
	if !ok {
		return
	}
	c.URL = mergeURL(c.URL, old.URL)
	for k, v := range c.Headers {
		if !secret.IsMasked(v) {
			continue
		}
		for ok, ov := range old.Headers {
			if strings.EqualFold(ok, k) && ov != "" {
				c.Headers[k] = ov
				break
			}
		}
	}
	if secret.IsMasked(c.Secret) && old.Secret != "" {
		c.Secret = old.Secret
	}
}
