package agecrypt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
)

// randomData returns n pseudo-random bytes, the same for the same seed.
func randomData(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// testKey is an X25519 key pair for tests.
type testKey struct {
	identity  *age.X25519Identity
	recipient *age.X25519Recipient
}

// newTestKey makes a fresh X25519 key pair with GenerateX25519 and parses
// it back with the package's own helpers.
func newTestKey(t testing.TB) testKey {
	t.Helper()
	idStr, recStr, err := GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities(idStr)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ParseRecipient(recStr)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{identity: ids[0].(*age.X25519Identity), recipient: rec}
}

// keyFile writes the key's identity to a private file for the age CLI.
func (k testKey) keyFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.txt")
	content := "# created by a coffer test\n# public key: " + k.recipient.String() + "\n" + k.identity.String() + "\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fastScrypt returns a passphrase recipient with a low work factor, so
// tests stay quick.
func fastScrypt(t testing.TB, passphrase string) *age.ScryptRecipient {
	t.Helper()
	r, err := PassphraseRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	return r
}

// encrypt writes data through a new Writer in pieces of random sizes and
// closes it, checking the byte counts on the way.
func encrypt(t testing.TB, data []byte, seed uint64, recipients ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, recipients...)
	if err != nil {
		t.Fatal(err)
	}
	writePieces(t, w, data, seed)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written() = %d, but %d bytes were written", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

// writePieces writes data to w in pieces of random sizes (from 0 bytes to
// a few chunks), checking Buffered and the plaintext count.
func writePieces(t testing.TB, w *Writer, data []byte, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for len(data) > 0 {
		var n int
		switch rng.IntN(4) {
		case 0:
			n = rng.IntN(300)
		case 1:
			n = rng.IntN(ChunkSize + 2)
		case 2:
			n = ChunkSize
		default:
			n = rng.IntN(3*ChunkSize + 5)
		}
		n = min(n, len(data))
		k, err := w.Write(data[:n])
		if err != nil || k != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
		}
		data = data[n:]
		if b := w.Buffered(); b > ChunkSize || (b == 0 && w.chunks > 0) {
			t.Fatalf("Buffered() = %d after %d chunks", b, w.chunks)
		}
	}
}

// decrypt reads a whole file with NewReader, in small reads.
func decrypt(t testing.TB, file []byte, ids ...age.Identity) []byte {
	t.Helper()
	got, err := readAllSmall(file, ids...)
	if err != nil {
		t.Fatalf("decrypting %d bytes: %v", len(file), err)
	}
	return got
}

// readAllSmall opens file with NewReader and reads it 1000 bytes at a time
// until an error, returning what was read before it (io.EOF is nil).
func readAllSmall(file []byte, ids ...age.Identity) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(file), ids...)
	if err != nil {
		return nil, err
	}
	var out []byte
	p := make([]byte, 1000)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// expectedSize is the size of an age file with a header of headerSize bytes
// (nonce included) and n bytes of plaintext.
func expectedSize(headerSize, n int64) int64 {
	chunks := max(1, (n+ChunkSize-1)/ChunkSize)
	return headerSize + n + chunks*TagSize
}

// needTool returns the path of a command-line tool; without it the test is
// skipped, or fails under CI=true.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (Debian: apt-get install age): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// run runs a command with stdin and returns its standard output; a
// non-zero exit fails the test with its standard error.
func run(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, stderr, err := tryRun(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
	}
	return out
}

// tryRun runs a command with stdin and returns its outputs.
func tryRun(stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// writeTemp writes data to a new file in a temporary directory.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
