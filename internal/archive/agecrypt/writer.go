package agecrypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// ChunkSize is the size of a payload chunk's plaintext; only the last chunk
// may be shorter.
const ChunkSize = 64 << 10

// TagSize is what sealing adds to each chunk (the Poly1305 tag).
const TagSize = chacha20poly1305.Overhead

// encChunkSize is the size of a sealed full chunk.
const encChunkSize = ChunkSize + TagSize

// nonceSize is the size of the random payload nonce after the header.
const nonceSize = 16

// fileKeySize is the size of an age file key.
const fileKeySize = 16

// lastChunkFlag is the last byte of the nonce of the last chunk.
const lastChunkFlag = 0x01

// Writer encrypts what is written to it into an age file on dst. Close
// seals the last chunk; State and Resume continue the file elsewhere. Its
// methods are not safe for concurrent use, except Written.
type Writer struct {
	dst        io.Writer
	aead       cipher.AEAD
	key        [KeySize]byte
	headerSize int64
	chunks     int64
	// buf holds the pending plaintext (len ≤ ChunkSize); its capacity
	// leaves room to seal a chunk in place.
	buf     []byte
	written atomic.Int64
	err     error // sticky: the stream is broken or closed
}

// errClosed is the sticky error of a closed Writer.
var errClosed = errors.New("the age stream is already closed")

// NewWriter writes the age header for recipients and the payload nonce to
// dst and returns a Writer for the payload. The file key is random; the
// recipients wrap it as age.Encrypt would, with the same rules on mixing
// them (a passphrase recipient must be alone).
func NewWriter(dst io.Writer, recipients ...age.Recipient) (*Writer, error) {
	if dst == nil {
		return nil, errors.New("starting an encrypted archive: no destination")
	}
	if len(recipients) == 0 {
		return nil, errors.New("starting an encrypted archive: no recipient given")
	}
	header, fileKey, err := makeHeader(recipients)
	if err != nil {
		return nil, fmt.Errorf("starting an encrypted archive: %w", err)
	}
	defer clear(fileKey)
	nonce := header[len(header)-nonceSize:]
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", KeySize)
	if err != nil {
		return nil, fmt.Errorf("starting an encrypted archive: deriving the payload key: %w", err)
	}
	st := State{HeaderSize: int64(len(header))}
	copy(st.PayloadKey[:], key)
	clear(key)
	w, err := newWriter(dst, st)
	if err != nil {
		return nil, err
	}
	// w counts the header as written already: it is, or there is no w.
	if n, err := dst.Write(header); err != nil || n < len(header) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return nil, fmt.Errorf("starting an encrypted archive: writing the age header: %w", err)
	}
	return w, nil
}

// makeHeader returns the age header for recipients followed by the payload
// nonce, and the file key it wraps. age.Encrypt writes both before any
// payload; the recipients are wrapped so that the key they are given is
// noted. The header is then parsed back and checked against the key.
func makeHeader(recipients []age.Recipient) (header, fileKey []byte, err error) {
	n := &keyNote{}
	noting := make([]age.Recipient, len(recipients))
	for i, r := range recipients {
		if r == nil {
			return nil, nil, fmt.Errorf("recipient #%d is missing", i+1)
		}
		noting[i] = notingRecipient{r: r, note: n}
	}
	var buf bytes.Buffer
	// The payload writer age returns is dropped unused: nothing has been
	// written to it, and it holds no resource.
	if _, err := age.Encrypt(&buf, noting...); err != nil {
		return nil, nil, fmt.Errorf("making the age header: %w", err)
	}
	if n.err != nil {
		return nil, nil, n.err
	}
	header = buf.Bytes()
	if n.key == nil || len(header) < minHeaderSize {
		return nil, nil, errors.New("making the age header: the age library did not write the header as expected")
	}
	// The header must be what age reads back, byte for byte, with exactly
	// the nonce after it.
	if h, err := age.ExtractHeader(bytes.NewReader(header)); err != nil || !bytes.Equal(h, header[:len(header)-nonceSize]) {
		return nil, nil, errors.New("making the age header: the age library did not write the header as expected")
	}
	got, err := age.DecryptHeader(header[:len(header)-nonceSize], age.NewInjectedFileKeyIdentity(n.key))
	if err != nil {
		return nil, nil, fmt.Errorf("making the age header: the header does not check against the file key: %w", err)
	}
	if !bytes.Equal(got, n.key) {
		return nil, nil, errors.New("making the age header: the header does not hold the file key")
	}
	return header, n.key, nil
}

// keyNote keeps the file key the recipients were asked to wrap.
type keyNote struct {
	key []byte
	err error
}

func (n *keyNote) add(fileKey []byte) {
	switch {
	case len(fileKey) != fileKeySize:
		n.err = fmt.Errorf("making the age header: a file key of %d bytes", len(fileKey))
	case n.key == nil:
		n.key = bytes.Clone(fileKey)
	case !bytes.Equal(n.key, fileKey):
		n.err = errors.New("making the age header: the recipients were given different file keys")
	}
}

// notingRecipient notes the file key, then wraps it with r. It passes r's
// labels on (or none), so that age's rules on mixing recipients hold.
type notingRecipient struct {
	r    age.Recipient
	note *keyNote
}

func (n notingRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	n.note.add(fileKey)
	return n.r.Wrap(fileKey)
}

func (n notingRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	n.note.add(fileKey)
	if l, ok := n.r.(age.RecipientWithLabels); ok {
		return l.WrapWithLabels(fileKey)
	}
	s, err := n.r.Wrap(fileKey)
	return s, nil, err
}

// Resume continues on dst the stream whose State is st, as the Writer it
// was taken from would have: the next bytes written follow st.Pending and
// the next chunk is number st.Chunks. dst must be where the bytes after the
// first st.Written() go. Nothing is written until a chunk is full or Close.
// See the package documentation for when a State may be resumed.
func Resume(dst io.Writer, st State) (*Writer, error) {
	if dst == nil {
		return nil, errors.New("resuming an encrypted archive: no destination")
	}
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("resuming an encrypted archive: the saved stream state is invalid: %w", err)
	}
	return newWriter(dst, st)
}

// newWriter makes the Writer for st without writing anything.
func newWriter(dst io.Writer, st State) (*Writer, error) {
	aead, err := chacha20poly1305.New(st.PayloadKey[:])
	if err != nil {
		return nil, fmt.Errorf("encrypted archive: %w", err)
	}
	w := &Writer{
		dst:        dst,
		aead:       aead,
		key:        st.PayloadKey,
		headerSize: st.HeaderSize,
		chunks:     st.Chunks,
		buf:        make([]byte, len(st.Pending), encChunkSize),
	}
	copy(w.buf, st.Pending)
	w.written.Store(st.HeaderSize + st.Chunks*encChunkSize)
	return w, nil
}

// Write encrypts p. A chunk is sealed and written to dst once it is full
// and more bytes follow it, so up to ChunkSize bytes stay pending. An error
// from dst breaks the Writer for good; continue from the last State.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	done := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			// More bytes follow a full chunk: it is not the last.
			if err := w.seal(w.buf, false); err != nil {
				return done, err
			}
		}
		if len(w.buf) == 0 && len(p) > ChunkSize {
			// A whole chunk of p with more after it: seal it straight
			// from p instead of copying it to the buffer first.
			if err := w.seal(p[:ChunkSize], false); err != nil {
				return done, err
			}
			p, done = p[ChunkSize:], done+ChunkSize
			continue
		}
		n := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p, done = p[n:], done+n
	}
	return done, nil
}

// seal seals plain as the next chunk into the buffer, writes it to dst and
// empties the buffer. plain is the buffer itself or a chunk of the caller's
// bytes.
func (w *Writer) seal(plain []byte, last bool) error {
	if w.chunks >= (1<<63-1-w.headerSize)/encChunkSize-1 {
		return w.fail(errors.New("writing an encrypted archive: the stream is too long"))
	}
	var nonce [chacha20poly1305.NonceSize]byte
	// The counter is 11 bytes; an int64 fills the last 8 of them.
	binary.BigEndian.PutUint64(nonce[3:11], uint64(w.chunks))
	if last {
		nonce[11] = lastChunkFlag
	}
	sealed := w.aead.Seal(w.buf[:0], nonce[:], plain, nil)
	w.chunks++
	w.buf = w.buf[:0]
	if err := w.emit(sealed); err != nil {
		return w.fail(fmt.Errorf("writing an encrypted archive: %w", err))
	}
	return nil
}

// emit writes b to dst and counts it.
func (w *Writer) emit(b []byte) error {
	n, err := w.dst.Write(b)
	w.written.Add(int64(n))
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// fail makes err sticky and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// State returns what Resume needs to continue this stream after the bytes
// written to dst so far: the pending plaintext is copied, not sealed, so
// the Writer goes on unchanged. The result is secret (see State).
func (w *Writer) State() (State, error) {
	if w.err != nil {
		return State{}, w.err
	}
	return State{
		PayloadKey: w.key,
		HeaderSize: w.headerSize,
		Chunks:     w.chunks,
		Pending:    bytes.Clone(w.buf),
	}, nil
}

// Close seals the pending plaintext as the last chunk and writes it to dst;
// with nothing written at all that is an empty chunk, as the age format
// wants. It does not close dst. The Writer cannot be used afterwards.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.seal(w.buf, true); err != nil {
		return err
	}
	w.err = errClosed
	clear(w.key[:])
	return nil
}

// Written is the number of ciphertext bytes written to dst, the header
// included, counting those written before the State this Writer resumed
// from. It may be called from another goroutine.
func (w *Writer) Written() int64 { return w.written.Load() }

// Buffered is the number of plaintext bytes accepted but not yet sealed
// (0 to ChunkSize): they are in the State, not in the ciphertext.
func (w *Writer) Buffered() int { return len(w.buf) }
