package archive

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdWriter writes zstd frames (RFC 8878): compressed runs of input as
// frames of klauspost/compress/zstd, stored runs as frames of raw blocks
// that it writes itself, so stored bytes cost a copy and a checksum. A
// switch between the two ends a frame; concatenated frames are one stream
// to every zstd reader.
type zstdWriter struct {
	out     io.Writer
	level   zstd.EncoderLevel
	enc     *zstd.Encoder // made for the first compressed frame, then Reset
	encOpen bool          // enc has a frame open
	raw     rawFrameWriter
	stored  bool
	err     error // sticky
}

// newZstdWriter returns a zstdWriter compressing at level.
func newZstdWriter(out io.Writer, level zstd.EncoderLevel) *zstdWriter {
	return &zstdWriter{out: out, level: level, raw: rawFrameWriter{out: out}}
}

func (z *zstdWriter) setStored(stored bool) { z.stored = stored }

// Write writes p to the open frame of its kind, ending the other one.
func (z *zstdWriter) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if z.stored {
		if err := z.endCompressed(); err != nil {
			return 0, err
		}
		n, err := z.raw.Write(p)
		if err != nil {
			z.err = fmt.Errorf("writing a raw zstd frame: %w", err)
		}
		return n, z.err
	}
	if err := z.endRaw(); err != nil {
		return 0, err
	}
	if !z.encOpen {
		if z.enc == nil {
			enc, err := zstd.NewWriter(z.out,
				zstd.WithEncoderLevel(z.level),
				zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
				zstd.WithEncoderCRC(true))
			if err != nil {
				z.err = fmt.Errorf("starting the zstd compressor: %w", err)
				return 0, z.err
			}
			z.enc = enc
		} else {
			z.enc.Reset(z.out)
		}
		z.encOpen = true
	}
	n, err := z.enc.Write(p)
	if err != nil {
		z.err = fmt.Errorf("compressing with zstd: %w", err)
	}
	return n, z.err
}

// endCompressed ends the open compressed frame, if any.
func (z *zstdWriter) endCompressed() error {
	if !z.encOpen {
		return nil
	}
	z.encOpen = false
	if err := z.enc.Close(); err != nil {
		z.err = fmt.Errorf("ending a zstd frame: %w", err)
	}
	return z.err
}

// endRaw ends the open raw frame, if any.
func (z *zstdWriter) endRaw() error {
	if err := z.raw.end(); err != nil {
		z.err = fmt.Errorf("ending a raw zstd frame: %w", err)
	}
	return z.err
}

// Close ends the open frame.
func (z *zstdWriter) Close() error {
	if z.err != nil {
		return z.err
	}
	if err := z.endCompressed(); err != nil {
		return err
	}
	return z.endRaw()
}

func (z *zstdWriter) abort() {
	if z.encOpen {
		// The encoder's goroutines stop once the frame is closed; what it
		// writes goes to a discarding sink.
		_ = z.enc.Close()
		z.encOpen = false
	}
	z.raw.open = false
	if z.err == nil {
		z.err = errCompressorAborted
	}
}

// Raw zstd frames.
const (
	// zstdRawBlockSize is the largest block a frame may hold (128 KiB).
	zstdRawBlockSize = 128 << 10
	// zstdFrameDescriptor: no content size (not known when the frame
	// starts), not single segment (so a window descriptor follows), a
	// content checksum, no dictionary.
	zstdFrameDescriptor = 0x04
	// zstdWindow128K is the window descriptor of a 128 KiB window
	// (exponent 7: 2^(10+7)), the least that allows 128 KiB blocks. Raw
	// blocks never reference it, but a decoder may allocate it.
	zstdWindow128K = 7 << 3
	// zstdBlockRaw is the Block_Type of a raw block.
	zstdBlockRaw = 0
)

// rawFrameWriter writes one zstd frame of raw blocks at a time: the
// header at the first byte, then blocks of zstdRawBlockSize, the last of
// them marked last when the frame ends, then the checksum (the low 32
// bits of the XXH64 of the content). The last block is held back until
// more bytes come or the frame ends, since its header says whether it is
// the last.
type rawFrameWriter struct {
	out     io.Writer
	open    bool
	pending []byte // the block held back
	sum     xxh64
}

func (r *rawFrameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !r.open {
		hdr := [6]byte{0x28, 0xb5, 0x2f, 0xfd, zstdFrameDescriptor, zstdWindow128K}
		if _, err := r.out.Write(hdr[:]); err != nil {
			return 0, err
		}
		r.open = true
		r.sum.reset()
		if r.pending == nil {
			r.pending = make([]byte, 0, zstdRawBlockSize)
		}
		r.pending = r.pending[:0]
	}
	n := 0
	for len(p) > 0 {
		if len(r.pending) == zstdRawBlockSize {
			if err := r.block(r.pending, false); err != nil {
				return n, err
			}
			r.pending = r.pending[:0]
		}
		if len(r.pending) == 0 && len(p) > zstdRawBlockSize {
			// A whole block with more bytes after it: straight from p.
			r.sum.Write(p[:zstdRawBlockSize])
			if err := r.block(p[:zstdRawBlockSize], false); err != nil {
				return n, err
			}
			p = p[zstdRawBlockSize:]
			n += zstdRawBlockSize
			continue
		}
		k := min(len(p), zstdRawBlockSize-len(r.pending))
		r.sum.Write(p[:k])
		r.pending = append(r.pending, p[:k]...)
		p = p[k:]
		n += k
	}
	return n, nil
}

// block writes one raw block: a 3-byte little-endian header (Last_Block,
// Block_Type, Block_Size), then the bytes.
func (r *rawFrameWriter) block(b []byte, last bool) error {
	h := uint32(len(b))<<3 | zstdBlockRaw<<1
	if last {
		h |= 1
	}
	hdr := [3]byte{byte(h), byte(h >> 8), byte(h >> 16)}
	if _, err := r.out.Write(hdr[:]); err != nil {
		return err
	}
	_, err := r.out.Write(b)
	return err
}

// end writes the held-back block as the last one and the checksum.
func (r *rawFrameWriter) end() error {
	if !r.open {
		return nil
	}
	r.open = false
	if err := r.block(r.pending, true); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], uint32(r.sum.Sum64()))
	_, err := r.out.Write(sum[:])
	return err
}
