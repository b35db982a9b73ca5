// This file is the file metadata store: creating, reading, listing (with
// the q clauses the clients send) and deleting files and folders.

package drivetest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AddFolder creates a folder under parent and returns its id.
func (s *Server) AddFolder(parent, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(name, FolderMimeType, []string{parent}, nil).ID
}

// AddFile stores a file under parent and returns its id.
func (s *Server) AddFile(parent, name string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(name, "application/octet-stream", []string{parent}, data).ID
}

// SetReadOnly makes a folder refuse new children (or accept them again).
func (s *Server) SetReadOnly(id string, readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.files[id]; ok {
		f.ReadOnly = readOnly
	}
}

// Files returns every stored file and folder but the root, in creation order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, f := range s.sortedLocked() {
		if f.ID != RootID {
			out = append(out, f.File)
		}
	}
	return out
}

// Lookup follows a slash-separated path of names from parent and returns
// the file there (the first match in creation order at each step).
func (s *Server) Lookup(parent, path string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := parent
	var found *file
	for seg := range strings.SplitSeq(path, "/") {
		found = nil
		for _, f := range s.sortedLocked() {
			if f.Name == seg && !f.Trashed && slices.Contains(f.Parents, cur) {
				found = f
				break
			}
		}
		if found == nil {
			return File{}, false
		}
		cur = found.ID
	}
	if found == nil {
		return File{}, false
	}
	return found.File, true
}

// Content returns a stored file's bytes.
func (s *Server) Content(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		return nil, false
	}
	return slices.Clone(f.data), true
}

func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

func (s *Server) addLocked(name, mimeType string, parents []string, data []byte) *file {
	sum := md5.Sum(data)
	f := &file{File: File{
		ID: s.newIDLocked("f"), Name: name, MimeType: mimeType, Parents: parents,
		Size: int64(len(data)), Created: s.now().Add(time.Duration(s.seq)), // strictly increasing
	}, data: data}
	if mimeType != FolderMimeType {
		f.MD5 = hex.EncodeToString(sum[:])
	}
	s.files[f.ID] = f
	return f
}

func (s *Server) sortedLocked() []*file {
	out := make([]*file, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *file) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *Server) fileJSON(f *file) map[string]any {
	m := map[string]any{
		"kind": "drive#file", "id": f.ID, "name": f.Name, "mimeType": f.MimeType,
		"parents": f.Parents, "trashed": f.Trashed,
		"createdTime":  f.Created.UTC().Format(time.RFC3339Nano),
		"modifiedTime": f.Created.UTC().Format(time.RFC3339Nano),
		"capabilities": map[string]bool{"canAddChildren": f.Folder() && !f.ReadOnly},
	}
	if !f.Folder() {
		m["size"] = strconv.FormatInt(f.Size, 10)
		m["md5Checksum"] = f.MD5
	}
	return m
}

type metadata struct {
	Name     string   `json:"name"`
	MimeType string   `json:"mimeType"`
	Parents  []string `json:"parents"`
}

// checkParentsLocked answers an error and returns false when a parent is
// missing, not a folder or read-only.
func (s *Server) checkParentsLocked(w http.ResponseWriter, md *metadata) bool {
	if len(md.Parents) == 0 {
		md.Parents = []string{RootID}
	}
	for _, p := range md.Parents {
		f, ok := s.files[p]
		if !ok || f.Trashed {
			apiError(w, http.StatusNotFound, "notFound", "File not found: "+p+".")
			return false
		}
		if !f.Folder() || f.ReadOnly {
			apiError(w, http.StatusForbidden, "insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
			return false
		}
	}
	return true
}

func (s *Server) createMetadata(w http.ResponseWriter, r *http.Request) {
	var md metadata
	if err := json.NewDecoder(r.Body).Decode(&md); err != nil {
		apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkParentsLocked(w, &md) {
		return
	}
	if md.MimeType == "" {
		md.MimeType = "application/octet-stream"
	}
	writeJSON(w, s.fileJSON(s.addLocked(md.Name, md.MimeType, md.Parents, nil)))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	f, ok := s.files[id]
	if !ok {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "notFound", "File not found: "+id+".")
		return
	}
	if r.URL.Query().Get("alt") != "media" {
		js := s.fileJSON(f)
		s.mu.Unlock()
		writeJSON(w, js)
		return
	}
	if f.Folder() {
		s.mu.Unlock()
		apiError(w, http.StatusForbidden, "fileNotDownloadable", "Only files with binary content can be downloaded.")
		return
	}
	data := f.data
	cut := s.cutAfter
	s.cutAfter = -1
	s.mu.Unlock()

	start, end := int64(0), int64(len(data))
	status := http.StatusOK
	if h := r.Header.Get("Range"); h != "" {
		a, b, ok := parseRange(h, int64(len(data)))
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			apiError(w, http.StatusRequestedRangeNotSatisfiable, "requestedRangeNotSatisfiable", "Request range not satisfiable")
			return
		}
		start, end, status = a, b+1, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
	}
	body := data[start:end]
	w.Header().Set("Content-Type", f.MimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if cut >= 0 && cut < int64(len(body)) {
		_, _ = w.Write(body[:cut])
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	_, _ = w.Write(body)
}

// parseRange parses a single "bytes=a-b" or "bytes=a-" range against size.
func parseRange(h string, size int64) (first, last int64, ok bool) {
	rng, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(rng, ",") {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok || a == "" {
		return 0, 0, false
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 || first >= size {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		l, err := strconv.ParseInt(b, 10, 64)
		if err != nil || l < first {
			return 0, 0, false
		}
		last = min(l, size-1)
	}
	return first, last, true
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[id]; !ok || id == RootID {
		apiError(w, http.StatusNotFound, "notFound", "File not found: "+id+".")
		return
	}
	// Deleting a folder deletes what is inside, as on Drive.
	doomed := []string{id}
	for len(doomed) > 0 {
		cur := doomed[0]
		doomed = doomed[1:]
		delete(s.files, cur)
		for _, f := range s.files {
			if slices.Contains(f.Parents, cur) {
				doomed = append(doomed, f.ID)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match, err := parseQuery(q.Get("q"))
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid Value: "+err.Error())
		return
	}
	size := 100
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			apiError(w, http.StatusBadRequest, "invalid", "Invalid pageSize.")
			return
		}
		size = n
	}
	start := 0
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, "invalid", "Invalid pageToken.")
			return
		}
		start = n
	}
	s.mu.Lock()
	var all []map[string]any
	for _, f := range s.sortedLocked() {
		if f.ID != RootID && match(&f.File) {
			all = append(all, s.fileJSON(f))
		}
	}
	s.mu.Unlock()
	resp := map[string]any{"kind": "drive#fileList", "incompleteSearch": false}
	end := min(start+size, len(all))
	if start > len(all) {
		start = len(all)
	}
	resp["files"] = append([]map[string]any{}, all[start:end]...)
	if end < len(all) {
		resp["nextPageToken"] = strconv.Itoa(end)
	}
	writeJSON(w, resp)
}

// parseQuery understands a conjunction ("and") of the clauses
//
//	name = '...'   name != '...'   mimeType = '...'   mimeType != '...'
//	'<id>' in parents   trashed = true|false
//
// with \' and \\ escapes inside quotes.
func parseQuery(q string) (func(*File) bool, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	var preds []func(*File) bool
	for i := 0; i < len(toks); {
		if len(preds) > 0 {
			if toks[i].quoted || !strings.EqualFold(toks[i].s, "and") {
				return nil, fmt.Errorf("only 'and' joins clauses, got %q", toks[i].s)
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, fmt.Errorf("incomplete clause")
		}
		a, op, b := toks[i], toks[i+1], toks[i+2]
		i += 3
		switch {
		case a.quoted && op.s == "in" && !b.quoted && b.s == "parents":
			id := a.s
			preds = append(preds, func(f *File) bool { return slices.Contains(f.Parents, id) })
		case !a.quoted && (a.s == "name" || a.s == "mimeType") && (op.s == "=" || op.s == "!=") && b.quoted:
			field, want, neg := a.s, b.s, op.s == "!="
			preds = append(preds, func(f *File) bool {
				v := f.Name
				if field == "mimeType" {
					v = f.MimeType
				}
				return (v == want) != neg
			})
		case !a.quoted && a.s == "trashed" && op.s == "=" && !b.quoted && (b.s == "true" || b.s == "false"):
			want := b.s == "true"
			preds = append(preds, func(f *File) bool { return f.Trashed == want })
		default:
			return nil, fmt.Errorf("unsupported clause %s %s %s", a.s, op.s, b.s)
		}
	}
	return func(f *File) bool {
		for _, p := range preds {
			if !p(f) {
				return false
			}
		}
		return true
	}, nil
}

type token struct {
	s      string
	quoted bool
}

func tokenize(q string) ([]token, error) {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(q) {
				if q[i] == '\\' && i+1 < len(q) {
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				if q[i] == '\'' {
					closed = true
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, token{s: b.String(), quoted: true})
		case c == '!' && i+1 < len(q) && q[i+1] == '=':
			out = append(out, token{s: "!="})
			i += 2
		case c == '=':
			out = append(out, token{s: "="})
			i++
		default:
			j := i
			for j < len(q) && q[j] != ' ' && q[j] != '=' && q[j] != '!' && q[j] != '\'' {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", q[i])
			}
			out = append(out, token{s: q[i:j]})
			i = j
		}
	}
	return out, nil
}
