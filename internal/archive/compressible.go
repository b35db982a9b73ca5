package archive

import (
	"math"
	"mime"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Sampling for ShouldStore.
const (
	// MaxStoreSample is the most of a body's first bytes ShouldStore looks
	// at; a longer sample is cut.
	MaxStoreSample = 64 << 10
	// minStoreSample is the least it judges: with fewer bytes it says
	// compress, which costs little on so few bytes.
	minStoreSample = 512
	// storeEntropy is the order-0 entropy (bits per byte) below which a
	// sample compresses: Huffman coding alone saves more than 3%
	// (8 bits * 0.96 = 7.68: the margin pays for the tables and for codes
	// being whole bits).
	storeEntropy = 7.68
	// storeMinSaving is the saving below which a sample is stored: a
	// deflate (level 1) that saves less than 3% is not worth its CPU.
	storeMinSaving = 0.03
)

// ShouldStore reports whether a body should go into the archive stored
// (EntryHeader.Stored) rather than compressed, because it would hardly
// compress: name is the object's key or file name, contentType its
// Content-Type (either may be empty), sample the first bytes of its body
// (up to MaxStoreSample are used). A known compressed content type (JPEG,
// PNG, video, most audio, zip, gzip, zstd, Parquet, office documents, ...)
// or file name extension says store; otherwise the sample decides: store
// when compressing it would save under 3% (see sampleCompresses). An
// empty or tiny sample (under 512 bytes) says compress. A wrong answer costs ratio or CPU, never
// correctness: every entry reads back the same either way.
func ShouldStore(name, contentType string, sample []byte) bool {
	if storedContentType(contentType) || storedExtension(name) {
		return true
	}
	if len(sample) < minStoreSample {
		return false
	}
	return !sampleCompresses(sample[:min(len(sample), MaxStoreSample)])
}

// storedTypes are Content-Types whose bodies are already compressed.
var storedTypes = setOf(
	// Images.
	"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/apng", "image/gif", "image/webp",
	"image/avif", "image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence", "image/jxl",
	"image/jp2", "image/jpx", "image/x-icns",
	// Archives and compressed streams.
	"application/zip", "application/x-zip-compressed", "application/gzip", "application/x-gzip",
	"application/zstd", "application/x-zstd", "application/x-7z-compressed", "application/x-rar-compressed",
	"application/vnd.rar", "application/x-rar", "application/x-bzip", "application/x-bzip2", "application/x-xz",
	"application/x-lz4", "application/x-lzip", "application/x-lzma", "application/x-brotli", "application/x-compress",
	"application/x-compressed-tar", "application/x-gtar-compressed", "application/vnd.ms-cab-compressed",
	"application/x-apple-diskimage", "application/x-snappy-framed",
	// Columnar data, compressed by block.
	"application/vnd.apache.parquet", "application/x-parquet", "application/parquet",
	"application/vnd.apache.orc", "application/x-orc",
	// Zip containers.
	"application/java-archive", "application/x-java-archive", "application/vnd.android.package-archive",
	"application/epub+zip", "application/x-xpinstall", "application/vnd.google-earth.kmz",
	// Media containers that say application/.
	"application/ogg", "application/mp4", "application/vnd.apple.mpegurl.audio",
	// Fonts compressed inside.
	"font/woff", "font/woff2", "application/font-woff", "application/font-woff2", "application/x-font-woff",
)

// storedTypePrefixes are Content-Type prefixes of compressed formats:
// office documents are zip files.
var storedTypePrefixes = []string{
	"video/",
	"audio/",
	"application/vnd.openxmlformats-officedocument.",
	"application/vnd.oasis.opendocument.",
	"application/vnd.ms-excel.sheet.macroenabled",
	"application/vnd.ms-word.document.macroenabled",
	"application/vnd.ms-powerpoint.presentation.macroenabled",
}

// compressibleAudio are audio types that are not compressed: PCM (WAV,
// AIFF, raw) and MIDI.
var compressibleAudio = setOf(
	"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/aiff", "audio/x-aiff",
	"audio/basic", "audio/l8", "audio/l16", "audio/l20", "audio/l24", "audio/pcm", "audio/x-pcm",
	"audio/midi", "audio/x-midi", "audio/mid", "audio/sp-midi",
)

// storedExtensions are file name extensions of compressed formats.
var storedExtensions = setOf(
	// Images.
	".jpg", ".jpeg", ".jpe", ".jfif", ".pjpeg", ".png", ".apng", ".gif", ".webp", ".avif", ".heic",
	".heif", ".jxl", ".jp2", ".j2k", ".icns",
	// Video.
	".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".m2ts",
	".mts", ".3gp", ".3g2", ".ogv", ".vob", ".hevc", ".h264", ".h265",
	// Audio.
	".mp3", ".m4a", ".m4b", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wma", ".amr", ".ape", ".wv",
	// Archives and compressed streams.
	".zip", ".gz", ".tgz", ".bz2", ".tbz", ".tbz2", ".xz", ".txz", ".zst", ".zstd", ".tzst", ".lz4",
	".lz", ".lzma", ".7z", ".rar", ".br", ".z", ".cab", ".sz", ".snappy", ".dmg", ".deb", ".rpm",
	".apk", ".aab", ".ipa", ".xpi", ".crx", ".whl", ".nupkg", ".gem", ".vsix",
	// Columnar and other block-compressed data.
	".parquet", ".orc",
	// Zip containers.
	".jar", ".war", ".ear", ".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm", ".odt", ".ods",
	".odp", ".odg", ".epub", ".kmz", ".pages", ".numbers", ".key",
	// Fonts.
	".woff", ".woff2",
)

// setOf builds a set of strings.
func setOf(items ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(items))
	for _, s := range items {
		m[s] = struct{}{}
	}
	return m
}

// storedContentType reports whether a Content-Type names a compressed
// format. Parameters (charset, ...) and case are ignored.
func storedContentType(ct string) bool {
	if ct == "" {
		return false
	}
	t, _, err := mime.ParseMediaType(ct)
	if err != nil {
		t, _, _ = strings.Cut(ct, ";")
		t = strings.ToLower(strings.TrimSpace(t))
	}
	if _, ok := storedTypes[t]; ok {
		return true
	}
	if strings.HasPrefix(t, "audio/") {
		_, pcm := compressibleAudio[t]
		return !pcm
	}
	for _, p := range storedTypePrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// storedExtension reports whether a name ends in the extension of a
// compressed format, in any case.
func storedExtension(name string) bool {
	ext := path.Ext(name)
	if ext == "" || len(ext) > 10 {
		return false
	}
	_, ok := storedExtensions[strings.ToLower(ext)]
	return ok
}

// sampleCompresses reports whether compressing the sample would save at
// least storeMinSaving, by Huffman coding or by matches. Its order-0
// entropy is measured first: text, JSON, logs, base64 and most binary
// formats are far below storeEntropy and are answered at the cost of
// counting bytes. A sample above it (random looking bytes, as compressed
// or encrypted data are) may still hold repeats that only a match search
// finds, so it is deflated at level 1, which on such data runs fast.
func sampleCompresses(sample []byte) bool {
	if entropy(sample) < storeEntropy {
		return true
	}
	return deflatedSize(sample) <= int(float64(len(sample))*(1-storeMinSaving))
}

// entropy estimates the order-0 Shannon entropy of p's source in bits per
// byte. The plain estimate from a few thousand bytes is low (a 512-byte
// random sample shows about 7.6 bits); the Miller-Madow correction adds
// (distinct values - 1) / (2 n ln 2) back.
func entropy(p []byte) float64 {
	// Four tables break the dependency between the increments of
	// neighbouring bytes of the same value.
	var c [4][256]uint32
	i := 0
	for ; i+4 <= len(p); i += 4 {
		c[0][p[i]]++
		c[1][p[i+1]]++
		c[2][p[i+2]]++
		c[3][p[i+3]]++
	}
	for ; i < len(p); i++ {
		c[0][p[i]]++
	}
	if len(p) == 0 {
		return 0
	}
	n := float64(len(p))
	var h float64
	distinct := 0
	for b := range 256 {
		if k := c[0][b] + c[1][b] + c[2][b] + c[3][b]; k > 0 {
			f := float64(k) / n
			h -= f * math.Log2(f)
			distinct++
		}
	}
	return h + float64(distinct-1)/(2*n*math.Ln2)
}

// sampleDeflaters are level-1 deflaters for deflatedSize.
var sampleDeflaters = sync.Pool{New: func() any {
	fw, _ := flate.NewWriter(nil, flate.BestSpeed) // level 1 is valid: no error
	return fw
}}

// byteCounter counts what is written to it.
type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// deflatedSize is the size of p deflated at level 1.
func deflatedSize(p []byte) int {
	fw := sampleDeflaters.Get().(*flate.Writer)
	defer sampleDeflaters.Put(fw)
	var n byteCounter
	fw.Reset(&n)
	_, _ = fw.Write(p) // a byteCounter does not fail
	_ = fw.Close()
	return int(n)
}

// sampleSlices is how many slices spreadSample takes.
const sampleSlices = 8

// spreadSample returns p when it is at most n bytes, else n bytes made of
// sampleSlices slices evenly spread over it, copied into *buf (made when
// it is too small): a sample of the whole piece, not of its start.
func spreadSample(p []byte, n int, buf *[]byte) []byte {
	if len(p) <= n {
		return p
	}
	if cap(*buf) < n {
		*buf = make([]byte, 0, n)
	}
	out := (*buf)[:0]
	slice := n / sampleSlices
	step := (len(p) - slice) / (sampleSlices - 1)
	for i := range sampleSlices {
		out = append(out, p[i*step:i*step+slice]...)
	}
	return out
}
