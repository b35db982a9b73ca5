package engine

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// MinBandwidthLimit is the smallest bandwidth limit a backup accepts (bytes/s).
const MinBandwidthLimit = 1024

// throttle holds a run's bytes to a rate (a backup's bandwidth_limit): one
// for what it reads from the source, one for what it writes to the
// destination. A nil *throttle lets everything through.
type throttle struct {
	lim   *rate.Limiter
	burst int
}

// newThrottle returns a throttle of bps bytes per second, nil for 0 (no limit).
func newThrottle(bps int64) *throttle {
	if bps <= 0 {
		return nil
	}
	// A burst of a quarter second keeps the rate smooth at any part size.
	burst := int(max(bps/4, 4096))
	return &throttle{lim: rate.NewLimiter(rate.Limit(bps), burst), burst: burst}
}

// wait blocks until n more bytes may pass, or ctx ends.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t == nil {
		return nil
	}
	for n > 0 {
		step := min(n, t.burst)
		if err := t.lim.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// reader returns r read at the throttle's rate (r itself for no limit).
func (t *throttle) reader(ctx context.Context, r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	return &throttledReader{ctx: ctx, r: r, t: t}
}

type throttledReader struct {
	ctx context.Context
	r   io.Reader
	t   *throttle
}

func (tr *throttledReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p)
	if n > 0 {
		if werr := tr.t.wait(tr.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
