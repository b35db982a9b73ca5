package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func TestLimiterWindow(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3, time.Minute)
	key := "ip:192.0.2.1"
	for i := range 3 {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		if ok, _ := l.Allow(key, now); !ok {
			t.Fatalf("refused before failure %d", i+1)
		}
		l.Fail(key, now)
	}
	// Failures at 0s, 10s, 20s: blocked until the first leaves the window at 60s.
	ok, retry := l.Allow(key, t0.Add(30*time.Second))
	if ok || retry != 30*time.Second {
		t.Fatalf("after 3 failures: ok=%v retry=%v; want false, 30s", ok, retry)
	}
	if ok, _ := l.Allow("ip:192.0.2.2", t0.Add(30*time.Second)); !ok {
		t.Fatal("another key is blocked")
	}
	if ok, retry := l.Allow(key, t0.Add(60*time.Second)); !ok {
		t.Fatalf("still blocked when the first failure left the window (retry %v)", retry)
	}
	// One more failure at 60s: failures at 10s, 20s, 60s; blocked until 70s.
	l.Fail(key, t0.Add(60*time.Second))
	if ok, retry := l.Allow(key, t0.Add(65*time.Second)); ok || retry != 5*time.Second {
		t.Fatalf("sliding window: ok=%v retry=%v; want false, 5s", ok, retry)
	}
	l.Reset(key)
	if ok, _ := l.Allow(key, t0.Add(65*time.Second)); !ok {
		t.Fatal("blocked after Reset")
	}
}

func TestLimiterPrunesOldKeys(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2, time.Minute)
	for i := range 5000 {
		l.Fail(fmt.Sprintf("email:%d@example.com", i), t0.Add(time.Duration(i)*time.Second))
	}
	// Only keys failed within the last minute may still be remembered after
	// the periodic sweeps; at most sweepEvery+window keys.
	if n := l.Len(); n > sweepEvery+60 {
		t.Fatalf("limiter remembers %d keys", n)
	}

	small := NewLimiter(1, time.Hour)
	small.maxKeys = 10
	for i := range 100 {
		small.Fail(fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	if n := small.Len(); n > 10 {
		t.Fatalf("limiter over its key cap: %d", n)
	}
	// The most recent keys are the ones kept.
	if ok, _ := small.Allow("k99", t0.Add(100*time.Second)); ok {
		t.Fatal("the newest failing key was evicted")
	}
	if ok, _ := small.Allow("k0", t0.Add(100*time.Second)); !ok {
		t.Fatal("the oldest key was kept over newer ones")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1000, time.Hour)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				key := fmt.Sprintf("k%d", i%5)
				l.Allow(key, t0)
				l.Fail(key, t0)
				if g == 0 && i == 50 {
					l.Reset("k4")
				}
			}
		})
	}
	wg.Wait()
	// 800 failures over 5 keys, 160 each (k4 may have lost some to Reset).
	for i := range 4 {
		if got := len(l.fails[fmt.Sprintf("k%d", i)]); got != 160 {
			t.Fatalf("k%d has %d failures, want 160", i, got)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	r := NewRateLimiter(3, time.Minute) // one token every 20 s
	for i := range 3 {
		if ok, _ := r.Allow("user:1", t0); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, retry := r.Allow("user:1", t0)
	if ok || retry != 20*time.Second {
		t.Fatalf("4th request: ok=%v retry=%v; want false, 20s", ok, retry)
	}
	if ok, _ := r.Allow("user:2", t0); !ok {
		t.Fatal("another user is limited")
	}
	if ok, retry := r.Allow("user:1", t0.Add(10*time.Second)); ok || retry != 10*time.Second {
		t.Fatalf("after 10s: ok=%v retry=%v; want false, 10s", ok, retry)
	}
	if ok, _ := r.Allow("user:1", t0.Add(20*time.Second)); !ok {
		t.Fatal("refused after a token came back")
	}
	if ok, _ := r.Allow("user:1", t0.Add(21*time.Second)); ok {
		t.Fatal("allowed with no token")
	}
	// Long idle: the bucket refills to n, not beyond.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := r.Allow("user:1", later); !ok {
			t.Fatalf("after idle, request %d refused", i+1)
		}
	}
	if ok, _ := r.Allow("user:1", later); ok {
		t.Fatal("bucket grew beyond n while idle")
	}
	// A clock going backwards neither refills nor panics.
	if ok, _ := r.Allow("user:1", later.Add(-time.Minute)); ok {
		t.Fatal("clock going backwards refilled the bucket")
	}
}

func TestRateLimiterBounded(t *testing.T) {
	t.Parallel()
	r := NewRateLimiter(2, time.Minute)
	r.maxKeys = 50
	for i := range 1000 {
		r.Allow(fmt.Sprintf("user:%d", i), t0)
	}
	if n := r.Len(); n > 50 {
		t.Fatalf("rate limiter remembers %d keys, cap 50", n)
	}
	full := NewRateLimiter(2, time.Minute)
	for i := range 3000 {
		full.Allow(fmt.Sprintf("user:%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	if n := full.Len(); n > sweepEvery+60 {
		t.Fatalf("refilled buckets are not swept: %d keys", n)
	}
}

func TestConstructorsRejectNonsense(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"limiter zero max":   func() { NewLimiter(0, time.Minute) },
		"limiter no window":  func() { NewLimiter(1, 0) },
		"rate zero n":        func() { NewRateLimiter(0, time.Minute) },
		"rate negative time": func() { NewRateLimiter(1, -time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
