package notify

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNextRetry(t *testing.T) {
	want := []time.Duration{time.Minute, 3 * time.Minute, 8 * time.Minute, 18 * time.Minute}
	var total time.Duration
	for attempt := 1; attempt < MaxAttempts; attempt++ {
		d, ok := NextRetry(attempt)
		if !ok || d != want[attempt-1] {
			t.Fatalf("NextRetry(%d) = %v, %v; want %v, true", attempt, d, ok, want[attempt-1])
		}
		total += d
	}
	if total != 30*time.Minute {
		t.Fatalf("retries span %v, want 30m", total)
	}
	for _, attempt := range []int{MaxAttempts, MaxAttempts + 1, 0, -1} {
		if d, ok := NextRetry(attempt); ok {
			t.Fatalf("NextRetry(%d) = %v, true; want no retry", attempt, d)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("something"), true},
		{&DeliveryError{Message: "answered 500"}, true},
		{&DeliveryError{Message: "refused the login", Permanent: true}, false},
		{fmt.Errorf("deliver: %w", &DeliveryError{Message: "x", Permanent: true}), false},
		{context.DeadlineExceeded, true},
	}
	for _, tc := range tests {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
