package agecrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

func isWrongKey(err error) bool { return errors.Is(err, ErrWrongKey) }

// sample is an encrypted file and what the tests need to know of it.
type sample struct {
	data, file   []byte
	payloadStart int // offset of the first chunk
	headerLen    int // bytes of the header without the nonce
	key          testKey
}

func newSample(t testing.TB, n int) sample {
	t.Helper()
	k := newTestKey(t)
	data := randomData(uint64(n)+7, n)
	file := encrypt(t, data, 3, k.recipient)
	hs := int(headerSize(t, file))
	return sample{data: data, file: file, payloadStart: hs, headerLen: hs - nonceSize, key: k}
}

// checkRejected reads a damaged file and checks that it fails, that what
// was returned before the error is a prefix of the plaintext made of whole
// chunks, and that it is exactly wantPlain bytes long (-1: any whole-chunk
// prefix). It returns the error.
func (s sample) checkRejected(t *testing.T, damaged []byte, wantPlain int) error {
	t.Helper()
	got, err := readAllSmall(damaged, s.key.identity)
	if err == nil {
		t.Fatalf("the damaged file was read without an error (%d bytes)", len(got))
	}
	if !bytes.Equal(got, s.data[:min(len(got), len(s.data))]) || len(got) > len(s.data) {
		t.Fatalf("%d bytes returned before the error are not a prefix of the plaintext", len(got))
	}
	if len(got)%ChunkSize != 0 && len(got) != len(s.data) {
		t.Fatalf("%d bytes returned before the error are not whole chunks", len(got))
	}
	if wantPlain >= 0 && len(got) != wantPlain {
		t.Fatalf("%d bytes returned before the error, want %d", len(got), wantPlain)
	}
	if !errors.Is(err, ErrDamaged) && !isWrongKey(err) {
		t.Fatalf("error %q is neither ErrDamaged nor ErrWrongKey", err)
	}
	return err
}

// TestCorruptionByPlace flips a byte in each part of a four-chunk file: the
// reader fails, having returned only the chunks before the damaged one.
func TestCorruptionByPlace(t *testing.T) {
	t.Parallel()
	s := newSample(t, 3*ChunkSize+1000)
	hdr := string(s.file[:s.headerLen])
	macAt := strings.Index(hdr, "\n--- ") + 5
	chunkAt := func(c int) int { return s.payloadStart + c*encChunkSize }
	cases := []struct {
		name      string
		pos       int
		wantPlain int
		wrongKey  bool // the header damage makes the key look wrong
	}{
		{"intro", 3, 0, false},
		{"stanza type", strings.Index(hdr, "X25519") + 1, 0, true},
		{"stanza argument", strings.Index(hdr, "X25519") + 8, 0, true},
		{"stanza body", strings.Index(hdr, "X25519") + 7 + 44, 0, true},
		{"header MAC", macAt + 10, 0, false},
		{"last MAC character", macAt + 42, 0, false},
		{"payload nonce", s.headerLen + 5, 0, false},
		{"first chunk, first byte", chunkAt(0), 0, false},
		{"first chunk tag", chunkAt(1) - 1, 0, false},
		{"middle chunk", chunkAt(1) + 30000, ChunkSize, false},
		{"third chunk tag", chunkAt(3) - 3, 2 * ChunkSize, false},
		{"last chunk, first byte", chunkAt(3), 3 * ChunkSize, false},
		{"last chunk tag, last byte", len(s.file) - 1, 3 * ChunkSize, false},
	}
	for _, c := range cases {
		for _, mask := range []byte{0x01, 0x80} {
			t.Run(fmt.Sprintf("%s/%#x", c.name, mask), func(t *testing.T) {
				damaged := bytes.Clone(s.file)
				damaged[c.pos] ^= mask
				err := s.checkRejected(t, damaged, c.wantPlain)
				if c.pos >= s.payloadStart || !c.wrongKey {
					if !errors.Is(err, ErrDamaged) {
						t.Errorf("error %q does not wrap ErrDamaged", err)
					}
				}
			})
		}
	}
}

// TestCorruptionEveryByte flips the lowest and the highest bit of every
// byte of a one-chunk file in turn: each change is refused before any
// plaintext is returned.
func TestCorruptionEveryByte(t *testing.T) {
	t.Parallel()
	s := newSample(t, 300)
	wrongKey := 0
	for pos := range s.file {
		for _, bit := range []int{0, 7} {
			damaged := bytes.Clone(s.file)
			damaged[pos] ^= 1 << bit
			got, err := readAllSmall(damaged, s.key.identity)
			switch {
			case err == nil:
				t.Fatalf("byte %d bit %d flipped: read without an error", pos, bit)
			case len(got) > 0:
				t.Fatalf("byte %d bit %d flipped: %d bytes returned before the error", pos, bit, len(got))
			case isWrongKey(err):
				if pos >= s.headerLen {
					t.Fatalf("byte %d bit %d flipped (past the header): %v", pos, bit, err)
				}
				wrongKey++
			case !errors.Is(err, ErrDamaged):
				t.Fatalf("byte %d bit %d flipped: error %q is not ErrDamaged", pos, bit, err)
			}
		}
	}
	t.Logf("%d bit flips refused; %d of them (in the recipient stanza) read as a wrong key", 2*len(s.file), wrongKey)
}

// TestTruncation cuts a file at chunk edges, inside chunks and inside the
// header: always an error, after only the whole chunks before the cut.
func TestTruncation(t *testing.T) {
	t.Parallel()
	s := newSample(t, 3*ChunkSize+1000)
	at := func(c int) int { return s.payloadStart + c*encChunkSize }
	cases := []struct {
		name      string
		size      int
		wantPlain int
	}{
		{"empty", 0, 0},
		{"inside the intro", 10, 0},
		{"inside the MAC line", s.headerLen - 5, 0},
		{"header without nonce", s.headerLen, 0},
		{"inside the nonce", s.headerLen + 8, 0},
		{"no chunk", at(0), 0},
		{"after one chunk", at(1), ChunkSize},
		{"after two chunks", at(2), 2 * ChunkSize},
		{"after three chunks", at(3), 3 * ChunkSize},
		{"inside the second chunk", at(1) + 100, ChunkSize},
		{"one tag byte short", len(s.file) - 1, 3 * ChunkSize},
		{"tag missing", len(s.file) - TagSize, 3 * ChunkSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.checkRejected(t, s.file[:c.size], c.wantPlain)
			if !errors.Is(err, ErrDamaged) {
				t.Errorf("error %q does not wrap ErrDamaged", err)
			}
		})
	}
}

// TestReorderedAndExtraBytes: chunks swapped, dropped or repeated, and bytes
// appended after the last chunk, are refused.
func TestReorderedAndExtraBytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3*ChunkSize + 1000, 3 * ChunkSize} {
		s := newSample(t, n)
		chunk := func(c int) []byte {
			start := s.payloadStart + c*encChunkSize
			return s.file[start:min(start+encChunkSize, len(s.file))]
		}
		header := s.file[:s.payloadStart]
		join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
		lastIdx := (len(s.file) - s.payloadStart - 1) / encChunkSize
		cases := []struct {
			name      string
			file      []byte
			wantPlain int
		}{
			{"chunks 1 and 2 swapped", join(header, chunk(0), chunk(2), chunk(1), chunk(3)), ChunkSize},
			{"chunk 1 dropped", join(header, chunk(0), chunk(2), chunk(3)), ChunkSize},
			{"chunk 0 repeated", join(header, chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)), ChunkSize},
			{"last chunk first", join(header, chunk(lastIdx), chunk(0)), 0},
			// With a short last chunk, the appended bytes make it fail;
			// a full last chunk is authenticated as the last one, and the
			// bytes after it are refused after it: 3 chunks either way.
			{"1 byte appended", join(s.file, []byte{0}), 3 * ChunkSize},
			{"16 bytes appended", join(s.file, make([]byte, 16)), 3 * ChunkSize},
			{"a chunk appended", join(s.file, chunk(0)), 3 * ChunkSize},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d/%s", n, c.name), func(t *testing.T) {
				if err := s.checkRejected(t, c.file, c.wantPlain); !errors.Is(err, ErrDamaged) {
					t.Errorf("error %q does not wrap ErrDamaged", err)
				}
			})
		}
	}
}

// TestWrongKey: a key or passphrase that does not match gives ErrWrongKey
// from the header alone, with a hint about how the file was encrypted.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	k, other := newTestKey(t), newTestKey(t)
	pass, err := PassphraseIdentity("right")
	if err != nil {
		t.Fatal(err)
	}
	wrongPass, err := PassphraseIdentity("wrong")
	if err != nil {
		t.Fatal(err)
	}
	x25519File := encrypt(t, []byte("secret"), 1, k.recipient)
	scryptFile := encrypt(t, []byte("secret"), 1, fastScrypt(t, "right"))
	cases := []struct {
		name string
		file []byte
		id   age.Identity
		hint string
	}{
		{"other x25519 key", x25519File, other.identity, "age1"},
		{"passphrase for an x25519 file", x25519File, pass, "age1"},
		{"wrong passphrase", scryptFile, wrongPass, "passphrase"},
		{"x25519 key for a passphrase file", scryptFile, k.identity, "passphrase"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Only the header is there, then the source fails: the
			// answer must come from the header.
			hs := int(headerSize(t, c.file))
			src := io.MultiReader(bytes.NewReader(c.file[:hs-nonceSize]), errReader{})
			_, err := NewReader(src, c.id)
			if !isWrongKey(err) || errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v, want ErrWrongKey", err)
			}
			if !strings.Contains(err.Error(), c.hint) || !strings.HasPrefix(err.Error(), "this key cannot decrypt the archive") {
				t.Errorf("error %q lacks the hint %q", err, c.hint)
			}
			if _, err := readAllSmall(c.file, c.id); !isWrongKey(err) {
				t.Fatalf("whole file: error %v, want ErrWrongKey", err)
			}
		})
	}
	if _, err := readAllSmall(x25519File, other.identity, k.identity); err != nil {
		t.Errorf("the right key after a wrong one: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(x25519File)); err == nil || isWrongKey(err) {
		t.Errorf("no identity: %v", err)
	}
}

// errReader fails every read.
type errReader struct{}

var errNetwork = errors.New("connection reset")

func (errReader) Read([]byte) (int, error) { return 0, errNetwork }

// TestSourceErrors: an error of the underlying reader is passed on, and is
// not taken for damage or a wrong key.
func TestSourceErrors(t *testing.T) {
	t.Parallel()
	s := newSample(t, 2*ChunkSize+10)
	for _, cut := range []int{0, 20, s.headerLen, s.payloadStart + 100, s.payloadStart + encChunkSize} {
		src := io.MultiReader(bytes.NewReader(s.file[:cut]), errReader{})
		var err error
		var got []byte
		r, err := NewReader(src, s.key.identity)
		if err == nil {
			got, err = io.ReadAll(r)
		}
		if !errors.Is(err, errNetwork) || errors.Is(err, ErrDamaged) || isWrongKey(err) {
			t.Errorf("source failing after %d bytes: error %v, want the source's error only", cut, err)
		}
		if !bytes.Equal(got, s.data[:len(got)]) || len(got)%ChunkSize != 0 {
			t.Errorf("source failing after %d bytes: %d bytes returned", cut, len(got))
		}
	}
}
