package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestBandwidthLimit: a backup of 3 MiB of random data (it does not
// compress, so about as much is written) with bandwidth_limit 1 MiB/s takes
// at least about 2.75 s (3 MiB less the quarter-second burst), and the same
// backup without a limit takes less; a limit under 1 KiB/s is refused.
func TestBandwidthLimit(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	for i := range 6 {
		put(t, cl, bucket, object{key: fmt.Sprintf("part-%d.bin", i), data: randBytes(t, 512<<10)})
	}
	src, dst := e.s3Conn("source", bucket), e.localConn("archives")

	took := func(opts string) time.Duration {
		t.Helper()
		start := time.Now()
		id := startBackup(t, e, src, dst, opts)
		e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
		return time.Since(start)
	}
	limited := took(`{"bandwidth_limit": 1048576}`)
	free := took("")
	t.Logf("3 MiB: %v at 1 MiB/s, %v without a limit", limited.Round(time.Millisecond), free.Round(time.Millisecond))
	if limited < 2750*time.Millisecond {
		t.Errorf("3 MiB at 1 MiB/s took %v, want at least 2.75 s", limited)
	}
	if free >= limited {
		t.Errorf("without a limit it took %v, not less than with one (%v)", free, limited)
	}

	_, err := e.eng.StartBackup(context.Background(), actor, engine.BackupRequest{SourceConnectionID: src, DestinationConnectionID: dst,
		Options: []byte(`{"bandwidth_limit": 100}`)})
	var ae *apperr.Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Fields["options.bandwidth_limit"], "at least 1024") {
		t.Fatalf("bandwidth_limit 100: %v", err)
	}
}
