package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"
)

// MaxAttempts is how many times a delivery is tried before it is marked
// failed: the first attempt and four retries, about 30 minutes in all.
const MaxAttempts = 5

// NextRetry returns how long to wait after attempt (1 for the first) failed
// with a retryable error, and false when attempt was the last one. The waits
// are 1, 3, 8 and 18 minutes: 30 minutes from the first failure to the last
// attempt, long enough to ride out a mail server's restart or a receiver's
// deploy, short enough that a failure notice is still news.
func NextRetry(attempt int) (time.Duration, bool) {
	switch attempt {
	case 1:
		return time.Minute, true
	case 2:
		return 3 * time.Minute, true
	case 3:
		return 8 * time.Minute, true
	case 4:
		return 18 * time.Minute, true
	}
	return 0, false
}

// DeliveryError is a failed delivery. Message is one sentence for people,
// free of secrets ("the webhook at https://hooks.example.com/x answered 500
// Internal Server Error: database is down"); Permanent says that trying again
// cannot help (the login or an address was refused, the receiver answered
// 4xx, the certificate does not verify), so the job stops early.
type DeliveryError struct {
	// Message is the sentence shown to users and stored as the delivery's
	// last error.
	Message string
	// Permanent is true when a retry cannot succeed without a change.
	Permanent bool
	// RetryAfter is the wait a receiver asked for (HTTP Retry-After on 429
	// or 503), zero when it asked for none.
	RetryAfter time.Duration
	// Err is the underlying error, for errors.Is/As; its text may hold
	// details that Message leaves out and is not shown.
	Err error
}

// Error returns Message.
func (e *DeliveryError) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Retryable reports whether a delivery that failed with err may succeed
// when tried again: timeouts, refused or reset connections, 5xx, 408 and 429
// answers and SMTP 4xx replies are retryable; 4xx answers, refused logins and
// addresses, unknown hosts, certificates that do not verify and invalid
// configurations are not. An error that is not a *DeliveryError is retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return !de.Permanent
	}
	return true
}

// permanentNetError reports whether a network-level error cannot go away
// by itself: the host name does not exist, or the peer's certificate does
// not verify.
func permanentNetError(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	return certError(err)
}

// certError reports whether err is a certificate verification failure.
func certError(err error) bool {
	var (
		verifyErr   *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostErr) || errors.As(err, &invalidErr)
}

// netReason describes a network error in a few words, without addresses.
func netReason(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "did not answer within " + timeout.String()
	case errors.Is(err, context.Canceled):
		return "could not be reached before coffer stopped the attempt"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "could not be found (no such host)"
	case errors.As(err, &dnsErr):
		return "could not be looked up (" + dnsErr.Err + ")"
	case certError(err):
		return "presented a certificate that does not verify (" + certReason(err) + ")"
	case isRefused(err):
		return "refused the connection"
	}
	return "could not be reached (" + shortNetError(err) + ")"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certReason names what is wrong with a certificate.
func certReason(err error) string {
	var (
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownAuth):
		return "signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "issued for another name"
	case errors.As(err, &invalidErr):
		if invalidErr.Reason == x509.Expired {
			return "expired or not yet valid"
		}
		return "not valid"
	}
	return "verification failed"
}

// shortNetError is the last part of a network error's text ("connection
// reset by peer"), without the addresses before it.
func shortNetError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	msg := err.Error()
	if i := lastIndexColon(msg); i >= 0 && i+2 < len(msg) {
		msg = msg[i+2:]
	}
	return msg
}

func lastIndexColon(s string) int {
	for i := len(s) - 2; i >= 0; i-- {
		if s[i] == ':' && s[i+1] == ' ' {
			return i
		}
	}
	return -1
}
