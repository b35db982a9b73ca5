package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/object"
)

// prefetchBudget bounds the bytes of objects fetched ahead of their turn.
const prefetchBudget = 24 << 20

// refsAhead bounds the unchanged objects of an incremental backup that the
// listing may run ahead with: they cost nothing to hand on, and letting
// them pass keeps the objects to read behind them fetched several at once.
const refsAhead = 4096

// keptBuffers bounds the bytes of emptied object buffers and chunks a
// fetcher keeps for the next objects.
const keptBuffers = prefetchBudget / 3

// Objects larger than the small-object size are streamed: read ahead in
// chunks of streamChunk bytes, at most streamWindow bytes ahead of the
// archive, so a large object's bytes are already in memory when its turn
// comes, and its reading overlaps the compression of the ones before it.
// At most streamsAhead are open at once: the one being archived and the
// next, whose request is then already answered when its turn comes.
const (
	streamChunk  = 1 << 20
	streamWindow = 2 * streamChunk
	streamsAhead = 2
)

// fetched is one object ready to be archived, in key order, or one an
// incremental backup leaves where it is (ref set, no body).
type fetched struct {
	obj  object.Object
	body io.ReadCloser
	err  error
	// ref is the manifest entry of an object unchanged since the base of
	// an incremental backup: the archive that holds its bytes.
	ref *archive.ManifestEntry
}

// fetcher lists the source after a key and fetches objects several at a
// time, handing them on strictly in key order. Small objects are read into
// memory ahead of their turn; larger ones are read ahead through a window
// of a few chunks. The bytes held ahead stay within prefetchBudget: the
// lister takes each object's share, in key order, before its fetch starts,
// and the share comes back once the object is archived.
type fetcher struct {
	ctx     context.Context // listing and prefetching; ended by pause or cancel
	bodyCtx context.Context // reading streamed objects; a pause lets the one being archived finish
	src     connector.ObjectSource
	small   int64
	lg      *joblog.Logger
	onPage  func(bytes int64) // called with the size of each listed page
	// unchanged, when set, tells the objects an incremental backup does
	// not read: it returns the entry of the archive that holds one
	// unchanged since the base, nil for one to read. It is called from
	// the listing goroutine, in key order.
	unchanged func(o object.Object) (*archive.ManifestEntry, error)

	cancel  context.CancelFunc
	slots   chan *slot
	ahead   chan struct{}       // bounds the objects to read that are listed and not yet archived
	sem     chan struct{}       // bounds the objects fetched at once
	budget  *semaphore.Weighted // bounds the bytes held ahead
	streams chan struct{}       // bounds the streamed objects open at once
	bufs    *bufferPool         // small objects' buffers and streamed objects' chunks, reused
	wg      sync.WaitGroup
	nListed atomic.Int64
	mu      sync.Mutex
	listErr error
}

type slot struct {
	obj  object.Object
	done chan fetched // buffered 1
}

func newFetcher(ctx, bodyCtx context.Context, src connector.ObjectSource, after string, concurrency int, small int64, lg *joblog.Logger,
	onPage func(bytes int64), unchanged func(object.Object) (*archive.ManifestEntry, error)) *fetcher {
	ctx, cancel := context.WithCancel(ctx)
	f := &fetcher{ctx: ctx, bodyCtx: bodyCtx, src: src, small: small, lg: lg, onPage: onPage, unchanged: unchanged, cancel: cancel,
		slots: make(chan *slot, concurrency+refsAhead), ahead: make(chan struct{}, concurrency),
		sem: make(chan struct{}, concurrency), budget: semaphore.NewWeighted(prefetchBudget),
		streams: make(chan struct{}, streamsAhead), bufs: newBufferPool(keptBuffers)}
	f.wg.Add(1)
	go f.list(after)
	return f
}

func (f *fetcher) list(after string) {
	defer f.wg.Done()
	defer close(f.slots)
	pages := 0
	err := f.src.List(f.ctx, after, func(page []object.Object) error {
		pages++
		if f.onPage != nil {
			var bytes int64
			for _, o := range page {
				bytes += o.Size
			}
			f.onPage(bytes)
		}
		n := f.nListed.Add(int64(len(page)))
		if f.lg != nil {
			f.lg.Info(f.ctx, fmt.Sprintf("Listed page %d of the source: %d objects (%d so far).", pages, len(page), n), "page", pages, "objects", len(page))
		}
		for _, o := range page {
			s := &slot{obj: o, done: make(chan fetched, 1)}
			if f.unchanged != nil {
				ref, err := f.unchanged(o)
				if err != nil {
					return err
				}
				if ref != nil {
					s.done <- fetched{obj: o, ref: ref}
					select {
					case f.slots <- s:
					case <-f.ctx.Done():
						return f.ctx.Err()
					}
					continue
				}
			}
			select {
			case f.ahead <- struct{}{}: // given back when the object is taken (next)
			case <-f.ctx.Done():
				return f.ctx.Err()
			}
			// Each object holds a share of the budget while it is ahead
			// (the buffer its size needs, or a streamed one's window).
			// Shares are taken in key order, so the object being archived
			// always holds its own and the ones after it wait for theirs.
			streamed := o.Size > f.small
			_, share := bufferClass(o.Size)
			share = min(share, prefetchBudget)
			if streamed {
				share = streamWindow
			}
			if err := f.budget.Acquire(f.ctx, share); err != nil {
				return err
			}
			if streamed {
				select {
				case f.streams <- struct{}{}:
				case <-f.ctx.Done():
					f.budget.Release(share)
					return f.ctx.Err()
				}
			}
			select {
			case f.sem <- struct{}{}:
			case <-f.ctx.Done():
				f.budget.Release(share)
				if streamed {
					<-f.streams
				}
				return f.ctx.Err()
			}
			f.wg.Add(1)
			if streamed {
				go f.stream(s, share)
			} else {
				go f.prefetch(s, share)
			}
			select {
			case f.slots <- s:
			case <-f.ctx.Done():
				// The fetch goes on and answers s.done; nobody reads it.
				go func() {
					if r := <-s.done; r.body != nil {
						r.body.Close()
					}
				}()
				return f.ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		f.mu.Lock()
		f.listErr = err
		f.mu.Unlock()
	}
}

// prefetch reads a small object whole into memory.
func (f *fetcher) prefetch(s *slot, share int64) {
	defer f.wg.Done()
	release := func() { <-f.sem; f.budget.Release(share) }
	body, obj, err := f.src.Get(f.ctx, s.obj.Key)
	if err != nil {
		release()
		s.done <- fetched{obj: s.obj, err: err}
		return
	}
	data := f.bufs.get(obj.Size)
	_, err = io.ReadFull(body, data)
	if err == nil {
		var one [1]byte
		if n, _ := body.Read(one[:]); n > 0 {
			err = fmt.Errorf("object %q changed while it was read: it is longer than %d bytes", obj.Key, obj.Size)
		}
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("object %q changed while it was read: it is shorter than %d bytes", obj.Key, obj.Size)
	}
	body.Close()
	if err != nil {
		f.bufs.put(data)
		release()
		s.done <- fetched{obj: obj, err: err}
		return
	}
	<-f.sem // the fetch is over; the bytes stay held until the object is archived
	h := &heldBody{Reader: bytes.NewReader(data)}
	h.release = func() {
		h.Reset(nil) // nothing reads the buffer once it is back in the pool
		f.bufs.put(data)
		f.budget.Release(share)
	}
	s.done <- fetched{obj: obj, body: h}
}

// heldBody is an object's bytes in memory; Close gives its buffer and its
// share back.
type heldBody struct {
	*bytes.Reader
	release func()
	once    sync.Once
}

func (h *heldBody) Close() error {
	h.once.Do(h.release)
	return nil
}

// stream opens a large object and reads it ahead through a window of
// chunks until it is archived or closed. It reads with bodyCtx: a pause
// lets the object being archived finish; the others are closed by stop.
func (f *fetcher) stream(s *slot, share int64) {
	defer f.wg.Done()
	ctx, cancel := context.WithCancel(f.bodyCtx)
	release := func() { cancel(); <-f.sem; <-f.streams; f.budget.Release(share) }
	body, obj, err := f.src.Get(ctx, s.obj.Key)
	if err != nil {
		release()
		s.done <- fetched{obj: s.obj, err: err}
		return
	}
	n := int(share / streamChunk)
	r := &aheadReader{chunks: make(chan []byte, n), free: make(chan []byte, n), filled: make(chan struct{}), cancel: cancel}
	for range n {
		r.free <- f.bufs.get(streamChunk)
	}
	r.release = func() {
		// Every chunk is back in free or chunks, or is the one being read.
		for _, c := range []chan []byte{r.free, r.chunks} {
			for len(c) > 0 {
				f.recycle(<-c)
			}
		}
		if r.curBuf != nil {
			f.recycle(r.curBuf)
			r.curBuf, r.cur = nil, nil
		}
		release()
	}
	go r.fill(ctx, body)
	s.done <- fetched{obj: obj, body: r}
}

// recycle keeps a chunk for the next object.
func (f *fetcher) recycle(b []byte) { f.bufs.put(b[:streamChunk]) }

// aheadReader reads a body ahead into a fixed set of chunks, so that the
// network reads happen while the reader works on earlier bytes.
type aheadReader struct {
	chunks  chan []byte // filled, in order; closed after the last
	free    chan []byte // empty chunks to fill
	err     error       // why filling stopped (nil at the end); set before chunks is closed
	filled  chan struct{}
	cancel  context.CancelFunc
	release func()
	once    sync.Once

	cur, curBuf []byte // the unread bytes of the chunk being read, and that chunk
}

func (r *aheadReader) fill(ctx context.Context, body io.ReadCloser) {
	defer close(r.filled)
	defer close(r.chunks)
	defer body.Close()
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-ctx.Done():
			r.err = ctx.Err()
			return
		}
		n, err := io.ReadFull(body, buf[:cap(buf)])
		if n > 0 {
			r.chunks <- buf[:n] // never blocks: there are as many chunks as room
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return
		case err != nil:
			r.err = err
			return
		}
	}
}

func (r *aheadReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.curBuf != nil {
			r.free <- r.curBuf[:cap(r.curBuf)]
			r.curBuf = nil
		}
		buf, ok := <-r.chunks
		if !ok {
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.EOF
		}
		r.cur, r.curBuf = buf, buf
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo hands the chunks to w as they arrive, with no copy of its own.
func (r *aheadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.cur) > 0 {
			k, err := w.Write(r.cur)
			total += int64(k)
			r.cur = r.cur[k:]
			if err != nil {
				return total, err
			}
		}
		if r.curBuf != nil {
			r.free <- r.curBuf[:cap(r.curBuf)]
			r.curBuf = nil
		}
		buf, ok := <-r.chunks
		if !ok {
			return total, r.err
		}
		r.cur, r.curBuf = buf, buf
	}
}

// Close stops reading ahead and gives the object's share back.
func (r *aheadReader) Close() error {
	r.once.Do(func() {
		r.cancel()
		<-r.filled
		r.release()
	})
	return nil
}

// next returns the next object in key order; ok is false after the last.
// The caller closes the body, which gives its share of the budget back.
func (f *fetcher) next() (fetched, bool) {
	s, ok := <-f.slots
	if !ok {
		return fetched{}, false
	}
	r := <-s.done
	if r.ref == nil {
		<-f.ahead
	}
	return r, true
}

// err is the listing's error, if it failed.
func (f *fetcher) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listErr
}

func (f *fetcher) listed() int64 { return f.nListed.Load() }

// stop ends listing and prefetching and releases what was fetched ahead.
func (f *fetcher) stop() {
	f.cancel()
	for s := range f.slots {
		if r := <-s.done; r.body != nil {
			r.body.Close()
		}
	}
	f.wg.Wait()
}
