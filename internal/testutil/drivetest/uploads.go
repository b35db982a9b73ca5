// This file is uploads: multipart creates and resumable upload sessions
// (chunks, status queries, cancellation).

package drivetest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// chunkQuantum is the size every non-final chunk of a resumable upload must
// be a multiple of.
const chunkQuantum = 256 << 10

// Sessions returns the open (unfinished) resumable upload sessions.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Session
	for _, se := range s.sessions {
		if se.done == "" {
			out = append(out, Session{URI: s.sessionURI(se.id), Name: se.name, Parents: slices.Clone(se.parents), Received: int64(len(se.data))})
		}
	}
	slices.SortFunc(out, func(a, b Session) int { return strings.Compare(a.URI, b.URI) })
	return out
}

func (s *Server) sessionURI(id string) string {
	return s.URL + "/upload/drive/v3/files?uploadType=resumable&upload_id=" + id
}

func (s *Server) multipartUpload(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		apiError(w, http.StatusBadRequest, "badContent", "Multipart upload needs a multipart/related body.")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var md metadata
	var data []byte
	var mediaType string
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, "badContent", "Malformed multipart body.")
			return
		}
		b, err := io.ReadAll(part)
		if err != nil {
			apiError(w, http.StatusBadRequest, "badContent", "Malformed multipart body.")
			return
		}
		switch i {
		case 0:
			if err := json.Unmarshal(b, &md); err != nil {
				apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
				return
			}
		case 1:
			data, mediaType = b, part.Header.Get("Content-Type")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkParentsLocked(w, &md) || s.quotaExceededLocked(w, int64(len(data))) {
		return
	}
	if md.MimeType == "" {
		md.MimeType = mediaType
	}
	if md.MimeType == "" {
		md.MimeType = "application/octet-stream"
	}
	writeJSON(w, s.fileJSON(s.addLocked(md.Name, md.MimeType, md.Parents, data)))
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request) {
	var md metadata
	body, err := io.ReadAll(r.Body)
	if err != nil {
		apiError(w, http.StatusBadRequest, "badContent", "Unreadable body.")
		return
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &md); err != nil {
			apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkParentsLocked(w, &md) {
		return
	}
	mt := md.MimeType
	if mt == "" {
		mt = r.Header.Get("X-Upload-Content-Type")
	}
	if mt == "" {
		mt = "application/octet-stream"
	}
	se := &session{id: s.newIDLocked("up"), name: md.Name, mimeType: mt, parents: md.Parents}
	s.sessions[se.id] = se
	w.Header().Set("Location", s.sessionURI(se.id))
	w.Header().Set("X-GUploader-UploadID", se.id)
	w.WriteHeader(http.StatusOK)
}

// parseContentRange parses "bytes a-b/total", "bytes */total" and the "*"
// total. first is -1 for "*/..."; total is -1 for ".../*".
func parseContentRange(h string) (first, last, total int64, ok bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, false
	}
	fa, err1 := strconv.ParseInt(a, 10, 64)
	lb, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || fa < 0 || lb < fa {
		return 0, 0, 0, false
	}
	return fa, lb, total, true
}

func (s *Server) sessionRequest(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("upload_id")
	if r.Method == http.MethodDelete {
		s.mu.Lock()
		se, ok := s.sessions[id]
		if ok && se.done == "" {
			delete(s.sessions, id)
		}
		s.mu.Unlock()
		if !ok || se.done != "" {
			apiError(w, http.StatusNotFound, "notFound", "No such upload session.")
			return
		}
		// Google answers a cancelled session with 499 Client Closed Request.
		w.WriteHeader(499)
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		apiError(w, http.StatusMethodNotAllowed, "invalid", "Method not supported.")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away mid-chunk; keep nothing of it
	}
	first, last, total, ok := parseContentRange(r.Header.Get("Content-Range"))
	if !ok {
		apiError(w, http.StatusBadRequest, "badContent", "Invalid Content-Range header.")
		return
	}
	s.mu.Lock()
	se, found := s.sessions[id]
	if !found {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "notFound", "No such upload session.")
		return
	}
	if se.done != "" {
		f := s.files[se.done]
		var js map[string]any
		if f != nil {
			js = s.fileJSON(f)
		}
		s.mu.Unlock()
		if js == nil {
			apiError(w, http.StatusNotFound, "notFound", "The uploaded file was deleted.")
			return
		}
		writeJSON(w, js)
		return
	}
	received := int64(len(se.data))
	if first >= 0 {
		if int64(len(body)) != last-first+1 {
			s.mu.Unlock()
			apiError(w, http.StatusBadRequest, "badContent", fmt.Sprintf("The request body has %d bytes but Content-Range names %d.", len(body), last-first+1))
			return
		}
		if first > received {
			s.mu.Unlock()
			apiError(w, http.StatusBadRequest, "badContent", fmt.Sprintf("The chunk starts at %d but the session has %d bytes.", first, received))
			return
		}
		if total < 0 || last+1 < total {
			if (last+1-first)%chunkQuantum != 0 {
				s.mu.Unlock()
				apiError(w, http.StatusBadRequest, "badContent", "A chunk that is not the last must be a multiple of 256 KiB.")
				return
			}
		}
		if total >= 0 && last+1 > total {
			s.mu.Unlock()
			apiError(w, http.StatusBadRequest, "badContent", "The chunk ends after the declared total size.")
			return
		}
		if last+1 > received {
			add := body[received-first:]
			if s.quotaExceededLocked(w, int64(len(add))) {
				s.mu.Unlock()
				return
			}
			se.data = append(se.data, add...)
			received = int64(len(se.data))
		}
	} else if int64(len(body)) != 0 {
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "badContent", "A status query must have an empty body.")
		return
	}
	var js map[string]any
	if total >= 0 && received == total {
		f := s.addLocked(se.name, se.mimeType, se.parents, se.data)
		se.done, se.data = f.ID, nil
		js = s.fileJSON(f)
	} else if total >= 0 && received > total {
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "badContent", "The session holds more bytes than the declared total size.")
		return
	}
	lose := s.loseChunk && first >= 0
	if lose {
		s.loseChunk = false
	}
	s.mu.Unlock()

	if lose {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	if js != nil {
		writeJSON(w, js)
		return
	}
	if received > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", received-1))
	}
	if strings.EqualFold(r.Header.Get("X-GUploader-No-308"), "yes") {
		w.Header().Set("X-Http-Status-Code-Override", "308")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusPermanentRedirect)
}
