package notify

import (
	"fmt"
	"net"
	"net/mail"
	"strings"

	"github.com/coffer-backup/coffer/internal/secret"
)

// The security modes of an SMTP connection.
const (
	// SecurityStartTLS connects in plain text and upgrades with STARTTLS
	// before anything else; a server that does not offer it is an error
	// (usually port 587).
	SecurityStartTLS = "starttls"
	// SecurityTLS speaks TLS from the first byte (implicit TLS, usually port 465).
	SecurityTLS = "tls"
	// SecurityNone sends in plain text (port 25 to a relay on a trusted
	// network). A password is then only allowed to a server on this machine.
	SecurityNone = "none"
)

// maxRecipients bounds the to list of an e-mail channel.
const maxRecipients = 50

// EmailConfig is the configuration of an "email" channel.
type EmailConfig struct {
	// Host is the SMTP server's host name or IP address.
	Host string `json:"host"`
	// Port is the SMTP server's port (1-65535).
	Port int `json:"port"`
	// Username, when set, logs in with AUTH PLAIN.
	Username string `json:"username,omitempty"`
	// Password is the login's password; secret.
	Password string `json:"password,omitempty"`
	// From is the sender address ("coffer@example.com" or
	// "Coffer <coffer@example.com>").
	From string `json:"from"`
	// To are the recipients (at least one).
	To []string `json:"to"`
	// Security is SecurityStartTLS (the default when empty), SecurityTLS or
	// SecurityNone.
	Security string `json:"security"`
	// InsecureSkipVerify accepts a server certificate that does not verify
	// (self-signed, wrong name). Off by default; for a relay on a private
	// network whose certificate cannot be fixed.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Type is TypeEmail.
func (c *EmailConfig) Type() string { return TypeEmail }

// security is the effective security mode.
func (c *EmailConfig) security() string {
	if c.Security == "" {
		return SecurityStartTLS
	}
	return c.Security
}

// Validate checks the configuration without contacting the server.
func (c *EmailConfig) Validate() FieldErrors {
	errs := FieldErrors{}
	host := c.Host
	switch {
	case strings.TrimSpace(host) == "":
		errs["host"] = "is required (the SMTP server's host name, e.g. smtp.example.com)"
	case checkText(errs, "host", c.Host):
		if !validHost(host) {
			errs["host"] = "must be a host name or an IP address without a scheme or port (e.g. smtp.example.com)"
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		errs["port"] = "must be between 1 and 65535 (587 for starttls, 465 for tls, 25 for none)"
	}
	switch c.security() {
	case SecurityStartTLS, SecurityTLS, SecurityNone:
	default:
		errs["security"] = fmt.Sprintf("unknown security %q; use starttls, tls or none", c.Security)
	}
	if c.Username != "" {
		checkText(errs, "username", c.Username)
	}
	if c.Password != "" {
		if secret.IsMasked(c.Password) {
			errs["password"] = maskedReason
		} else if len(c.Password) > maxFieldLen {
			errs["password"] = fmt.Sprintf("must be at most %d bytes long", maxFieldLen)
		}
		if c.Username == "" {
			errs["username"] = "is required when a password is set"
		}
	}
	if c.Username != "" && c.security() == SecurityNone && errs["host"] == "" && !isLoopback(host) {
		errs["security"] = "must be starttls or tls when a username is set: coffer sends a password over an unencrypted connection only to a server on this machine"
	}
	if strings.TrimSpace(c.From) == "" {
		errs["from"] = "is required (the sender address, e.g. coffer@example.com)"
	} else if checkText(errs, "from", c.From) {
		if _, err := mail.ParseAddress(c.From); err != nil {
			errs["from"] = fmt.Sprintf("%q is not a valid e-mail address", c.From)
		}
	}
	switch {
	case len(c.To) == 0:
		errs["to"] = "must list at least one recipient address"
	case len(c.To) > maxRecipients:
		errs["to"] = fmt.Sprintf("must list at most %d addresses", maxRecipients)
	default:
		for _, a := range c.To {
			if !checkText(errs, "to", a) {
				break
			}
			if _, err := mail.ParseAddress(a); err != nil {
				errs["to"] = fmt.Sprintf("%q is not a valid e-mail address", a)
				break
			}
		}
	}
	return errs
}

// validHost reports whether h is a bare host name or IP address.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// isLoopback reports whether host names this machine: "localhost" or a
// loopback IP address. No name is resolved.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Masked returns a copy with the password masked.
func (c *EmailConfig) Masked() Config {
	m := *c
	m.To = append([]string(nil), c.To...)
	if m.Password != "" {
		m.Password = secret.Mask(m.Password)
	}
	return &m
}

// SecretValues returns the password.
func (c *EmailConfig) SecretValues() []string {
	if c.Password == "" {
		return nil
	}
	return []string{c.Password}
}

func (c *EmailConfig) keepStored(stored Config) {
	old, ok := stored.(*EmailConfig)
	if !ok {
		return
	}
	if secret.IsMasked(c.Password) && old.Password != "" {
		c.Password = old.Password
	}
}
