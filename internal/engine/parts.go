package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/coffer-backup/coffer/internal/connector"
)

// partWriter cuts the compressed archive stream into the destination's parts
// and uploads them in the background, one at a time and in order, while the
// next part fills. At most three part buffers exist: the one uploading, the
// one filling, and one kept for reuse.
type partWriter struct {
	up     connector.Upload
	onPart func() // called before each part upload (fault injection in tests)
	next   int    // number of the next part to cut
	buf    []byte // written but not yet cut into a part (the checkpoint's tail)

	ctx     context.Context
	parts   chan part
	free    chan []byte    // buffers of uploaded parts, reused for the next ones
	wg      sync.WaitGroup // parts queued and not yet uploaded
	mu      sync.Mutex
	err     error // first upload error
	done    int   // parts uploaded
	uploadd int64 // bytes uploaded
	closed  chan struct{}
}

type part struct {
	n    int
	data []byte
}

func newPartWriter(ctx context.Context, up connector.Upload, nextPart int, tail []byte) *partWriter {
	p := &partWriter{up: up, next: nextPart, ctx: ctx, parts: make(chan part), free: make(chan []byte, 1), closed: make(chan struct{})}
	p.buf = append(p.buffer(nextPart), tail...)
	go p.uploader()
	return p
}

func (p *partWriter) uploader() {
	defer close(p.closed)
	for pt := range p.parts {
		p.mu.Lock()
		failed := p.err != nil
		p.mu.Unlock()
		if !failed {
			if p.onPart != nil {
				p.onPart()
			}
			if err := p.up.WritePart(p.ctx, pt.n, pt.data); err != nil {
				p.mu.Lock()
				p.err = fmt.Errorf("upload part %d: %w", pt.n, err)
				p.mu.Unlock()
			} else {
				p.mu.Lock()
				p.done++
				p.uploadd += int64(len(pt.data))
				p.mu.Unlock()
			}
		}
		select {
		case p.free <- pt.data[:0]:
		default:
		}
		p.wg.Done()
	}
}

// bufSlack is room beyond a part's size for the compressor's last write
// (pgzip writes at most one 1 MiB block at a time).
const bufSlack = 1<<20 + 64<<10

// buffer returns an empty buffer that can hold part n, reusing the buffer
// of an uploaded part when one is free, so memory stays at a few parts.
func (p *partWriter) buffer(n int) []byte {
	size := int(p.up.PartSize(n)) + bufSlack
	select {
	case b := <-p.free:
		if cap(b) >= size {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, size)
}

// Write buffers b and hands every full part to the uploader.
func (p *partWriter) Write(b []byte) (int, error) {
	if err := p.failed(); err != nil {
		return 0, err
	}
	p.buf = append(p.buf, b...)
	for {
		size := int(p.up.PartSize(p.next))
		if len(p.buf) < size {
			return len(b), nil
		}
		// The full buffer becomes the part; the rest starts the next one.
		data := p.buf[:size:size]
		p.buf = append(p.buffer(p.next+1), p.buf[size:]...)
		p.wg.Add(1)
		select {
		case p.parts <- part{n: p.next, data: data}:
		case <-p.ctx.Done():
			p.wg.Done()
			return 0, p.ctx.Err()
		}
		p.next++
	}
}

func (p *partWriter) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// sync waits until every cut part is uploaded and reports the first error.
func (p *partWriter) sync() error {
	p.wg.Wait()
	return p.failed()
}

// uploaded reports how many parts and bytes are durable at the destination.
func (p *partWriter) uploaded() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done, p.uploadd
}

// tail returns a copy of the bytes not yet cut into a part.
func (p *partWriter) tail() []byte { return append([]byte(nil), p.buf...) }

// close stops the uploader after the queued parts.
func (p *partWriter) close() {
	close(p.parts)
	<-p.closed
}
