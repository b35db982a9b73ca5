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
//
// The files split it by concern: drivetest.go (the server and its state),
// server.go (routing), files.go (metadata, listing, downloads), uploads.go
// (multipart and resumable uploads), auth.go (OAuth and bearer checks),
// quota.go and faults.go (the failure knobs).
package drivetest

import (
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// FolderMimeType is the MIME type Drive gives folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// RootID is the id of the root folder every server starts with ("root" is
// also what real Drive accepts as an alias of My Drive).
const RootID = "root"

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
