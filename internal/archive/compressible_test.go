package archive

import (
	"archive/zip"
	"bytes"
	stdgzip "compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/klauspost/compress/flate"
)

// textLike returns n bytes that look like logs and JSON: they compress
// about as well as real ones (several times).
func textLike(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed270b27a3f3c5))
	levels := []string{"info", "info", "info", "warn", "error", "debug"}
	msgs := []string{"object uploaded", "object deleted", "cache miss", "request served", "retrying request",
		"checkpoint saved", "lease renewed", "backup finished", "user logged in"}
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "photos", "invoices", "2026", "reports", "tmp"}
	var b bytes.Buffer
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for b.Len() < n {
		ts = ts.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
		fmt.Fprintf(&b, `{"ts":%q,"level":%q,"user":%d,"msg":%q,"key":"%s/%s/%08x.txt","bytes":%d}`+"\n",
			ts.Format(time.RFC3339Nano), levels[rng.IntN(len(levels))], rng.IntN(5000), msgs[rng.IntN(len(msgs))],
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.Uint32(), rng.IntN(1<<24))
	}
	return b.Bytes()[:n]
}

// randomBytes returns n random bytes, seeded.
func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// noiseImage is a photo-like picture: smooth gradients with noise, which
// JPEG and PNG encode into bytes that do not compress further.
func noiseImage(seed uint64) image.Image {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			n := rng.IntN(64)
			img.Set(x, y, color.RGBA{uint8(x*255/320 + n), uint8(y*255/240 + n), uint8(128 + n), 255})
		}
	}
	return img
}

// sampleKind is one kind of body ShouldStore may see.
type sampleKind struct {
	name  string
	data  []byte
	store bool // what ShouldStore must say when name and type say nothing
}

// sampleKinds builds bodies of real formats and synthetic ones, each at
// least a full sample long.
func sampleKinds(t testing.TB) []sampleKind {
	t.Helper()
	const n = MaxStoreSample
	var jpg, pngBuf, gz, zipBuf bytes.Buffer
	if err := jpeg.Encode(&jpg, noiseImage(1), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pngBuf, noiseImage(2)); err != nil {
		t.Fatal(err)
	}
	zw := stdgzip.NewWriter(&gz)
	zw.Write(textLike(3, 4*n))
	zw.Close()
	zf := zip.NewWriter(&zipBuf)
	f, _ := zf.Create("a.txt")
	f.Write(textLike(4, 4*n))
	zf.Close()
	rnd := randomBytes(5, n)
	repeated := bytes.Repeat(randomBytes(6, 4096), n/4096) // random, but repeating: deflate finds it
	floats := make([]byte, 0, n)
	for i := 0; len(floats) < n; i++ {
		floats = binary.LittleEndian.AppendUint64(floats, math.Float64bits(20+5*math.Sin(float64(i)/50)))
	}
	u16 := utf16.Encode([]rune(string(textLike(7, n/2))))
	utf16le := make([]byte, 0, 2*len(u16))
	for _, r := range u16 {
		utf16le = binary.LittleEndian.AppendUint16(utf16le, r)
	}
	tagged := func(seed uint64, tag string) []byte {
		b := randomBytes(seed, n)
		for i := 0; i < len(b); i += 64 {
			copy(b[i:], tag)
		}
		return b
	}
	return []sampleKind{
		{"text", textLike(9, n), false},
		{"mixed text and binary", mixedData(10, n), false},
		{"base64 of random", []byte(base64.StdEncoding.EncodeToString(randomBytes(11, n*3/4))), false},
		{"hex of random", []byte(hex.EncodeToString(randomBytes(12, n/2))), false},
		{"repeated random block", repeated, false},
		{"float64 series", floats, false},
		{"UTF-16 text", utf16le, false},
		{"zeros", make([]byte, n), false},
		{"random, 6-byte tag every 64 bytes", tagged(8, "field="), true},
		{"random, 16-byte tag every 64 bytes", tagged(13, "{\"sensor_value\":"), false},
		{"random", rnd, true},
		{"jpeg", jpg.Bytes(), true},
		{"png", pngBuf.Bytes(), true},
		{"gzip", gz.Bytes(), true},
		{"zip", zipBuf.Bytes(), true},
	}
}

// huffmanSize is the size of p Huffman coded (deflate without matches).
func huffmanSize(t testing.TB, p []byte) int {
	var n byteCounter
	fw, err := flate.NewWriter(&n, flate.HuffmanOnly)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(p)
	fw.Close()
	return int(n)
}

// TestShouldStoreSamples checks the decision on the sample alone, and that
// it is the one measuring both ways of compressing would give: deflating
// at level 1 (matches; klauspost's fast levels store a block where they
// find none) and Huffman coding alone (a skewed byte distribution), which
// the entropy shortcut stands for.
func TestShouldStoreSamples(t *testing.T) {
	t.Parallel()
	for _, k := range sampleKinds(t) {
		s := k.data[:min(len(k.data), MaxStoreSample)]
		l1, huff := deflatedSize(s), huffmanSize(t, s)
		saving := 1 - float64(min(l1, huff))/float64(len(s))
		measured := saving < storeMinSaving
		got := ShouldStore("objects/blob", "application/octet-stream", k.data)
		t.Logf("%-36s %6d bytes: entropy %.3f bits/byte, level 1 saves %5.1f%%, Huffman %5.1f%%: store=%v",
			k.name, len(s), entropy(s), 100*(1-float64(l1)/float64(len(s))), 100*(1-float64(huff)/float64(len(s))), got)
		if got != k.store {
			t.Errorf("%s: ShouldStore = %v, want %v", k.name, got, k.store)
		}
		if got != measured {
			t.Errorf("%s: ShouldStore = %v but compressing the sample says %v", k.name, got, measured)
		}
	}
}

func TestShouldStore(t *testing.T) {
	t.Parallel()
	text := textLike(1, 8<<10)
	rnd := randomBytes(2, 8<<10)
	tests := []struct {
		name, key, contentType string
		sample                 []byte
		want                   bool
	}{
		{"jpeg type", "a", "image/jpeg", text, true},
		{"jpeg type with parameters and case", "a", "Image/JPEG; q=1", nil, true},
		{"png type", "a", "image/png", nil, true},
		{"gif", "a", "image/gif", nil, true},
		{"webp", "a", "image/webp", nil, true},
		{"avif", "a", "image/avif", nil, true},
		{"heic", "a", "image/heic", nil, true},
		{"video", "a", "video/mp4", nil, true},
		{"any video", "a", "video/x-matroska", nil, true},
		{"audio", "a", "audio/mpeg", nil, true},
		{"ogg audio", "a", "audio/ogg", nil, true},
		{"wav is not compressed", "a", "audio/wav", text, false},
		{"x-wav", "a", "audio/x-wav", text, false},
		{"aiff", "a", "audio/aiff", text, false},
		{"zip", "a", "application/zip", nil, true},
		{"gzip", "a", "application/gzip", nil, true},
		{"x-gzip", "a", "application/x-gzip", nil, true},
		{"zstd", "a", "application/zstd", nil, true},
		{"7z", "a", "application/x-7z-compressed", nil, true},
		{"rar", "a", "application/x-rar-compressed", nil, true},
		{"bzip2", "a", "application/x-bzip2", nil, true},
		{"xz", "a", "application/x-xz", nil, true},
		{"lz4", "a", "application/x-lz4", nil, true},
		{"parquet", "a", "application/vnd.apache.parquet", nil, true},
		{"docx", "a", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", nil, true},
		{"xlsx", "a", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", nil, true},
		{"odt", "a", "application/vnd.oasis.opendocument.text", nil, true},
		{"jar", "a", "application/java-archive", nil, true},
		{"woff2", "a", "font/woff2", nil, true},
		{"pdf is sampled", "a", "application/pdf", text, false},
		{"pdf of random bytes", "a", "application/pdf", rnd, true},
		{"text type", "a", "text/plain; charset=utf-8", text, false},
		{"svg is text", "a", "image/svg+xml", text, false},
		{"bmp is not compressed", "a", "image/bmp", text, false},
		{"bad type falls back", "a", "image/jpeg;;;=", nil, true},
		{"jpg name", "photos/IMG_0001.JPG", "", nil, true},
		{"jpeg name", "a/b.jpeg", "application/octet-stream", text, true},
		{"png name", "x.png", "", nil, true},
		{"mp4 name", "v/clip.mp4", "", nil, true},
		{"mkv name", "clip.mkv", "", nil, true},
		{"mp3 name", "song.Mp3", "", nil, true},
		{"flac name", "song.flac", "", nil, true},
		{"zip name", "a.zip", "", nil, true},
		{"tar.gz name", "backup.tar.gz", "", nil, true},
		{"tgz name", "backup.tgz", "", nil, true},
		{"zst name", "x.zst", "", nil, true},
		{"7z name", "x.7z", "", nil, true},
		{"parquet name", "warehouse/part-0001.snappy.parquet", "", nil, true},
		{"orc name", "t.orc", "", nil, true},
		{"docx name", "report.docx", "", nil, true},
		{"woff2 name", "font.woff2", "", nil, true},
		{"br name", "app.js.br", "", nil, true},
		{"text named .jpg by mistake is stored", "notes.jpg", "text/plain", text, true},
		{"tar is sampled", "x.tar", "", text, false},
		{"pdf name is sampled", "doc.pdf", "", text, false},
		{"no extension, text", "README", "", text, false},
		{"no extension, random", "blob", "", rnd, true},
		{"dot in a directory only", "dir.jpg/file", "", text, false},
		{"unknown type, random sample", "a", "application/octet-stream", rnd, true},
		{"unknown type, text sample", "a.bin", "application/octet-stream", text, false},
		{"empty sample", "a", "", nil, false},
		{"tiny random sample", "a", "", rnd[:511], false},
		{"smallest judged sample", "a", "", rnd[:512], true},
		{"long sample is cut", "a", "", append(randomBytes(3, MaxStoreSample), make([]byte, 1<<20)...), true},
	}
	for _, tt := range tests {
		if got := ShouldStore(tt.key, tt.contentType, tt.sample); got != tt.want {
			t.Errorf("%s: ShouldStore(%q, %q, %d bytes) = %v, want %v", tt.name, tt.key, tt.contentType, len(tt.sample), got, tt.want)
		}
	}
}

// BenchmarkShouldStore measures the decision on a 64 KiB sample, beside
// deflating the sample at level 1 (the check it shortcuts).
func BenchmarkShouldStore(b *testing.B) {
	for _, k := range sampleKinds(b) {
		s := k.data[:min(len(k.data), MaxStoreSample)]
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				ShouldStore("blob", "", s)
			}
		})
		b.Run(k.name+"/deflate-only", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				deflatedSize(s)
			}
		})
	}
}
