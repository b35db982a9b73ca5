package archive

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Verification reads a whole archive and checks everything a restore would
// rely on, without writing anything: the stream decodes to its end (every
// gzip member's CRC, every zstd frame's checksum, every age chunk's tag),
// every entry is a safe regular file, every entry's size and SHA-256 are the
// manifest's (and the catalog's, when the caller gives its record), a
// collection's .bson entry is a sequence of well-formed BSON documents as
// many as the manifest counts, and its .metadata.json is JSON. The stored
// bytes' SHA-256 (SHA256Hex of the Reader once it is done) is compared with
// the sidecar and the catalog by the caller, who knows where they are.

// MaxProblems bounds the problems one verification lists; the count goes
// on past it.
const MaxProblems = 100

// Problem is one thing wrong with an archive.
type Problem struct {
	// Entry is the archive entry concerned, empty for the archive as a whole.
	Entry string `json:"entry,omitempty"`
	// Message says what is wrong, in a sentence.
	Message string `json:"message"`
}

// ProblemList is what is wrong with an archive: the first MaxProblems
// problems, and how many there are in all.
type ProblemList struct {
	Problems     []Problem `json:"problems"`
	ProblemCount int64     `json:"problem_count"`
}

// OK reports whether the list is empty.
func (l *ProblemList) OK() bool { return l.ProblemCount == 0 }

// Add counts a problem and lists it while the list has room.
func (l *ProblemList) Add(entry, format string, args ...any) {
	l.ProblemCount++
	if len(l.Problems) < MaxProblems {
		l.Problems = append(l.Problems, Problem{Entry: entry, Message: fmt.Sprintf(format, args...)})
	}
}

// Merge adds the problems of o after those of l.
func (l *ProblemList) Merge(o ProblemList) {
	for _, p := range o.Problems {
		l.Add(p.Entry, "%s", p.Message)
	}
	l.ProblemCount += o.ProblemCount - int64(len(o.Problems))
}

// VerifyOptions are what a verification checks beyond the archive itself
// and whom it tells how far it came.
type VerifyOptions struct {
	// Expected, when set, returns the entries the archive must hold, in
	// order (the catalog's record of the backup), and io.EOF after the last.
	Expected func() (ManifestEntry, error)
	// OnEntry is called after each entry has been checked.
	OnEntry func(name string, size int64)
	// OnManifestEntry, when set, gets every entry of the manifest once it
	// has been compared with the archive (an import records them).
	OnManifestEntry func(ManifestEntry) error
	// Stop, when set, is asked before each entry; an error from it ends the
	// verification with that error.
	Stop func() error
}

// Verified is what a verification found.
type Verified struct {
	// Header is the manifest's header, nil when no manifest was read.
	Header *ManifestHeader
	// Totals are the manifest's totals.
	Totals ManifestTotals
	// Entries counts the entries checked (the manifest not included).
	Entries int64
	// Bytes is the sum of the entries' sizes; Documents of their documents.
	Bytes     int64
	Documents int64
	// ProblemList is what is wrong.
	ProblemList
	// Complete is true when the stream was read to its end, so that the
	// Reader's SHA256Hex covers every stored byte.
	Complete bool
}

// checked is one entry as the archive holds it, spooled until the manifest
// at the end can be compared with it.
type checked struct {
	Name string `json:"n"`
	Size int64  `json:"s"`
	Sum  string `json:"h"`
	Docs *int64 `json:"d,omitempty"`
}

// Verify reads the archive ar to its end and checks it (see Verification).
// What is wrong with the archive is in the result's problems; the error is
// for a verification that could not go on for other reasons (Stop, the
// spool file). Memory stays flat: the checked entries wait for the
// manifest in a temporary file.
func Verify(ar *Reader, opt VerifyOptions) (*Verified, error) {
	v := &Verified{}
	spool, err := os.CreateTemp("", "coffer-verify-*")
	if err != nil {
		return nil, fmt.Errorf("create the verification's spool file: %w", err)
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	sw := bufio.NewWriterSize(spool, 64<<10)
	enc := json.NewEncoder(sw)
	var manifestSeen bool
	for {
		if opt.Stop != nil {
			if err := opt.Stop(); err != nil {
				return v, err
			}
		}
		ent, err := ar.Next()
		if errors.Is(err, io.EOF) {
			v.Complete = true
			break
		}
		if err != nil {
			v.Add("", "The archive cannot be read after %d entries: %v", v.Entries, err)
			break
		}
		if manifestSeen {
			v.Add(ent.Name, "Entry %s follows manifest.json, which must be the last entry.", quoteShort(ent.Name))
		}
		if ent.Name == ManifestName {
			manifestSeen = true
			if err := sw.Flush(); err != nil {
				return v, fmt.Errorf("write the verification's spool file: %w", err)
			}
			if _, err := spool.Seek(0, io.SeekStart); err != nil {
				return v, fmt.Errorf("rewind the verification's spool file: %w", err)
			}
			if err := compareManifest(ar, spool, v, opt); err != nil {
				return v, err
			}
			continue
		}
		c, readErr := checkEntry(ar, ent, v)
		if readErr != nil {
			v.Add(ent.Name, "Entry %s cannot be read: %v", quoteShort(ent.Name), readErr)
			break
		}
		v.Entries++
		v.Bytes += c.Size
		if c.Docs != nil {
			v.Documents += *c.Docs
		}
		if opt.Expected != nil {
			compareExpected(opt.Expected, c, v)
		}
		if err := enc.Encode(c); err != nil {
			return v, fmt.Errorf("write the verification's spool file: %w", err)
		}
		if opt.OnEntry != nil {
			opt.OnEntry(c.Name, c.Size)
		}
	}
	if !manifestSeen && v.Complete {
		v.Add("", "The archive has no manifest.json: it was cut short or not written by coffer.")
	} else if !manifestSeen {
		v.Add("", "The archive ends before its manifest.json could be read.")
	}
	if opt.Expected != nil && v.Complete {
		if want, err := opt.Expected(); err == nil {
			v.Add(want.Name, "The catalog records entry %s, which the archive does not hold.", quoteShort(want.Name))
		}
	}
	return v, nil
}

// checkEntry reads the current entry's body and checks what its kind
// allows: BSON documents, metadata JSON. The error is a read error (the
// archive cannot be read on); malformed content is a problem in v.
func checkEntry(ar *Reader, ent *Entry, v *Verified) (checked, error) {
	c := checked{Name: ent.Name, Size: ent.Size}
	_, _, isMeta, isColl := ParseCollectionEntryName(ent.Name)
	switch {
	case isColl && !isMeta:
		n, bad, err := countBSON(ar)
		if err != nil {
			return c, err
		}
		if bad != "" {
			v.Add(ent.Name, "Entry %s is not well-formed BSON: %s.", quoteShort(ent.Name), bad)
		}
		c.Docs = &n
	case isColl && isMeta:
		body, err := io.ReadAll(io.LimitReader(ar, 64<<20))
		if err != nil {
			return c, err
		}
		if _, err := io.Copy(io.Discard, ar); err != nil {
			return c, err
		}
		if !json.Valid(body) {
			v.Add(ent.Name, "Entry %s is not valid JSON.", quoteShort(ent.Name))
		}
	default:
		if _, err := io.Copy(io.Discard, ar); err != nil {
			return c, err
		}
	}
	c.Sum = ar.EntrySHA256Hex()
	return c, nil
}

// maxBSONDocument bounds one document of a .bson entry (MongoDB's limit is
// 16 MiB; mongodump's own reader allows some slack).
const maxBSONDocument = 48 << 20

// countBSON reads a .bson body to its end and counts its documents. bad
// describes the first malformed one ("" when all are well-formed); the
// rest of the body is then read without parsing, so the entry's SHA-256 is
// still complete.
func countBSON(r io.Reader) (n int64, bad string, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var head [4]byte
	var doc []byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return n, "", nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return n, fmt.Sprintf("document %d is cut short", n+1), nil
			}
			return n, "", err
		}
		size := int64(int32(binary.LittleEndian.Uint32(head[:])))
		if size < 5 || size > maxBSONDocument {
			bad = fmt.Sprintf("document %d declares a length of %d bytes", n+1, size)
			break
		}
		if int64(cap(doc)) < size {
			doc = make([]byte, size)
		}
		doc = doc[:size]
		copy(doc, head[:])
		if _, err := io.ReadFull(br, doc[4:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, fmt.Sprintf("document %d is cut short", n+1), nil
			}
			return n, "", err
		}
		if err := bsoncore.Document(doc).Validate(); err != nil {
			bad = fmt.Sprintf("document %d: %v", n+1, err)
			break
		}
		n++
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return n, bad, err
	}
	return n, bad, nil
}

// compareExpected compares a checked entry with the caller's record of it.
func compareExpected(next func() (ManifestEntry, error), c checked, v *Verified) {
	want, err := next()
	if errors.Is(err, io.EOF) {
		v.Add(c.Name, "Entry %s is in the archive but not in the catalog's record of this backup.", quoteShort(c.Name))
		return
	}
	if err != nil {
		v.Add(c.Name, "The catalog's record of entry %s cannot be read: %v", quoteShort(c.Name), err)
		return
	}
	if d := differs(want, c); d != "" {
		v.Add(c.Name, "Entry %s does not match the catalog: %s.", quoteShort(c.Name), d)
	}
}

// differs says how the archive's entry c differs from the record want, ""
// when it does not.
func differs(want ManifestEntry, c checked) string {
	var d []string
	if want.Name != c.Name {
		d = append(d, fmt.Sprintf("the record names %s here", quoteShort(want.Name)))
	}
	if want.Size != c.Size {
		d = append(d, fmt.Sprintf("%d bytes in the archive, %d recorded", c.Size, want.Size))
	}
	if want.SHA256 != c.Sum {
		d = append(d, fmt.Sprintf("SHA-256 %s in the archive, %s recorded", short(c.Sum), short(want.SHA256)))
	}
	if want.Documents != nil && c.Docs != nil && *want.Documents != *c.Docs {
		d = append(d, fmt.Sprintf("%d documents in the archive, %d recorded", *c.Docs, *want.Documents))
	}
	return strings.Join(d, "; ")
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// compareManifest reads the manifest entry's body and compares its entries,
// in order, with the checked ones spooled in sp.
func compareManifest(ar *Reader, sp io.Reader, v *Verified, opt VerifyOptions) error {
	sc := bufio.NewScanner(sp)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var i int64
	m, err := ReadManifestEntries(ar, func(me ManifestEntry) error {
		i++
		if !me.Held() {
			// An incremental archive's unchanged entry: its bytes are in
			// an earlier archive of the chain, which is checked on its own.
		} else if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("read the verification's spool file: %w", err)
			}
			v.Add(me.Name, "The manifest lists entry %s, which the archive does not hold.", quoteShort(me.Name))
		} else {
			var c checked
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return fmt.Errorf("read the verification's spool file: %w", err)
			}
			if d := differs(me, c); d != "" {
				v.Add(c.Name, "Entry %s does not match the manifest: %s.", quoteShort(c.Name), d)
			}
			if me.Documents == nil && c.Docs != nil {
				v.Add(c.Name, "The manifest does not count the documents of collection entry %s.", quoteShort(c.Name))
			}
		}
		if opt.OnManifestEntry != nil {
			return opt.OnManifestEntry(me)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			v.Add(ManifestName, "%v", err)
			_, _ = io.Copy(io.Discard, ar)
			return nil
		}
		if ar.err != nil {
			v.Add(ManifestName, "The manifest cannot be read: %v", err)
			return nil
		}
		return err
	}
	for sc.Scan() {
		var c checked
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return fmt.Errorf("read the verification's spool file: %w", err)
		}
		v.Add(c.Name, "Entry %s is in the archive but not in its manifest.", quoteShort(c.Name))
	}
	h := m.ManifestHeader
	v.Header = &h
	v.Totals = m.Totals
	return nil
}

// ParseSidecar reads the SHA-256 from the text of an "<archive>.sha256"
// file as SidecarLine writes it (sha256sum's format).
func ParseSidecar(data []byte) (string, error) {
	line := strings.TrimSpace(string(data))
	line = strings.TrimPrefix(line, "\\")
	sum, _, ok := strings.Cut(line, " ")
	if !ok || !isSHA256Hex(sum) {
		return "", fmt.Errorf("the sidecar file is not in sha256sum format")
	}
	return sum, nil
}
