package archive

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// Compression names the codec that compresses an archive's tar stream.
type Compression string

// The supported codecs. Gzip is the default.
const (
	// Gzip compresses with parallel gzip (klauspost/pgzip); files end in .tar.gz.
	Gzip Compression = "gzip"
	// Zstd compresses with Zstandard (klauspost/compress/zstd); files end in .tar.zst.
	Zstd Compression = "zstd"
)

// gzipBlockSize is the size of the blocks pgzip compresses in parallel.
const gzipBlockSize = 1 << 20

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

// newCompressor starts one gzip member or zstd frame written to w. Closing
// it ends the member or frame and flushes everything to w.
func newCompressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		z, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("starting the gzip compressor: %w", err)
		}
		if err := z.SetConcurrency(gzipBlockSize, runtime.GOMAXPROCS(0)); err != nil {
			return nil, fmt.Errorf("configuring the gzip compressor: %w", err)
		}
		return z, nil
	case Zstd:
		z, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("starting the zstd compressor: %w", err)
		}
		return z, nil
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
