//go:build linux || darwin || freebsd || openbsd || dragonfly

package local

import (
	"errors"
	"syscall"
)

// freeBytes is the space available to the server's user on the file
// system that holds dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// isQuotaExceeded reports whether err is the user's disk quota running out.
func isQuotaExceeded(err error) bool { return errors.Is(err, syscall.EDQUOT) }
