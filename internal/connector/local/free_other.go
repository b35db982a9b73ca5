//go:build !(linux || darwin || freebsd || openbsd || dragonfly)

package local

// freeBytes answers -1 (unknown) where coffer has no free-space call for
// the platform: the backup then runs without the early space check.
func freeBytes(string) (int64, error) { return -1, nil }

// isQuotaExceeded cannot tell a quota error apart on this platform; a full
// disk (ENOSPC) is still recognised.
func isQuotaExceeded(error) bool { return false }
