package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
)

// EntryHeader describes one regular-file entry to write.
type EntryHeader struct {
	// Name is the entry's path; it must pass SafeEntryName.
	Name string
	// Size is the exact number of body bytes.
	Size int64
	// ModTime is the entry's modification time (the Unix epoch when zero).
	ModTime time.Time
	// PAXRecords are extra records such as those of ObjectPAX ("VENDOR.keyword" keys).
	PAXRecords map[string]string
	// Stored writes the body without compressing it (deflate stored
	// blocks, zstd raw blocks), for bodies that would not compress (see
	// ShouldStore): it saves the CPU that compressing them would waste.
	// The archive stays one ordinary .tar.gz or .tar.zst; the entry's
	// header and padding are compressed as usual.
	Stored bool
	// Judge, with Stored unset, decides for each piece of the body given
	// to one WriteBody call (a small object whole, a large one chunk by
	// chunk) whether it compresses (ShouldStore on a sample spread over
	// the piece), and writes it stored when it does not: a body whose
	// parts differ is not judged by its start alone.
	Judge bool
}

// State is what ResumeWriter needs to continue an archive after Checkpoint,
// possibly in another process. It marshals to JSON for the checkpoint.
type State struct {
	// Compression is the codec of the whole archive.
	Compression Compression `json:"compression"`
	// Level is the compression level the archive is written at; empty
	// (in checkpoints of versions without levels) means LevelDefault.
	Level Level `json:"level,omitempty"`
	// CompressedBytes is the number of compressed bytes written so far.
	CompressedBytes int64 `json:"compressed_bytes"`
	// HashState is the marshalled SHA-256 state of those compressed bytes.
	HashState []byte `json:"hash_state"`
	// Entries is the number of entries finished so far (an open entry is not
	// counted).
	Entries int64 `json:"entries"`
	// Open is the entry begun with BeginEntry and not yet ended when the
	// checkpoint was taken in the middle of its body; nil between entries.
	Open *OpenEntryState `json:"open,omitempty"`
	// Age is the state of the age stream of an encrypted archive (nil for
	// a plain one). It is a secret (the payload key and plaintext), so it
	// never goes into the JSON: the caller seals its MarshalBinary with
	// the server key, keeps it beside the rest, and sets it again before
	// ResumeWriter. CompressedBytes and HashState then count the stored
	// ciphertext, which is Age.Written() bytes.
	Age *agecrypt.State `json:"-"`
}

// OpenEntryState is the part of a State that describes an entry whose body
// was interrupted by a Checkpoint: its header and the first Written body
// bytes are already in the archive.
type OpenEntryState struct {
	// Name is the entry's name, as given to BeginEntry.
	Name string `json:"name"`
	// Size is the body size declared in the entry's header.
	Size int64 `json:"size"`
	// Written is the number of body bytes already written (0 to Size).
	Written int64 `json:"written"`
	// HashState is the marshalled SHA-256 state of those Written bytes.
	HashState []byte `json:"hash_state"`
	// Stored is the entry's EntryHeader.Stored: the rest of its body is
	// written the same way. Judge is its EntryHeader.Judge, and
	// StoredBytes how many of the Written bytes went in stored.
	Stored      bool  `json:"stored,omitempty"`
	Judge       bool  `json:"judge,omitempty"`
	StoredBytes int64 `json:"stored_bytes,omitempty"`
}

// Writer writes an archive: tar (PAX) -> compressor -> out, or tar ->
// compressor -> age -> out for an encrypted one, hashing (SHA-256) and
// counting the stored bytes on the way. Its methods are not safe for
// concurrent use, except CompressedBytes and InputBytes.
type Writer struct {
	c     Compression
	level Level
	sink  *hashSink
	enc   *agecrypt.Writer // nil: not encrypted
	comp  compressor       // nil until the first write
	// tw is the tar writer of the current member; nil between a Checkpoint
	// and the next header, and while the body of an entry interrupted by a
	// Checkpoint is continued raw (a fresh one is made for the next header).
	tw      *tar.Writer
	cur     *openEntry // the entry begun and not yet ended, or nil
	entries int64
	in      atomic.Int64 // uncompressed bytes handed to the compressor
	err     error        // sticky: the stream is broken
	// lastStored: the body of the entry ended last went in stored whole.
	lastStored bool
	sample     []byte // the buffer of the samples Judge takes
}

// openEntry is an entry between BeginEntry and EndEntry.
type openEntry struct {
	name    string
	size    int64
	written int64
	sum     hash.Hash
	// raw is set once a Checkpoint closed the member the header was written
	// to: the tar.Writer that wrote it is gone, so the rest of the body and
	// its padding go straight into the compressor.
	raw bool
	// stored: the body is written without compression; judge: each
	// piece decides it (EntryHeader.Judge); storedBytes counts the body
	// bytes written stored.
	stored      bool
	judge       bool
	storedBytes int64
}

// errFinished and errAborted are the sticky errors of a closed Writer.
var (
	errFinished = errors.New("the archive writer is already finished")
	errAborted  = errors.New("the archive writer was aborted")
)

// NewWriter starts a new archive written to out with compression c.
func NewWriter(out io.Writer, c Compression) (*Writer, error) {
	if !c.valid() {
		return nil, fmt.Errorf("starting an archive: unsupported compression %q", string(c))
	}
	return &Writer{c: c, level: LevelDefault, sink: &hashSink{out: out, h: sha256.New()}}, nil
}

// SetLevel sets the compression level (LevelDefault until set; the empty
// Level means LevelDefault). It must be called before the Writer writes
// anything: before the first BeginEntry of a new Writer, or before the
// first write of a resumed one (which starts at the level of its State).
// Later it is an error, and so is an unknown level.
func (w *Writer) SetLevel(l Level) error {
	if w.err != nil {
		return w.err
	}
	if !l.valid() {
		return fmt.Errorf("setting the compression level: unknown level %q", string(l))
	}
	if w.comp != nil {
		return fmt.Errorf("setting the compression level to %s: the archive writer has already written data; set it before the first entry",
			l.orDefault())
	}
	w.level = l.orDefault()
	return nil
}

// Level is the compression level the Writer writes at.
func (w *Writer) Level() Level { return w.level }

// NewEncryptedWriter starts a new archive encrypted with age for
// recipients: the age header goes to out at once, and the compressed
// stream is sealed into it chunk by chunk. The hash and the sizes are those
// of the ciphertext, which is what the destination stores.
func NewEncryptedWriter(out io.Writer, c Compression, recipients ...age.Recipient) (*Writer, error) {
	w, err := NewWriter(out, c)
	if err != nil {
		return nil, err
	}
	if len(recipients) == 0 {
		return nil, errors.New("starting an encrypted archive: no recipient")
	}
	if w.enc, err = agecrypt.NewWriter(w.sink, recipients...); err != nil {
		return nil, fmt.Errorf("starting an encrypted archive: %w", err)
	}
	return w, nil
}

// Encrypted reports whether the archive is written through age.
func (w *Writer) Encrypted() bool { return w.enc != nil }

// compressed is where the compressor writes: the age stream of an
// encrypted archive, or straight to the hashing sink.
func (w *Writer) compressed() io.Writer {
	if w.enc != nil {
		return w.enc
	}
	return w.sink
}

// ResumeWriter continues an archive after a Checkpoint whose State is st:
// it starts a new gzip member or zstd frame on out and goes on hashing from
// the saved hash state, so the final SHA-256 and size cover the whole stream.
// With st.Open set it continues that entry's body: WriteBody goes on from
// st.Open.Written and EndEntry returns the hash of the whole body.
func ResumeWriter(out io.Writer, st State) (*Writer, error) {
	if !st.Compression.valid() {
		return nil, fmt.Errorf("resuming an archive: unsupported compression %q", string(st.Compression))
	}
	if !st.Level.valid() {
		return nil, fmt.Errorf("resuming an archive: unknown compression level %q", string(st.Level))
	}
	if st.CompressedBytes < 0 || st.Entries < 0 {
		return nil, fmt.Errorf("resuming an archive: the saved state has negative counters")
	}
	h, err := unmarshalSHA256(st.HashState)
	if err != nil {
		return nil, fmt.Errorf("resuming an archive: %w", err)
	}
	if n, ok := hashedLength(st.HashState); ok && n != uint64(st.CompressedBytes) {
		return nil, fmt.Errorf("resuming an archive: the saved hash state covers %d bytes but the state says %d",
			n, st.CompressedBytes)
	}
	s := &hashSink{out: out, h: h}
	s.n.Store(st.CompressedBytes)
	w := &Writer{c: st.Compression, level: st.Level.orDefault(), sink: s, entries: st.Entries}
	if st.Age != nil {
		if st.Age.Written() != st.CompressedBytes {
			return nil, fmt.Errorf("resuming an encrypted archive: the saved stream state covers %d bytes but the archive state says %d",
				st.Age.Written(), st.CompressedBytes)
		}
		if w.enc, err = agecrypt.Resume(s, *st.Age); err != nil {
			return nil, err
		}
	}
	if st.Open != nil {
		cur, err := resumeEntry(*st.Open)
		if err != nil {
			return nil, err
		}
		w.cur = cur
	}
	return w, nil
}

// resumeEntry rebuilds the open entry of a State.
func resumeEntry(o OpenEntryState) (*openEntry, error) {
	if err := SafeEntryName(o.Name); err != nil {
		return nil, fmt.Errorf("resuming an archive: the saved open entry: %w", err)
	}
	if o.Size < 0 || o.Written < 0 || o.Written > o.Size {
		return nil, fmt.Errorf("resuming an archive: the saved open entry %s has %d of %d bytes written",
			quoteShort(o.Name), o.Written, o.Size)
	}
	sum, err := unmarshalSHA256(o.HashState)
	if err != nil {
		return nil, fmt.Errorf("resuming archive entry %s: %w", quoteShort(o.Name), err)
	}
	if n, ok := hashedLength(o.HashState); ok && n != uint64(o.Written) {
		return nil, fmt.Errorf("resuming archive entry %s: the saved hash state covers %d bytes but %d were written",
			quoteShort(o.Name), n, o.Written)
	}
	return &openEntry{name: o.Name, size: o.Size, written: o.Written, sum: sum, raw: true, stored: o.Stored,
		judge: o.Judge, storedBytes: o.StoredBytes}, nil
}

// unmarshalSHA256 returns a SHA-256 continuing from a marshalled state.
func unmarshalSHA256(state []byte) (hash.Hash, error) {
	h := sha256.New()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("SHA-256 state cannot be restored")
	}
	if err := u.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("the saved hash state is invalid: %w", err)
	}
	return h, nil
}

// marshalSHA256 saves the state of a SHA-256.
func marshalSHA256(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("SHA-256 cannot be marshalled")
	}
	return m.MarshalBinary()
}

// hashedLength reads the byte count from a marshalled SHA-256 state
// ("sha\x03", 8 state words, a 64-byte block, the length as a big-endian
// uint64). ok is false for a layout it does not know.
func hashedLength(state []byte) (n uint64, ok bool) {
	const size = 4 + 32 + 64 + 8
	if len(state) != size || string(state[:4]) != "sha\x03" {
		return 0, false
	}
	return binary.BigEndian.Uint64(state[size-8:]), true
}

// WriteEntry writes one regular-file entry: a PAX header (name, size, mtime,
// mode 0644, the PAX records), then exactly h.Size bytes streamed from body.
// A body shorter or longer than h.Size is an error. It returns the
// SHA-256 (hex) of the body. An error after the header was started leaves the
// Writer unusable. It is BeginEntry, WriteBody and EndEntry in one call, and
// an error while an entry begun with BeginEntry is open.
func (w *Writer) WriteEntry(h EntryHeader, body io.Reader) (sha256Hex string, err error) {
	if err := w.BeginEntry(h); err != nil {
		return "", err
	}
	var n int64
	if wt, ok := body.(io.WriterTo); ok {
		// The body hands over its own buffers (an object read ahead in
		// chunks): one copy fewer than through a copy buffer.
		lw := &limitedBody{w: bodyWriter{w}, left: h.Size}
		n, err = wt.WriteTo(lw)
		if errors.Is(err, errBodyTooLong) {
			return "", w.fail(fmt.Errorf("writing archive entry %s: its body is longer than the %d bytes announced",
				quoteShort(h.Name), h.Size))
		}
		if err == nil && n < h.Size {
			err = io.EOF
		}
	} else {
		n, err = io.CopyN(bodyWriter{w}, body, h.Size)
	}
	switch {
	case w.err != nil:
		return "", w.err
	case errors.Is(err, io.EOF):
		return "", w.fail(fmt.Errorf("writing archive entry %s: its body ended after %d of %d bytes",
			quoteShort(h.Name), n, h.Size))
	case err != nil:
		return "", w.fail(fmt.Errorf("writing archive entry %s: %w", quoteShort(h.Name), err))
	}
	var one [1]byte
	switch k, err := io.ReadFull(body, one[:]); {
	case k > 0:
		return "", w.fail(fmt.Errorf("writing archive entry %s: its body is longer than the %d bytes announced",
			quoteShort(h.Name), h.Size))
	case err != nil && !errors.Is(err, io.EOF):
		return "", w.fail(fmt.Errorf("writing archive entry %s: reading past its end: %w", quoteShort(h.Name), err))
	}
	sum, err := w.EndEntry()
	if err != nil {
		return "", w.fail(err)
	}
	return sum, nil
}

// errBodyTooLong is what limitedBody says to a body that goes on past its size.
var errBodyTooLong = errors.New("the body is longer than announced")

// limitedBody passes at most left bytes on to w.
type limitedBody struct {
	w    io.Writer
	left int64
}

func (l *limitedBody) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, errBodyTooLong
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

// bodyWriter is the io.Writer of WriteBody.
type bodyWriter struct{ w *Writer }

func (b bodyWriter) Write(p []byte) (int, error) {
	if err := b.w.WriteBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// BeginEntry writes the header of a regular-file entry whose h.Size body
// bytes follow through WriteBody; EndEntry finishes it. The header is the
// one WriteEntry writes. Until EndEntry, Checkpoint may interrupt the body
// and ResumeWriter continue it. Beginning an entry while another is open is
// an error that writes nothing.
func (w *Writer) BeginEntry(h EntryHeader) error {
	if w.err != nil {
		return w.err
	}
	if w.cur != nil {
		return fmt.Errorf("writing archive entry %s: entry %s is still open; end it first",
			quoteShort(h.Name), quoteShort(w.cur.name))
	}
	if err := SafeEntryName(h.Name); err != nil {
		return fmt.Errorf("writing an archive entry: %w", err)
	}
	if h.Size < 0 {
		return fmt.Errorf("writing archive entry %s: negative size %d", quoteShort(h.Name), h.Size)
	}
	if err := w.open(); err != nil {
		return err
	}
	if w.tw == nil {
		w.tw = tar.NewWriter(compSink{w})
	}
	w.comp.setStored(false) // headers, and the previous entry's padding
	mtime := h.ModTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	hdr := &tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       h.Name,
		Size:       h.Size,
		Mode:       0o644,
		ModTime:    mtime.UTC(),
		Format:     tar.FormatPAX,
		PAXRecords: maps.Clone(h.PAXRecords),
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return w.fail(fmt.Errorf("writing the header of archive entry %s: %w", quoteShort(h.Name), err))
	}
	w.cur = &openEntry{name: h.Name, size: h.Size, sum: sha256.New(), stored: h.Stored, judge: h.Judge && !h.Stored}
	return nil
}

// WriteBody writes body bytes of the open entry. Writing more than the size
// declared to BeginEntry is an error that writes nothing of p and leaves the
// entry open; so is calling it with no open entry.
func (w *Writer) WriteBody(p []byte) error {
	if w.err != nil {
		return w.err
	}
	e := w.cur
	if e == nil {
		return fmt.Errorf("writing an archive entry's body: no entry is open; call BeginEntry first")
	}
	if int64(len(p)) > e.size-e.written {
		return fmt.Errorf("writing archive entry %s: %d more bytes would exceed its declared size (%d of %d written)",
			quoteShort(e.name), len(p), e.written, e.size)
	}
	if len(p) == 0 {
		return nil
	}
	if err := w.open(); err != nil {
		return err
	}
	if e.judge && len(p) >= minStoreSample {
		e.stored = ShouldStore("", "", spreadSample(p, MaxStoreSample, &w.sample))
	}
	w.comp.setStored(e.stored)
	var err error
	if e.raw {
		_, err = compSink{w}.Write(p)
	} else {
		_, err = w.tw.Write(p)
	}
	if err != nil {
		return w.fail(fmt.Errorf("writing archive entry %s: %w", quoteShort(e.name), err))
	}
	e.sum.Write(p)
	e.written += int64(len(p))
	if e.stored {
		e.storedBytes += int64(len(p))
	}
	return nil
}

// blockSize is the tar block size.
const blockSize = 512

// EndEntry finishes the open entry and returns the SHA-256 (hex) of its
// whole body, including bytes written by a Writer before a Checkpoint. Fewer
// bytes written than declared is an error that leaves the entry open.
func (w *Writer) EndEntry() (sha256Hex string, err error) {
	if w.err != nil {
		return "", w.err
	}
	e := w.cur
	if e == nil {
		return "", fmt.Errorf("ending an archive entry: no entry is open")
	}
	if e.written != e.size {
		return "", fmt.Errorf("ending archive entry %s: only %d of its %d bytes were written",
			quoteShort(e.name), e.written, e.size)
	}
	if e.raw {
		// The tar.Writer that wrote the header is gone (w.tw is nil): pad
		// the body to the block boundary as it would have; BeginEntry makes
		// a fresh one for the next header.
		if pad := (blockSize - e.size%blockSize) % blockSize; pad > 0 {
			if err := w.open(); err != nil {
				return "", err
			}
			var zeros [blockSize]byte
			w.comp.setStored(false)
			if _, err := (compSink{w}).Write(zeros[:pad]); err != nil {
				return "", w.fail(fmt.Errorf("padding archive entry %s: %w", quoteShort(e.name), err))
			}
		}
	}
	if w.comp != nil {
		w.comp.setStored(false) // the padding, written with the next header
	}
	w.lastStored = e.size > 0 && e.storedBytes == e.size
	w.cur = nil
	w.entries++
	return hex.EncodeToString(e.sum.Sum(nil)), nil
}

// LastEntryStored reports whether the whole body of the entry ended last
// (by EndEntry or WriteEntry) went into the archive stored, not
// compressed: what the manifest's "stored" says.
func (w *Writer) LastEntryStored() bool { return w.lastStored }

// OpenEntry reports the entry begun with BeginEntry and not yet ended: its
// name, declared size and the body bytes written so far (by this Writer and
// by those before the Checkpoint it resumed from).
func (w *Writer) OpenEntry() (name string, size, written int64, ok bool) {
	if w.cur == nil {
		return "", 0, 0, false
	}
	return w.cur.name, w.cur.size, w.cur.written, true
}

// open makes the compressor at the first write; it starts a member or
// frame at its first Write after a Close. The tar.Writer is made by
// BeginEntry: in the middle of an interrupted body there is none.
func (w *Writer) open() error {
	if w.comp != nil {
		return nil
	}
	comp, err := newCompressor(w.c, w.level, w.compressed())
	if err != nil {
		return w.fail(err)
	}
	w.comp = comp
	return nil
}

// compSink is where the tar.Writer and raw body bytes go: the compressor,
// counting what it takes.
type compSink struct{ w *Writer }

func (s compSink) Write(p []byte) (int, error) {
	n, err := s.w.comp.Write(p)
	s.w.in.Add(int64(n))
	return n, err
}

// fail makes err sticky and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// closeMember pads the last tar entry, ends the compressed member and
// flushes it to out. With an entry open, the body stops where it is (the
// tar.Writer wrote every byte it was given straight through) and the rest
// of it goes raw into the next member.
func (w *Writer) closeMember() error {
	if w.comp == nil {
		return nil
	}
	if w.tw != nil && w.cur == nil {
		w.comp.setStored(false)
		if err := w.tw.Flush(); err != nil {
			return w.fail(fmt.Errorf("finishing the last archive entry: %w", err))
		}
	}
	if err := w.comp.Close(); err != nil {
		return w.fail(fmt.Errorf("closing the compressed stream: %w", err))
	}
	w.tw = nil
	if w.cur != nil {
		w.cur.raw = true
	}
	return nil
}

// Checkpoint ends the current gzip member or zstd frame and flushes it to
// out, so that everything written so far is a complete prefix of the archive
// that ResumeWriter can continue in another process. It returns the state to
// save. It may be called between entries and in the middle of an entry's
// body (after BeginEntry and any number of WriteBody calls): State.Open then
// holds what is needed to continue that body. With nothing written since the
// last checkpoint it adds no bytes. In an encrypted archive the end of the
// member is not sealed yet (up to one age chunk of it is in State.Age), so
// out holds exactly State.CompressedBytes of ciphertext.
func (w *Writer) Checkpoint() (State, error) {
	if w.err != nil {
		return State{}, w.err
	}
	if err := w.closeMember(); err != nil {
		return State{}, err
	}
	hs, err := marshalSHA256(w.sink.h)
	if err != nil {
		return State{}, w.fail(fmt.Errorf("saving the archive hash state: %w", err))
	}
	st := State{Compression: w.c, Level: w.level, CompressedBytes: w.sink.n.Load(), HashState: hs, Entries: w.entries}
	if w.enc != nil {
		// Not flushed: only the last chunk may be short, so the unsealed
		// end of the compressed stream travels in the state instead.
		as, err := w.enc.State()
		if err != nil {
			return State{}, w.fail(fmt.Errorf("saving the encryption state: %w", err))
		}
		st.Age = &as
	}
	if e := w.cur; e != nil {
		ehs, err := marshalSHA256(e.sum)
		if err != nil {
			return State{}, w.fail(fmt.Errorf("saving the hash state of archive entry %s: %w", quoteShort(e.name), err))
		}
		st.Open = &OpenEntryState{Name: e.name, Size: e.size, Written: e.written, HashState: ehs, Stored: e.stored,
			Judge: e.judge, StoredBytes: e.storedBytes}
	}
	return st, nil
}

// Finish writes the manifest (exactly manifestSize bytes) as the last entry
// "manifest.json", then the tar end-of-archive blocks, and closes the
// compressor. It returns the SHA-256 (hex) and size of the whole compressed
// stream, including parts written before a Checkpoint in other processes.
func (w *Writer) Finish(manifest io.Reader, manifestSize int64) (sha256Hex string, size int64, err error) {
	if w.err != nil {
		return "", 0, w.err
	}
	if w.cur != nil {
		return "", 0, fmt.Errorf("finishing the archive: entry %s is still open; end it first", quoteShort(w.cur.name))
	}
	if _, err := w.WriteEntry(EntryHeader{Name: ManifestName, Size: manifestSize, ModTime: time.Now()}, manifest); err != nil {
		return "", 0, fmt.Errorf("writing the manifest: %w", err)
	}
	w.comp.setStored(false)
	if err := w.tw.Close(); err != nil {
		return "", 0, w.fail(fmt.Errorf("ending the tar stream: %w", err))
	}
	if err := w.comp.Close(); err != nil {
		return "", 0, w.fail(fmt.Errorf("closing the compressed stream: %w", err))
	}
	w.tw = nil
	if w.enc != nil {
		if err := w.enc.Close(); err != nil {
			return "", 0, w.fail(fmt.Errorf("closing the encrypted stream: %w", err))
		}
	}
	w.err = errFinished
	return hex.EncodeToString(w.sink.h.Sum(nil)), w.sink.n.Load(), nil
}

// Abort stops the Writer without writing anything more to out and releases
// the compressor's goroutines. Use it when a backup is cancelled or fails.
func (w *Writer) Abort() {
	if w.err == errFinished {
		return
	}
	w.sink.discard.Store(true)
	if w.comp != nil {
		w.comp.abort() // writes go nowhere now; only resources are released
		w.tw = nil
	}
	w.cur = nil
	w.err = errAborted
}

// CompressedBytes is the number of compressed bytes written to out so far
// (including those before the Checkpoint a resumed Writer started from). It
// may be called from another goroutine for progress reports.
func (w *Writer) CompressedBytes() int64 { return w.sink.n.Load() }

// InputBytes is the number of uncompressed bytes (tar headers and bodies)
// handed to the compressor since this Writer was made or resumed; with
// CompressedBytes it tells how well the stream compresses. It may be
// called from another goroutine.
func (w *Writer) InputBytes() int64 { return w.in.Load() }

// Entries is the number of entries written so far, the manifest included
// once Finish has written it.
func (w *Writer) Entries() int64 { return w.entries }

// hashSink passes the compressed bytes to out, hashing and counting them.
// The compressor may call Write from its own goroutine.
type hashSink struct {
	out     io.Writer
	h       hash.Hash
	n       atomic.Int64
	discard atomic.Bool
}

func (s *hashSink) Write(p []byte) (int, error) {
	if s.discard.Load() {
		return len(p), nil
	}
	n, err := s.out.Write(p)
	if n > 0 {
		s.h.Write(p[:n])
		s.n.Add(int64(n))
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}
