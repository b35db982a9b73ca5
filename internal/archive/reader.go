package archive

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/object"
)

// Entry is one entry of an archive being read.
type Entry struct {
	// Name passed SafeEntryName.
	Name string
	// Size is the number of body bytes.
	Size int64
	// ModTime is the entry's modification time.
	ModTime time.Time
	// PAXRecords holds every PAX record of the entry, the standard ones
	// ("path", "mtime", ...) and coffer's "SCHILY.xattr.user.coffer.*" ones.
	PAXRecords map[string]string
}

// Object rebuilds the S3 object an entry holds: key and metadata from its
// PAX records (see ObjectFromPAX), size from the entry.
func (e *Entry) Object() (object.Object, error) {
	o, err := ObjectFromPAX(e.PAXRecords)
	if err != nil {
		return o, fmt.Errorf("archive entry %s: %w", quoteShort(e.Name), err)
	}
	o.Size = e.Size
	return o, nil
}

// Reader reads an archive stream written by Writer (or by GNU tar with gzip
// or zstd): it detects the compression from the magic bytes, decodes
// concatenated members or frames, and hashes every compressed byte it reads.
// Its methods are not safe for concurrent use.
type Reader struct {
	src       *hashSource
	closeDec  func()
	dec       io.Reader
	tr        *tar.Reader
	cur       *Entry
	entryHash hash.Hash
	err       error // sticky
	eof       bool
}

// NewReader starts reading the archive stream r. It reads the first bytes
// to detect gzip or zstd; anything else is an error wrapping ErrCorrupt.
func NewReader(r io.Reader) (*Reader, error) {
	src := &hashSource{r: r, h: sha256.New()}
	return newReader(src, src)
}

// NewEncryptedReader starts reading the age-encrypted archive stream r
// with identities. A key that opens none of the header's stanzas is an
// error wrapping agecrypt.ErrWrongKey, returned before any plaintext is;
// damage anywhere in the ciphertext is an error wrapping ErrCorrupt once
// the reader reaches the chunk that holds it, and no byte of that chunk
// is returned. SHA256Hex and CompressedBytes are those of the ciphertext
// (what the destination stores and the sidecar names).
func NewEncryptedReader(r io.Reader, identities ...age.Identity) (*Reader, error) {
	src := &hashSource{r: r, h: sha256.New()}
	plain, err := agecrypt.NewReader(src, identities...)
	if err != nil {
		if errors.Is(err, agecrypt.ErrDamaged) {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, err
	}
	return newReader(src, plain)
}

// newReader reads the compressed tar stream in, whose stored bytes src
// hashes (in is src itself for an archive that is not encrypted).
func newReader(src *hashSource, in io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	rd := &Reader{src: src, entryHash: sha256.New()}
	magic, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, rd.classify(fmt.Errorf("reading the start of the archive: %w", err))
	}
	switch {
	case strings.HasPrefix(string(magic), gzipMagic):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, rd.classify(fmt.Errorf("reading the gzip header: %w", err))
		}
		z.Multistream(true)
		rd.dec = z
		rd.closeDec = func() { _ = z.Close() }
	case strings.HasPrefix(string(magic), zstdMagic):
		z, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutine outlives the Reader
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("starting the zstd decoder: %w", err)
		}
		rd.dec = z
		rd.closeDec = z.Close
	case len(magic) == 0:
		return nil, fmt.Errorf("%w: the archive is empty", ErrCorrupt)
	default:
		return nil, fmt.Errorf("%w: the archive is neither gzip nor zstd compressed", ErrCorrupt)
	}
	rd.tr = tar.NewReader(rd.dec)
	return rd, nil
}

// Next advances to the next entry and returns it. After the last entry it
// checks the end of the stream (the compressor's checksums, nothing but tar
// padding after the end-of-archive blocks), reads the underlying stream to
// its end so that SHA256Hex covers it whole, and returns io.EOF. An entry
// whose name fails SafeEntryName or that is not a regular file is an error
// wrapping ErrUnsafeEntry; undecodable bytes give an error wrapping
// ErrCorrupt. Errors are final: later calls return the same error.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.eof {
		return nil, io.EOF
	}
	r.cur = nil
	hdr, err := r.tr.Next()
	if errors.Is(err, io.EOF) {
		if err := r.finish(); err != nil {
			return nil, r.fail(err)
		}
		r.eof = true
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.fail(r.classify(fmt.Errorf("reading an entry header: %w", err)))
	}
	if err := checkHeader(hdr); err != nil {
		return nil, r.fail(err)
	}
	r.cur = &Entry{Name: hdr.Name, Size: hdr.Size, ModTime: hdr.ModTime, PAXRecords: hdr.PAXRecords}
	r.entryHash.Reset()
	return r.cur, nil
}

// checkHeader refuses entries that are not safe regular files.
func checkHeader(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: entry %s is a %s, not a regular file",
			ErrUnsafeEntry, quoteShort(hdr.Name), typeName(hdr.Typeflag))
	}
	if err := SafeEntryName(hdr.Name); err != nil {
		return err
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("%w: entry %s is a sparse file", ErrUnsafeEntry, quoteShort(hdr.Name))
		}
	}
	if hdr.Size < 0 {
		return fmt.Errorf("%w: entry %s has a negative size", ErrCorrupt, quoteShort(hdr.Name))
	}
	return nil
}

// typeName names a tar entry type for error messages.
func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeDir:
		return "directory"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeGNUSparse:
		return "sparse file"
	case tar.TypeXGlobalHeader:
		return "global PAX header"
	case tar.TypeCont:
		return "contiguous file"
	}
	return fmt.Sprintf("entry of type %q", string(rune(t)))
}

// Read reads the body of the current entry; it returns io.EOF at the
// entry's end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.cur == nil {
		return 0, errors.New("reading an archive entry: no current entry; call Next first")
	}
	n, err := r.tr.Read(p)
	r.entryHash.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) {
		return n, r.fail(r.classify(fmt.Errorf("reading entry %s: %w", quoteShort(r.cur.Name), err)))
	}
	return n, err
}

// EntrySHA256Hex is the SHA-256 (hex) of the current entry's body bytes read
// so far; once Read has returned io.EOF it is the hash of the whole body.
func (r *Reader) EntrySHA256Hex() string { return hex.EncodeToString(r.entryHash.Sum(nil)) }

// SHA256Hex is the SHA-256 (hex) of the compressed bytes read so far. Once
// Next has returned io.EOF it covers the whole stream.
func (r *Reader) SHA256Hex() string { return hex.EncodeToString(r.src.h.Sum(nil)) }

// CompressedBytes is the number of compressed bytes read so far.
func (r *Reader) CompressedBytes() int64 { return r.src.n }

// Close releases the decoder. It does not close the underlying stream.
func (r *Reader) Close() error {
	if r.closeDec != nil {
		r.closeDec()
		r.closeDec = nil
	}
	if r.err == nil && !r.eof {
		r.err = errors.New("the archive reader is closed")
	}
	return nil
}

// finish checks what follows the tar end-of-archive blocks: only zero
// padding until the end of the last member or frame (which makes the
// decoder verify its checksum), then nothing more in the underlying stream.
func (r *Reader) finish() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.dec.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("%w: data follows the end of the tar archive", ErrCorrupt)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r.classify(fmt.Errorf("reading the end of the archive: %w", err))
		}
	}
	if _, err := io.Copy(io.Discard, r.src); err != nil {
		return fmt.Errorf("reading the end of the archive stream: %w", err)
	}
	if r.closeDec != nil {
		r.closeDec()
		r.closeDec = nil
	}
	return nil
}

// fail makes err sticky and releases the decoder.
func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
		if r.closeDec != nil {
			r.closeDec()
			r.closeDec = nil
		}
	}
	return r.err
}

// classify marks err as corruption unless it is the underlying stream's own
// read error (a network failure is not a damaged archive).
func (r *Reader) classify(err error) error {
	if r.src.err != nil && errors.Is(err, r.src.err) {
		return err
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsafeEntry) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// hashSource hashes and counts the bytes read from r and remembers r's
// first error other than io.EOF.
type hashSource struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (s *hashSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.h.Write(p[:n])
		s.n += int64(n)
	}
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = err
	}
	return n, err
}
