package engine

import "testing"

func TestBufferClass(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		class int
		size  int64
	}{
		{0, 0, 4 << 10},
		{1, 0, 4 << 10},
		{4 << 10, 0, 4 << 10},
		{4<<10 + 1, 1, 8 << 10},
		{64 << 10, 4, 64 << 10},
		{65 << 10, 5, 128 << 10},
		{streamChunk, 8, streamChunk},
		{4 << 20, 10, 4 << 20},
	} {
		if c, size := bufferClass(tc.n); c != tc.class || size != tc.size {
			t.Errorf("bufferClass(%d) = %d, %d; want %d, %d", tc.n, c, size, tc.class, tc.size)
		}
	}
}

func TestBufferPoolReuse(t *testing.T) {
	p := newBufferPool(200 << 10)
	a := p.get(60 << 10)
	if len(a) != 60<<10 || cap(a) != 64<<10 {
		t.Fatalf("get(60 KiB): len %d cap %d", len(a), cap(a))
	}
	a[0] = 7
	p.put(a)
	if p.kept != 64<<10 {
		t.Fatalf("kept %d after one put, want %d", p.kept, 64<<10)
	}
	b := p.get(50 << 10) // same class: the same array
	if len(b) != 50<<10 || &b[0] != &a[0] {
		t.Fatalf("get(50 KiB) did not reuse the 64 KiB buffer (len %d)", len(b))
	}
	if p.kept != 0 {
		t.Fatalf("kept %d after the reuse, want 0", p.kept)
	}
	if c := p.get(100 << 10); cap(c) != 128<<10 {
		t.Fatalf("get(100 KiB): cap %d, want a new 128 KiB buffer", cap(c))
	}

	// Slices that are not a class size are not kept; nor is anything past
	// the limit.
	p.put(make([]byte, 10, 5000))
	if p.kept != 0 {
		t.Fatalf("kept a foreign slice: %d bytes", p.kept)
	}
	for range 4 {
		p.put(make([]byte, 0, 64<<10))
	}
	if p.kept != 192<<10 {
		t.Fatalf("kept %d bytes with a 200 KiB limit, want 192 KiB (three of four buffers)", p.kept)
	}
}
