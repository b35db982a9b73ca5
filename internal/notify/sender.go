package notify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-backup/coffer/internal/redact"
)

// DefaultTimeout bounds one delivery attempt when Sender.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Sender delivers events to channels. Its zero value works (no links, shape
// redaction only, 30 s timeout, the system's certificate authorities); it
// holds no connections between calls and is safe for concurrent use.
type Sender struct {
	// PublicURL is the URL users reach coffer at (COFFER_PUBLIC_URL); links
	// to operation pages are built on it. Empty: messages carry no link.
	PublicURL string
	// Redact hides secrets in text that leaves in a message (typically
	// (*redact.Secrets).String with every connection secret registered).
	// Nil: redact.String, which hides secrets of known shapes only. Its
	// output is passed through redact.String in any case.
	Redact func(string) string
	// Timeout bounds one attempt: connecting, TLS, the exchange and the
	// answer. Zero: DefaultTimeout.
	Timeout time.Duration
	// RootCAs are the authorities server certificates must chain to. Nil:
	// the system's. Tests set their own.
	RootCAs *x509.CertPool
	// HelloName is the name coffer gives in SMTP EHLO after TLS is up and on
	// plain and implicit-TLS connections. Empty: "localhost".
	HelloName string
	// Now returns the current time. Nil: time.Now.
	Now func() time.Time
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// redactText applies the caller's redactor and the shape redaction.
func (s *Sender) redactText(text string) string {
	if text == "" {
		return text
	}
	if s.Redact != nil {
		text = s.Redact(text)
	}
	return redact.String(text)
}

// Prepare returns ev ready to send: free text (detail, error, names, a
// caller-set message) redacted, the one-line Message written when empty,
// URL built on PublicURL when empty, and the operation's duration computed
// from its start and end when not set. Send prepares every event itself;
// Prepare is for callers that want to store or show the message first.
func (s *Sender) Prepare(ev Event) Event {
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = s.now()
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	ev.Detail = truncate(s.redactText(ev.Detail), maxErrorLen)
	if ev.Plan != nil {
		p := *ev.Plan
		p.Name = s.redactText(oneLine(p.Name))
		ev.Plan = &p
	}
	if ev.Connection != nil {
		c := *ev.Connection
		c.Name = s.redactText(oneLine(c.Name))
		ev.Connection = &c
	}
	if ev.Operation != nil {
		op := *ev.Operation
		op.Source = s.redactText(oneLine(op.Source))
		op.Destination = s.redactText(oneLine(op.Destination))
		op.Error = truncate(s.redactText(op.Error), maxErrorLen)
		if op.DurationS == nil && op.StartedAt != nil && op.CompletedAt != nil {
			d := op.CompletedAt.Sub(*op.StartedAt).Seconds()
			if d >= 0 {
				d = math.Round(d*1000) / 1000
				op.DurationS = &d
			}
		}
		ev.Operation = &op
	}
	if ev.Message == "" {
		ev.Message = summary(ev)
	}
	ev.Message = truncate(s.redactText(oneLine(ev.Message)), 500)
	if ev.URL == "" {
		ev.URL = link(s.PublicURL, ev)
	}
	return ev
}

// Send delivers ev to the channel cfg and returns the receiver's reply (the
// SMTP server's answer to the message, the webhook's status line, or the
// service a shoutrrr message went to). A failure is a *DeliveryError whose
// message is one sentence without secrets; Retryable says whether to try
// again.
func (s *Sender) Send(ctx context.Context, cfg Config, ev Event) (string, error) {
	if cfg == nil {
		return "", &DeliveryError{Message: "the channel has no configuration", Permanent: true}
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return "", &DeliveryError{
			Message:   "the channel's configuration is not valid: " + s.scrub(cfg, errs.Error()),
			Permanent: true, Err: errs,
		}
	}
	ev = s.Prepare(ev)
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	var (
		reply string
		err   error
	)
	switch c := cfg.(type) {
	case *EmailConfig:
		reply, err = s.sendEmail(ctx, c, ev)
	case *WebhookConfig:
		reply, err = s.sendWebhook(ctx, c, ev)
	case *ShoutrrrConfig:
		reply, err = s.sendShoutrrr(ctx, c, ev)
	default:
		return "", &DeliveryError{Message: fmt.Sprintf("channel type %q is not supported", cfg.Type()), Permanent: true}
	}
	reply = s.scrub(cfg, reply)
	if err != nil {
		var de *DeliveryError
		if !errors.As(err, &de) {
			de = &DeliveryError{Message: err.Error(), Err: err}
		}
		de.Message = s.scrub(cfg, de.Message)
		return reply, de
	}
	return reply, nil
}

// Test sends a test message to the channel cfg (for POST
// /notification-channels/{id}/test) and returns the receiver's reply or a
// *DeliveryError saying what failed.
func (s *Sender) Test(ctx context.Context, cfg Config) (string, error) {
	return s.Send(ctx, cfg, Event{
		Name:       EventTest,
		OccurredAt: s.now(),
		Detail:     "Someone asked coffer to send a test message to this channel. Failures, overdue plans and connections that need a person will arrive here the same way.",
	})
}

// scrub removes cfg's secret values and known secret shapes from text.
func (s *Sender) scrub(cfg Config, text string) string {
	if text == "" {
		return text
	}
	values := cfg.SecretValues()
	reg := redact.NewSecrets()
	reg.Add(values...)
	text = reg.String(text)
	// redact.Secrets ignores very short values; hide those of 4 and 5
	// characters too (a shorter one would mangle ordinary words).
	for _, v := range values {
		if len(v) >= 4 && len(v) < redact.MinSecretLen {
			text = strings.ReplaceAll(text, v, redact.Mask)
		}
	}
	return s.redactText(text)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
