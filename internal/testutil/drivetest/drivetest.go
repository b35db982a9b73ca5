// Package drivetest is a Google Drive v3 server for tests. It speaks the
// parts of the REST protocol that the official client
// (google.golang.org/api/drive/v3) and coffer's Drive connector use:
// metadata and multipart creates, resumable upload sessions (chunks, status
// queries, X-GUploader-No-308 answers, cancellation), files.get with
// alt=media and Range, files.list with the usual q clauses, files.delete,
// about.get, and the OAuth 2.0 token and consent endpoints with bearer
// checks on every API call.
//
// Tests steer it with knobs: fail the next requests with 503 or 429, expire
// access tokens, revoke refresh tokens, set the storage quota, drop the
// answer to an uploaded chunk, cut a download short, and inspect stored
// files and open sessions. Everything is deterministic and safe for
// concurrent use.
package drivetest

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FolderMimeType is the MIME type Drive gives folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// RootID is the id of the root folder every server starts with ("root" is
// also what real Drive accepts as an alias of My Drive).
const RootID = "root"

// chunkQuantum is the size every non-final chunk of a resumable upload must
// be a multiple of.
const chunkQuantum = 256 << 10

// File is a snapshot of a stored file or folder.
type File struct {
	ID       string
	Name     string
	MimeType string
	Parents  []string
	Size     int64
	MD5      string
	Created  time.Time
	Trashed  bool
	// ReadOnly folders refuse new children (capabilities.canAddChildren = false).
	ReadOnly bool
}

// Folder reports whether f is a folder.
func (f File) Folder() bool { return f.MimeType == FolderMimeType }

// Session is a snapshot of an open resumable upload session.
type Session struct {
	// URI is the session URI handed to the client in Location.
	URI string
	// Name and Parents are the metadata the session was started with.
	Name    string
	Parents []string
	// Received is how many bytes the session holds.
	Received int64
}

// Request is one request the server answered, for assertions on retries.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// ContentRange is the Content-Range header of upload chunks.
	ContentRange string
	Status       int
}

type file struct {
	File
	data []byte
}

type session struct {
	id       string
	name     string
	mimeType string
	parents  []string
	data     []byte
	done     string // id of the created file once complete
}

type accessToken struct {
	expiry  time.Time
	refresh string
}

type serviceAccount struct {
	key *rsa.PublicKey
}

// Server is a running Drive test server.
type Server struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// ClientID and ClientSecret are the OAuth client the token endpoint accepts.
	ClientID, ClientSecret string

	srv *httptest.Server

	mu         sync.Mutex
	now        func() time.Time
	seq        int
	files      map[string]*file
	sessions   map[string]*session
	access     map[string]accessToken
	refresh    map[string]bool
	codes      map[string]string // authorization code -> redirect_uri
	accounts   map[string]serviceAccount
	failures   []failRule
	loseChunk  bool
	cutAfter   int64 // -1: no cut
	quotaLimit int64 // -1: unlimited
	quotaUsage int64 // -1: the stored bytes
	log        []Request
	tokenCalls int
}

// New starts a server on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		ClientID:     "coffer-test-client.apps.example",
		ClientSecret: "test-client-secret",
		now:          time.Now,
		files:        map[string]*file{},
		sessions:     map[string]*session{},
		access:       map[string]accessToken{},
		refresh:      map[string]bool{},
		codes:        map[string]string{},
		accounts:     map[string]serviceAccount{},
		cutAfter:     -1,
		quotaLimit:   15 << 30,
		quotaUsage:   -1,
	}
	s.files[RootID] = &file{File: File{ID: RootID, Name: "My Drive", MimeType: FolderMimeType, Created: s.now()}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// APIURL is the base URL to give the connector as the Drive API base (the
// official client then uses APIURL + "drive/v3/").
func (s *Server) APIURL() string { return s.URL + "/" }

// TokenURL is the OAuth token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// AuthURL is the OAuth consent endpoint.
func (s *Server) AuthURL() string { return s.URL + "/o/oauth2/auth" }

// Authorize mints a grant as the consent flow would: a valid access token
// (for an hour) and its refresh token.
func (s *Server) Authorize() (accessTok, refreshTok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refreshTok = s.newIDLocked("rt")
	s.refresh[refreshTok] = true
	return s.mintAccessLocked(refreshTok), refreshTok
}

// ExpireAccessTokens makes every access token issued so far invalid: API
// calls with them are answered 401.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.access {
		delete(s.access, k)
	}
}

// RevokeRefreshToken makes a refresh token (and the access tokens minted
// from it) invalid; the token endpoint answers invalid_grant.
func (s *Server) RevokeRefreshToken(refreshTok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, refreshTok)
	for k, a := range s.access {
		if a.refresh == refreshTok {
			delete(s.access, k)
		}
	}
}

// TokenRequests counts successful token grants (refreshes, code exchanges,
// service account assertions).
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

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

// SetQuota sets the storage quota about.get reports and uploads respect.
// limit < 0 means unlimited; usage < 0 means "the bytes stored".
func (s *Server) SetQuota(limit, usage int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotaLimit, s.quotaUsage = limit, usage
}

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

// Requests returns the requests answered so far (token endpoint included).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// AddServiceAccount registers a service account and returns its JSON key
// file, whose token_uri is this server's token endpoint.
func (s *Server) AddServiceAccount(t testing.TB) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("drivetest: generating a service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("drivetest: encoding a service account key: %v", err)
	}
	s.mu.Lock()
	email := s.newIDLocked("sa") + "@coffer-test.iam.gserviceaccount.com"
	s.accounts[email] = serviceAccount{key: &key.PublicKey}
	s.mu.Unlock()
	doc, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "coffer-test",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1",
		"token_uri":      s.TokenURL(),
	})
	if err != nil {
		t.Fatalf("drivetest: %v", err)
	}
	return string(doc)
}

// ---- internals ----

func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

func (s *Server) mintAccessLocked(refreshTok string) string {
	tok := s.newIDLocked("at")
	s.access[tok] = accessToken{expiry: s.now().Add(time.Hour), refresh: refreshTok}
	return tok
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

func (s *Server) sessionURI(id string) string {
	return s.URL + "/upload/drive/v3/files?uploadType=resumable&upload_id=" + id
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

// authorized checks the bearer token. Session URIs are capabilities and
// need none, but a token that is sent must be valid.
func (s *Server) authorized(r *http.Request, session bool) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		return session
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[tok]
	return ok && s.now().Before(a.expiry)
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

func (s *Server) quotaExceededLocked(w http.ResponseWriter, more int64) bool {
	if s.quotaLimit >= 0 && s.usageLocked()+more > s.quotaLimit {
		apiError(w, http.StatusForbidden, "storageQuotaExceeded", "The user's Drive storage quota has been exceeded.")
		return true
	}
	return false
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

func (s *Server) about(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := map[string]string{"usage": strconv.FormatInt(s.usageLocked(), 10)}
	if s.quotaLimit >= 0 {
		q["limit"] = strconv.FormatInt(s.quotaLimit, 10)
	}
	writeJSON(w, map[string]any{"kind": "drive#about", "storageQuota": q})
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

func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if q.Get("client_id") != s.ClientID || redirect == "" || err != nil || q.Get("response_type") != "code" {
		http.Error(w, "Error 400: invalid_request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := s.newIDLocked("code")
	s.codes[code] = redirect
	s.mu.Unlock()
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.jwtGrant(w, r.PostForm.Get("assertion"))
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch grant {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		s.tokenCalls++
		writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(rt), "token_type": "Bearer",
			"expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive"})
	case "authorization_code":
		code := r.PostForm.Get("code")
		redirect, ok := s.codes[code]
		delete(s.codes, code)
		if !ok || redirect != r.PostForm.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
			return
		}
		s.tokenCalls++
		rt := s.newIDLocked("rt")
		s.refresh[rt] = true
		writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(rt), "refresh_token": rt,
			"token_type": "Bearer", "expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive"})
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+grant)
	}
}

// jwtGrant checks a service account's RS256 assertion against its key.
func (s *Server) jwtGrant(w http.ResponseWriter, assertion string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT.")
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var claims struct {
		Iss string `json:"iss"`
		Exp int64  `json:"exp"`
	}
	if err != nil || err2 != nil || json.Unmarshal(payload, &claims) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.accounts[claims.Iss]
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || rsa.VerifyPKCS1v15(sa.key, crypto.SHA256, sum[:], sig) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if claims.Exp < s.now().Unix() {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token.")
		return
	}
	s.tokenCalls++
	writeJSON(w, map[string]any{"access_token": s.mintAccessLocked(""), "token_type": "Bearer", "expires_in": 3599})
}
