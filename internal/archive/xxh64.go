package archive

import (
	"encoding/binary"
	"math/bits"
)

// xxh64 is a streaming XXH64 with seed 0, the checksum of zstd frames,
// written from the algorithm's specification
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
// The zero value is not ready: call reset first.
type xxh64 struct {
	v     [4]uint64 // the four accumulators
	buf   [32]byte  // a partial stripe
	nbuf  int
	total uint64
}

const (
	xxhPrime1 uint64 = 0x9e3779b185ebca87
	xxhPrime2 uint64 = 0xc2b2ae3d27d4eb4f
	xxhPrime3 uint64 = 0x165667b19e3779f9
	xxhPrime4 uint64 = 0x85ebca77c2b2ae63
	xxhPrime5 uint64 = 0x27d4eb2f165667c5
)

// reset starts a new hash.
func (x *xxh64) reset() {
	p1 := xxhPrime1 // a variable: the sums wrap around, as the algorithm wants
	x.v = [4]uint64{p1 + xxhPrime2, xxhPrime2, 0, -p1}
	x.nbuf = 0
	x.total = 0
}

// xxhRound mixes one 8-byte lane into an accumulator.
func xxhRound(acc, lane uint64) uint64 {
	return bits.RotateLeft64(acc+lane*xxhPrime2, 31) * xxhPrime1
}

// stripes consumes whole 32-byte stripes of p and returns how many bytes
// that was.
func (x *xxh64) stripes(p []byte) int {
	v0, v1, v2, v3 := x.v[0], x.v[1], x.v[2], x.v[3]
	n := 0
	for ; len(p)-n >= 32; n += 32 {
		s := p[n : n+32]
		v0 = xxhRound(v0, binary.LittleEndian.Uint64(s[0:]))
		v1 = xxhRound(v1, binary.LittleEndian.Uint64(s[8:]))
		v2 = xxhRound(v2, binary.LittleEndian.Uint64(s[16:]))
		v3 = xxhRound(v3, binary.LittleEndian.Uint64(s[24:]))
	}
	x.v = [4]uint64{v0, v1, v2, v3}
	return n
}

// Write adds p to the hash; it never fails.
func (x *xxh64) Write(p []byte) {
	x.total += uint64(len(p))
	if x.nbuf > 0 {
		k := copy(x.buf[x.nbuf:], p)
		x.nbuf += k
		p = p[k:]
		if x.nbuf < len(x.buf) {
			return
		}
		x.stripes(x.buf[:])
		x.nbuf = 0
	}
	p = p[x.stripes(p):]
	x.nbuf = copy(x.buf[:], p)
}

// Sum64 is the hash of the bytes written so far.
func (x *xxh64) Sum64() uint64 {
	var h uint64
	if x.total >= 32 {
		v := x.v
		h = bits.RotateLeft64(v[0], 1) + bits.RotateLeft64(v[1], 7) +
			bits.RotateLeft64(v[2], 12) + bits.RotateLeft64(v[3], 18)
		for _, a := range v {
			h = (h^xxhRound(0, a))*xxhPrime1 + xxhPrime4
		}
	} else {
		h = xxhPrime5 // seed 0 + prime 5
	}
	h += x.total
	p := x.buf[:x.nbuf]
	for ; len(p) >= 8; p = p[8:] {
		h ^= xxhRound(0, binary.LittleEndian.Uint64(p))
		h = bits.RotateLeft64(h, 27)*xxhPrime1 + xxhPrime4
	}
	if len(p) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(p)) * xxhPrime1
		h = bits.RotateLeft64(h, 23)*xxhPrime2 + xxhPrime3
		p = p[4:]
	}
	for _, b := range p {
		h ^= uint64(b) * xxhPrime5
		h = bits.RotateLeft64(h, 11) * xxhPrime1
	}
	h ^= h >> 33
	h *= xxhPrime2
	h ^= h >> 29
	h *= xxhPrime3
	h ^= h >> 32
	return h
}
