package gdrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// tokens hands out access tokens and fetches new ones when the current one
// is expired or was refused.
type tokens struct {
	mu      sync.Mutex
	cur     *oauth2.Token
	fetch   func(ctx context.Context) (*oauth2.Token, error) // nil: the token cannot be renewed
	onToken func(*oauth2.Token)
}

// token returns a usable access token, fetching one if needed.
func (t *tokens) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.AccessToken != "" && t.cur.Valid() {
		return t.cur, nil
	}
	if t.fetch == nil {
		return nil, fmt.Errorf("%w (the access token expired and there is no refresh token)", ErrReauth)
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
			return nil, fmt.Errorf("%w (the token endpoint answered %s)", ErrReauth, re.ErrorCode)
		}
		if errors.As(err, &re) && re.ErrorCode == "invalid_client" {
			return nil, fmt.Errorf("Google refused the server's OAuth client; check COFFER_GDRIVE_CLIENT_ID and COFFER_GDRIVE_CLIENT_SECRET: %w", err)
		}
		return nil, fmt.Errorf("getting a Google access token failed: %w", err)
	}
	if tok.RefreshToken == "" && t.cur != nil {
		tok.RefreshToken = t.cur.RefreshToken
	}
	t.cur = tok
	if t.onToken != nil {
		cp := *tok
		t.onToken(&cp)
	}
	return tok, nil
}

// refused marks access as not working any more (the API answered 401).
func (t *tokens) refused(access string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.AccessToken == access {
		cp := *t.cur
		cp.AccessToken = ""
		t.cur = &cp
	}
}

// authTransport adds the bearer token; on a 401 it renews the token and
// sends the request once more.
type authTransport struct {
	tokens *tokens
	base   http.RoundTripper
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, used, err := a.send(req, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	a.tokens.refused(used)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // cannot be sent again
	}
	drain(resp)
	resp, _, err = a.send(req, true)
	return resp, err
}

func (a *authTransport) send(req *http.Request, again bool) (*http.Response, string, error) {
	tok, err := a.tokens.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, "", err
	}
	r := req.Clone(req.Context())
	if again && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, "", err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := a.base.RoundTrip(r)
	return resp, tok.AccessToken, err
}

// retryTransport retries 5xx and 429 answers and transient network errors
// with exponential backoff, attempts times in all. Requests whose body
// cannot be sent again are not retried.
type retryTransport struct {
	base     http.RoundTripper
	attempts int
	delay    time.Duration
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	delay := rt.delay
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := rt.base.RoundTrip(r)
		if attempt >= rt.attempts || !rewindable || !retryable(req.Context(), resp, err) {
			return resp, err
		}
		wait := delay
		if resp != nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 && s <= 30 {
				wait = max(wait, time.Duration(s)*time.Second)
			}
			drain(resp)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		delay *= 2
	}
}

// retryable reports whether a request that got resp/err may succeed when
// sent again.
func retryable(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return transient(err)
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// transient reports whether err is a network failure worth retrying (not a
// grant problem or a cancellation).
func transient(err error) bool {
	if errors.Is(err, ErrReauth) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, &ne) ||
		errors.Is(err, net.ErrClosed)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
