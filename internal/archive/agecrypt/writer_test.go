package agecrypt

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// sizes are the plaintext sizes every round trip covers.
var sizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 17, 5<<20 + 3}

// TestRoundTrip encrypts with the Writer and decrypts with NewReader, for
// X25519 (one and two recipients) and passphrase recipients, and checks the
// file's size and the Writer's counts.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k1, k2 := newTestKey(t), newTestKey(t)
	pass, err := PassphraseIdentity("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		recipients []age.Recipient
		identities []age.Identity
	}{
		{"x25519", []age.Recipient{k1.recipient}, []age.Identity{k1.identity}},
		{"two-recipients-second-key", []age.Recipient{k1.recipient, k2.recipient}, []age.Identity{k2.identity}},
		{"scrypt", []age.Recipient{fastScrypt(t, "correct horse battery staple")}, []age.Identity{pass}},
	}
	for _, c := range cases {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				t.Parallel()
				data := randomData(uint64(n), n)
				file := encrypt(t, data, uint64(n)+1, c.recipients...)
				hs := headerSize(t, file)
				if want := expectedSize(hs, int64(n)); int64(len(file)) != want {
					t.Errorf("file is %d bytes, want %d", len(file), want)
				}
				if got := decrypt(t, file, c.identities...); !bytes.Equal(got, data) {
					t.Fatalf("decrypted %d bytes differ from the %d written", len(got), n)
				}
				// age's own reader, straight, agrees.
				r, err := age.Decrypt(bytes.NewReader(file), c.identities...)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("age.Decrypt: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

// headerSize returns the size of a file's header and nonce.
func headerSize(t testing.TB, file []byte) int64 {
	t.Helper()
	h, err := age.ExtractHeader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(h) + nonceSize)
}

// TestSpecLayout checks a file against the age v1 specification with code
// independent of the package: the header lines, the header MAC (HMAC-SHA-256
// keyed by HKDF(file key, "header")), the payload key (HKDF(file key,
// nonce, "payload")), and each chunk sealed under the counter/last-flag
// nonce, only the last one flagged.
func TestSpecLayout(t *testing.T) {
	t.Parallel()
	k := newTestKey(t)
	for _, n := range []int{0, 100, ChunkSize, 2*ChunkSize + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			data := randomData(9, n)
			var buf bytes.Buffer
			w, err := NewWriter(&buf, k.recipient)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			st, err := w.State()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			file := buf.Bytes()

			lines := strings.SplitAfter(string(file), "\n")
			if lines[0] != "age-encryption.org/v1\n" {
				t.Fatalf("intro line %q", lines[0])
			}
			stanza := strings.Fields(lines[1])
			if len(stanza) != 3 || stanza[0] != "->" || stanza[1] != "X25519" || len(stanza[2]) != 43 {
				t.Fatalf("stanza line %q", lines[1])
			}
			if len(lines[2]) != 44 { // a 32-byte body is one short line
				t.Fatalf("stanza body line %q", lines[2])
			}
			macLine := lines[3]
			if !strings.HasPrefix(macLine, "--- ") || len(macLine) != 4+43+1 {
				t.Fatalf("MAC line %q", macLine)
			}
			headerLen := len(lines[0]) + len(lines[1]) + len(lines[2]) + len(macLine)
			if int64(headerLen+nonceSize) != st.HeaderSize {
				t.Fatalf("header is %d bytes, the State says %d with the nonce", headerLen, st.HeaderSize)
			}

			fileKey, err := age.DecryptHeader(file[:headerLen], k.identity)
			if err != nil {
				t.Fatal(err)
			}
			macKey, err := hkdf.Key(sha256.New, fileKey, nil, "header", 32)
			if err != nil {
				t.Fatal(err)
			}
			m := hmac.New(sha256.New, macKey)
			m.Write(file[:headerLen-len(macLine)+3]) // up to and including "---"
			wantMAC, err := base64.RawStdEncoding.Strict().DecodeString(strings.TrimSpace(macLine[4:]))
			if err != nil {
				t.Fatal(err)
			}
			if !hmac.Equal(m.Sum(nil), wantMAC) {
				t.Fatal("the header MAC does not match HMAC-SHA-256 under HKDF(file key, \"header\")")
			}

			nonce := file[headerLen : headerLen+nonceSize]
			payloadKey, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", 32)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payloadKey, st.PayloadKey[:]) {
				t.Fatal("the State's payload key is not HKDF(file key, nonce, \"payload\")")
			}
			got, err := specDecryptPayload(payloadKey, file[headerLen+nonceSize:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the payload does not decrypt to the plaintext")
			}
		})
	}
}

// specDecryptPayload decrypts a STREAM payload as the spec describes it.
func specDecryptPayload(key, payload []byte) ([]byte, error) {
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	var out []byte
	for i := uint64(0); ; i++ {
		n := min(len(payload), ChunkSize+TagSize)
		last := n == len(payload)
		var nonce [12]byte
		binary.BigEndian.PutUint64(nonce[3:11], i)
		if last {
			nonce[11] = 1
		}
		if last && i > 0 && n == TagSize {
			return nil, errors.New("empty last chunk after other chunks")
		}
		p, err := aead.Open(nil, nonce[:], payload[:n], nil)
		if err != nil {
			return nil, fmt.Errorf("chunk %d (last %v): %w", i, last, err)
		}
		out = append(out, p...)
		if last {
			return out, nil
		}
		payload = payload[n:]
	}
}

// TestWriterRules covers the recipients age refuses to mix and the
// arguments NewWriter and Resume refuse.
func TestWriterRules(t *testing.T) {
	t.Parallel()
	k := newTestKey(t)
	s := fastScrypt(t, "pass")
	var buf bytes.Buffer
	for name, recipients := range map[string][]age.Recipient{
		"none":             nil,
		"scrypt+x25519":    {s, k.recipient},
		"scrypt twice":     {s, fastScrypt(t, "other")},
		"nil recipient":    {nil},
		"x25519 then nil":  {k.recipient, nil},
		"x25519 + scrypt ": {k.recipient, s},
	} {
		if _, err := NewWriter(&buf, recipients...); err == nil {
			t.Errorf("%s: NewWriter accepted the recipients", name)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("refused writers wrote %d bytes", buf.Len())
	}
	if _, err := NewWriter(nil, k.recipient); err == nil {
		t.Error("NewWriter accepted a nil destination")
	}
	if _, err := Resume(&buf, State{}); err == nil {
		t.Error("Resume accepted an empty State")
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	buf   bytes.Buffer
	limit int
}

var errDisk = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	room := f.limit - f.buf.Len()
	if room >= len(p) {
		return f.buf.Write(p)
	}
	f.buf.Write(p[:max(room, 0)])
	return max(room, 0), errDisk
}

// TestWriterErrors checks that an error from the destination breaks the
// Writer for good, that Written counts what the destination accepted, and
// that a closed Writer refuses everything.
func TestWriterErrors(t *testing.T) {
	t.Parallel()
	k := newTestKey(t)
	if _, err := NewWriter(&failingWriter{limit: 10}, k.recipient); !errors.Is(err, errDisk) {
		t.Fatalf("NewWriter on a failing destination: %v", err)
	}

	fw := &failingWriter{limit: 300 + ChunkSize}
	w, err := NewWriter(fw, k.recipient)
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(3, 3*ChunkSize)
	n, err := w.Write(data)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Write = %d, %v; want the destination's error", n, err)
	}
	if n >= len(data) {
		t.Errorf("Write reported %d of %d bytes written despite the error", n, len(data))
	}
	if w.Written() != int64(fw.buf.Len()) {
		t.Errorf("Written() = %d, the destination holds %d", w.Written(), fw.buf.Len())
	}
	if _, err := w.State(); !errors.Is(err, errDisk) {
		t.Errorf("State after a failure: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, errDisk) {
		t.Errorf("Write after a failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close after a failure: %v", err)
	}

	var buf bytes.Buffer
	w, err = NewWriter(&buf, k.recipient)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size := buf.Len()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("a second Close succeeded")
	}
	if _, err := w.State(); err == nil {
		t.Error("State after Close succeeded")
	}
	if buf.Len() != size {
		t.Error("a closed Writer wrote more bytes")
	}
}
