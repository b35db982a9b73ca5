// Package syncbuf is a bytes.Buffer that tests can hand to several
// goroutines at once: a server's log writer, a child process's output.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes from any goroutine; the zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
