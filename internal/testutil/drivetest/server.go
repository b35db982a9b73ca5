// This file routes requests: the handler that records, authorizes,
// injects failures and dispatches every request, and the JSON answers.

package drivetest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Requests returns the requests answered so far (token endpoint included).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (for Hijack).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	// Logged before it is answered (a client may finish reading the answer
	// before this handler returns); the status is filled in afterwards.
	s.mu.Lock()
	idx := len(s.log)
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		ContentRange: r.Header.Get("Content-Range")})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.log[idx].Status = rec.status
		s.mu.Unlock()
	}()
	switch {
	case r.URL.Path == "/token":
		s.token(rec, r)
		return
	case r.URL.Path == "/o/oauth2/auth":
		s.consent(rec, r)
		return
	}
	session := r.URL.Path == "/upload/drive/v3/files" && r.URL.Query().Get("upload_id") != ""
	if !s.authorized(r, session) {
		apiError(rec, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	s.mu.Lock()
	status := s.injectedFailureLocked(r, session)
	s.mu.Unlock()
	if status != 0 {
		_, _ = io.Copy(io.Discard, r.Body)
		reason := "backendError"
		if status == http.StatusTooManyRequests {
			reason = "rateLimitExceeded"
		}
		apiError(rec, status, reason, "Injected failure; try again.")
		return
	}

	p := r.URL.Path
	switch {
	case session:
		s.sessionRequest(rec, r)
	case p == "/upload/drive/v3/files" && r.Method == http.MethodPost:
		switch r.URL.Query().Get("uploadType") {
		case "multipart":
			s.multipartUpload(rec, r)
		case "resumable":
			s.startSession(rec, r)
		default:
			apiError(rec, http.StatusBadRequest, "invalid", "Unsupported uploadType.")
		}
	case p == "/drive/v3/files" && r.Method == http.MethodPost:
		s.createMetadata(rec, r)
	case p == "/drive/v3/files" && r.Method == http.MethodGet:
		s.list(rec, r)
	case p == "/drive/v3/about" && r.Method == http.MethodGet:
		s.about(rec)
	case strings.HasPrefix(p, "/drive/v3/files/"):
		id := strings.TrimPrefix(p, "/drive/v3/files/")
		switch r.Method {
		case http.MethodGet:
			s.get(rec, r, id)
		case http.MethodDelete:
			s.delete(rec, id)
		default:
			apiError(rec, http.StatusMethodNotAllowed, "invalid", "Method not supported.")
		}
	default:
		apiError(rec, http.StatusNotFound, "notFound", "Unknown endpoint "+p+".")
	}
}

func apiError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg,
		"errors": []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}
