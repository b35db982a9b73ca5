package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-backup/coffer/internal/object"
)

// FormatVersion is the version of the archive format this package writes.
const FormatVersion = 1

// Limits on manifests read back.
const (
	// MaxManifestBytes bounds the manifest ReadManifest accepts (it keeps
	// every entry in memory).
	MaxManifestBytes = 1 << 30
	// MaxStreamedManifestBytes bounds the manifest ReadManifestEntries accepts.
	MaxStreamedManifestBytes = 64 << 30
)

// ManifestSource names what was backed up; it never holds credentials.
type ManifestSource struct {
	// Type is the connection type ("s3", "mongodb").
	Type string `json:"type"`
	// Name is the connection's name.
	Name string `json:"name"`
}

// ManifestHeader is everything in manifest.json but the entries and totals.
type ManifestHeader struct {
	// FormatVersion is the archive format version; WriteManifest writes
	// FormatVersion when it is zero.
	FormatVersion int            `json:"format_version"`
	CofferVersion string         `json:"coffer_version"`
	Source        ManifestSource `json:"source"`
	StartedAt     time.Time      `json:"started_at"`
	FinishedAt    time.Time      `json:"finished_at"`
	Compression   Compression    `json:"compression"`
	// Mode is "incremental" for an archive that holds only the objects
	// new or changed since its base (empty: a full archive, which holds
	// every entry it lists).
	Mode string `json:"mode,omitempty"`
	// Base names the archive an incremental one is built on.
	Base *ManifestBase `json:"base,omitempty"`
}

// ModeIncremental is the manifest mode of an incremental archive.
const ModeIncremental = "incremental"

// ManifestBase is the backup an incremental archive is built on.
type ManifestBase struct {
	BackupID int64  `json:"backup_id"`
	Archive  string `json:"archive"`
}

// ManifestEntry describes one archive entry in the manifest. The engine
// stores each one as JSON in the catalog while a backup runs.
type ManifestEntry struct {
	// Name is the tar entry name.
	Name string `json:"name"`
	// Key is the exact S3 key of an object entry (valid UTF-8).
	Key string `json:"key,omitempty"`
	// Size is the number of body bytes.
	Size int64 `json:"size"`
	// SHA256 is the lowercase hex SHA-256 of the body.
	SHA256 string `json:"sha256"`
	// Documents is the number of documents of a collection's .bson entry.
	Documents *int64 `json:"documents,omitempty"`
	// Database and Collection name the MongoDB collection an entry belongs to.
	Database   string `json:"database,omitempty"`
	Collection string `json:"collection,omitempty"`
	// Metadata is an S3 object's metadata (the same as in the entry's PAX records).
	Metadata *object.Metadata `json:"metadata,omitempty"`
	// Stored is set when the body went into the archive uncompressed
	// (data that does not compress: see ShouldStore).
	Stored bool `json:"stored,omitempty"`
	// In names, in an incremental archive, the earlier archive of the
	// chain that holds this entry's bytes (under Name), and InBackupID that
	// archive's backup: the object was unchanged, so this archive does not
	// hold it. Empty for an entry this archive holds.
	In         string `json:"in,omitempty"`
	InBackupID int64  `json:"in_backup_id,omitempty"`
}

// Held reports whether the archive the manifest belongs to holds the
// entry's bytes (false: they are in the archive In names).
func (e *ManifestEntry) Held() bool { return e.In == "" }

// Path is what people know an entry by: an object's key, the entry name
// of anything else.
func (e *ManifestEntry) Path() string {
	if e.Key != "" {
		return e.Key
	}
	return e.Name
}

// ManifestTotals sums the entries.
type ManifestTotals struct {
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
	// Documents is present when any entry counts documents.
	Documents *int64 `json:"documents,omitempty"`
}

// Manifest is a whole manifest.json.
type Manifest struct {
	ManifestHeader
	Entries []ManifestEntry `json:"entries"`
	Totals  ManifestTotals  `json:"totals"`
}

// Validate checks one entry as written to and read from a manifest.
func (e *ManifestEntry) Validate() error {
	if err := SafeEntryName(e.Name); err != nil {
		return err
	}
	if e.Name == ManifestName {
		return fmt.Errorf("the manifest lists itself as an entry")
	}
	if e.Size < 0 {
		return fmt.Errorf("entry %s has a negative size", quoteShort(e.Name))
	}
	if !isSHA256Hex(e.SHA256) {
		return fmt.Errorf("entry %s has no valid SHA-256 (64 lowercase hex digits)", quoteShort(e.Name))
	}
	if e.Documents != nil && *e.Documents < 0 {
		return fmt.Errorf("entry %s has a negative document count", quoteShort(e.Name))
	}
	if !utf8.ValidString(e.Key) {
		return fmt.Errorf("entry %s has a key that is not valid UTF-8", quoteShort(e.Name))
	}
	if e.In != "" && (!utf8.ValidString(e.In) || strings.ContainsRune(e.In, 0)) {
		return fmt.Errorf("entry %s names an archive that is not valid UTF-8", quoteShort(e.Name))
	}
	if (e.In == "") != (e.InBackupID == 0) {
		return fmt.Errorf("entry %s must name both the archive that holds it and that archive's backup, or neither", quoteShort(e.Name))
	}
	return nil
}

// isSHA256Hex reports whether s is 64 lowercase hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// WriteManifest streams manifest.json to w: the header, then the entries
// pulled from next until it returns io.EOF, then the totals it computed. It
// never holds more than one entry in memory. An invalid entry stops it with
// an error.
func WriteManifest(w io.Writer, h ManifestHeader, next func() (ManifestEntry, error)) error {
	if h.FormatVersion == 0 {
		h.FormatVersion = FormatVersion
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	encode := func(v any) ([]byte, error) {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}

	head, err := encode(h)
	if err != nil {
		return fmt.Errorf("writing the manifest header: %w", err)
	}
	// Reopen the header object to append entries and totals to it.
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"entries":[`)

	var totals ManifestTotals
	var docs int64
	hasDocs := false
	for i := 0; ; i++ {
		e, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("writing the manifest: getting entry %d: %w", i+1, err)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("writing the manifest: %w", err)
		}
		line, err := encode(&e)
		if err != nil {
			return fmt.Errorf("writing the manifest: encoding entry %s: %w", quoteShort(e.Name), err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("writing the manifest: %w", err)
		}
		totals.Entries++
		totals.Bytes += e.Size
		if e.Documents != nil {
			hasDocs = true
			docs += *e.Documents
		}
	}
	if hasDocs {
		totals.Documents = &docs
	}
	tail, err := encode(&totals)
	if err != nil {
		return fmt.Errorf("writing the manifest totals: %w", err)
	}
	bw.WriteString("\n],\"totals\":")
	bw.Write(tail)
	bw.WriteString("}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}

// ReadManifest reads and validates a whole manifest.json of at most
// MaxManifestBytes: supported format version and compression, safe and
// unique entry names, SHA-256 hex digests, totals that match the entries.
func ReadManifest(r io.Reader) (*Manifest, error) {
	var entries []ManifestEntry
	seen := make(map[string]struct{})
	m, err := readManifest(r, MaxManifestBytes, func(e ManifestEntry) error {
		if _, dup := seen[e.Name]; dup {
			return fmt.Errorf("%w: the manifest is invalid: entry %s is listed twice", ErrCorrupt, quoteShort(e.Name))
		}
		seen[e.Name] = struct{}{}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if entries == nil {
		entries = []ManifestEntry{}
	}
	m.Entries = entries
	return m, nil
}

// ReadManifestEntries reads a manifest.json of any number of entries
// (at most MaxStreamedManifestBytes) without keeping them: fn gets each
// valid entry in order. It returns the manifest without entries once the
// whole document has been validated as ReadManifest does (except for
// duplicate names); an error from fn stops it.
func ReadManifestEntries(r io.Reader, fn func(ManifestEntry) error) (*Manifest, error) {
	return readManifest(r, MaxStreamedManifestBytes, fn)
}

// readManifest decodes the manifest token by token, so that the entries
// array is never held whole.
func readManifest(r io.Reader, limit int64, fn func(ManifestEntry) error) (*Manifest, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	m, err := decodeManifest(json.NewDecoder(lr), fn)
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: the manifest is larger than %d bytes", ErrCorrupt, limit)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeManifest(dec *json.Decoder, fn func(ManifestEntry) error) (*Manifest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: the manifest is invalid: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, bad("%v", err)
	}
	m := &Manifest{}
	var count, bytesSum, docs int64
	var sawEntries, sawTotals, hasDocs bool
	seenKeys := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("%v", err)
		}
		key, _ := tok.(string)
		if seenKeys[key] {
			return nil, bad("the field %q appears twice", key)
		}
		seenKeys[key] = true
		var dst any
		switch key {
		case "format_version":
			dst = &m.FormatVersion
		case "coffer_version":
			dst = &m.CofferVersion
		case "source":
			dst = &m.Source
		case "started_at":
			dst = &m.StartedAt
		case "finished_at":
			dst = &m.FinishedAt
		case "compression":
			dst = &m.Compression
		case "mode":
			dst = &m.Mode
		case "base":
			dst = &m.Base
		case "totals":
			dst = &m.Totals
			sawTotals = true
		case "entries":
			sawEntries = true
			if err := expectDelim(dec, '['); err != nil {
				return nil, bad("entries: %v", err)
			}
			for dec.More() {
				var e ManifestEntry
				if err := dec.Decode(&e); err != nil {
					return nil, bad("entry %d: %v", count+1, err)
				}
				if err := e.Validate(); err != nil {
					return nil, bad("%v", err)
				}
				count++
				bytesSum += e.Size
				if e.Documents != nil {
					hasDocs = true
					docs += *e.Documents
				}
				if err := fn(e); err != nil {
					return nil, err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, bad("entries: %v", err)
			}
			continue
		default:
			dst = new(json.RawMessage) // a field of a later minor revision
		}
		if err := dec.Decode(dst); err != nil {
			return nil, bad("field %q: %v", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, bad("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad("data follows the manifest object")
	}
	switch {
	case m.FormatVersion == 0:
		return nil, bad("it has no format_version")
	case m.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("the archive has format version %d, which this coffer does not know: upgrade coffer to restore it",
			m.FormatVersion)
	case m.FormatVersion < 0:
		return nil, bad("format_version %d", m.FormatVersion)
	case !m.Compression.valid():
		return nil, bad("unknown compression %q", string(m.Compression))
	case !sawEntries:
		return nil, bad("it has no entries list")
	case !sawTotals:
		return nil, bad("it has no totals")
	case m.Totals.Entries != count:
		return nil, bad("totals.entries is %d but %d entries are listed", m.Totals.Entries, count)
	case m.Totals.Bytes != bytesSum:
		return nil, bad("totals.bytes is %d but the entries add up to %d", m.Totals.Bytes, bytesSum)
	case hasDocs && (m.Totals.Documents == nil || *m.Totals.Documents != docs):
		return nil, bad("totals.documents does not match the entries' %d documents", docs)
	case !hasDocs && m.Totals.Documents != nil && *m.Totals.Documents != 0:
		return nil, bad("totals.documents is set but no entry counts documents")
	}
	return m, nil
}

// expectDelim reads the next token and checks that it is the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q, found %v", string(d), tok)
	}
	return nil
}
