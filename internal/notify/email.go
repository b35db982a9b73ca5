package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sendEmail delivers ev as a plain-text e-mail; the reply is the server's
// answer to the message ("250 2.0.0 Ok: queued as ...").
func (s *Sender) sendEmail(ctx context.Context, c *EmailConfig, ev Event) (string, error) {
	host := strings.TrimSpace(c.Host)
	addr := net.JoinHostPort(host, strconv.Itoa(c.Port))
	where := "the SMTP server at " + addr
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return "", &DeliveryError{Message: fmt.Sprintf("the sender address %q is not valid", c.From), Permanent: true, Err: err}
	}
	to := make([]*mail.Address, 0, len(c.To))
	for _, a := range c.To {
		p, err := mail.ParseAddress(a)
		if err != nil {
			return "", &DeliveryError{Message: fmt.Sprintf("the recipient address %q is not valid", a), Permanent: true, Err: err}
		}
		to = append(to, p)
	}
	msg, err := s.emailMessage(from, to, ev)
	if err != nil {
		return "", &DeliveryError{Message: "coffer could not write the e-mail: " + err.Error(), Permanent: true, Err: err}
	}

	dialer := net.Dialer{Timeout: s.timeout()}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", netFailure(where, err, s.timeout())
	}
	// Closing the connection is how a cancelled or expired context stops an
	// exchange in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	tlsConfig := &tls.Config{
		ServerName:         host,
		RootCAs:            s.RootCAs,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the channel's explicit, documented choice
		MinVersion:         tls.VersionTLS12,
	}
	var client *smtp.Client
	switch c.security() {
	case SecurityTLS:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", s.smtpFailure(ctx, where, "TLS handshake", err)
		}
		client = smtp.NewClient(tc)
	case SecurityStartTLS:
		// Greeting, EHLO and STARTTLS; the TLS handshake itself runs with
		// the EHLO below.
		client, err = smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			if strings.Contains(err.Error(), "support STARTTLS") {
				return "", &DeliveryError{
					Message:   where + " does not offer STARTTLS; use security \"tls\" for a server that speaks TLS from the start, or \"none\" for a trusted relay",
					Permanent: true, Err: err,
				}
			}
			return "", s.smtpFailure(ctx, where, "STARTTLS", err)
		}
	default:
		client = smtp.NewClient(conn)
	}
	defer client.Close()
	s.setTimeouts(ctx, client)
	if err := client.Hello(s.helloName()); err != nil {
		step := "greeting"
		if c.security() == SecurityStartTLS {
			step = "TLS handshake"
		}
		return "", s.smtpFailure(ctx, where, step, err)
	}

	if c.Username != "" {
		_, isTLS := client.TLSConnectionState()
		if !isTLS && !isLoopback(host) {
			return "", &DeliveryError{
				Message:   where + " is reached without TLS, so coffer does not send the password; use security \"starttls\" or \"tls\"",
				Permanent: true,
			}
		}
		if !client.SupportsAuth(sasl.Plain) {
			msg := where + " does not offer a login (AUTH); leave the username empty for a server that needs none"
			if _, mechs := client.Extension("AUTH"); mechs != "" {
				msg = fmt.Sprintf("%s does not offer AUTH PLAIN, the login coffer uses (it offers %s)", where, mechs)
			}
			return "", &DeliveryError{Message: msg, Permanent: true}
		}
		if err := client.Auth(sasl.NewPlainClient("", c.Username, c.Password)); err != nil {
			return "", s.smtpFailure(ctx, where, "login", err)
		}
	}
	var mailOpts *smtp.MailOptions
	if !isASCII(from.Address) || !allASCII(to) {
		mailOpts = &smtp.MailOptions{UTF8: true}
	}
	if err := client.Mail(from.Address, mailOpts); err != nil {
		return "", s.smtpFailure(ctx, where, "sender address", err)
	}
	for _, a := range to {
		if err := client.Rcpt(a.Address, nil); err != nil {
			return "", s.smtpFailure(ctx, where, "recipient "+a.Address, err)
		}
	}
	w, err := client.Data()
	if err != nil {
		return "", s.smtpFailure(ctx, where, "message", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", s.smtpFailure(ctx, where, "message", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", s.smtpFailure(ctx, where, "message", err)
	}
	_ = client.Quit()
	return "250 " + strings.TrimSpace(resp.StatusText), nil
}

func (s *Sender) helloName() string {
	if s.HelloName != "" {
		return s.HelloName
	}
	return "localhost"
}

// setTimeouts makes every command wait at most until ctx's deadline.
func (s *Sender) setTimeouts(ctx context.Context, c *smtp.Client) {
	d := s.timeout()
	if deadline, ok := ctx.Deadline(); ok {
		d = max(time.Until(deadline), time.Millisecond)
	}
	c.CommandTimeout = d
	c.SubmissionTimeout = d
}

// smtpFailure turns an error of one SMTP step into a DeliveryError: a
// reply of the server (4xx retryable, 5xx permanent) or a network failure.
func (s *Sender) smtpFailure(ctx context.Context, where, step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		reply := strconv.Itoa(se.Code)
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			reply += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		reply += " " + oneLine(strings.TrimSpace(se.Message))
		verb := "refused the " + step
		switch step {
		case "greeting":
			verb = "refused the connection"
		case "message":
			verb = "refused the message"
		}
		return &DeliveryError{
			Message:   fmt.Sprintf("%s %s: %s", where, verb, truncate(reply, 300)),
			Permanent: se.Code >= 500,
			Err:       err,
		}
	}
	if ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	if certError(err) {
		return &DeliveryError{
			Message:   fmt.Sprintf("%s %s; install a valid certificate on the server, or set insecure_skip_verify on this channel if it is a trusted relay", where, netReason(err, s.timeout())),
			Permanent: true, Err: err,
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || ctx.Err() != nil || isRefused(err) || errors.Is(err, net.ErrClosed) {
		return netFailure(where, err, s.timeout())
	}
	// Anything else is a protocol failure (a malformed reply, a TLS alert).
	return &DeliveryError{
		Message: fmt.Sprintf("%s failed during the %s: %s", where, step, truncate(oneLine(err.Error()), 300)),
		Err:     err,
	}
}

// netFailure is a DeliveryError for a network-level error.
func netFailure(where string, err error, timeout time.Duration) *DeliveryError {
	return &DeliveryError{
		Message:   where + " " + netReason(err, timeout),
		Permanent: permanentNetError(err),
		Err:       err,
	}
}

// emailMessage writes the RFC 5322 message: headers, then the text in
// quoted-printable UTF-8.
func (s *Sender) emailMessage(from *mail.Address, to []*mail.Address, ev Event) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	recipients := make([]string, len(to))
	for i, a := range to {
		recipients[i] = a.String()
	}
	header("Date", s.now().Format(time.RFC1123Z))
	header("From", from.String())
	// One recipient per line and one encoded word per line keep every
	// header line under SMTP's 998-character limit.
	header("To", strings.Join(recipients, ",\r\n "))
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", oneLine(ev.Message)), "?= =?", "?=\r\n =?"))
	id, err := messageID(from.Address)
	if err != nil {
		return nil, err
	}
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-Coffer-Event", string(ev.Name))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(Text(ev), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// messageID returns a unique Message-ID in the sender's domain.
func messageID(fromAddr string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	domain := "coffer.invalid"
	if i := strings.LastIndexByte(fromAddr, '@'); i >= 0 && i+1 < len(fromAddr) {
		domain = fromAddr[i+1:]
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(as []*mail.Address) bool {
	for _, a := range as {
		if !isASCII(a.Address) {
			return false
		}
	}
	return true
}
