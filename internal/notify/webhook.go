package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/version"
)

// The headers of a webhook request.
const (
	// HeaderEvent carries the event name.
	HeaderEvent = "X-Coffer-Event"
	// HeaderTimestamp carries the signing time in Unix seconds (with a secret).
	HeaderTimestamp = "X-Coffer-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of
	// "<timestamp>.<body>" under the channel's secret (with a secret).
	HeaderSignature = "X-Coffer-Signature"
)

// Limits of a webhook answer.
const (
	maxAnswerRead = 64 << 10
	maxExcerpt    = 200
	maxRedirects  = 3
)

// Sign returns the X-Coffer-Signature value of body sent at timestamp (Unix
// seconds): "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>" keyed
// with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	// ErrBadSignature: the signature is missing, malformed or not made with
	// the secret over this timestamp and body.
	ErrBadSignature = errors.New("the signature does not match")
	// ErrStaleTimestamp: the timestamp is missing, malformed or further than
	// the allowed skew from now (a replayed or delayed request).
	ErrStaleTimestamp = errors.New("the timestamp is missing or outside the allowed window")
)

// Verify checks a webhook request on the receiving side: timestamp and
// signature are the X-Coffer-Timestamp and X-Coffer-Signature headers, body
// the raw request body. It returns ErrStaleTimestamp when the timestamp is
// more than maxSkew away from now (refusing replays of old requests) and
// ErrBadSignature when the signature was not made with secret over this
// timestamp and body. A receiver that also wants to refuse a replay within
// the window remembers the signatures it has accepted for maxSkew.
func Verify(secret, timestamp string, body []byte, signature string, maxSkew time.Duration) error {
	return verifyAt(time.Now(), secret, timestamp, body, signature, maxSkew)
}

func verifyAt(now time.Time, secret, timestamp string, body []byte, signature string, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return ErrStaleTimestamp
	}
	skew := now.Sub(time.Unix(ts, 0))
	if skew < 0 {
		skew = -skew
	}
	if skew > maxSkew {
		return ErrStaleTimestamp
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(signature), "sha256=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "sha256="))
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	return nil
}

// sendWebhook POSTs ev as JSON; a 2xx answer is success and its status line
// (and the start of its body) the reply.
func (s *Sender) sendWebhook(ctx context.Context, c *WebhookConfig, ev Event) (string, error) {
	where := "the webhook at " + maskURL(c.URL, webURLPolicy)
	body, err := json.Marshal(ev)
	if err != nil {
		return "", &DeliveryError{Message: "coffer could not encode the event: " + err.Error(), Permanent: true, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return "", &DeliveryError{Message: where + " is not a valid URL", Permanent: true, Err: err}
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "coffer/"+version.Version)
	req.Header.Set(HeaderEvent, string(ev.Name))
	if c.Secret != "" {
		ts := s.now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(c.Secret, ts, body))
	}
	origin := req.URL
	client := &http.Client{
		Timeout: s.timeout(),
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   s.timeout(),
			ResponseHeaderTimeout: s.timeout(),
			DisableKeepAlives:     true,
			ForceAttemptHTTP2:     true,
		},
		// A redirect is followed only to the same scheme and host, so the
		// event and its signature never go anywhere the channel does not name.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Host != origin.Host || r.URL.Scheme != origin.Scheme || len(via) > maxRedirects {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return "", netFailure(where, err, s.timeout())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerRead))
	excerpt := bodyExcerpt(raw)
	status := resp.Status
	if status == "" {
		status = strconv.Itoa(resp.StatusCode)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if excerpt != "" {
			return status + ": " + excerpt, nil
		}
		return status, nil
	}
	de := &DeliveryError{Err: fmt.Errorf("webhook answered %s", status)}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		de.Message = fmt.Sprintf("%s answered %s, a redirect to %s, which coffer does not follow; set the final URL on the channel",
			where, status, redirectTarget(resp))
		de.Permanent = true
	default:
		de.Message = where + " answered " + status
		if excerpt != "" {
			de.Message += ": " + excerpt
		}
		de.Permanent = !retryableStatus(resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			de.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
		}
	}
	return "", de
}

// retryableStatus reports whether an HTTP answer may change on its own:
// 5xx, 408 Request Timeout and 429 Too Many Requests.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// redirectTarget names where a refused redirect pointed (scheme and host only).
func redirectTarget(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil || loc.Host == "" {
		return "another place"
	}
	return loc.Scheme + "://" + loc.Host
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// bodyExcerpt returns the start of an answer's body as one short line of
// text ("" for an empty or binary body).
func bodyExcerpt(raw []byte) string {
	if len(raw) == 0 || bytes.IndexByte(raw, 0) >= 0 {
		return ""
	}
	text := strings.Join(strings.Fields(oneLine(strings.ToValidUTF8(string(raw), ""))), " ")
	return truncate(text, maxExcerpt)
}
