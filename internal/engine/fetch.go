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

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/joblog"
)

// prefetchBudget bounds the bytes of objects fetched ahead of their turn.
const prefetchBudget = 24 << 20

// fetched is one object ready to be archived, in key order.
type fetched struct {
	obj  connector.Object
	body io.ReadCloser
	err  error
}

// fetcher lists the source after a key and fetches objects several at a
// time, handing them on strictly in key order. Small objects are read into
// memory ahead of their turn; larger ones are opened when their turn comes,
// so memory stays bounded by concurrency x small-object size.
type fetcher struct {
	ctx     context.Context // listing and prefetching; ended by pause or cancel
	bodyCtx context.Context // reading the object being archived; a pause lets it finish
	src     connector.ObjectSource
	small   int64
	lg      *joblog.Logger
	onPage  func()

	cancel  context.CancelFunc
	slots   chan *slot
	sem     chan struct{}       // bounds the objects fetched at once
	budget  *semaphore.Weighted // bounds the bytes held by prefetched objects
	wg      sync.WaitGroup
	nListed atomic.Int64
	mu      sync.Mutex
	listErr error
}

type slot struct {
	obj  connector.Object
	done chan fetched // buffered 1; nil for objects opened at their turn
}

func newFetcher(ctx, bodyCtx context.Context, src connector.ObjectSource, after string, concurrency int, small int64, lg *joblog.Logger, onPage func()) *fetcher {
	ctx, cancel := context.WithCancel(ctx)
	f := &fetcher{ctx: ctx, bodyCtx: bodyCtx, src: src, small: small, lg: lg, onPage: onPage, cancel: cancel,
		slots: make(chan *slot, concurrency), sem: make(chan struct{}, concurrency), budget: semaphore.NewWeighted(prefetchBudget)}
	f.wg.Add(1)
	go f.list(after)
	return f
}

func (f *fetcher) list(after string) {
	defer f.wg.Done()
	defer close(f.slots)
	pages := 0
	err := f.src.List(f.ctx, after, func(page []connector.Object) error {
		pages++
		if f.onPage != nil {
			f.onPage()
		}
		n := f.nListed.Add(int64(len(page)))
		if f.lg != nil {
			f.lg.Info(f.ctx, fmt.Sprintf("Listed page %d of the source: %d objects (%d so far).", pages, len(page), n), "page", pages, "objects", len(page))
		}
		for _, o := range page {
			s := &slot{obj: o}
			// Objects up to the small-object size are fetched ahead into
			// memory while the bytes held stay within the budget; the rest
			// are opened when their turn comes.
			if o.Size <= f.small && f.budget.TryAcquire(max(o.Size, 1)) {
				s.done = make(chan fetched, 1)
				select {
				case f.sem <- struct{}{}:
				case <-f.ctx.Done():
					f.budget.Release(max(o.Size, 1))
					return f.ctx.Err()
				}
				f.wg.Add(1)
				go f.prefetch(s)
			}
			select {
			case f.slots <- s:
			case <-f.ctx.Done():
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

func (f *fetcher) prefetch(s *slot) {
	defer f.wg.Done()
	defer func() { <-f.sem }()
	body, obj, err := f.src.Get(f.ctx, s.obj.Key)
	if err != nil {
		s.done <- fetched{obj: s.obj, err: err}
		return
	}
	data := make([]byte, obj.Size)
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
	s.done <- fetched{obj: obj, body: io.NopCloser(bytes.NewReader(data)), err: err}
}

// next returns the next object in key order; ok is false after the last.
func (f *fetcher) next() (fetched, bool) {
	s, ok := <-f.slots
	if !ok {
		return fetched{}, false
	}
	if s.done != nil {
		r := <-s.done
		f.budget.Release(max(s.obj.Size, 1))
		return r, true
	}
	body, obj, err := f.src.Get(f.bodyCtx, s.obj.Key)
	if err != nil {
		return fetched{obj: s.obj, err: err}, true
	}
	return fetched{obj: obj, body: body}, true
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
		if s.done != nil {
			if r := <-s.done; r.body != nil {
				r.body.Close()
			}
		}
	}
	f.wg.Wait()
}
