//go:build crashhook

package app

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// crashHook is the engine's crash hook for the crash tests, present only in
// binaries built with the crashhook tag (bin/coffer-e2e; see the Makefile):
// with COFFER_TEST_CRASH_AT=point:n the process kills itself with SIGKILL
// the n-th time it reaches point.
func crashHook(getenv func(string) string) func(string) {
	spec := getenv("COFFER_TEST_CRASH_AT")
	point, nth, ok := strings.Cut(spec, ":")
	if spec == "" || !ok {
		return nil
	}
	want, err := strconv.Atoi(nth)
	if err != nil || want < 1 {
		return nil
	}
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		mu.Lock()
		seen++
		hit := seen == want
		mu.Unlock()
		if hit {
			fmt.Fprintf(os.Stderr, "COFFER_TEST_CRASH_AT: killing the process at %s #%d\n", p, want)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
