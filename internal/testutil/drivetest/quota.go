// This file is the storage quota: about.get and the checks uploads make.

package drivetest

import (
	"net/http"
	"strconv"
)

// SetQuota sets the storage quota about.get reports and uploads respect.
// limit < 0 means unlimited; usage < 0 means "the bytes stored".
func (s *Server) SetQuota(limit, usage int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotaLimit, s.quotaUsage = limit, usage
}

func (s *Server) usageLocked() int64 {
	if s.quotaUsage >= 0 {
		return s.quotaUsage
	}
	var n int64
	for _, f := range s.files {
		n += f.Size
	}
	for _, se := range s.sessions {
		if se.done == "" {
			n += int64(len(se.data))
		}
	}
	return n
}

func (s *Server) quotaExceededLocked(w http.ResponseWriter, more int64) bool {
	if s.quotaLimit >= 0 && s.usageLocked()+more > s.quotaLimit {
		apiError(w, http.StatusForbidden, "storageQuotaExceeded", "The user's Drive storage quota has been exceeded.")
		return true
	}
	return false
}

func (s *Server) about(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := map[string]string{"usage": strconv.FormatInt(s.usageLocked(), 10)}
	if s.quotaLimit >= 0 {
		q["limit"] = strconv.FormatInt(s.quotaLimit, 10)
	}
	writeJSON(w, map[string]any{"kind": "drive#about", "storageQuota": q})
}
