package archive

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

func TestXXH64(t *testing.T) {
	t.Parallel()
	pattern := make([]byte, 1000)
	for i := range pattern {
		pattern[i] = byte(i*7 + i/3)
	}
	// Reference values from github.com/cespare/xxhash/v2.
	tests := []struct {
		in   []byte
		want uint64
	}{
		{nil, 0xef46db3751d8e999},
		{[]byte("a"), 0xd24ec4f1a98c6e5b},
		{[]byte("abc"), 0x44bc2cf5ad770999},
		{[]byte("0123456789abcdef0123456789abcdef"), 0x642a94958e71e6c5},
		{[]byte("The quick brown fox jumps over the lazy dog"), 0x0b242d361fda71bc},
		{make([]byte, 100), 0x17bb1103c92c502f},
		{pattern, 0x0aee8d56d510a856},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tt := range tests {
		var x xxh64
		x.reset()
		x.Write(tt.in)
		if got := x.Sum64(); got != tt.want {
			t.Errorf("xxh64(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
		// Any split of the input gives the same hash.
		for range 20 {
			x.reset()
			rest := tt.in
			for len(rest) > 0 {
				k := rng.IntN(len(rest) + 1)
				x.Write(rest[:k])
				rest = rest[k:]
			}
			if got := x.Sum64(); got != tt.want {
				t.Fatalf("xxh64(%q) in pieces = %#x, want %#x", tt.in, got, tt.want)
			}
		}
	}
}

// codecWrite is one write in a codec test: so many bytes, stored or not.
type codecWrite struct {
	stored bool
	data   []byte
	close  bool // end the member/frame after this write
}

// randomWrites makes a sequence of writes of text and random bytes of
// random sizes (many tiny ones, some crossing several blocks), switching
// between stored and compressed often, with an end of member now and then.
func randomWrites(seed uint64, total int) []codecWrite {
	rng := rand.New(rand.NewPCG(seed, 99))
	var ws []codecWrite
	for n := 0; n < total; {
		size := rng.IntN(2000)
		switch rng.IntN(10) {
		case 0:
			size = 1
		case 1, 2:
			size = rng.IntN(3 << 20)
		case 3:
			size = maxStoredLen + rng.IntN(3) - 1
		}
		var data []byte
		if rng.IntN(2) == 0 {
			data = textLike(rng.Uint64(), size)
		} else {
			data = randomBytes(rng.Uint64(), size)
		}
		ws = append(ws, codecWrite{stored: rng.IntN(2) == 0, data: data, close: rng.IntN(15) == 0})
		n += size
	}
	return ws
}

// runCodec writes ws through a compressor of c and returns the output and
// the input it should decode to.
func runCodec(t *testing.T, c Compression, level Level, ws []codecWrite) (out, in []byte) {
	t.Helper()
	var buf bytes.Buffer
	comp, err := newCompressor(c, level, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		comp.setStored(w.stored)
		if n, err := comp.Write(w.data); err != nil || n != len(w.data) {
			t.Fatalf("Write = %d, %v; want %d", n, err, len(w.data))
		}
		in = append(in, w.data...)
		if w.close {
			if err := comp.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := comp.Close(); err != nil {
		t.Fatal(err)
	}
	before := buf.Len()
	if err := comp.Close(); err != nil || buf.Len() != before {
		t.Fatalf("a second Close: %v, %d more bytes", err, buf.Len()-before)
	}
	return buf.Bytes(), in
}

// TestCompressorModes writes a long random sequence of stored and
// compressed writes and decodes it with the standard library's gzip reader
// (member by member, so each one's CRC and size are checked) or the zstd
// decoder (which checks every frame's checksum).
func TestCompressorModes(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		for _, level := range []Level{LevelFastest, LevelDefault, LevelBest} {
			t.Run(string(c)+"/"+string(level), func(t *testing.T) {
				t.Parallel()
				out, in := runCodec(t, c, level, randomWrites(uint64(len(level)), 24<<20))
				var got []byte
				switch c {
				case Gzip:
					got = gunzipMembers(t, out)
				case Zstd:
					got = unzstd(t, out)
				}
				if !bytes.Equal(got, in) {
					t.Fatalf("decoded %d bytes that differ from the %d written (first at %d)", len(got), len(in), firstDiff(got, in))
				}
				t.Logf("%d bytes in, %d out", len(in), len(out))
			})
		}
	}
}

// gunzipMembers decodes concatenated gzip members one at a time with the
// standard library.
func gunzipMembers(t testing.TB, data []byte) []byte {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	zr, err := stdgzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for {
		zr.Multistream(false)
		if _, err := io.Copy(&out, zr); err != nil {
			t.Fatalf("gzip member ending at output byte %d: %v", out.Len(), err)
		}
		if err := zr.Reset(br); errors.Is(err, io.EOF) {
			return out.Bytes()
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// unzstd decodes zstd frames, checking their checksums.
func unzstd(t testing.TB, data []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.IgnoreChecksum(false))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	return out
}

// TestStoredIsStored checks that stored bytes are not compressed and that
// the framing is as small as it should be: 5 bytes per 65535 for deflate,
// 3 per 128 KiB for zstd, plus a member's header and trailer.
func TestStoredIsStored(t *testing.T) {
	t.Parallel()
	text := textLike(1, 4<<20)
	for _, c := range compressions {
		out, _ := runCodec(t, c, LevelDefault, []codecWrite{{stored: true, data: text}})
		var framing int
		switch c {
		case Gzip:
			framing = 10 + 5*((len(text)+maxStoredLen-1)/maxStoredLen) + 13
		case Zstd:
			framing = 6 + 3*(len(text)/zstdRawBlockSize) + 4
		}
		if len(out) != len(text)+framing {
			t.Errorf("%s: %d bytes of text stored in %d bytes, want %d", c, len(text), len(out), len(text)+framing)
		}
		compressed, _ := runCodec(t, c, LevelDefault, []codecWrite{{data: text}})
		if len(compressed)*3 > len(text) {
			t.Errorf("%s: text compressed to %d of %d bytes", c, len(compressed), len(text))
		}
	}
}

// TestRawFrameBlockSizes writes stored runs around the raw block size in
// pieces of every alignment.
func TestRawFrameBlockSizes(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 511, zstdRawBlockSize - 1, zstdRawBlockSize, zstdRawBlockSize + 1, 2 * zstdRawBlockSize, 5*zstdRawBlockSize + 17} {
		data := randomBytes(uint64(size), size)
		for _, piece := range []int{1 << 30, zstdRawBlockSize, 1000, 7} {
			var ws []codecWrite
			for rest := data; len(rest) > 0; {
				k := min(piece, len(rest))
				ws = append(ws, codecWrite{stored: true, data: rest[:k]})
				rest = rest[k:]
			}
			out, in := runCodec(t, Zstd, LevelDefault, ws)
			if got := unzstd(t, out); !bytes.Equal(got, in) {
				t.Fatalf("%d bytes in pieces of %d: decoded %d bytes that differ", size, piece, len(got))
			}
			if want := 6 + 3*((size+zstdRawBlockSize-1)/zstdRawBlockSize) + size + 4; len(out) != want {
				t.Fatalf("%d bytes in pieces of %d: frame of %d bytes, want %d", size, piece, len(out), want)
			}
		}
	}
}

// failAfter accepts n bytes, then fails.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

// TestCompressorOutputError checks that an error of the output reaches
// the caller (from a Write or the Close) and that nothing hangs, wherever
// it happens.
func TestCompressorOutputError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	ws := randomWrites(5, 8<<20)
	for _, c := range compressions {
		for _, after := range []int{0, 5, 100, 70_000, 1 << 20, 3 << 20} {
			done := make(chan error, 1)
			go func() {
				comp, _ := newCompressor(c, LevelDefault, &failAfter{n: after, err: boom})
				defer comp.abort()
				for _, w := range ws {
					comp.setStored(w.stored)
					if _, err := comp.Write(w.data); err != nil {
						done <- err
						return
					}
				}
				done <- comp.Close()
			}()
			select {
			case err := <-done:
				if !errors.Is(err, boom) {
					t.Errorf("%s, failing after %d bytes: %v, want the output's error", c, after, err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s, failing after %d bytes: the compressor hangs", c, after)
			}
		}
	}
}

// TestCompressorAbort checks that abort in the middle of a member returns
// and leaves the compressor refusing writes.
func TestCompressorAbort(t *testing.T) {
	t.Parallel()
	for _, c := range compressions {
		comp, _ := newCompressor(c, LevelDefault, io.Discard)
		comp.Write(textLike(1, 3<<20))
		comp.setStored(true)
		comp.Write(randomBytes(1, 1<<20))
		comp.abort()
		if _, err := comp.Write([]byte("x")); err == nil {
			t.Errorf("%s: Write after abort succeeded", c)
		}
		comp.abort() // twice is harmless
	}
}

// TestDeflateDictionaryChoice checks the dictionary a compressed block gets:
// the window before it, shorter for a small block, none after stored bytes
// only; the stream decodes either way (TestCompressorModes).
func TestDeflateDictionaryChoice(t *testing.T) {
	t.Parallel()
	g := newGzipWriter(io.Discard, flate.DefaultCompression, 1)
	g.hist = make([]byte, 0, deflateWindow)
	g.remember(textLike(1, 40<<10), false)
	if len(g.hist) != deflateWindow || g.histRaw != 0 {
		t.Fatalf("history %d bytes, %d stored", len(g.hist), g.histRaw)
	}
	dictFor := func(n int) int {
		work, order := make(chan *deflateBlock, 1), make(chan *deflateBlock, 1)
		g.work, g.order = work, order
		b := &deflateBlock{buf: make([]byte, deflateWindow, deflateWindow+n)}
		b.buf = append(b.buf, textLike(2, n)...)
		saved := append([]byte(nil), g.hist...)
		savedRaw := g.histRaw
		g.submit(b)
		g.hist, g.histRaw = saved, savedRaw
		return deflateWindow - b.dict
	}
	if got := dictFor(1 << 20); got != deflateWindow {
		t.Errorf("a full block gets a %d-byte dictionary, want %d", got, deflateWindow)
	}
	if got := dictFor(1500); got != dictPerByte*1500 {
		t.Errorf("a 1500-byte block gets a %d-byte dictionary, want %d", got, dictPerByte*1500)
	}
	if got := dictFor(100); got != minDeflateDict {
		t.Errorf("a 100-byte block gets a %d-byte dictionary, want %d", got, minDeflateDict)
	}
	g.remember(randomBytes(3, 10<<10), true)
	if got := dictFor(1 << 20); got != deflateWindow {
		t.Errorf("after 10 KiB stored, a full block gets %d bytes of dictionary, want %d", got, deflateWindow)
	}
	if got := dictFor(1000); got != 0 {
		t.Errorf("after 10 KiB stored, a 1000-byte block gets %d bytes of dictionary, want none", got)
	}
	g.remember(randomBytes(4, 40<<10), true)
	if got := dictFor(1 << 20); got != 0 {
		t.Errorf("after 40 KiB stored, a block gets %d bytes of dictionary, want none", got)
	}
}
