package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/object"
)

var compressions = []Compression{Gzip, Zstd}

// sampleObjects are S3 objects with awkward keys and metadata.
func sampleObjects() []object.Object {
	long := strings.Repeat("k", 200) + "/" + strings.Repeat("é", 100) + "/" + strings.Repeat("x", 599) // 1000 bytes, safe segments
	flat := strings.Repeat("z", 1000)                                                                  // one 1000-byte segment: escaped
	mod := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return []object.Object{
		{Key: "a.txt", Metadata: object.Metadata{ContentType: "text/plain", LastModified: mod, ETag: `"abc"`}},
		{Key: "dir/sub/ünïcødé ✓ 文字.json", Metadata: object.Metadata{ContentType: "application/json; charset=utf-8",
			CacheControl: "max-age=60", ContentEncoding: "identity", ContentDisposition: `attachment; filename="x.json"`,
			ContentLanguage: "fr-CH", Expires: "Wed, 21 Oct 2026 07:28:00 GMT",
			UserMetadata: map[string]string{"owner": "Zoë", "empty": "", "with=equals": "a=b", "nl": "line1\nline2"}}},
		{Key: "empty-file"},
		{Key: long},
		{Key: flat},
		{Key: "../escape"},
		{Key: "/absolute"},
		{Key: "a//b"},
		{Key: "nul\x00byte"},
		{Key: "./dot"},
		{Key: "trailing/"},
		{Key: "a/./b"},
		{Key: "a/../b"},
		{Key: `back\slash`},
		{Key: "tab\there"},
		{Key: ".."},
		{Key: "."},
	}
}

// sampleEntries turns objects into entries with bodies (the empty-file
// object gets an empty body) and adds MongoDB files and a 3 MiB entry that
// crosses pgzip's 1 MiB blocks.
func sampleEntries() []testEntry {
	var out []testEntry
	for i, o := range sampleObjects() {
		name, _ := ObjectEntryName(o.Key)
		body := mixedData(uint64(i), 100*i)
		if o.Key == "empty-file" {
			body = nil
		}
		out = append(out, testEntry{name: name, body: body, pax: ObjectPAX(o), mod: o.LastModified})
	}
	out = append(out,
		testEntry{name: "mongodb/shop/orders.bson", body: mixedData(99, 50_000), mod: time.Unix(1700000000, 0)},
		testEntry{name: "mongodb/shop/orders.metadata.json", body: []byte(`{"indexes":[]}`)},
		testEntry{name: "objects/big.bin", body: mixedData(7, 3<<20)},
	)
	return out
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			entries := sampleEntries()
			manifest := []byte(`{"format_version":1}`)
			data, sum := writeAll(t, c, entries, manifest)

			got, r, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(entries)+1 {
				t.Fatalf("read %d entries, want %d", len(got), len(entries)+1)
			}
			objects := sampleObjects()
			for i, want := range entries {
				g := got[i]
				if g.Name != want.name || g.Size != int64(len(want.body)) || !bytes.Equal(g.body, want.body) {
					t.Fatalf("entry %d: got %q (%d bytes), want %q (%d bytes)", i, g.Name, len(g.body), want.name, len(want.body))
				}
				if g.sum != sha256Hex(want.body) {
					t.Errorf("entry %q: EntrySHA256Hex = %s", g.Name, g.sum)
				}
				wantMod := want.mod
				if wantMod.IsZero() {
					wantMod = time.Unix(0, 0)
				}
				if !g.ModTime.Equal(wantMod) {
					t.Errorf("entry %q: mtime %v, want %v", g.Name, g.ModTime, wantMod)
				}
				for k, v := range want.pax {
					if g.PAXRecords[k] != v {
						t.Errorf("entry %q: PAX %s = %q, want %q", g.Name, k, g.PAXRecords[k], v)
					}
				}
				if i < len(objects) {
					o, err := g.Object()
					if err != nil {
						t.Fatal(err)
					}
					wantObj := objects[i]
					wantObj.Size = int64(len(want.body))
					if !reflect.DeepEqual(o, wantObj) {
						t.Errorf("entry %q: object\n got %+v\nwant %+v", g.Name, o, wantObj)
					}
				}
			}
			if m := got[len(got)-1]; m.Name != ManifestName || !bytes.Equal(m.body, manifest) {
				t.Fatalf("last entry %q = %q, want the manifest", m.Name, m.body)
			}
			if r.SHA256Hex() != sum || r.CompressedBytes() != int64(len(data)) {
				t.Fatalf("reader hash %s / %d bytes, writer %s / %d", r.SHA256Hex(), r.CompressedBytes(), sum, len(data))
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after the end = %v, want io.EOF", err)
			}
		})
	}
}

func TestObjectEntryName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key     string
		escaped bool
	}{
		{"a.txt", false},
		{"dir/sub/file", false},
		{"ünï/✓", false},
		{"...", false},
		{".hidden/x", false},
		{strings.Repeat("a", 255), false},
		{strings.Repeat("a", 256), true},
		{"", true},
		{"..", true},
		{".", true},
		{"../x", true},
		{"a/..", true},
		{"a/../b", true},
		{"./x", true},
		{"a/./b", true},
		{"/abs", true},
		{"a//b", true},
		{"dir/", true},
		{"a\x00b", true},
		{`a\b`, true},
		{`\x`, true},
		{"new\nline", true},
		{"del\x7f", true},
		{"bad\xffutf8", true},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		name, escaped := ObjectEntryName(tt.key)
		if escaped != tt.escaped {
			t.Errorf("ObjectEntryName(%q) escaped = %v, want %v", tt.key, escaped, tt.escaped)
		}
		if err := SafeEntryName(name); err != nil {
			t.Errorf("ObjectEntryName(%q) = %q, which is unsafe: %v", tt.key, name, err)
		}
		switch {
		case escaped && name != EscapedObjectsPrefix+sha256Hex([]byte(tt.key)):
			t.Errorf("ObjectEntryName(%q) = %q, want the key's hash", tt.key, name)
		case !escaped && name != ObjectsPrefix+tt.key:
			t.Errorf("ObjectEntryName(%q) = %q, want objects/<key>", tt.key, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("keys %q and %q share the entry name %q", other, tt.key, name)
		}
		seen[name] = tt.key
	}
}

func TestSafeEntryName(t *testing.T) {
	t.Parallel()
	ok := []string{"a", "objects/a b/c", "mongodb/db/coll.bson", "ä/ö", "a..b/..c", strings.Repeat("s", 255),
		strings.Repeat(strings.Repeat("s", 255)+"/", 16)[:MaxNameBytes-2] + "/x"}
	bad := []string{"", "/a", "a/", "a//b", "./a", "a/.", "..", "../a", "a/../b", "a\x00b", `a\b`, `\a`,
		"a\nb", "\x80", strings.Repeat("s", 256), strings.Repeat("s/", MaxNameBytes/2) + "s"}
	for _, n := range ok {
		if err := SafeEntryName(n); err != nil {
			t.Errorf("SafeEntryName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := SafeEntryName(n); !errors.Is(err, ErrUnsafeEntry) {
			t.Errorf("SafeEntryName(%q) = %v, want ErrUnsafeEntry", n, err)
		}
	}
}

func TestParseCompression(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Compression{"": Gzip, "gzip": Gzip, "ZSTD": Zstd, " zstd ": Zstd} {
		got, err := ParseCompression(in)
		if err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseCompression("bzip2")
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid || !strings.Contains(e.Message, "bzip2") {
		t.Fatalf("ParseCompression(bzip2) = %v, want an Invalid apperr naming it", err)
	}
	if Gzip.Ext() != ".tar.gz" || Zstd.Ext() != ".tar.zst" {
		t.Fatalf("Ext = %q, %q", Gzip.Ext(), Zstd.Ext())
	}
}

// writeCheckpointed writes entries, checkpointing after every `every`
// entries; each segment is written by a new Writer resumed from the JSON of
// the previous State, as another process would. It returns the segments.
func writeCheckpointed(t testing.TB, c Compression, entries []testEntry, every int, manifest []byte) (segments [][]byte, sum string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, e := range entries {
		if _, err := w.WriteEntry(EntryHeader{Name: e.name, Size: int64(len(e.body)), ModTime: e.mod, PAXRecords: e.pax},
			bytes.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%every != 0 {
			continue
		}
		st, err := w.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		total += int64(buf.Len())
		if st.CompressedBytes != total || st.Entries != int64(i+1) || st.Compression != c {
			t.Fatalf("state %+v after %d entries and %d bytes", st, i+1, total)
		}
		// A second checkpoint with nothing written adds nothing.
		if st2, err := w.Checkpoint(); err != nil || st2.CompressedBytes != st.CompressedBytes {
			t.Fatalf("second Checkpoint: %+v, %v", st2, err)
		}
		js, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		segments = append(segments, bytes.Clone(buf.Bytes()))
		buf.Reset()
		if w, err = ResumeWriter(&buf, back); err != nil {
			t.Fatal(err)
		}
		if w.CompressedBytes() != total {
			t.Fatalf("resumed CompressedBytes = %d, want %d", w.CompressedBytes(), total)
		}
	}
	sum, size, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	segments = append(segments, bytes.Clone(buf.Bytes()))
	if size != total+int64(buf.Len()) {
		t.Fatalf("Finish size %d, want %d", size, total+int64(buf.Len()))
	}
	return segments, sum
}

func TestCheckpointResume(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			entries := sampleEntries()
			manifest := []byte(`{"m":1}`)
			segments, sum := writeCheckpointed(t, c, entries, 3, manifest)
			if len(segments) < 5 {
				t.Fatalf("only %d segments", len(segments))
			}
			data := bytes.Join(segments, nil)
			if want := sha256Hex(data); sum != want {
				t.Fatalf("Finish sha256 %s, hash of the concatenated bytes %s", sum, want)
			}
			got, r, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(entries)+1 || r.SHA256Hex() != sum {
				t.Fatalf("read %d entries, hash %s", len(got), r.SHA256Hex())
			}
			for i, e := range entries {
				if got[i].Name != e.name || !bytes.Equal(got[i].body, e.body) {
					t.Fatalf("entry %d differs: %q", i, got[i].Name)
				}
			}
			// Every segment is a whole number of members/frames: each one
			// alone starts with the magic number and decodes to a tar prefix.
			for i, seg := range segments {
				magic := gzipMagic
				if c == Zstd {
					magic = zstdMagic
				}
				if !bytes.HasPrefix(seg, []byte(magic)) {
					t.Fatalf("segment %d does not start a new member", i)
				}
			}
			if c == Gzip {
				// The standard library's gzip reader sees one member per segment.
				br := bufio.NewReader(bytes.NewReader(data))
				zr, err := stdgzip.NewReader(br)
				if err != nil {
					t.Fatal(err)
				}
				members := 0
				for {
					zr.Multistream(false)
					if _, err := io.Copy(io.Discard, zr); err != nil {
						t.Fatal(err)
					}
					members++
					if err := zr.Reset(br); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
				}
				if members != len(segments) {
					t.Fatalf("%d gzip members, want %d", members, len(segments))
				}
			}
		})
	}
}

func TestResumeWriterRejectsBadState(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Gzip)
	if _, err := w.WriteEntry(EntryHeader{Name: "a", Size: 1}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	st, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*State){
		"unknown compression": func(s *State) { s.Compression = "lz4" },
		"wrong byte count":    func(s *State) { s.CompressedBytes++ },
		"garbage hash state":  func(s *State) { s.HashState = []byte("nope") },
		"negative entries":    func(s *State) { s.Entries = -1 },
	} {
		s := st
		s.HashState = bytes.Clone(st.HashState)
		mutate(&s)
		if _, err := ResumeWriter(io.Discard, s); err == nil {
			t.Errorf("%s: ResumeWriter accepted %+v", name, s)
		}
	}
	if _, err := ResumeWriter(io.Discard, st); err != nil {
		t.Fatalf("the untouched state: %v", err)
	}
}

func TestWriteEntryBodyLength(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body string
		size int64
		want string
	}{
		{"abc", 4, "ended after 3 of 4 bytes"},
		{"abcd", 3, "longer than the 3 bytes"},
	} {
		// A strings.Reader hands itself over (io.WriterTo); a MultiReader
		// is read through a copy buffer.
		for _, body := range []io.Reader{strings.NewReader(tt.body), io.MultiReader(strings.NewReader(tt.body))} {
			w, _ := NewWriter(io.Discard, Gzip)
			_, err := w.WriteEntry(EntryHeader{Name: "x", Size: tt.size}, body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("body %q (%T) size %d: %v, want %q", tt.body, body, tt.size, err, tt.want)
			}
			if _, err2 := w.WriteEntry(EntryHeader{Name: "y", Size: 0}, strings.NewReader("")); err2 == nil {
				t.Errorf("the Writer kept going after a failed entry")
			}
			w.Abort()
		}
	}
	w, _ := NewWriter(io.Discard, Gzip)
	for _, name := range []string{"../x", "/x", "a//b", ""} {
		if _, err := w.WriteEntry(EntryHeader{Name: name}, strings.NewReader("")); !errors.Is(err, ErrUnsafeEntry) {
			t.Errorf("WriteEntry(%q) = %v, want ErrUnsafeEntry", name, err)
		}
	}
	// A refused name does not break the Writer.
	if _, err := w.WriteEntry(EntryHeader{Name: "ok"}, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	w.Abort()
}

func TestAbortWritesNothingMore(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Gzip)
	body := mixedData(1, 100_000)
	if _, err := w.WriteEntry(EntryHeader{Name: "a", Size: int64(len(body))}, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	before := buf.Len()
	w.Abort()
	if buf.Len() != before {
		t.Fatalf("Abort wrote %d more bytes", buf.Len()-before)
	}
	if _, _, err := w.Finish(strings.NewReader(""), 0); err == nil {
		t.Fatal("Finish after Abort succeeded")
	}
}

// rawBlock builds one 512-byte ustar header block.
func rawBlock(name string, typeflag byte, size int64, linkname string) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typeflag
	copy(b[157:257], linkname)
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// rawFile appends a header and a padded body.
func rawFile(dst []byte, hdr []byte, body []byte) []byte {
	dst = append(dst, hdr...)
	dst = append(dst, body...)
	if pad := len(body) % 512; pad != 0 {
		dst = append(dst, make([]byte, 512-pad)...)
	}
	return dst
}

// paxPath builds a PAX extended header that sets the next entry's path.
func paxPath(dst []byte, path string) []byte {
	rec := "path=" + path + "\n"
	n := len(rec) + 2
	for len(fmt.Sprintf("%d %s", n, rec)) != n {
		n++
	}
	body := []byte(fmt.Sprintf("%d %s", n, rec))
	return rawFile(dst, rawBlock("PaxHeader", 'x', int64(len(body)), ""), body)
}

func gz(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := stdgzip.NewWriter(&b)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReaderRefusesCraftedEntries(t *testing.T) {
	t.Parallel()
	end := make([]byte, 1024)
	good := rawFile(nil, rawBlock("objects/fine", '0', 2, ""), []byte("ok"))
	tests := []struct {
		name string
		tar  []byte
		want error
	}{
		{"dotdot", rawFile(nil, rawBlock("../evil", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"nested dotdot", rawFile(nil, rawBlock("objects/../../evil", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"absolute", rawFile(nil, rawBlock("/etc/passwd", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"double slash", rawFile(nil, rawBlock("a//b", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"dot slash", rawFile(nil, rawBlock("./a", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"trailing slash", rawFile(nil, rawBlock("a/", '0', 0, ""), nil), ErrUnsafeEntry},
		{"backslash", rawFile(nil, rawBlock(`..\evil`, '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		// archive/tar itself rejects a PAX path with a NUL as a malformed header.
		{"NUL via PAX", rawFile(paxPath(nil, "a\x00b"), rawBlock("a", '0', 1, ""), []byte("x")), ErrCorrupt},
		{"dotdot via PAX", rawFile(paxPath(nil, "x/../../y"), rawBlock("y", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"GNU long name", rawFile(rawFile(nil, rawBlock("././@LongLink", 'L', 17, ""), []byte("../../etc/shadow\x00")),
			rawBlock("short", '0', 1, ""), []byte("x")), ErrUnsafeEntry},
		{"symlink", rawFile(nil, rawBlock("objects/link", '2', 0, "/etc/passwd"), nil), ErrUnsafeEntry},
		{"hardlink", rawFile(nil, rawBlock("objects/hard", '1', 0, "objects/fine"), nil), ErrUnsafeEntry},
		{"directory", rawFile(nil, rawBlock("objects", '5', 0, ""), nil), ErrUnsafeEntry},
		{"char device", rawFile(nil, rawBlock("objects/dev", '3', 0, ""), nil), ErrUnsafeEntry},
		{"block device", rawFile(nil, rawBlock("objects/blk", '4', 0, ""), nil), ErrUnsafeEntry},
		{"fifo", rawFile(nil, rawBlock("objects/fifo", '6', 0, ""), nil), ErrUnsafeEntry},
		{"bad checksum", func() []byte {
			b := rawFile(nil, rawBlock("objects/x", '0', 1, ""), []byte("x"))
			b[148] = '7'
			return b
		}(), ErrCorrupt},
		{"truncated body", rawBlock("objects/x", '0', 5000, ""), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := append(append(bytes.Clone(good), tt.tar...), end...)
			if tt.name == "truncated body" {
				raw = append(bytes.Clone(good), tt.tar...)
			}
			entries, _, err := readAll(gz(t, raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("read error %v, want %v", err, tt.want)
			}
			if len(entries) != 1 || entries[0].Name != "objects/fine" {
				t.Fatalf("entries before the error: %+v", entries)
			}
		})
	}
	// The control: the same builder makes a tar that reads cleanly.
	entries, _, err := readAll(gz(t, append(bytes.Clone(good), end...)))
	if err != nil || len(entries) != 1 || string(entries[0].body) != "ok" {
		t.Fatalf("control archive: %v, %+v", err, entries)
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	t.Parallel()
	valid, _ := writeAll(t, Gzip, []testEntry{{name: "a", body: []byte("hello")}}, []byte("{}"))
	tests := map[string][]byte{
		"empty":             nil,
		"not compressed":    []byte("plain text, not an archive"),
		"tar not gzipped":   append(rawFile(nil, rawBlock("a", '0', 1, ""), []byte("x")), make([]byte, 1024)...),
		"truncated":         valid[:len(valid)-10],
		"trailing garbage":  append(bytes.Clone(valid), "junk"...),
		"data after tar":    gz(t, append(append(rawFile(nil, rawBlock("a", '0', 1, ""), []byte("x")), make([]byte, 1024)...), "extra"...)),
		"gzip header only":  valid[:10],
		"zstd magic only":   []byte(zstdMagic),
		"gzip magic only":   []byte(gzipMagic),
		"gzip of not a tar": gz(t, bytes.Repeat([]byte("not a tar header "), 64)),
	}
	for name, data := range tests {
		_, _, err := readAll(data)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", name, err)
		}
	}
}

// failingReader returns data, then a network-like error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderSourceErrorIsNotCorruption(t *testing.T) {
	t.Parallel()
	valid, _ := writeAll(t, Zstd, []testEntry{{name: "a", body: mixedData(3, 200_000)}}, []byte("{}"))
	netErr := errors.New("connection reset by peer")
	_, _, err := readAllFrom(&failingReader{data: valid[:len(valid)/2], err: netErr})
	if !errors.Is(err, netErr) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v: want the source's error, not ErrCorrupt", err)
	}
}

// TestFlippedByte flips each byte of a checkpointed archive in turn. Every
// flip must either make the Reader fail, or leave the decoded content
// identical (a flip in a gzip header's MTIME/XFL/OS bytes, or a zstd frame
// header's window size) while the stream hash differs.
func TestFlippedByte(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			entries := []testEntry{
				{name: "objects/a", body: mixedData(1, 3000), pax: ObjectPAX(object.Object{Key: "a", Metadata: object.Metadata{ContentType: "text/plain"}})},
				{name: "objects/b", body: []byte("short")},
				{name: "objects/c", body: mixedData(2, 2000)},
				{name: "objects/d", body: nil},
			}
			segments, sum := writeCheckpointed(t, c, entries, 2, []byte(`{"x":1}`))
			data := bytes.Join(segments, nil)
			want, _, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			undetected := 0
			for i := range data {
				bad := bytes.Clone(data)
				bad[i] ^= 0x5a
				got, r, err := readAll(bad)
				if err != nil {
					continue
				}
				undetected++
				if r.SHA256Hex() == sum {
					t.Fatalf("byte %d flipped: same stream hash", i)
				}
				if len(got) != len(want) {
					t.Fatalf("byte %d flipped: %d entries read without error, want %d", i, len(got), len(want))
				}
				for j := range got {
					if got[j].Name != want[j].Name || !bytes.Equal(got[j].body, want[j].body) ||
						!maps.Equal(got[j].PAXRecords, want[j].PAXRecords) {
						t.Fatalf("byte %d flipped: entry %d silently changed", i, j)
					}
				}
			}
			t.Logf("%d of %d flipped bytes went unnoticed by the decoder (header fields); all changed the hash", undetected, len(data))
			if undetected > 8*len(segments) {
				t.Fatalf("%d flips undetected by the decoder in %d members", undetected, len(segments))
			}
		})
	}
}

func TestSidecarLine(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"x.tar.gz":               h + "  x.tar.gz\n",
		"conn/20260101-7.tar.gz": h + "  20260101-7.tar.gz\n",
		`we\ird`:                 `\` + h + `  we\\ird` + "\n",
		"new\nline":              `\` + h + `  new\nline` + "\n",
	} {
		if got := SidecarLine(h, in); got != want {
			t.Errorf("SidecarLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestObjectFromPAXErrors(t *testing.T) {
	t.Parallel()
	for name, pax := range map[string]map[string]string{
		"no key":        {PAXContentType: "text/plain"},
		"bad time":      {PAXKey: "k", PAXLastModified: "yesterday"},
		"bad user meta": {PAXKey: "k", PAXUserMetadata: "[1]"},
		"trailing":      {PAXKey: "k", PAXUserMetadata: `{"a":"b"} {}`},
	} {
		if _, err := ObjectFromPAX(pax); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// TestPlainTarReads checks that a plain archive (no coffer
// records, written by archive/tar with default options) reads fine.
func TestPlainTarReads(t *testing.T) {
	t.Parallel()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "mongodb/db/c.bson", Size: 3, Mode: 0o600, Typeflag: tar.TypeReg})
	tw.Write([]byte("abc"))
	tw.Close()
	got, _, err := readAll(gz(t, raw.Bytes()))
	if err != nil || len(got) != 1 || string(got[0].body) != "abc" {
		t.Fatalf("%v %+v", err, got)
	}
}

// TestInputBytes checks that the writer counts what goes into the
// compressor, so a caller can tell how well the stream compresses.
func TestInputBytes(t *testing.T) {
	t.Parallel()
	for _, c := range []Compression{Gzip, Zstd} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, c)
		if err != nil {
			t.Fatal(err)
		}
		text := bytes.Repeat([]byte("coffer compresses text well. "), 40000) // ~1.1 MiB
		if _, err := w.WriteEntry(EntryHeader{Name: "objects/text", Size: int64(len(text))}, bytes.NewReader(text)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		in, out := w.InputBytes(), w.CompressedBytes()
		if in < int64(len(text)) || in > int64(len(text))+4096 {
			t.Fatalf("%s: InputBytes = %d for a %d-byte body", c, in, len(text))
		}
		if out <= 0 || out*10 > in {
			t.Fatalf("%s: %d bytes in, %d out: the counters do not show the compression", c, in, out)
		}
		w.Abort()
	}
}
