package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"
)

// testEntry is an entry a test writes and expects to read back.
type testEntry struct {
	name string
	body []byte
	pax  map[string]string
	mod  time.Time
}

// readEntry is an entry as the Reader returned it, with its body.
type readEntry struct {
	Entry
	body []byte
	sum  string
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mixedData returns n bytes that compress somewhat: runs of text and random
// bytes, seeded so tests are repeatable.
func mixedData(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"coffer ", "backup ", "archive ", "bucket/", "object ", "{\"_id\":", "1234567890", "\n"}
	var b bytes.Buffer
	for b.Len() < n {
		if rng.IntN(4) == 0 {
			chunk := make([]byte, 1+rng.IntN(512))
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			b.Write(chunk)
		} else {
			for range 1 + rng.IntN(64) {
				b.WriteString(words[rng.IntN(len(words))])
			}
		}
	}
	return b.Bytes()[:n]
}

// writeAll writes entries to a new archive and finishes it with manifest.
func writeAll(t testing.TB, c Compression, entries []testEntry, manifest []byte) (data []byte, sum string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got, err := w.WriteEntry(EntryHeader{Name: e.name, Size: int64(len(e.body)), ModTime: e.mod, PAXRecords: e.pax},
			bytes.NewReader(e.body))
		if err != nil {
			t.Fatalf("WriteEntry(%q): %v", e.name, err)
		}
		if want := sha256Hex(e.body); got != want {
			t.Fatalf("WriteEntry(%q) sha256 = %s, want %s", e.name, got, want)
		}
	}
	sum, size, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("Finish size = %d, wrote %d bytes", size, buf.Len())
	}
	if want := sha256Hex(buf.Bytes()); sum != want {
		t.Fatalf("Finish sha256 = %s, hash of bytes = %s", sum, want)
	}
	return buf.Bytes(), sum
}

// readAll reads every entry of an archive; it returns the entries read
// before an error, and the error (nil at a clean end).
func readAll(data []byte) (entries []readEntry, r *Reader, err error) {
	return readAllFrom(bytes.NewReader(data))
}

func readAllFrom(src io.Reader) (entries []readEntry, r *Reader, err error) {
	r, err = NewReader(src)
	if err != nil {
		return nil, nil, err
	}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return entries, r, nil
		}
		if err != nil {
			return entries, r, err
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return entries, r, err
		}
		entries = append(entries, readEntry{Entry: *e, body: body, sum: r.EntrySHA256Hex()})
	}
}

// needTool returns the path of an external program, skipping the test when
// it is missing (failing under CI=true).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}
