package engine

import "sync"

// bufferPool hands out byte slices in power-of-two size classes and keeps
// the ones given back for reuse, up to limit bytes. A backup of many small
// objects would otherwise allocate a fresh buffer per object and leave the
// old ones as garbage; between collections that garbage grows the heap (and
// the process's memory) well beyond the bytes actually held ahead.
type bufferPool struct {
	mu    sync.Mutex
	free  [][][]byte // by size class
	kept  int64      // bytes in free
	limit int64
}

// minBufferClass is the smallest size class, 4 KiB (as a shift).
const minBufferClass = 12

func newBufferPool(limit int64) *bufferPool { return &bufferPool{limit: limit} }

// bufferClass returns n's size class and the capacity of its buffers: the
// smallest power of two of at least n bytes (and at least 4 KiB).
func bufferClass(n int64) (class int, size int64) {
	size = 1 << minBufferClass
	for size < n {
		size <<= 1
		class++
	}
	return class, size
}

// get returns a slice of length n, reused when the pool holds one of its
// class. Its contents are not cleared.
func (p *bufferPool) get(n int64) []byte {
	c, size := bufferClass(n)
	p.mu.Lock()
	if c < len(p.free) && len(p.free[c]) > 0 {
		l := p.free[c]
		b := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[c] = l[:len(l)-1]
		p.kept -= size
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, size)
}

// put keeps b for reuse unless the pool is full; b must not be used after.
// Slices that get did not make (a capacity that is not a class size) are
// left to the collector.
func (p *bufferPool) put(b []byte) {
	c, size := bufferClass(int64(cap(b)))
	if size != int64(cap(b)) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kept+size > p.limit {
		return
	}
	for len(p.free) <= c {
		p.free = append(p.free, nil)
	}
	p.free[c] = append(p.free[c], b[:0])
	p.kept += size
}
