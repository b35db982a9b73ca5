package archive

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// bsonDocs returns n concatenated BSON documents, as a .bson entry holds.
func bsonDocs(t testing.TB, n int) []byte {
	t.Helper()
	var out []byte
	for i := range n {
		doc, err := bson.Marshal(bson.D{{Key: "_id", Value: int32(i)}, {Key: "name", Value: strings.Repeat("x", i%50)}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, doc...)
	}
	return out
}

// manifestOf writes the manifest that lists entries as they are, with
// edit applied to the listed copy first.
func manifestOf(t testing.TB, entries []testEntry, edit func([]ManifestEntry) []ManifestEntry) []byte {
	t.Helper()
	var list []ManifestEntry
	for _, e := range entries {
		me := ManifestEntry{Name: e.name, Size: int64(len(e.body)), SHA256: sha256Hex(e.body)}
		if _, _, meta, ok := ParseCollectionEntryName(e.name); ok && !meta {
			n, _, err := countBSON(bytes.NewReader(e.body))
			if err != nil {
				t.Fatal(err)
			}
			me.Documents = &n
		}
		list = append(list, me)
	}
	if edit != nil {
		list = edit(list)
	}
	var buf bytes.Buffer
	i := 0
	err := WriteManifest(&buf, ManifestHeader{CofferVersion: "test", Source: ManifestSource{Type: "s3", Name: "src"},
		StartedAt: time.Unix(1700000000, 0).UTC(), FinishedAt: time.Unix(1700000100, 0).UTC(), Compression: Gzip},
		func() (ManifestEntry, error) {
			if i == len(list) {
				return ManifestEntry{}, io.EOF
			}
			i++
			return list[i-1], nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifyEntries(t testing.TB) []testEntry {
	return []testEntry{
		{name: "mongodb/shop/orders.bson", body: bsonDocs(t, 300)},
		{name: "mongodb/shop/orders.metadata.json", body: []byte(`{"indexes":[],"type":"collection"}`)},
		{name: "objects/a.txt", body: mixedData(1, 40_000)},
		{name: "objects/b.bin", body: mixedData(2, 200_000)},
		{name: "objects/empty", body: nil},
	}
}

func verifyBytes(t *testing.T, data []byte, opt VerifyOptions) (*Verified, *Reader) {
	t.Helper()
	ar, err := NewReader(bytes.NewReader(data))
	if err != nil {
		v := &Verified{}
		v.Add("", "%s", err.Error())
		return v, nil
	}
	defer ar.Close()
	v, err := Verify(ar, opt)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v, ar
}

func problemsText(v *Verified) string {
	var s []string
	for _, p := range v.Problems {
		s = append(s, p.Entry+": "+p.Message)
	}
	return strings.Join(s, "\n")
}

func TestVerifyGoodArchive(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			entries := verifyEntries(t)
			data, sum := writeAll(t, c, entries, manifestOf(t, entries, nil))
			var seen []string
			var listed int
			v, ar := verifyBytes(t, data, VerifyOptions{
				OnEntry:         func(name string, _ int64) { seen = append(seen, name) },
				OnManifestEntry: func(ManifestEntry) error { listed++; return nil },
			})
			if !v.OK() || !v.Complete {
				t.Fatalf("good archive: ok=%v complete=%v\n%s", v.OK(), v.Complete, problemsText(v))
			}
			if v.Entries != int64(len(entries)) || len(seen) != len(entries) || listed != len(entries) {
				t.Fatalf("entries %d, OnEntry %d, OnManifestEntry %d; want %d", v.Entries, len(seen), listed, len(entries))
			}
			if v.Documents != 300 {
				t.Fatalf("documents %d, want 300", v.Documents)
			}
			if v.Header == nil || v.Header.Source.Name != "src" {
				t.Fatalf("header %+v", v.Header)
			}
			if ar.SHA256Hex() != sum {
				t.Fatalf("stream hash %s, want %s", ar.SHA256Hex(), sum)
			}
		})
	}
}

func TestVerifyFindsProblems(t *testing.T) {
	t.Parallel()
	entries := verifyEntries(t)
	good := manifestOf(t, entries, nil)
	badBSON := bsonDocs(t, 10)
	binary.LittleEndian.PutUint32(badBSON[len(badBSON)/2:], 3) // a length inside a document

	cases := []struct {
		name    string
		archive func(t *testing.T) []byte
		opt     func() VerifyOptions
		want    string
	}{
		{"manifest sha differs", func(t *testing.T) []byte {
			m := manifestOf(t, entries, func(l []ManifestEntry) []ManifestEntry {
				l[2].SHA256 = sha256Hex([]byte("other"))
				return l
			})
			d, _ := writeAll(t, Gzip, entries, m)
			return d
		}, nil, "does not match the manifest"},
		{"manifest size differs", func(t *testing.T) []byte {
			m := manifestOf(t, entries, func(l []ManifestEntry) []ManifestEntry { l[3].Size++; return l })
			d, _ := writeAll(t, Zstd, entries, m)
			return d
		}, nil, "200001 recorded"},
		{"manifest lists more", func(t *testing.T) []byte {
			m := manifestOf(t, entries, func(l []ManifestEntry) []ManifestEntry {
				return append(l, ManifestEntry{Name: "objects/ghost", Size: 1, SHA256: sha256Hex([]byte("g"))})
			})
			d, _ := writeAll(t, Gzip, entries, m)
			return d
		}, nil, "does not hold"},
		{"manifest lists fewer", func(t *testing.T) []byte {
			m := manifestOf(t, entries, func(l []ManifestEntry) []ManifestEntry { return l[:len(l)-1] })
			d, _ := writeAll(t, Gzip, entries, m)
			return d
		}, nil, "not in its manifest"},
		{"document count differs", func(t *testing.T) []byte {
			m := manifestOf(t, entries, func(l []ManifestEntry) []ManifestEntry {
				n := *l[0].Documents + 1
				l[0].Documents = &n
				return l
			})
			d, _ := writeAll(t, Gzip, entries, m)
			return d
		}, nil, "documents in the archive"},
		{"malformed bson", func(t *testing.T) []byte {
			e := append([]testEntry{{name: "mongodb/db/c.bson", body: badBSON}}, entries[2:]...)
			d, _ := writeAll(t, Gzip, e, manifestOf(t, e, nil))
			return d
		}, nil, "not well-formed BSON"},
		{"metadata not json", func(t *testing.T) []byte {
			e := append([]testEntry{{name: "mongodb/db/c.metadata.json", body: []byte("{nope")}}, entries[2:]...)
			d, _ := writeAll(t, Gzip, e, manifestOf(t, e, nil))
			return d
		}, nil, "not valid JSON"},
		{"no manifest", func(t *testing.T) []byte {
			d, _ := writeAll(t, Gzip, entries, nil)
			// Finish wrote an empty manifest.json: not a manifest at all.
			return d
		}, nil, "manifest"},
		{"truncated", func(t *testing.T) []byte {
			d, _ := writeAll(t, Gzip, entries, good)
			return d[:len(d)*2/3]
		}, nil, "cannot be read"},
		{"catalog disagrees", func(t *testing.T) []byte {
			d, _ := writeAll(t, Gzip, entries, good)
			return d
		}, func() VerifyOptions {
			i := 0
			return VerifyOptions{Expected: func() (ManifestEntry, error) {
				if i == len(entries) {
					return ManifestEntry{}, io.EOF
				}
				e := entries[i]
				i++
				sum := sha256Hex(e.body)
				if i == 3 {
					sum = sha256Hex([]byte("catalog"))
				}
				return ManifestEntry{Name: e.name, Size: int64(len(e.body)), SHA256: sum}, nil
			}}
		}, "does not match the catalog"},
		{"catalog has more", func(t *testing.T) []byte {
			d, _ := writeAll(t, Gzip, entries, good)
			return d
		}, func() VerifyOptions {
			i := 0
			return VerifyOptions{Expected: func() (ManifestEntry, error) {
				if i == len(entries)+1 {
					return ManifestEntry{}, io.EOF
				}
				i++
				if i == len(entries)+1 {
					return ManifestEntry{Name: "objects/lost", SHA256: sha256Hex(nil)}, nil
				}
				e := entries[i-1]
				return ManifestEntry{Name: e.name, Size: int64(len(e.body)), SHA256: sha256Hex(e.body)}, nil
			}}
		}, "which the archive does not hold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opt VerifyOptions
			if tc.opt != nil {
				opt = tc.opt()
			}
			v, _ := verifyBytes(t, tc.archive(t), opt)
			if v.OK() {
				t.Fatalf("verification passed, want a problem containing %q", tc.want)
			}
			if !strings.Contains(problemsText(v), tc.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", problemsText(v), tc.want)
			}
		})
	}
}

// TestVerifyEveryFlippedByte flips each byte of a small archive in turn:
// the verification must report a problem, or the stream's SHA-256 (which
// the caller compares with the sidecar and the catalog) must differ.
func TestVerifyEveryFlippedByte(t *testing.T) {
	t.Parallel()
	entries := []testEntry{
		{name: "mongodb/d/c.bson", body: bsonDocs(t, 5)},
		{name: "objects/a", body: mixedData(1, 3000)},
		{name: "objects/b", body: []byte("short")},
	}
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			data, sum := writeAll(t, c, entries, manifestOf(t, entries, nil))
			caught := 0
			for i := range data {
				bad := bytes.Clone(data)
				bad[i] ^= 0x5a
				v, ar := verifyBytes(t, bad, VerifyOptions{})
				if !v.OK() {
					caught++
					continue
				}
				if ar.SHA256Hex() == sum {
					t.Fatalf("byte %d flipped: the verification passed and the stream hash is unchanged", i)
				}
			}
			t.Logf("%d of %d flips found inside the archive; the rest changed the stream hash", caught, len(data))
		})
	}
}

func TestParseSidecar(t *testing.T) {
	sum := sha256Hex([]byte("x"))
	for _, name := range []string{"a.tar.gz", "we\\ird\nname.tar.gz"} {
		got, err := ParseSidecar([]byte(SidecarLine(sum, name)))
		if err != nil || got != sum {
			t.Fatalf("ParseSidecar(SidecarLine(%q)) = %q, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", "nothex  a", strings.ToUpper(sum) + "  a"} {
		if _, err := ParseSidecar([]byte(bad)); err == nil {
			t.Fatalf("ParseSidecar(%q) accepted", bad)
		}
	}
}
