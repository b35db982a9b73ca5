package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/pgzip"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
)

var levels = []Level{LevelFastest, LevelDefault, LevelBest}

// mixEntry is an entry of an archive that mixes stored and compressed
// bodies: the body offsets at which a Checkpoint interrupts it (an offset
// may repeat), and whether a Checkpoint follows its end, between it and
// the next entry (across a switch when that one is written the other way).
type mixEntry struct {
	testEntry
	stored      bool
	checkpoints []int64
	after       bool
}

// mixedEntries are stored and compressed entries around the block sizes of
// both codecs, checkpointed in stored bodies, in compressed ones and
// between the two, and a run of small entries switching at every one.
func mixedEntries() []mixEntry {
	const big = 3<<20 + 123 // crosses the 1 MiB blocks; pads 389 bytes
	e := func(name string, body []byte, stored bool, cps []int64, after bool) mixEntry {
		return mixEntry{testEntry: testEntry{name: name, body: body, mod: time.Unix(1700000000, 0)}, stored: stored, checkpoints: cps, after: after}
	}
	es := []mixEntry{
		e("objects/first.txt", textLike(1, 1000), false, nil, false),
		e("objects/photo.jpg", randomBytes(2, big), true,
			[]int64{0, 1, 511, 512, maxStoredLen, maxStoredLen + 1, deflateBlockSize, deflateBlockSize, 2<<20 + 7, big - 1, big}, true),
		e("objects/log.json", textLike(3, 2<<20+5), false, []int64{0, 100_000, 1<<20 + 1}, true),
		e("objects/notes-by-mistake.jpg", textLike(4, 300_000), true, []int64{150_000}, false),
		e("objects/empty.png", nil, true, []int64{0, 0}, true),
		e("objects/tiny.gif", []byte("x"), true, []int64{0, 1}, false),
		e("objects/edge-65535.zip", randomBytes(5, maxStoredLen), true, nil, false),
		e("objects/edge-65536.zip", randomBytes(6, maxStoredLen+1), true, nil, false),
		e("objects/edge-128k.zst", randomBytes(7, zstdRawBlockSize), true, []int64{zstdRawBlockSize / 2}, false),
		e("objects/edge-128k-plus-1.zst", randomBytes(8, zstdRawBlockSize+1), true, nil, true),
		e("objects/after-switch.txt", textLike(9, 70_000), false, nil, false),
	}
	rng := rand.New(rand.NewPCG(10, 11))
	for i := range 24 {
		stored := i%2 == 0
		size := rng.IntN(40 << 10)
		body, ext := textLike(uint64(100+i), size), "txt"
		if stored {
			body, ext = randomBytes(uint64(100+i), size), "jpg"
		}
		var cps []int64
		if i%5 == 0 {
			cps = []int64{int64(size / 2)}
		}
		es = append(es, e(fmt.Sprintf("objects/small/%02d.%s", i, ext), body, stored, cps, i%7 == 0))
	}
	last := e("objects/last.txt", []byte("after\n"), false, nil, false)
	last.pax = map[string]string{PAXKey: "last.txt"}
	return append(es, last)
}

// mixOptions says how writeMixed writes an archive.
type mixOptions struct {
	c         Compression
	level     Level         // "" leaves the Writer's default
	recipient age.Recipient // nil: not encrypted
}

// writeMixed writes entries with BeginEntry/WriteBody (chunks of random
// sizes)/EndEntry, checkpointing where they say; after a checkpoint it goes
// on, every other time, with a Writer resumed from the State's JSON (and
// the age state's binary form), as another process would. It returns the
// archive, the hashes EndEntry returned and Finish's hash.
func writeMixed(t *testing.T, o mixOptions, entries []mixEntry, manifest []byte) (data []byte, sums []string, sum string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var out bytes.Buffer
	var w *Writer
	var err error
	if o.recipient != nil {
		w, err = NewEncryptedWriter(&out, o.c, o.recipient)
	} else {
		w, err = NewWriter(&out, o.c)
	}
	if err != nil {
		t.Fatal(err)
	}
	if o.level != "" {
		if err := w.SetLevel(o.level); err != nil {
			t.Fatal(err)
		}
	}
	resumes := 0
	checkpoint := func(open *mixEntry, written int64) {
		t.Helper()
		st, err := w.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if st.CompressedBytes != int64(out.Len()) || st.Level != o.level.orDefault() {
			t.Fatalf("state: %d bytes at level %q; %d bytes were written at %q", st.CompressedBytes, st.Level, out.Len(), o.level.orDefault())
		}
		switch {
		case open == nil && st.Open != nil:
			t.Fatalf("state between entries has Open %+v", st.Open)
		case open != nil && (st.Open == nil || st.Open.Name != open.name || st.Open.Written != written || st.Open.Stored != open.stored):
			t.Fatalf("state inside %s at %d (stored %v) has Open %+v", open.name, written, open.stored, st.Open)
		}
		resumes++
		if resumes%2 == 0 {
			return
		}
		js, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		if st.Age != nil {
			sealed, err := st.Age.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			back.Age = new(agecrypt.State)
			if err := back.Age.UnmarshalBinary(sealed); err != nil {
				t.Fatal(err)
			}
		}
		if w, err = ResumeWriter(&out, back); err != nil {
			t.Fatal(err)
		}
		if w.Level() != o.level.orDefault() {
			t.Fatalf("resumed at level %q, want %q", w.Level(), o.level.orDefault())
		}
	}
	for i := range entries {
		e := &entries[i]
		size := int64(len(e.body))
		if err := w.BeginEntry(EntryHeader{Name: e.name, Size: size, ModTime: e.mod, PAXRecords: e.pax, Stored: e.stored}); err != nil {
			t.Fatal(err)
		}
		var pos int64
		cps := e.checkpoints
		for {
			for len(cps) > 0 && cps[0] == pos {
				checkpoint(e, pos)
				cps = cps[1:]
			}
			if pos == size {
				break
			}
			limit := size
			if len(cps) > 0 {
				limit = cps[0]
			}
			n := min(int64(1+rng.IntN(300_000)), limit-pos)
			if err := w.WriteBody(e.body[pos : pos+n]); err != nil {
				t.Fatal(err)
			}
			pos += n
		}
		got, err := w.EndEntry()
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256Hex(e.body); got != want {
			t.Fatalf("EndEntry(%s) = %s, want %s", e.name, got, want)
		}
		sums = append(sums, got)
		if e.after {
			checkpoint(nil, 0)
		}
	}
	sum, size, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(out.Len()) || sum != sha256Hex(out.Bytes()) {
		t.Fatalf("Finish: %d bytes, %s; wrote %d bytes hashing to %s", size, sum, out.Len(), sha256Hex(out.Bytes()))
	}
	return out.Bytes(), sums, sum
}

// checkMixed reads a mixed archive back with Reader (and the identity of
// an encrypted one), compares its tar stream with that of a Writer that
// compresses everything, and has the system's gzip or zstd and tar check
// and extract it.
func checkMixed(t *testing.T, c Compression, data []byte, entries []mixEntry, sums []string, sum string, manifest []byte, id age.Identity) {
	t.Helper()
	var got []readEntry
	var r *Reader
	var err error
	plain := data
	if id != nil {
		got, r, err = readEncrypted(data, id)
		dec, derr := age.Decrypt(bytes.NewReader(data), id)
		if derr != nil {
			t.Fatal(derr)
		}
		if plain, derr = io.ReadAll(dec); derr != nil {
			t.Fatal(derr)
		}
	} else {
		got, r, err = readAll(data)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries)+1 || r.SHA256Hex() != sum || r.CompressedBytes() != int64(len(data)) {
		t.Fatalf("read %d entries (want %d), %d bytes hashing to %s", len(got), len(entries)+1, r.CompressedBytes(), r.SHA256Hex())
	}
	for i, e := range entries {
		if got[i].Name != e.name || !bytes.Equal(got[i].body, e.body) || got[i].sum != sums[i] {
			t.Fatalf("entry %d: %s (%d bytes) read back, want %s (%d bytes)", i, got[i].Name, len(got[i].body), e.name, len(e.body))
		}
	}
	if !bytes.Equal(got[len(entries)].body, manifest) {
		t.Fatalf("manifest read back as %q", got[len(entries)].body)
	}

	// The tar stream is the one a Writer compressing everything makes, up
	// to the manifest (whose header holds Finish's time).
	ref := make([]testEntry, len(entries))
	for i, e := range entries {
		ref[i] = e.testEntry
	}
	refData, _ := writeAll(t, c, ref, manifest)
	gotTar, wantTar := decompress(t, c, plain), decompress(t, c, refData)
	cut := manifestHeaderOffset(t, wantTar)
	if d := firstDiff(gotTar[:cut], wantTar[:cut]); d >= 0 || manifestHeaderOffset(t, gotTar) != cut || len(gotTar) != len(wantTar) {
		t.Fatalf("the tar stream differs from a compressing writer's at %d (lengths %d and %d)", d, len(gotTar), len(wantTar))
	}
	checkWithTools(t, c, plain, entries, manifest)
}

// checkWithTools has the system's gzip or zstd test the archive, tar list
// it, and tar extract it (compared with the entries).
func checkWithTools(t *testing.T, c Compression, data []byte, entries []mixEntry, manifest []byte) {
	t.Helper()
	tarBin := needTool(t, "tar")
	dec, flag := "gzip", "-z"
	if c == Zstd {
		dec, flag = "zstd", "--zstd"
	}
	decBin := needTool(t, dec)
	dir := t.TempDir()
	path := filepath.Join(dir, "a"+c.Ext())
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
		}
		return stdout.String()
	}
	run(decBin, "-q", "-t", path)
	var want []string
	for _, e := range entries {
		want = append(want, e.name)
	}
	want = append(want, ManifestName)
	if listed := strings.TrimSuffix(run(tarBin, "--warning=no-unknown-keyword", flag, "-tf", path), "\n"); listed != strings.Join(want, "\n") {
		t.Fatalf("tar -t listed\n%s\nwant\n%s", listed, strings.Join(want, "\n"))
	}
	streamed := make([]streamedEntry, len(entries))
	for i, e := range entries {
		streamed[i] = streamedEntry{testEntry: e.testEntry}
	}
	extractWithTar(t, c, data, streamed, manifest)
}

// TestMixedStoredArchive writes archives that mix stored and compressed
// entries, checkpointed and resumed inside both kinds and across the
// switches, plain and encrypted, at every level, and reads them back with
// Reader and with the system's tools.
func TestMixedStoredArchive(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"format_version":1}` + "\n")
	for _, c := range compressions {
		for _, level := range levels {
			for _, encrypted := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/plain", c, level)
				if encrypted {
					name = fmt.Sprintf("%s/%s/encrypted", c, level)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					entries := mixedEntries()
					o := mixOptions{c: c, level: level}
					var ident age.Identity
					if encrypted {
						o.recipient, ident = id.Recipient(), id
					}
					data, sums, sum := writeMixed(t, o, entries, manifest)
					checkMixed(t, c, data, entries, sums, sum, manifest, ident)
				})
			}
		}
	}
}

// TestStoredOverhead: an archive of one stored random entry is hardly
// larger than the entry (less than 0.1%), encrypted or not.
func TestStoredOverhead(t *testing.T) {
	t.Parallel()
	id, _ := age.GenerateX25519Identity()
	body := randomBytes(1, 16<<20)
	for _, c := range compressions {
		for _, encrypted := range []bool{false, true} {
			var buf bytes.Buffer
			var w *Writer
			if encrypted {
				w, _ = NewEncryptedWriter(&buf, c, id.Recipient())
			} else {
				w, _ = NewWriter(&buf, c)
			}
			if _, err := w.WriteEntry(EntryHeader{Name: "objects/video.mp4", Size: int64(len(body)), Stored: true}, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			manifest := []byte(`{"format_version":1}`)
			if _, _, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest))); err != nil {
				t.Fatal(err)
			}
			overhead := float64(buf.Len()-len(body)) / float64(len(body))
			t.Logf("%s (encrypted %v): %d bytes stored in an archive of %d bytes: %.4f%% more", c, encrypted, len(body), buf.Len(), 100*overhead)
			if overhead < 0 || overhead >= 0.001 {
				t.Errorf("%s (encrypted %v): archive of %d bytes for a %d-byte stored entry: %.3f%% overhead", c, encrypted, buf.Len(), len(body), 100*overhead)
			}
		}
	}
}

// TestStoredCorruptionDetected: a flipped byte inside a stored body is
// caught by the gzip CRC or the zstd frame checksum.
func TestStoredCorruptionDetected(t *testing.T) {
	t.Parallel()
	body := randomBytes(2, 300_000)
	for _, c := range compressions {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, c)
		if _, err := w.WriteEntry(EntryHeader{Name: "objects/a.zip", Size: int64(len(body)), Stored: true}, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Finish(strings.NewReader("{}"), 2); err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(buf.Bytes(), body[200_000:200_032])
		if at < 0 {
			t.Fatalf("%s: the stored body is not in the archive as it is", c)
		}
		bad := bytes.Clone(buf.Bytes())
		bad[at] ^= 1
		if _, _, err := readAll(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: a flipped byte in a stored body: %v, want ErrCorrupt", c, err)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want Level
	}{
		{"", LevelDefault},
		{"default", LevelDefault},
		{"fastest", LevelFastest},
		{" Best ", LevelBest},
		{"FASTEST", LevelFastest},
	} {
		if got, err := ParseLevel(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"9", "fast", "max", "ultra"} {
		_, err := ParseLevel(in)
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.Invalid || !strings.Contains(e.Message, in) || !strings.Contains(e.Message, `"fastest", "default" or "best"`) {
			t.Errorf("ParseLevel(%q) = %v, want an Invalid apperr naming it and the choices", in, err)
		}
	}
}

func TestSetLevel(t *testing.T) {
	t.Parallel()
	text := textLike(1, 1<<20)
	sizes := map[Level]int{}
	for _, c := range compressions {
		for _, level := range append([]Level{""}, levels...) {
			var buf bytes.Buffer
			w, _ := NewWriter(&buf, c)
			if w.Level() != LevelDefault {
				t.Fatalf("a new Writer's level is %q", w.Level())
			}
			if err := w.SetLevel(level); err != nil {
				t.Fatal(err)
			}
			if w.Level() != level.orDefault() {
				t.Fatalf("SetLevel(%q): Level() = %q", level, w.Level())
			}
			if err := w.BeginEntry(EntryHeader{Name: "objects/a.log", Size: int64(len(text))}); err != nil {
				t.Fatal(err)
			}
			if err := w.SetLevel(LevelFastest); err == nil || !strings.Contains(err.Error(), "already written") {
				t.Fatalf("SetLevel after BeginEntry: %v", err)
			}
			if err := w.WriteBody(text[:1000]); err != nil {
				t.Fatal(err)
			}
			st, err := w.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if st.Level != level.orDefault() {
				t.Fatalf("State.Level = %q, want %q", st.Level, level.orDefault())
			}
			// A resumed Writer goes on at the saved level; it may be set
			// again before it writes, not after.
			r, err := ResumeWriter(&buf, st)
			if err != nil {
				t.Fatal(err)
			}
			if r.Level() != level.orDefault() {
				t.Fatalf("resumed at %q, want %q", r.Level(), level.orDefault())
			}
			if err := r.SetLevel(level); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteBody(text[1000:]); err != nil {
				t.Fatal(err)
			}
			if err := r.SetLevel(LevelBest); err == nil {
				t.Fatal("SetLevel after a resumed Writer wrote succeeded")
			}
			if _, err := r.EndEntry(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.Finish(strings.NewReader("{}"), 2); err != nil {
				t.Fatal(err)
			}
			if got, _, err := readAll(buf.Bytes()); err != nil || !bytes.Equal(got[0].body, text) {
				t.Fatalf("%s at %q: %v", c, level, err)
			}
			if c == Gzip && level != "" {
				sizes[level] = buf.Len()
			}
			t.Logf("%s at %q: %d bytes of text in %d", c, level, len(text), buf.Len())
		}
	}
	if !(sizes[LevelFastest] > sizes[LevelDefault] && sizes[LevelDefault] > sizes[LevelBest]) {
		t.Errorf("gzip sizes by level %v: the levels make no difference", sizes)
	}

	w, _ := NewWriter(io.Discard, Gzip)
	if err := w.SetLevel("turbo"); err == nil {
		t.Error("SetLevel(turbo) succeeded")
	}
	if err := w.SetLevel(LevelBest); err != nil {
		t.Fatalf("SetLevel after a refused one: %v", err)
	}
	w.Abort()
	if err := w.SetLevel(LevelBest); err == nil {
		t.Error("SetLevel after Abort succeeded")
	}
	st, _ := NewWriter(io.Discard, Zstd)
	state, _ := st.Checkpoint()
	state.Level = "turbo"
	if _, err := ResumeWriter(io.Discard, state); err == nil || !strings.Contains(err.Error(), "turbo") {
		t.Errorf("ResumeWriter at level turbo: %v", err)
	}
}

// TestStateJSONLevelAndStored: a checkpoint says its level and whether the
// open entry is stored; one of an older version (neither) resumes at the
// default level with a compressed body.
func TestStateJSONLevelAndStored(t *testing.T) {
	t.Parallel()
	w, _ := NewWriter(io.Discard, Gzip)
	w.SetLevel(LevelFastest)
	if err := w.BeginEntry(EntryHeader{Name: "objects/a.jpg", Size: 10, Stored: true}); err != nil {
		t.Fatal(err)
	}
	w.WriteBody([]byte("12345"))
	st, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(st)
	if !bytes.Contains(js, []byte(`"level":"fastest"`)) || !bytes.Contains(js, []byte(`"stored":true`)) {
		t.Fatalf("state JSON %s lacks the level or the stored flag", js)
	}
	w.Abort()

	old := []byte(`{"compression":"gzip","compressed_bytes":0,"hash_state":null,"entries":0,` +
		`"open":{"name":"objects/a","size":3,"written":0,"hash_state":null}}`)
	var back State
	if err := json.Unmarshal(old, &back); err != nil {
		t.Fatal(err)
	}
	if back.Level != "" || back.Open.Stored {
		t.Fatalf("old JSON read as %+v", back)
	}
	back.HashState, _ = marshalSHA256(sha256.New())
	back.Open.HashState = back.HashState
	var buf bytes.Buffer
	r, err := ResumeWriter(&buf, back)
	if err != nil {
		t.Fatal(err)
	}
	if r.Level() != LevelDefault {
		t.Fatalf("an old state resumes at %q", r.Level())
	}
	body := bytes.Repeat([]byte("a"), 3)
	if err := r.WriteBody(body); err != nil {
		t.Fatal(err)
	}
	if _, err := r.EndEntry(); err != nil {
		t.Fatal(err)
	}
	r.Abort()
}

// mixedCorpus is a bucket of objects of 64 KiB to 8 MiB (log-uniform), half
// of them text-like and half random, up to total bytes.
func mixedCorpus(seed uint64, total int) []testEntry {
	rng := rand.New(rand.NewPCG(seed, 77))
	var es []testEntry
	for i, n := 0, 0; n < total; i++ {
		size := int(math.Exp(math.Log(64<<10) + rng.Float64()*(math.Log(8<<20)-math.Log(64<<10))))
		size = min(size, total-n)
		body := textLike(rng.Uint64(), size)
		if i%2 == 1 {
			body = randomBytes(rng.Uint64(), size)
		}
		es = append(es, testEntry{name: fmt.Sprintf("objects/obj-%04d", i), body: body})
		n += size
	}
	return es
}

// writeCorpus writes entries with ShouldStore deciding (as the engine
// does: no extension, no type, the first 64 KiB as the sample) and returns
// the archive and how many entries were stored.
func writeCorpus(tb testing.TB, c Compression, level Level, entries []testEntry) (data []byte, stored int) {
	tb.Helper()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, c)
	if err := w.SetLevel(level); err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		st := ShouldStore(e.name, "application/octet-stream", e.body[:min(len(e.body), MaxStoreSample)])
		if st {
			stored++
		}
		if _, err := w.WriteEntry(EntryHeader{Name: e.name, Size: int64(len(e.body)), Stored: st}, bytes.NewReader(e.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, _, err := w.Finish(strings.NewReader("{}"), 2); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), stored
}

// pgzipSize is the size of tarData compressed as the Writer did before it
// stored anything: pgzip at its default level, 1 MiB blocks, GOMAXPROCS.
func pgzipSize(tb testing.TB, tarData []byte) int {
	tb.Helper()
	var n byteCounter
	z, err := pgzip.NewWriterLevel(&n, pgzip.DefaultCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if err := z.SetConcurrency(1<<20, runtime.GOMAXPROCS(0)); err != nil {
		tb.Fatal(err)
	}
	if _, err := z.Write(tarData); err != nil {
		tb.Fatal(err)
	}
	if err := z.Close(); err != nil {
		tb.Fatal(err)
	}
	return int(n)
}

// TestMixedCorpusNoLarger: on a bucket of half text, half random objects,
// the archive the Writer makes at the default level with ShouldStore
// deciding is no larger than pgzip compressing the same tar stream whole.
func TestMixedCorpusNoLarger(t *testing.T) {
	t.Parallel()
	entries := mixedCorpus(1, 24<<20)
	data, stored := writeCorpus(t, Gzip, LevelDefault, entries)
	tarData := decompress(t, Gzip, data)
	ref := pgzipSize(t, tarData)
	t.Logf("%d objects (%d stored), %d tar bytes: coffer %d bytes, pgzip %d bytes (%.3f%%)",
		len(entries), stored, len(tarData), len(data), ref, 100*float64(len(data)-ref)/float64(ref))
	if stored == 0 || stored == len(entries) {
		t.Fatalf("ShouldStore stored %d of %d objects", stored, len(entries))
	}
	if len(data) > ref {
		t.Fatalf("the archive is %d bytes, pgzip compressing everything makes %d", len(data), ref)
	}
}
