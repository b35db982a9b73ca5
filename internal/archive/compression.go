package archive

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// Compression names the codec that compresses an archive's tar stream.
type Compression string

// The supported codecs. Gzip is the default.
const (
	// Gzip compresses with parallel deflate (gzipWriter, on
	// klauspost/compress/flate); files end in .tar.gz.
	Gzip Compression = "gzip"
	// Zstd compresses with Zstandard (klauspost/compress/zstd); files end in .tar.zst.
	Zstd Compression = "zstd"
)

// ParseCompression turns a backup option into a Compression. The empty
// string means the default, Gzip. An unknown name is an apperr.Invalid error
// whose message tells the user what to choose.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(Gzip):
		return Gzip, nil
	case string(Zstd):
		return Zstd, nil
	}
	return "", apperr.New(apperr.Invalid,
		"The compression %q is not supported: choose \"gzip\" or \"zstd\".", s)
}

// Ext is the file name extension of an archive with this compression
// (".tar.gz" or ".tar.zst"); it is empty for an unknown value.
func (c Compression) Ext() string {
	switch c {
	case Gzip:
		return ".tar.gz"
	case Zstd:
		return ".tar.zst"
	}
	return ""
}

// AgeExt ends the name of an archive encrypted with age ("….tar.gz.age").
const AgeExt = ".age"

// valid reports whether c is one of the supported codecs.
func (c Compression) valid() bool { return c == Gzip || c == Zstd }

// Level is how hard the compressor works on the archive's compressed
// parts: more CPU for fewer bytes. It does not change the format: any
// gzip or zstd reader reads every level.
type Level string

// The compression levels. The empty Level means LevelDefault.
const (
	// LevelFastest spends the least CPU: deflate level 1, zstd's fastest.
	LevelFastest Level = "fastest"
	// LevelDefault is the balance coffer has always used: the deflate
	// level pgzip uses by default, zstd's default.
	LevelDefault Level = "default"
	// LevelBest compresses hardest: deflate level 9, and zstd's "better"
	// level (its "best" level runs at a fraction of the speed for a few
	// percent, too slow for a backup of any size).
	LevelBest Level = "best"
)

// ParseLevel turns a backup option into a Level. The empty string means
// LevelDefault. An unknown name is an apperr.Invalid error whose message
// tells the user what to choose.
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToLower(strings.TrimSpace(s))); l {
	case "":
		return LevelDefault, nil
	case LevelFastest, LevelDefault, LevelBest:
		return l, nil
	}
	return "", apperr.New(apperr.Invalid,
		"The compression level %q is not supported: choose \"fastest\", \"default\" or \"best\".", s)
}

// valid reports whether l is a known level or empty (the default).
func (l Level) valid() bool {
	switch l {
	case "", LevelFastest, LevelDefault, LevelBest:
		return true
	}
	return false
}

// orDefault is l, with the empty Level spelled LevelDefault.
func (l Level) orDefault() Level {
	if l == "" {
		return LevelDefault
	}
	return l
}

// flateLevel is the klauspost/compress/flate level of l. The default is
// flate.DefaultCompression, which is what pgzip used and still uses.
func (l Level) flateLevel() int {
	switch l {
	case LevelFastest:
		return flate.BestSpeed
	case LevelBest:
		return flate.BestCompression
	}
	return flate.DefaultCompression
}

// zstdLevel is the zstd encoder level of l.
func (l Level) zstdLevel() zstd.EncoderLevel {
	switch l {
	case LevelFastest:
		return zstd.SpeedFastest
	case LevelBest:
		return zstd.SpeedBetterCompression
	}
	return zstd.SpeedDefault
}

// compressor is the stage of a Writer between tar and the output: it
// writes gzip members or zstd frames, each byte either compressed or
// stored as it is (setStored), and ends the member or frame on Close. The
// first Write after Close (or after it was made) starts a new one, so a
// Close with nothing written since adds nothing. Its methods are called
// from one goroutine; it may write to out from goroutines of its own, but
// none is left running once Close or abort returns.
type compressor interface {
	// Write writes p, compressed or stored as setStored last said.
	Write(p []byte) (int, error)
	// setStored chooses how the following bytes are written: stored
	// (not compressed: deflate stored blocks, zstd raw blocks) or
	// compressed.
	setStored(stored bool)
	// Close ends the open member or frame, if any, and flushes it to out.
	Close() error
	// abort stops without writing anything more and releases the
	// goroutines and buffers; the compressor is unusable afterwards.
	abort()
}

// newCompressor returns the compressor of codec c at level l writing to w.
func newCompressor(c Compression, l Level, w io.Writer) (compressor, error) {
	switch c {
	case Gzip:
		return newGzipWriter(w, l.flateLevel(), runtime.GOMAXPROCS(0)), nil
	case Zstd:
		return newZstdWriter(w, l.zstdLevel()), nil
	}
	return nil, fmt.Errorf("unsupported compression %q", string(c))
}

// Magic numbers at the start of every gzip member and zstd frame.
const (
	gzipMagic = "\x1f\x8b"
	zstdMagic = "\x28\xb5\x2f\xfd"
)

// zstdMaxWindow bounds the window a zstd frame may ask the decoder for. The
// Writer uses at most 8 MiB; the bound leaves room for archives compressed
// by the zstd tool with --long.
const zstdMaxWindow = 128 << 20
