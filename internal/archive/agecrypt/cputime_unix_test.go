//go:build unix

package agecrypt

import (
	"syscall"
	"time"
)

// processCPU is the user + system CPU time this process has used, which a
// busy shared machine disturbs much less than wall time.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
