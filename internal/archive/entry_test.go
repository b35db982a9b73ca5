package archive

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// decompress returns the tar stream inside an archive, decoded by the
// standard library's gzip reader or by a plain zstd decoder, not by Reader.
func decompress(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case Gzip:
		zr, err := stdgzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing the %s archive: %v", c, err)
	}
	return out
}

// streamedEntry is an entry written with BeginEntry/WriteBody/EndEntry, with
// the body offsets at which a Checkpoint is taken (an offset may repeat:
// two checkpoints in a row).
type streamedEntry struct {
	testEntry
	checkpoints []int64
}

// midEntrySamples are entries around and including large ones checkpointed
// inside their bodies: right after BeginEntry, in the middle, twice in a
// row, and with the whole body written before EndEntry. Sizes cover a
// partial last tar block, an exact multiple of 512 and an empty body.
func midEntrySamples() []streamedEntry {
	const big = 3<<20 + 123 // crosses pgzip's 1 MiB blocks, pads 389 bytes
	return []streamedEntry{
		{testEntry: testEntry{name: "objects/first.txt", body: []byte("before the big one\n")}},
		{
			testEntry:   testEntry{name: "mongodb/shop/orders.bson", body: mixedData(11, big), mod: time.Unix(1700000000, 0)},
			checkpoints: []int64{0, 1, 511, 512, 100_000, 1 << 20, 1 << 20, 2<<20 + 7, big - 1, big},
		},
		{testEntry: testEntry{name: "mongodb/shop/orders.metadata.json", body: []byte(`{"indexes":[]}`)}},
		{
			testEntry:   testEntry{name: "mongodb/shop/exact.bson", body: mixedData(12, 4*512*100)},
			checkpoints: []int64{512, 50 * 512, 4 * 512 * 100},
		},
		{
			testEntry:   testEntry{name: "mongodb/shop/empty.bson", body: nil},
			checkpoints: []int64{0, 0},
		},
		{
			testEntry:   testEntry{name: "mongodb/shop/tiny.bson", body: []byte("x")},
			checkpoints: []int64{0, 1},
		},
		{testEntry: testEntry{name: "objects/last.txt", body: []byte("after\n"), pax: map[string]string{PAXKey: "last.txt"}}},
	}
}

// writeMidEntry writes entries with BeginEntry/WriteBody (chunks of random
// sizes, never crossing a checkpoint offset)/EndEntry, checkpointing at the
// given offsets and once after every entry that had checkpoints. After a
// checkpoint it goes on with a new Writer resumed from the State's JSON (as
// another process would) or, every other time, with the same Writer. It
// returns the output split where new Writers took over, the entry hashes
// EndEntry returned, and Finish's hash.
func writeMidEntry(t *testing.T, c Compression, entries []streamedEntry, manifest []byte) (segments [][]byte, sums []string, sum string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	w, err := NewWriter(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	var done int64 // bytes in previous segments
	resumes := 0
	checkpoint := func(wantOpen *OpenEntryState) {
		t.Helper()
		st, err := w.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if st.CompressedBytes != done+int64(buf.Len()) {
			t.Fatalf("state says %d compressed bytes, %d were written", st.CompressedBytes, done+int64(buf.Len()))
		}
		switch {
		case wantOpen == nil && st.Open != nil:
			t.Fatalf("state between entries has Open %+v", st.Open)
		case wantOpen != nil && st.Open == nil:
			t.Fatalf("state inside %s has no Open", wantOpen.Name)
		case wantOpen != nil:
			if st.Open.Name != wantOpen.Name || st.Open.Size != wantOpen.Size || st.Open.Written != wantOpen.Written {
				t.Fatalf("Open = %s %d/%d, want %s %d/%d", st.Open.Name, st.Open.Written, st.Open.Size,
					wantOpen.Name, wantOpen.Written, wantOpen.Size)
			}
		}
		js, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if wantOpen == nil && bytes.Contains(js, []byte(`"open"`)) {
			t.Fatalf("state JSON between entries mentions open: %s", js)
		}
		resumes++
		if resumes%2 == 0 {
			return // the same Writer goes on
		}
		var back State
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		segments = append(segments, bytes.Clone(buf.Bytes()))
		done += int64(buf.Len())
		buf.Reset()
		if w, err = ResumeWriter(&buf, back); err != nil {
			t.Fatal(err)
		}
		name, size, written, ok := w.OpenEntry()
		if (wantOpen != nil) != ok || (ok && (name != wantOpen.Name || size != wantOpen.Size || written != wantOpen.Written)) {
			t.Fatalf("resumed OpenEntry() = %q %d %d %v, want %+v", name, size, written, ok, wantOpen)
		}
	}
	for _, e := range entries {
		size := int64(len(e.body))
		if err := w.BeginEntry(EntryHeader{Name: e.name, Size: size, ModTime: e.mod, PAXRecords: e.pax}); err != nil {
			t.Fatal(err)
		}
		var pos int64
		cps := e.checkpoints
		for {
			for len(cps) > 0 && cps[0] == pos {
				checkpoint(&OpenEntryState{Name: e.name, Size: size, Written: pos})
				cps = cps[1:]
			}
			if pos == size {
				break
			}
			limit := size
			if len(cps) > 0 {
				limit = cps[0]
			}
			n := min(int64(1+rng.IntN(70_000)), limit-pos)
			if err := w.WriteBody(e.body[pos : pos+n]); err != nil {
				t.Fatal(err)
			}
			pos += n
			if name, sz, written, ok := w.OpenEntry(); !ok || name != e.name || sz != size || written != pos {
				t.Fatalf("OpenEntry() = %q %d %d %v, want %q %d %d", name, sz, written, ok, e.name, size, pos)
			}
		}
		got, err := w.EndEntry()
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256Hex(e.body); got != want {
			t.Fatalf("EndEntry(%s) = %s, want %s", e.name, got, want)
		}
		if _, _, _, ok := w.OpenEntry(); ok {
			t.Fatalf("OpenEntry() reports an entry after EndEntry(%s)", e.name)
		}
		sums = append(sums, got)
		if len(e.checkpoints) > 0 {
			checkpoint(nil) // right after a body continued raw
		}
	}
	sum, size, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	segments = append(segments, bytes.Clone(buf.Bytes()))
	if size != done+int64(buf.Len()) {
		t.Fatalf("Finish size %d, wrote %d bytes", size, done+int64(buf.Len()))
	}
	return segments, sums, sum
}

func TestMidEntryCheckpoint(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			entries := midEntrySamples()
			manifest := []byte(`{"format_version":1}` + "\n")
			segments, sums, sum := writeMidEntry(t, c, entries, manifest)
			if len(segments) < 8 {
				t.Fatalf("only %d segments", len(segments))
			}
			data := bytes.Join(segments, nil)
			if want := sha256Hex(data); sum != want {
				t.Fatalf("Finish sha256 %s, hash of the concatenated output %s", sum, want)
			}

			// A single uninterrupted writer (WriteEntry only) produces the
			// same tar up to the manifest, whose header holds Finish's
			// time.Now(); the manifest parts must hold the same entry.
			plain := make([]testEntry, len(entries))
			for i, e := range entries {
				plain[i] = e.testEntry
			}
			ref, _ := writeAll(t, c, plain, manifest)
			gotTar, wantTar := decompress(t, c, data), decompress(t, c, ref)
			cut := manifestHeaderOffset(t, wantTar)
			if gotCut := manifestHeaderOffset(t, gotTar); gotCut != cut {
				t.Fatalf("manifest header at %d, a single writer's at %d", gotCut, cut)
			}
			if d := firstDiff(gotTar[:cut], wantTar[:cut]); d >= 0 {
				t.Fatalf("decompressed tar differs from a single writer's at offset %d", d)
			}
			if len(gotTar) != len(wantTar) {
				t.Fatalf("decompressed tar is %d bytes, a single writer's %d", len(gotTar), len(wantTar))
			}
			if a, b := tarTail(t, gotTar[cut:]), tarTail(t, wantTar[cut:]); a != b {
				t.Fatalf("manifest part %q, a single writer's %q", a, b)
			}

			got, r, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(entries)+1 || r.SHA256Hex() != sum {
				t.Fatalf("read %d entries, hash %s", len(got), r.SHA256Hex())
			}
			for i, e := range entries {
				if got[i].Name != e.name || got[i].Size != int64(len(e.body)) || !bytes.Equal(got[i].body, e.body) {
					t.Fatalf("entry %d %q differs from %q", i, got[i].Name, e.name)
				}
				if got[i].sum != sums[i] {
					t.Fatalf("entry %s: Reader hash %s, EndEntry hash %s", e.name, got[i].sum, sums[i])
				}
			}
			if !bytes.Equal(got[len(entries)].body, manifest) {
				t.Fatalf("manifest read back as %q", got[len(entries)].body)
			}

			t.Run("gnu tar", func(t *testing.T) {
				extractWithTar(t, c, data, entries, manifest)
			})
		})
	}
}

// manifestHeaderOffset finds the offset of the manifest entry's header
// blocks in a tar stream written by Writer: the PAX header block that
// precedes the "manifest.json" ustar header.
func manifestHeaderOffset(t testing.TB, tarData []byte) int {
	t.Helper()
	for off := 0; off+blockSize <= len(tarData); off += blockSize {
		blk := tarData[off : off+blockSize]
		if string(bytes.TrimRight(blk[:100], "\x00")) == ManifestName && blk[156] == '0' {
			// Writer always writes a PAX record (mtime) before it: one
			// 'x' header block and one block of records.
			if off >= 2*blockSize && tarData[off-2*blockSize+156] == 'x' {
				return off - 2*blockSize
			}
			return off
		}
	}
	t.Fatal("no manifest header in the tar stream")
	return 0
}

// firstDiff is the first offset where a and b differ, -1 if equal.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// tarTail reads the last part of a tar stream with archive/tar and
// describes its entries (name, size, body).
func tarTail(t testing.TB, data []byte) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var b strings.Builder
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return b.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %q\n", h.Name, h.Size, body)
	}
}

// extractWithTar extracts an archive with GNU tar and compares the files.
func extractWithTar(t *testing.T, c Compression, data []byte, entries []streamedEntry, manifest []byte) {
	tarBin := needTool(t, "tar")
	flag := "-z"
	if c == Zstd {
		needTool(t, "zstd")
		flag = "--zstd"
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "a"+c.Ext())
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tarBin, "--warning=no-unknown-keyword", flag, "-xf", path, "-C", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("tar -x wrote to stderr: %s", stderr.String())
	}
	for _, e := range entries {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(e.name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, e.body) {
			t.Fatalf("%s: GNU tar extracted %d bytes that differ from the %d written", e.name, len(got), len(e.body))
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, ManifestName)); !bytes.Equal(got, manifest) {
		t.Fatalf("extracted manifest %q", got)
	}
}

func TestStreamedEntryErrors(t *testing.T) {
	t.Parallel()
	newW := func(t *testing.T) *Writer {
		w, err := NewWriter(io.Discard, Gzip)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Abort)
		return w
	}
	wantErr := func(t *testing.T, what string, err error, substr string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), substr) {
			t.Fatalf("%s: %v, want an error containing %q", what, err, substr)
		}
	}

	t.Run("write past the size", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		if err := w.BeginEntry(EntryHeader{Name: "a", Size: 4}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteBody([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "WriteBody past the size", w.WriteBody([]byte("de")), "exceed its declared size")
		// Nothing of the refused bytes was written: the entry can still end right.
		if _, _, written, _ := w.OpenEntry(); written != 3 {
			t.Fatalf("written = %d after a refused write", written)
		}
		if err := w.WriteBody([]byte("d")); err != nil {
			t.Fatal(err)
		}
		if sum, err := w.EndEntry(); err != nil || sum != sha256Hex([]byte("abcd")) {
			t.Fatalf("EndEntry = %s, %v", sum, err)
		}
	})
	t.Run("end short", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		if err := w.BeginEntry(EntryHeader{Name: "a", Size: 4}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteBody([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		_, err := w.EndEntry()
		wantErr(t, "EndEntry short", err, "only 3 of its 4 bytes")
		if _, _, _, ok := w.OpenEntry(); !ok {
			t.Fatal("the entry was closed by a failed EndEntry")
		}
	})
	t.Run("begin while open", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		if err := w.BeginEntry(EntryHeader{Name: "a", Size: 1}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "BeginEntry while open", w.BeginEntry(EntryHeader{Name: "b", Size: 1}), "still open")
		if name, _, _, _ := w.OpenEntry(); name != "a" {
			t.Fatalf("open entry is %q", name)
		}
	})
	t.Run("write entry while open", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		if err := w.BeginEntry(EntryHeader{Name: "a", Size: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := w.WriteEntry(EntryHeader{Name: "b", Size: 1}, strings.NewReader("x"))
		wantErr(t, "WriteEntry while open", err, "still open")
	})
	t.Run("finish while open", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, Zstd)
		defer w.Abort()
		if err := w.BeginEntry(EntryHeader{Name: "a", Size: 2}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteBody([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		before := buf.Len()
		_, _, err := w.Finish(strings.NewReader("{}"), 2)
		wantErr(t, "Finish while open", err, "still open")
		if buf.Len() != before {
			t.Fatalf("a refused Finish wrote %d bytes", buf.Len()-before)
		}
		// The entry can still be completed and the archive finished.
		if err := w.WriteBody([]byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.EndEntry(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Finish(strings.NewReader("{}"), 2); err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(buf.Bytes())
		if err != nil || len(got) != 2 || string(got[0].body) != "xy" {
			t.Fatalf("read back %d entries, %v", len(got), err)
		}
	})
	t.Run("no open entry", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		wantErr(t, "WriteBody without an entry", w.WriteBody([]byte("x")), "no entry is open")
		_, err := w.EndEntry()
		wantErr(t, "EndEntry without an entry", err, "no entry is open")
	})
	t.Run("unsafe name and negative size", func(t *testing.T) {
		t.Parallel()
		w := newW(t)
		wantErr(t, "unsafe name", w.BeginEntry(EntryHeader{Name: "../x"}), "unsafe")
		wantErr(t, "negative size", w.BeginEntry(EntryHeader{Name: "x", Size: -1}), "negative size")
		if err := w.BeginEntry(EntryHeader{Name: "ok"}); err != nil {
			t.Fatalf("the Writer broke after refused headers: %v", err)
		}
	})
}

func TestResumeWriterRejectsBadOpenEntry(t *testing.T) {
	t.Parallel()
	w, _ := NewWriter(io.Discard, Gzip)
	if err := w.BeginEntry(EntryHeader{Name: "mongodb/d/c.bson", Size: 10}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBody([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	st, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if st.Open == nil {
		t.Fatal("no Open in a mid-entry state")
	}
	for name, mutate := range map[string]func(*OpenEntryState){
		"written past size":  func(o *OpenEntryState) { o.Written = 11 },
		"negative written":   func(o *OpenEntryState) { o.Written = -1 },
		"negative size":      func(o *OpenEntryState) { o.Size = -1 },
		"unsafe name":        func(o *OpenEntryState) { o.Name = "../c.bson" },
		"hash state length":  func(o *OpenEntryState) { o.Written = 4 },
		"garbage hash state": func(o *OpenEntryState) { o.HashState = []byte("nope") },
	} {
		s := st
		o := *st.Open
		o.HashState = bytes.Clone(o.HashState)
		mutate(&o)
		s.Open = &o
		if _, err := ResumeWriter(io.Discard, s); err == nil {
			t.Errorf("%s: ResumeWriter accepted %+v", name, o)
		}
	}
	if w, err := ResumeWriter(io.Discard, st); err != nil {
		t.Fatalf("the untouched state: %v", err)
	} else {
		w.Abort()
	}
}

// TestStateJSONCompatible checks that states between entries keep the JSON
// they had before mid-entry checkpoints existed, in both directions.
func TestStateJSONCompatible(t *testing.T) {
	t.Parallel()
	old := []byte(`{"compression":"zstd","compressed_bytes":0,"hash_state":null,"entries":3}`)
	var st State
	if err := json.Unmarshal(old, &st); err != nil {
		t.Fatal(err)
	}
	if st.Open != nil || st.Entries != 3 || st.Compression != Zstd {
		t.Fatalf("old JSON read as %+v", st)
	}
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(js, old) {
		t.Fatalf("marshalled %s, want %s", js, old)
	}
}
