package engine

import (
	"context"
	"encoding/json"
	"errors"
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
	// check, when set, is asked before each part upload with the bytes this
	// writer has cut up to the end of that part; an error stops the upload
	// there, as a failed upload would (the space guard).
	check func(end int64) error
	// limit holds part uploads to the backup's bandwidth limit (nil: none).
	limit *throttle
	next  int    // number of the next part to cut
	buf   []byte // written but not yet cut into a part (the checkpoint's tail)
	cut   int64  // bytes cut into parts by this writer

	ctx     context.Context
	parts   chan part
	free    chan []byte    // buffers of uploaded parts, reused for the next ones
	wg      sync.WaitGroup // parts queued and not yet uploaded
	mu      sync.Mutex
	err     error // first upload error
	done    int   // parts uploaded
	uploadd int64 // bytes uploaded
	last    int   // number of the last part uploaded (in this process or before)
	marks   []uploadMark
	closed  chan struct{}
}

// uploadMark waits for part n to be uploaded, to take the upload's state
// at exactly that point (before any later part is written).
type uploadMark struct {
	n  int
	ch chan markResult
}

// markResult is the upload's state once every part up to a mark was
// uploaded, or why it never will be.
type markResult struct {
	state json.RawMessage
	err   error
}

var errPartWriterClosed = errors.New("the archive upload stopped before the checkpoint's parts were written")

type part struct {
	n    int
	data []byte
	end  int64 // bytes cut by this writer up to the end of this part
}

func newPartWriter(ctx context.Context, up connector.Upload, nextPart int, tail []byte) *partWriter {
	p := &partWriter{up: up, next: nextPart, last: nextPart - 1, ctx: ctx, parts: make(chan part), free: make(chan []byte, 1), closed: make(chan struct{})}
	p.buf = append(p.buffer(nextPart), tail...)
	go p.uploader()
	return p
}

func (p *partWriter) uploader() {
	// Marks are answered after closed is closed: mark checks closed under
	// the lock, so none is left waiting.
	defer p.failMarks(errPartWriterClosed)
	defer close(p.closed)
	for pt := range p.parts {
		p.mu.Lock()
		failed := p.err != nil
		p.mu.Unlock()
		if !failed {
			if p.onPart != nil {
				p.onPart()
			}
			var err error
			if p.check != nil {
				err = p.check(pt.end)
			}
			if err == nil {
				err = p.limit.wait(p.ctx, len(pt.data))
			}
			if err == nil {
				err = p.up.WritePart(p.ctx, pt.n, pt.data)
				if err != nil {
					err = fmt.Errorf("upload part %d: %w", pt.n, err)
				}
			}
			if err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				p.failMarks(err)
			} else {
				p.mu.Lock()
				p.done++
				p.uploadd += int64(len(pt.data))
				p.last = pt.n
				var due []uploadMark
				for len(p.marks) > 0 && p.marks[0].n <= pt.n {
					due = append(due, p.marks[0])
					p.marks = p.marks[1:]
				}
				p.mu.Unlock()
				if len(due) > 0 {
					// No later part is written before the state is taken.
					st := p.up.State()
					for _, m := range due {
						m.ch <- markResult{state: st}
					}
				}
			}
		}
		select {
		case p.free <- pt.data[:0]:
		default:
		}
		p.wg.Done()
	}
}

// buffer returns an empty buffer that holds exactly part n, reusing the
// buffer of an uploaded part when one is free, so memory stays at a few
// parts.
func (p *partWriter) buffer(n int) []byte {
	size := int(p.up.PartSize(n))
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
	n := len(b)
	for len(b) > 0 {
		size := int(p.up.PartSize(p.next))
		k := min(len(b), size-len(p.buf))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		if len(p.buf) < size {
			break
		}
		// The full buffer becomes the part; the rest starts the next one.
		data := p.buf
		p.buf = p.buffer(p.next + 1)
		p.cut += int64(len(data))
		p.wg.Add(1)
		select {
		case p.parts <- part{n: p.next, data: data, end: p.cut}:
		case <-p.ctx.Done():
			p.wg.Done()
			return 0, p.ctx.Err()
		}
		p.next++
	}
	return n, nil
}

func (p *partWriter) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// failMarks answers every waiting mark with err.
func (p *partWriter) failMarks(err error) {
	p.mu.Lock()
	marks := p.marks
	p.marks = nil
	p.mu.Unlock()
	for _, m := range marks {
		m.ch <- markResult{err: err}
	}
}

// mark returns a channel that receives the upload's state once every part
// cut so far is uploaded, without waiting for it. It must be called while
// nothing writes to p (between a checkpoint of the archive and the next
// write), so that "cut so far" is well defined.
func (p *partWriter) mark() <-chan markResult {
	ch := make(chan markResult, 1)
	n := p.next - 1
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		ch <- markResult{err: errPartWriterClosed}
		return ch
	default:
	}
	switch {
	case p.err != nil:
		ch <- markResult{err: p.err}
	case p.last >= n:
		// Everything cut is uploaded and no part is being written.
		ch <- markResult{state: p.up.State()}
	default:
		p.marks = append(p.marks, uploadMark{n: n, ch: ch})
	}
	return ch
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

// lastUploaded is the number of the last part uploaded.
func (p *partWriter) lastUploaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// tail returns a copy of the bytes not yet cut into a part.
func (p *partWriter) tail() []byte { return append([]byte(nil), p.buf...) }

// close stops the uploader after the queued parts.
func (p *partWriter) close() {
	close(p.parts)
	<-p.closed
}
