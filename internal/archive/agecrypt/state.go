package agecrypt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
)

// KeySize is the size of the payload key (a ChaCha20-Poly1305 key).
const KeySize = 32

// State is everything Resume needs to continue a Writer's stream, possibly
// in another process. It is a SECRET: PayloadKey decrypts the whole file
// and Pending is plaintext. Seal the bytes of MarshalBinary with the server
// key before storing them; never store or log them in the clear. See the
// package documentation for how a checkpoint uses it.
type State struct {
	// PayloadKey is the ChaCha20-Poly1305 key of the STREAM payload.
	PayloadKey [KeySize]byte
	// HeaderSize is the number of bytes of the age header and the 16-byte
	// payload nonce that follows it.
	HeaderSize int64
	// Chunks is the number of payload chunks sealed and written so far,
	// which is also the counter of the next chunk.
	Chunks int64
	// Pending is the plaintext accepted but not yet sealed (at most
	// ChunkSize bytes). It is empty only when Chunks is 0.
	Pending []byte
}

// stateMagic starts a marshalled State and names its layout version.
const stateMagic = "cag1"

// stateFixedSize is the size of a marshalled State without Pending: the
// magic, the key, HeaderSize, Chunks and the length of Pending.
const stateFixedSize = len(stateMagic) + KeySize + 8 + 8 + 4

// minHeaderSize is the smallest header plus nonce there is: the intro line,
// the MAC line with no stanza (itself invalid) and the nonce.
const minHeaderSize = len("age-encryption.org/v1\n--- \n") + 43 + 16

// Written is the number of ciphertext bytes written when the State was
// taken: the header, the nonce and the sealed chunks.
func (s State) Written() int64 { return s.HeaderSize + s.Chunks*encChunkSize }

// Plaintext is the number of plaintext bytes accepted when the State was
// taken, sealed or pending.
func (s State) Plaintext() int64 { return s.Chunks*ChunkSize + int64(len(s.Pending)) }

// validate checks the invariants every State taken from a Writer holds.
func (s State) validate() error {
	switch {
	case s.HeaderSize < int64(minHeaderSize):
		return fmt.Errorf("its header size %d is too small for an age header", s.HeaderSize)
	case s.Chunks < 0 || s.Chunks > (math.MaxInt64-s.HeaderSize)/encChunkSize-1:
		return fmt.Errorf("its chunk count %d is out of range", s.Chunks)
	case len(s.Pending) > ChunkSize:
		return fmt.Errorf("it holds %d pending bytes, more than a chunk", len(s.Pending))
	case s.Chunks > 0 && len(s.Pending) == 0:
		// A Writer seals a full chunk only once more bytes follow it, so
		// that the last chunk is never empty after other chunks.
		return errors.New("it has sealed chunks but no pending bytes")
	}
	return nil
}

// MarshalBinary encodes the State: "cag1", the payload key, HeaderSize and
// Chunks (8 bytes each, big-endian), the length of Pending (4 bytes,
// big-endian) and Pending; 56 bytes plus at most ChunkSize. The result is
// secret: seal it before storing it.
func (s State) MarshalBinary() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("encoding an age stream state: %w", err)
	}
	b := make([]byte, 0, stateFixedSize+len(s.Pending))
	b = append(b, stateMagic...)
	b = append(b, s.PayloadKey[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.HeaderSize))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Chunks))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Pending)))
	return append(b, s.Pending...), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded and checks it.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) < stateFixedSize || string(b[:len(stateMagic)]) != stateMagic {
		return errors.New("decoding an age stream state: not a saved age stream state")
	}
	var st State
	p := b[len(stateMagic):]
	copy(st.PayloadKey[:], p[:KeySize])
	p = p[KeySize:]
	hs, chunks := binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
	n := binary.BigEndian.Uint32(p[16:])
	p = p[20:]
	if hs > math.MaxInt64 || chunks > math.MaxInt64 {
		return errors.New("decoding an age stream state: its counters are out of range")
	}
	if uint64(n) != uint64(len(p)) {
		return fmt.Errorf("decoding an age stream state: it announces %d pending bytes but holds %d", n, len(p))
	}
	st.HeaderSize, st.Chunks = int64(hs), int64(chunks)
	st.Pending = append([]byte(nil), p...)
	if err := st.validate(); err != nil {
		return fmt.Errorf("decoding an age stream state: %w", err)
	}
	*s = st
	return nil
}

// errStateJSON is what MarshalJSON says: a State must not be stored as it is.
var errStateJSON = errors.New("an age stream state is secret: seal the bytes of its MarshalBinary instead of encoding it as JSON")

// MarshalJSON refuses, so that a State put by mistake in a JSON checkpoint
// is an error rather than a payload key stored in the clear.
func (State) MarshalJSON() ([]byte, error) { return nil, errStateJSON }

// String describes the State without its key or plaintext.
func (s State) String() string {
	return fmt.Sprintf("agecrypt.State{chunks: %d, pending: %d bytes, written: %d bytes, key: redacted}",
		s.Chunks, len(s.Pending), s.Written())
}

// GoString is String, for %#v.
func (s State) GoString() string { return s.String() }

// LogValue keeps the key and plaintext out of structured logs.
func (s State) LogValue() slog.Value { return slog.StringValue(s.String()) }
