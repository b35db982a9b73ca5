package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are archives, valid and crafted, that start the reader fuzzer.
func fuzzSeeds(t testing.TB) [][]byte {
	small := []testEntry{
		{name: "objects/a", body: []byte("hello"), pax: ObjectPAX(sampleObjects()[1])},
		{name: "objects-escaped/" + sha256Hex([]byte("../x")), body: nil},
	}
	var seeds [][]byte
	for _, c := range compressions {
		data, _ := writeAll(t, c, small, []byte(`{"format_version":1}`))
		seeds = append(seeds, data)
		segs, _ := writeCheckpointed(t, c, small, 1, []byte("{}"))
		seeds = append(seeds, bytes.Join(segs, nil))
	}
	end := make([]byte, 1024)
	seeds = append(seeds,
		gz(t, append(rawFile(nil, rawBlock("../evil", '0', 1, ""), []byte("x")), end...)),
		gz(t, append(rawFile(nil, rawBlock("objects/link", '2', 0, "/etc"), nil), end...)),
		gz(t, append(rawFile(paxPath(nil, "x/../../y"), rawBlock("y", '0', 1, ""), []byte("x")), end...)),
		[]byte(gzipMagic), []byte(zstdMagic), nil,
	)
	return seeds
}

// FuzzReader feeds arbitrary bytes to the Reader: it must not panic, every
// entry it returns must have a safe name that stays below a root when
// joined to it, every error must say ErrCorrupt or ErrUnsafeEntry (the
// source never fails here), and a clean end must have hashed every byte.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxBody = 4 << 20
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("NewReader error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		defer r.Close()
		root := filepath.FromSlash("/restore/root")
		var total int64
		for {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				if r.CompressedBytes() != int64(len(data)) || r.SHA256Hex() != sha256Hex(data) {
					t.Fatalf("clean end after %d of %d bytes", r.CompressedBytes(), len(data))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsafeEntry) {
					t.Fatalf("Next error %v wraps neither ErrCorrupt nor ErrUnsafeEntry", err)
				}
				if _, again := r.Next(); again == nil || again.Error() != err.Error() {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				return
			}
			if err := SafeEntryName(e.Name); err != nil {
				t.Fatalf("returned an unsafe name: %v", err)
			}
			joined := filepath.Join(root, filepath.FromSlash(e.Name))
			if !filepath.IsLocal(filepath.FromSlash(e.Name)) || !strings.HasPrefix(joined, root+string(filepath.Separator)) {
				t.Fatalf("name %q escapes the root: %q", e.Name, joined)
			}
			n, err := io.Copy(io.Discard, io.LimitReader(r, maxBody))
			total += n
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Read error %v does not wrap ErrCorrupt", err)
				}
				return
			}
			if total >= maxBody {
				return // a decompression bomb; enough was checked
			}
		}
	})
}

// FuzzReadManifest feeds arbitrary bytes to ReadManifest: no panic, and an
// accepted manifest has safe names and digests, matching totals, and writes
// back to a document that reads back to the same manifest.
func FuzzReadManifest(f *testing.F) {
	f.Add(writeManifestBytes(f, sampleHeader(), sampleManifestEntries()))
	f.Add(writeManifestBytes(f, ManifestHeader{Compression: Gzip}, nil))
	f.Add([]byte(`{"format_version":1,"compression":"gzip","entries":[{"name":"../a","size":0,"sha256":""}],"totals":{"entries":1,"bytes":0}}`))
	f.Add([]byte(`{"format_version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		var bytesSum int64
		for _, e := range m.Entries {
			if err := e.Validate(); err != nil {
				t.Fatalf("accepted an invalid entry: %v", err)
			}
			if !filepath.IsLocal(filepath.FromSlash(e.Name)) {
				t.Fatalf("accepted a non-local name %q", e.Name)
			}
			bytesSum += e.Size
		}
		if m.Totals.Entries != int64(len(m.Entries)) || m.Totals.Bytes != bytesSum {
			t.Fatalf("totals %+v do not match %d entries of %d bytes", m.Totals, len(m.Entries), bytesSum)
		}
		var first, second bytes.Buffer
		if err := WriteManifest(&first, m.ManifestHeader, entrySource(m.Entries)); err != nil {
			t.Fatalf("an accepted manifest does not write back: %v", err)
		}
		m2, err := ReadManifest(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("a rewritten manifest does not read back: %v\n%s", err, first.Bytes())
		}
		if err := WriteManifest(&second, m2.ManifestHeader, entrySource(m2.Entries)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("rewrite is not stable:\n%s\n%s", first.Bytes(), second.Bytes())
		}
		if !json.Valid(first.Bytes()) {
			t.Fatalf("rewritten manifest is not JSON")
		}
	})
}
