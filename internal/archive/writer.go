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
}

// State is what ResumeWriter needs to continue an archive after Checkpoint,
// possibly in another process. It marshals to JSON for the checkpoint.
type State struct {
	Compression     Compression `json:"compression"`
	CompressedBytes int64       `json:"compressed_bytes"`
	HashState       []byte      `json:"hash_state"`
	Entries         int64       `json:"entries"`
}

// Writer writes an archive: tar (PAX) -> compressor -> out, hashing
// (SHA-256) and counting the compressed bytes on the way. Its methods are
// not safe for concurrent use, except CompressedBytes.
type Writer struct {
	c       Compression
	sink    *hashSink
	comp    io.WriteCloser // nil between a Checkpoint and the next entry
	tw      *tar.Writer
	entries int64
	err     error // sticky: the stream is broken
	done    bool
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
	return &Writer{c: c, sink: &hashSink{out: out, h: sha256.New()}}, nil
}

// ResumeWriter continues an archive after a Checkpoint whose State is st:
// it starts a new gzip member or zstd frame on out and goes on hashing from
// the saved hash state, so the final SHA-256 and size cover the whole stream.
func ResumeWriter(out io.Writer, st State) (*Writer, error) {
	if !st.Compression.valid() {
		return nil, fmt.Errorf("resuming an archive: unsupported compression %q", string(st.Compression))
	}
	if st.CompressedBytes < 0 || st.Entries < 0 {
		return nil, fmt.Errorf("resuming an archive: the saved state has negative counters")
	}
	h := sha256.New()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("resuming an archive: SHA-256 state cannot be restored")
	}
	if err := u.UnmarshalBinary(st.HashState); err != nil {
		return nil, fmt.Errorf("resuming an archive: the saved hash state is invalid: %w", err)
	}
	if n, ok := hashedLength(st.HashState); ok && n != uint64(st.CompressedBytes) {
		return nil, fmt.Errorf("resuming an archive: the saved hash state covers %d bytes but the state says %d",
			n, st.CompressedBytes)
	}
	s := &hashSink{out: out, h: h}
	s.n.Store(st.CompressedBytes)
	return &Writer{c: st.Compression, sink: s, entries: st.Entries}, nil
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
// Writer unusable.
func (w *Writer) WriteEntry(h EntryHeader, body io.Reader) (sha256Hex string, err error) {
	if w.err != nil {
		return "", w.err
	}
	if err := SafeEntryName(h.Name); err != nil {
		return "", fmt.Errorf("writing an archive entry: %w", err)
	}
	if h.Size < 0 {
		return "", fmt.Errorf("writing archive entry %s: negative size %d", quoteShort(h.Name), h.Size)
	}
	if err := w.open(); err != nil {
		return "", err
	}
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
		return "", w.fail(fmt.Errorf("writing the header of archive entry %s: %w", quoteShort(h.Name), err))
	}
	sum := sha256.New()
	n, err := io.CopyN(io.MultiWriter(w.tw, sum), body, h.Size)
	switch {
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
	w.entries++
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// open starts a new compressed member if none is open.
func (w *Writer) open() error {
	if w.comp != nil {
		return nil
	}
	comp, err := newCompressor(w.c, w.sink)
	if err != nil {
		return w.fail(err)
	}
	w.comp = comp
	w.tw = tar.NewWriter(comp)
	return nil
}

// fail makes err sticky and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// closeMember pads the last tar entry, ends the compressed member and
// flushes it to out.
func (w *Writer) closeMember() error {
	if w.comp == nil {
		return nil
	}
	if err := w.tw.Flush(); err != nil {
		return w.fail(fmt.Errorf("finishing the last archive entry: %w", err))
	}
	if err := w.comp.Close(); err != nil {
		return w.fail(fmt.Errorf("closing the compressed stream: %w", err))
	}
	w.comp, w.tw = nil, nil
	return nil
}

// Checkpoint ends the current gzip member or zstd frame and flushes it to
// out, so that everything written so far is a complete prefix of the archive
// that ResumeWriter can continue in another process. It returns the state to
// save. Call it only between entries. With nothing written since the last
// checkpoint it adds no bytes.
func (w *Writer) Checkpoint() (State, error) {
	if w.err != nil {
		return State{}, w.err
	}
	if err := w.closeMember(); err != nil {
		return State{}, err
	}
	m, ok := w.sink.h.(encoding.BinaryMarshaler)
	if !ok {
		return State{}, w.fail(fmt.Errorf("saving the archive hash state: SHA-256 cannot be marshalled"))
	}
	hs, err := m.MarshalBinary()
	if err != nil {
		return State{}, w.fail(fmt.Errorf("saving the archive hash state: %w", err))
	}
	return State{Compression: w.c, CompressedBytes: w.sink.n.Load(), HashState: hs, Entries: w.entries}, nil
}

// Finish writes the manifest (exactly manifestSize bytes) as the last entry
// "manifest.json", then the tar end-of-archive blocks, and closes the
// compressor. It returns the SHA-256 (hex) and size of the whole compressed
// stream, including parts written before a Checkpoint in other processes.
func (w *Writer) Finish(manifest io.Reader, manifestSize int64) (sha256Hex string, size int64, err error) {
	if w.err != nil {
		return "", 0, w.err
	}
	if _, err := w.WriteEntry(EntryHeader{Name: ManifestName, Size: manifestSize, ModTime: time.Now()}, manifest); err != nil {
		return "", 0, fmt.Errorf("writing the manifest: %w", err)
	}
	if err := w.tw.Close(); err != nil {
		return "", 0, w.fail(fmt.Errorf("ending the tar stream: %w", err))
	}
	if err := w.comp.Close(); err != nil {
		return "", 0, w.fail(fmt.Errorf("closing the compressed stream: %w", err))
	}
	w.comp, w.tw = nil, nil
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
		_ = w.comp.Close() // writes go nowhere now; only resources are released
		w.comp, w.tw = nil, nil
	}
	w.err = errAborted
}

// CompressedBytes is the number of compressed bytes written to out so far
// (including those before the Checkpoint a resumed Writer started from). It
// may be called from another goroutine for progress reports.
func (w *Writer) CompressedBytes() int64 { return w.sink.n.Load() }

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
