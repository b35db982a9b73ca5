// This file holds the failure knobs tests use to make requests fail,
// lose chunk answers and cut downloads.

package drivetest

import (
	"net/http"
	"slices"
	"strings"
)

// failRule fails the next n requests that match.
type failRule struct {
	n, status int
	match     func(r *http.Request, session bool) bool
}

// FailNext answers the next n API and upload requests with status (503,
// 429, ...) without acting on them.
func (s *Server) FailNext(n, status int) {
	s.addFailure(n, status, func(*http.Request, bool) bool { return true })
}

// FailNextChunks answers the next n requests to upload session URIs
// (chunks and status queries) with status, leaving other requests alone.
func (s *Server) FailNextChunks(n, status int) {
	s.addFailure(n, status, func(_ *http.Request, session bool) bool { return session })
}

// FailNextUploads answers the next n requests under /upload/ that are not
// session requests (multipart uploads, session starts) with status.
func (s *Server) FailNextUploads(n, status int) {
	s.addFailure(n, status, func(r *http.Request, session bool) bool {
		return !session && strings.HasPrefix(r.URL.Path, "/upload/")
	})
}

func (s *Server) addFailure(n, status int, match func(*http.Request, bool) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failRule{n: n, status: status, match: match})
}

// injectedFailureLocked returns the status to fail r with, or 0.
func (s *Server) injectedFailureLocked(r *http.Request, session bool) int {
	for i := range s.failures {
		f := &s.failures[i]
		if f.n > 0 && f.match(r, session) {
			f.n--
			status := f.status
			if f.n == 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			return status
		}
	}
	return 0
}

// LoseNextChunkResponse makes the next upload chunk be stored but its
// answer lost: the connection is closed instead, as when a network drops.
func (s *Server) LoseNextChunkResponse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseChunk = true
}

// CutNextDownload makes the next alt=media answer close its connection
// after n bytes of the body.
func (s *Server) CutNextDownload(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutAfter = n
}
