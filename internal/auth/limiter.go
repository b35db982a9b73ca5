package auth

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// defaultMaxKeys bounds the number of keys a limiter remembers.
const defaultMaxKeys = 100_000

// sweepEvery is how many writes pass between sweeps of expired keys.
const sweepEvery = 1024

// Limiter counts failed attempts per key (for logins: "ip:1.2.3.4" and
// "email:x@y") in a sliding window. Once a key has maxFailures failures
// within the window it is refused until the oldest of them leaves the
// window. It is safe for concurrent use, and its memory is bounded: keys
// whose failures have all expired are dropped, and beyond a fixed number of
// keys the least recently failed ones are forgotten.
type Limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu     sync.Mutex
	fails  map[string][]time.Time // failure times, oldest first, at most max
	writes int
}

// NewLimiter returns a limiter that allows maxFailures failed attempts per key
// within window. It panics if maxFailures < 1 or window <= 0, which is a
// programming error.
func NewLimiter(maxFailures int, window time.Duration) *Limiter {
	if maxFailures < 1 || window <= 0 {
		panic(fmt.Sprintf("auth.NewLimiter: need maxFailures >= 1 and window > 0, got %d and %v", maxFailures, window))
	}
	return &Limiter{max: maxFailures, window: window, maxKeys: defaultMaxKeys, fails: make(map[string][]time.Time)}
}

// live returns the failures of key still inside the window at now.
func (l *Limiter) live(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	cut := now.Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	return ts[i:]
}

// Allow reports whether an attempt for key may go ahead at now; if not,
// retryAfter says how long until it may (always positive then).
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.live(key, now)
	if len(ts) < l.max {
		return true, 0
	}
	wait := ts[len(ts)-l.max].Add(l.window).Sub(now)
	if wait <= 0 {
		wait = time.Nanosecond
	}
	return false, wait
}

// Fail records a failed attempt for key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if l.writes%sweepEvery == 0 {
		l.sweep(now)
	}
	ts := l.live(key, now)
	if len(ts) == 0 {
		if _, known := l.fails[key]; !known && len(l.fails) >= l.maxKeys {
			l.sweep(now)
			if len(l.fails) >= l.maxKeys {
				l.evictOldest()
			}
		}
	}
	// Copy into a fresh slice so the backing array never grows without bound.
	next := make([]time.Time, 0, min(len(ts)+1, l.max))
	if len(ts) >= l.max {
		ts = ts[len(ts)-l.max+1:]
	}
	next = append(next, ts...)
	next = append(next, now)
	l.fails[key] = next
}

// Reset forgets every failure of key, e.g. after a successful login.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// Len returns the number of keys the limiter currently remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}

// sweep drops keys whose failures have all left the window. Callers hold mu.
func (l *Limiter) sweep(now time.Time) {
	for k := range l.fails {
		if len(l.live(k, now)) == 0 {
			delete(l.fails, k)
		}
	}
}

// evictOldest drops the key whose latest failure is the oldest. Callers hold mu.
func (l *Limiter) evictOldest() {
	var oldestKey string
	var oldest time.Time
	first := true
	for k, ts := range l.fails {
		last := ts[len(ts)-1]
		if first || last.Before(oldest) {
			oldestKey, oldest, first = k, last, false
		}
	}
	if !first {
		delete(l.fails, oldestKey)
	}
}

// bucket is one key's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// RateLimiter allows n requests per period per key as a token bucket: a key
// starts with n tokens, each request takes one, and tokens come back
// steadily at n per period up to n. It is safe for concurrent use, and its
// memory is bounded like Limiter's: full buckets are dropped, and beyond a
// fixed number of keys the least recently used ones are forgotten.
type RateLimiter struct {
	n       float64
	per     time.Duration
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
	writes  int
}

// NewRateLimiter returns a limiter of n requests per period per key. It
// panics if n < 1 or per <= 0, which is a programming error.
func NewRateLimiter(n int, per time.Duration) *RateLimiter {
	if n < 1 || per <= 0 {
		panic(fmt.Sprintf("auth.NewRateLimiter: need n >= 1 and per > 0, got %d and %v", n, per))
	}
	return &RateLimiter{n: float64(n), per: per, maxKeys: defaultMaxKeys, buckets: make(map[string]*bucket)}
}

// level returns b's token count at now (refilled, capped at n).
func (r *RateLimiter) level(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return b.tokens
	}
	return min(r.n, b.tokens+r.n*float64(elapsed)/float64(r.per))
}

// Allow takes one token from key's bucket at now if there is one. If not, it
// returns false and how long until a token is back (always positive then).
func (r *RateLimiter) Allow(key string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	if r.writes%sweepEvery == 0 {
		r.sweep(now)
	}
	b, ok := r.buckets[key]
	if !ok {
		if len(r.buckets) >= r.maxKeys {
			r.sweep(now)
			if len(r.buckets) >= r.maxKeys {
				r.evictOldest()
			}
		}
		b = &bucket{tokens: r.n, last: now}
		r.buckets[key] = b
	}
	tokens := r.level(b, now)
	if now.After(b.last) {
		b.last = now
	}
	if tokens >= 1 {
		b.tokens = tokens - 1
		return true, 0
	}
	b.tokens = tokens
	wait := time.Duration(math.Ceil((1 - tokens) * float64(r.per) / r.n))
	if wait <= 0 {
		wait = time.Nanosecond
	}
	return false, wait
}

// Len returns the number of keys the limiter currently remembers.
func (r *RateLimiter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}

// sweep drops buckets that have refilled completely. Callers hold mu.
func (r *RateLimiter) sweep(now time.Time) {
	for k, b := range r.buckets {
		if r.level(b, now) >= r.n {
			delete(r.buckets, k)
		}
	}
}

// evictOldest drops the least recently used bucket. Callers hold mu.
func (r *RateLimiter) evictOldest() {
	var oldestKey string
	var oldest time.Time
	first := true
	for k, b := range r.buckets {
		if first || b.last.Before(oldest) {
			oldestKey, oldest, first = k, b.last, false
		}
	}
	if !first {
		delete(r.buckets, oldestKey)
	}
}
