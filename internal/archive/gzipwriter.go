package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// The parallel deflate writer cuts its input into blocks: compressed
// blocks are deflated side by side, each with the window of input before
// it as dictionary, and stored blocks are framed as they are. The output is
// written in input order, so it is one ordinary deflate stream per gzip
// member (RFC 1951, RFC 1952) that any gunzip reads.
const (
	// deflateBlockSize is the most input one block holds (just under
	// 1 MiB: 16 full stored blocks, so that a long stored run is framed
	// in as few of them as possible); a block also ends where the input
	// switches between stored and compressed.
	deflateBlockSize = 16 * maxStoredLen
	// deflateWindow is how far back a deflate match may reach, and so the
	// largest useful dictionary.
	deflateWindow = 32 << 10
	// minDeflateDict and dictPerByte size the dictionary of a small block:
	// at least minDeflateDict, dictPerByte times the block, at most the
	// window. Priming the matcher with a dictionary costs about as much as
	// compressing it, which a 2 KiB tar header does not repay with 32 KiB.
	minDeflateDict = 4 << 10
	dictPerByte    = 4
	// maxStoredLen is the most a deflate stored block holds (LEN is 16 bits).
	maxStoredLen = 1<<16 - 1
	// maxDeflateWorkers bounds the compressing goroutines of one writer,
	// and so its memory: two blocks in flight per worker, about 2 MiB each.
	maxDeflateWorkers = 32
)

// gzipWriter writes gzip members whose deflate streams it builds itself,
// compressing blocks in parallel with klauspost/compress/flate and writing
// the blocks marked stored as deflate stored blocks, which costs no CPU
// beyond a copy and the CRC. Switching between the two only ends a block:
// blocks already handed to the workers go on, nothing waits for them.
//
// The goroutines (workers and the one writing to out in order) run from
// the first Write of a member to its Close; the blocks and flate writers
// stay with the gzipWriter for the next member.
type gzipWriter struct {
	out     io.Writer
	level   int  // klauspost/compress/flate level
	xfl     byte // the gzip header's XFL byte for that level
	workers int
	fws     []*flate.Writer      // one per worker, made with the first member
	free    chan *deflateBlock   // every block not in flight nor being filled
	err     error                // sticky: the writer is broken or aborted
	errOut  error                // the output goroutine's first error; under mu
	mu      sync.Mutex           // guards errOut
	wg      sync.WaitGroup       // the member's goroutines
	work    chan<- *deflateBlock // compressed blocks for the workers
	order   chan<- *deflateBlock // every block, in input order, for the output
	hist    []byte               // the member's last input bytes (deflateWindow at most) before cur
	cur     *deflateBlock        // the block being filled; nil when no member is open
	stored  bool                 // how the next bytes are written
	crc     uint32               // CRC-32 of the member's input; the output goroutine's
	isize   uint32               // the member's input size mod 2^32; the output goroutine's
	histRaw int                  // how many of hist's last bytes were stored blocks' (useless as a dictionary)
}

// deflateBlock is one block of input and, once deflated, its output.
type deflateBlock struct {
	stored bool
	// buf is deflateWindow bytes of room for the dictionary, then the
	// block's input: the dictionary is buf[dict:deflateWindow].
	buf  []byte
	dict int
	out  bytes.Buffer  // deflate blocks ending in a sync flush
	err  error         // from deflating
	done chan struct{} // a worker has deflated it
}

// input is the block's uncompressed bytes.
func (b *deflateBlock) input() []byte { return b.buf[deflateWindow:] }

// newGzipWriter returns a gzipWriter at flate level level with up to
// workers compressing goroutines.
func newGzipWriter(out io.Writer, level, workers int) *gzipWriter {
	workers = max(1, min(workers, maxDeflateWorkers))
	g := &gzipWriter{out: out, level: level, workers: workers}
	switch level {
	case flate.BestCompression:
		g.xfl = 2
	case flate.BestSpeed:
		g.xfl = 4
	}
	return g
}

// errCompressorAborted is the sticky error of an aborted compressor.
var errCompressorAborted = errors.New("the compressor was aborted")

func (g *gzipWriter) setStored(stored bool) { g.stored = stored }

// Write copies p into blocks, starting a member if none is open.
func (g *gzipWriter) Write(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if g.cur == nil {
		if err := g.begin(); err != nil {
			return 0, err
		}
	}
	n := 0
	for len(p) > 0 {
		if err := g.outErr(); err != nil {
			g.err = err
			return n, err
		}
		b := g.cur
		if len(b.buf) > deflateWindow && (b.stored != g.stored || len(b.buf) == cap(b.buf)) {
			g.submit(b)
			b = g.take()
			g.cur = b
		}
		b.stored = g.stored // b is empty or already of this mode
		k := min(len(p), cap(b.buf)-len(b.buf))
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
		n += k
	}
	return n, nil
}

// begin writes a member's gzip header and starts its goroutines.
func (g *gzipWriter) begin() error {
	if g.free == nil {
		nblocks := 2*g.workers + 2
		g.free = make(chan *deflateBlock, nblocks)
		for range nblocks {
			g.free <- &deflateBlock{done: make(chan struct{}, 1)}
		}
		g.fws = make([]*flate.Writer, g.workers)
		for i := range g.fws {
			fw, err := flate.NewWriter(io.Discard, g.level)
			if err != nil {
				g.err = fmt.Errorf("starting the deflate compressor: %w", err)
				return g.err
			}
			g.fws[i] = fw
		}
		g.hist = make([]byte, 0, deflateWindow)
	}
	// ID1 ID2, CM 8 (deflate), no flags, no MTIME, XFL, OS 255 (unknown).
	hdr := [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, g.xfl, 255}
	if _, err := g.out.Write(hdr[:]); err != nil {
		g.err = fmt.Errorf("writing a gzip member header: %w", err)
		return g.err
	}
	g.hist, g.histRaw = g.hist[:0], 0
	g.crc, g.isize, g.errOut = 0, 0, nil
	nblocks := cap(g.free)
	work := make(chan *deflateBlock, nblocks)
	order := make(chan *deflateBlock, nblocks)
	g.work, g.order = work, order
	g.wg.Add(g.workers + 1)
	for _, fw := range g.fws {
		go g.deflate(fw, work)
	}
	go g.output(order)
	g.cur = g.take()
	return nil
}

// take returns an empty block, waiting for one to come back from the
// output goroutine when all are in flight.
func (g *gzipWriter) take() *deflateBlock {
	b := <-g.free
	if b.buf == nil {
		b.buf = make([]byte, deflateWindow, deflateWindow+deflateBlockSize)
	}
	b.buf = b.buf[:deflateWindow]
	b.stored = g.stored
	return b
}

// submit hands a filled block on: to the output goroutine in order and,
// for a compressed one, to the workers with its dictionary.
func (g *gzipWriter) submit(b *deflateBlock) {
	in := b.input()
	if b.stored {
		b.dict = deflateWindow
	} else {
		n := min(len(g.hist), max(minDeflateDict, dictPerByte*len(in)))
		if g.histRaw >= n {
			n = 0 // only stored (incompressible) bytes to match against
		}
		b.dict = deflateWindow - n
		copy(b.buf[b.dict:deflateWindow], g.hist[len(g.hist)-n:])
	}
	g.remember(in, b.stored)
	g.order <- b
	if !b.stored {
		g.work <- b
	}
}

// remember keeps the last deflateWindow bytes of input, the dictionary of
// the next compressed block.
func (g *gzipWriter) remember(in []byte, stored bool) {
	if len(in) >= deflateWindow {
		g.hist = append(g.hist[:0], in[len(in)-deflateWindow:]...)
	} else {
		if drop := len(g.hist) + len(in) - deflateWindow; drop > 0 {
			g.hist = g.hist[:copy(g.hist, g.hist[drop:])]
		}
		g.hist = append(g.hist, in...)
	}
	if stored {
		g.histRaw = min(g.histRaw+len(in), len(g.hist))
	} else {
		g.histRaw = 0
	}
}

// deflate is a worker: it compresses blocks into deflate blocks that end
// byte aligned with a sync flush (an empty stored block, not final), so
// that the next block's bits start on a byte boundary.
func (g *gzipWriter) deflate(fw *flate.Writer, work <-chan *deflateBlock) {
	defer g.wg.Done()
	for b := range work {
		b.out.Reset()
		fw.ResetDict(&b.out, b.buf[b.dict:deflateWindow])
		_, err := fw.Write(b.input())
		if err == nil {
			err = fw.Flush()
		}
		b.err = err
		b.done <- struct{}{}
	}
}

// output writes the blocks to out in order, stored ones framed as deflate
// stored blocks, and keeps the member's CRC-32 and size. After an error it
// writes nothing more but still hands every block back.
func (g *gzipWriter) output(order <-chan *deflateBlock) {
	defer g.wg.Done()
	failed := false
	for b := range order {
		if !b.stored {
			<-b.done
		}
		in := b.input()
		if !failed {
			var err error
			switch {
			case b.stored:
				err = writeStoredBlocks(g.out, in)
			case b.err != nil:
				err = fmt.Errorf("deflating: %w", b.err)
			default:
				_, err = g.out.Write(b.out.Bytes())
			}
			if err != nil {
				failed = true
				g.mu.Lock()
				g.errOut = err
				g.mu.Unlock()
			}
		}
		g.crc = crc32.Update(g.crc, crc32.IEEETable, in)
		g.isize += uint32(len(in))
		g.free <- b
	}
}

// outErr is the output goroutine's error, if any.
func (g *gzipWriter) outErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.errOut
}

// writeStoredBlocks writes p as deflate stored blocks, none final, at a
// byte boundary: a header byte (BFINAL 0, BTYPE 00, then the padding to
// the byte boundary, all zero), LEN and NLEN little-endian, the bytes.
func writeStoredBlocks(w io.Writer, p []byte) error {
	var hdr [5]byte
	for len(p) > 0 {
		n := min(len(p), maxStoredLen)
		binary.LittleEndian.PutUint16(hdr[1:], uint16(n))
		binary.LittleEndian.PutUint16(hdr[3:], ^uint16(n))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Close ends the open member: it writes the last block, waits for the
// blocks in flight, then writes the final (empty, stored) deflate block
// and the gzip trailer (CRC-32 and size of the member's input).
func (g *gzipWriter) Close() error { return g.end() }

// stop ends the open member's goroutines once its last block is written
// (or, after an error, dropped); it does not write the trailer.
func (g *gzipWriter) stop() {
	if g.cur == nil {
		return
	}
	if len(g.cur.buf) > deflateWindow && g.err == nil {
		g.submit(g.cur)
	} else {
		g.free <- g.cur
	}
	g.cur = nil
	close(g.work)
	close(g.order)
	g.wg.Wait()
	g.work, g.order = nil, nil
	if g.err == nil && g.errOut != nil {
		g.err = g.errOut
	}
}

// end finishes the open member, if any.
func (g *gzipWriter) end() error {
	if g.cur == nil {
		return g.err
	}
	g.stop()
	if g.err != nil {
		return g.err
	}
	// BFINAL 1, BTYPE 00, LEN 0, NLEN 0xffff; then CRC32 and ISIZE.
	var tail [13]byte
	tail[0] = 1
	tail[3], tail[4] = 0xff, 0xff
	binary.LittleEndian.PutUint32(tail[5:], g.crc)
	binary.LittleEndian.PutUint32(tail[9:], g.isize)
	if _, err := g.out.Write(tail[:]); err != nil {
		g.err = fmt.Errorf("writing a gzip member trailer: %w", err)
	}
	return g.err
}

func (g *gzipWriter) abort() {
	if g.err == nil {
		g.err = errCompressorAborted
	}
	g.stop()
}
