package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/object"
)

func sampleHeader() ManifestHeader {
	return ManifestHeader{
		CofferVersion: "1.2.3",
		Source:        ManifestSource{Type: "s3", Name: "photos <prod> & co"},
		StartedAt:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		FinishedAt:    time.Date(2026, 1, 2, 3, 9, 5, 123, time.UTC),
		Compression:   Zstd,
	}
}

func ptr[T any](v T) *T { return &v }

func sampleManifestEntries() []ManifestEntry {
	return []ManifestEntry{
		{Name: "objects/a.txt", Key: "a.txt", Size: 5, SHA256: sha256Hex([]byte("hello")),
			Metadata: &object.Metadata{ContentType: "text/plain", ETag: `"x"`, LastModified: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				UserMetadata: map[string]string{"owner": "Zoë", "empty": ""}}},
		{Name: EscapedObjectsPrefix + sha256Hex([]byte("../x")), Key: "../x", Size: 0, SHA256: sha256Hex(nil)},
		{Name: "mongodb/shop/orders.bson", Size: 100, SHA256: sha256Hex([]byte("b")), Documents: ptr[int64](7),
			Database: "shop", Collection: "orders"},
		{Name: "mongodb/shop/empty.bson", Size: 0, SHA256: sha256Hex(nil), Documents: ptr[int64](0),
			Database: "shop", Collection: "empty"},
	}
}

// entrySource returns a next function over entries.
func entrySource(entries []ManifestEntry) func() (ManifestEntry, error) {
	i := 0
	return func() (ManifestEntry, error) {
		if i == len(entries) {
			return ManifestEntry{}, io.EOF
		}
		i++
		return entries[i-1], nil
	}
}

func writeManifestBytes(t testing.TB, h ManifestHeader, entries []ManifestEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteManifest(&buf, h, entrySource(entries)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestManifestRoundTrip(t *testing.T) {
	t.Parallel()
	entries := sampleManifestEntries()
	data := writeManifestBytes(t, sampleHeader(), entries)
	if !json.Valid(data) {
		t.Fatalf("not JSON: %s", data)
	}
	if !bytes.Contains(data, []byte(`"photos <prod> & co"`)) {
		t.Errorf("HTML characters were escaped: %s", data)
	}
	m, err := ReadManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{ManifestHeader: sampleHeader(), Entries: entries,
		Totals: ManifestTotals{Entries: 4, Bytes: 105, Documents: ptr[int64](7)}}
	want.FormatVersion = FormatVersion
	if !reflect.DeepEqual(*m, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", *m, want)
	}
	// The plain JSON decoder sees the same document.
	var plain Manifest
	if err := json.Unmarshal(data, &plain); err != nil || !reflect.DeepEqual(plain, want) {
		t.Fatalf("json.Unmarshal: %v\n%+v", err, plain)
	}
	// Streaming reader: same entries, in order, header without entries.
	var streamed []ManifestEntry
	sm, err := ReadManifestEntries(bytes.NewReader(data), func(e ManifestEntry) error {
		streamed = append(streamed, e)
		return nil
	})
	if err != nil || !reflect.DeepEqual(streamed, entries) || sm.Entries != nil || !reflect.DeepEqual(sm.Totals, m.Totals) {
		t.Fatalf("ReadManifestEntries: %v, %+v", err, sm)
	}
	stop := errors.New("stop")
	if _, err := ReadManifestEntries(bytes.NewReader(data), func(ManifestEntry) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error not returned: %v", err)
	}

	// No entries, no documents.
	empty := writeManifestBytes(t, ManifestHeader{Compression: Gzip}, nil)
	m, err = ReadManifest(bytes.NewReader(empty))
	if err != nil || len(m.Entries) != 0 || m.Entries == nil || m.Totals != (ManifestTotals{}) {
		t.Fatalf("empty manifest: %v %+v (%s)", err, m, empty)
	}
}

func TestWriteManifestRefusesBadEntries(t *testing.T) {
	t.Parallel()
	good := sampleManifestEntries()[0]
	for name, mutate := range map[string]func(*ManifestEntry){
		"unsafe name":     func(e *ManifestEntry) { e.Name = "../x" },
		"manifest itself": func(e *ManifestEntry) { e.Name = ManifestName },
		"short sha":       func(e *ManifestEntry) { e.SHA256 = "abc" },
		"upper sha":       func(e *ManifestEntry) { e.SHA256 = strings.ToUpper(e.SHA256) },
		"negative size":   func(e *ManifestEntry) { e.Size = -1 },
		"negative docs":   func(e *ManifestEntry) { e.Documents = ptr[int64](-1) },
		"non-UTF-8 key":   func(e *ManifestEntry) { e.Key = "a\xff" },
	} {
		e := good
		mutate(&e)
		if err := WriteManifest(io.Discard, sampleHeader(), entrySource([]ManifestEntry{good, e})); err == nil {
			t.Errorf("%s: WriteManifest accepted %+v", name, e)
		}
	}
	boom := errors.New("catalog down")
	err := WriteManifest(io.Discard, sampleHeader(), func() (ManifestEntry, error) { return ManifestEntry{}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("next's error: %v", err)
	}
}

func TestReadManifestRejects(t *testing.T) {
	t.Parallel()
	valid := string(writeManifestBytes(t, sampleHeader(), sampleManifestEntries()))
	sha := sha256Hex(nil)
	tests := map[string]string{
		"not json":           "hello",
		"array":              "[]",
		"trailing data":      valid + "{}",
		"no format version":  strings.Replace(valid, `"format_version":1,`, "", 1),
		"negative version":   strings.Replace(valid, `"format_version":1`, `"format_version":-1`, 1),
		"bad compression":    strings.Replace(valid, `"compression":"zstd"`, `"compression":"lz4"`, 1),
		"totals entries":     strings.Replace(valid, `"entries":4`, `"entries":5`, 1),
		"totals bytes":       strings.Replace(valid, `"bytes":105`, `"bytes":104`, 1),
		"totals documents":   strings.Replace(valid, `"documents":7}`, `"documents":8}`, 1),
		"no totals":          `{"format_version":1,"compression":"gzip","entries":[]}`,
		"no entries":         `{"format_version":1,"compression":"gzip","totals":{"entries":0,"bytes":0}}`,
		"duplicate field":    `{"format_version":1,"format_version":1,"compression":"gzip","entries":[],"totals":{"entries":0,"bytes":0}}`,
		"unsafe entry name":  strings.Replace(valid, `"name":"objects/a.txt"`, `"name":"objects/../../a.txt"`, 1),
		"absolute name":      strings.Replace(valid, `"name":"objects/a.txt"`, `"name":"/etc/passwd"`, 1),
		"bad sha":            strings.Replace(valid, sha, strings.Repeat("g", 64), 1),
		"entries not array":  `{"format_version":1,"compression":"gzip","entries":{},"totals":{"entries":0,"bytes":0}}`,
		"entry wrong type":   `{"format_version":1,"compression":"gzip","entries":[{"name":5}],"totals":{"entries":1,"bytes":0}}`,
		"duplicate name":     `{"format_version":1,"compression":"gzip","entries":[{"name":"a","size":0,"sha256":"` + sha + `"},{"name":"a","size":0,"sha256":"` + sha + `"}],"totals":{"entries":2,"bytes":0}}`,
		"truncated":          valid[:len(valid)/2],
		"documents no users": `{"format_version":1,"compression":"gzip","entries":[],"totals":{"entries":0,"bytes":0,"documents":3}}`,
	}
	for name, doc := range tests {
		if _, err := ReadManifest(strings.NewReader(doc)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	newer := strings.Replace(valid, `"format_version":1`, `"format_version":2`, 1)
	if _, err := ReadManifest(strings.NewReader(newer)); err == nil || !strings.Contains(err.Error(), "upgrade coffer") {
		t.Errorf("format 2: %v", err)
	}
	// Unknown fields of a later revision are ignored.
	extra := strings.Replace(valid, `"format_version":1,`, `"format_version":1,"future":{"x":[1,2]},`, 1)
	if _, err := ReadManifest(strings.NewReader(extra)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	// Size bound.
	if _, err := readManifest(strings.NewReader(valid), int64(len(valid)-1), func(ManifestEntry) error { return nil }); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized manifest: %v", err)
	}
	if _, err := readManifest(strings.NewReader(valid), int64(len(valid)), func(ManifestEntry) error { return nil }); err != nil {
		t.Errorf("manifest of exactly the limit: %v", err)
	}
}

// TestWriteManifestStreams writes 100,000 entries (about 20 MB of JSON) and
// checks that the live heap never grows by more than a small fraction of
// that: entries are pulled and written one at a time.
func TestWriteManifestStreams(t *testing.T) {
	// Not parallel: it measures the heap.
	const n = 100_000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	var peak uint64
	var out countWriter
	i := 0
	err := WriteManifest(&out, sampleHeader(), func() (ManifestEntry, error) {
		if i == n {
			return ManifestEntry{}, io.EOF
		}
		i++
		if i%10_000 == 0 {
			peak = max(peak, heap())
		}
		name := fmt.Sprintf("objects/some/fairly/long/prefix/to/make/it/realistic/object-%08d.json", i)
		return ManifestEntry{Name: name, Key: name[len(ObjectsPrefix):], Size: int64(i), SHA256: sha256Hex([]byte(name)),
			Metadata: &object.Metadata{ContentType: "application/json", ETag: `"0123456789abcdef0123456789abcdef"`}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.n < 20<<20 {
		t.Fatalf("only %d bytes written", out.n)
	}
	grown := int64(peak) - int64(base)
	t.Logf("manifest %d bytes, live heap grew by at most %d bytes", out.n, grown)
	if grown > 2<<20 {
		t.Fatalf("live heap grew by %d bytes while writing a %d-byte manifest", grown, out.n)
	}

	// ReadManifestEntries reads it back with as little memory.
	var pr, pw = io.Pipe()
	go func() {
		i = 0
		pw.CloseWithError(WriteManifest(pw, sampleHeader(), func() (ManifestEntry, error) {
			if i == n {
				return ManifestEntry{}, io.EOF
			}
			i++
			name := fmt.Sprintf("objects/o-%08d", i)
			return ManifestEntry{Name: name, Size: 1, SHA256: sha256Hex([]byte(name))}, nil
		}))
	}()
	base = heap()
	peak = 0
	count := 0
	m, err := ReadManifestEntries(pr, func(e ManifestEntry) error {
		count++
		if count%10_000 == 0 {
			peak = max(peak, heap())
		}
		return nil
	})
	if err != nil || count != n || m.Totals.Entries != n {
		t.Fatalf("read back %d entries: %v", count, err)
	}
	if grown := int64(peak) - int64(base); grown > 2<<20 {
		t.Fatalf("live heap grew by %d bytes while reading the manifest", grown)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
