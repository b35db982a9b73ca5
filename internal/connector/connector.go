// Package connector holds the small interfaces that every external system
// implements (S3, MongoDB, Google Drive, a local directory). The subpackages
// know nothing of HTTP, the job queue or the catalog: they take a config
// struct and talk to their system.
package connector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/coffer-backup/coffer/internal/object"
)

// ErrChecksumMismatch is returned when data read or written does not have the
// SHA-256 it must have. Nothing with wrong bytes is left visible.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ErrNotExist is returned when a named archive or object does not exist.
var ErrNotExist = errors.New("does not exist")

// CheckResult is the outcome of a successful live connection check.
type CheckResult struct {
	// Message is a short sentence for the user ("bucket 'x' is reachable").
	Message string `json:"message"`
	// FreeBytes is the free space at a destination when it is known (-1 otherwise).
	FreeBytes int64 `json:"free_bytes"`
}

// Checker performs a live connectivity check. A failure is an error whose
// message is a sentence for the user saying what failed and what to do.
type Checker interface {
	Check(ctx context.Context) (CheckResult, error)
}

// ObjectSource lists and reads objects (an S3 bucket under an optional prefix).
// Keys are the full keys in the bucket.
type ObjectSource interface {
	// List calls fn with each page of objects in ascending key order, starting
	// strictly after startAfter ("" = from the beginning). Listing entries carry
	// key, size, etag and last-modified only.
	List(ctx context.Context, startAfter string, fn func(page []object.Object) error) error
	// Get opens an object's body; the returned Object carries all metadata.
	Get(ctx context.Context, key string) (io.ReadCloser, object.Object, error)
}

// ObjectTarget writes restored objects.
type ObjectTarget interface {
	// Exists reports whether key is already present.
	Exists(ctx context.Context, key string) (bool, error)
	// Put writes size bytes from body under obj.Key with obj's metadata. The
	// object becomes visible only if the bytes hash to sha256; otherwise Put
	// returns an error wrapping ErrChecksumMismatch and nothing is left behind.
	Put(ctx context.Context, obj object.Object, body io.Reader, sha256 [32]byte) error
}

// StoredFile is one finished file at a destination, as ListFiles reports it.
type StoredFile struct {
	Name    string // the name it was written under (relative, slash-separated)
	Size    int64
	ModTime time.Time // zero when the destination does not tell
}

// Destination stores archives: written in parts by an Upload, read back by
// Open. Names are relative, slash-separated paths such as
// "conn/20260101T000000Z-7.tar.gz" (folders are made as needed); a name
// with an empty, "." or ".." segment is refused. Every method may be called
// from a new instance in another process: nothing but the stored data and
// an Upload's State carries over. The contract suite
// internal/testutil/desttest runs every implementation against these rules.
type Destination interface {
	// NewUpload starts writing the archive name. Nothing is visible under
	// name before Complete.
	NewUpload(ctx context.Context, name string) (Upload, error)
	// ResumeUpload continues an upload from the state an earlier Upload.State
	// returned (possibly in another process). Parts after that state are
	// written again.
	ResumeUpload(ctx context.Context, state json.RawMessage) (Upload, error)
	// PutFile writes a small file (the .sha256 sidecar) in one go, replacing
	// a file of the same name.
	PutFile(ctx context.Context, name string, data []byte) error
	// Open reads a stored archive or file from byte offset on (ErrNotExist
	// when absent).
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Size returns the size of a stored archive or file (ErrNotExist when absent).
	Size(ctx context.Context, name string) (int64, error)
	// Delete removes the archive or file stored as name, so that Size and
	// Open answer ErrNotExist afterwards. It removes that one name only: an
	// archive's sidecar (name + ".sha256") is a name of its own and is
	// deleted by a second call. A name that does not exist is not an
	// error, so a delete that was interrupted can simply be repeated.
	// Unfinished uploads are not touched (Upload.Abort and Sweep remove them).
	Delete(ctx context.Context, name string) error
	// FreeBytes is the space left for new archives, or -1 when the
	// destination does not know it or has no limit (S3).
	FreeBytes(ctx context.Context) (int64, error)
	// Sweep removes uploads left behind by operations that no longer run
	// (incomplete multipart uploads, stale .partial files) last changed
	// before olderThan, except the uploads of live: the States of the
	// uploads that operations may still continue, each decoded and
	// compared exactly (never by substring). It returns how many it
	// removed, and removes nothing when a live state cannot be read;
	// storage whose leftovers expire by themselves and cannot be listed
	// answers 0.
	Sweep(ctx context.Context, olderThan time.Time, live []json.RawMessage) (int, error)
	// ListFiles calls fn with pages of the finished files stored under the
	// destination (names relative to it, as NewUpload and PutFile take
	// them, in every folder below), in no particular order. Unfinished
	// uploads (multipart uploads in progress, .partial files, resumable
	// sessions) are not listed. An error fn returns ends the listing and
	// is returned as it is.
	//
	// (Not called List: the S3 client is both a Destination and an
	// ObjectSource, whose List has another signature.)
	ListFiles(ctx context.Context, fn func(page []StoredFile) error) error
	// Location is a user-facing description of where name is kept
	// ("s3://bucket/prefix/name", "/var/backups/name").
	Location(name string) string
}

// Upload is an archive being written part by part. Calls are sequential.
type Upload interface {
	// PartSize is the exact size that part n (1-based) must have unless it is
	// the last part. It may grow with n (S3 keeps under its part limit).
	PartSize(n int) int64
	// WritePart stores part n (parts are written in order 1,2,3...). When it
	// returns nil the part is durable and State covers it.
	WritePart(ctx context.Context, n int, data []byte) error
	// State is what ResumeUpload needs to go on after the last written part.
	State() json.RawMessage
	// Complete writes the final (possibly short or empty) part and makes the
	// archive visible under its name. It returns the stored size.
	Complete(ctx context.Context, last []byte) (int64, error)
	// Abort discards everything written so far (multipart upload aborted,
	// partial file removed, resumable session discarded).
	Abort(ctx context.Context) error
}
