package agecrypt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// saveAndLoad takes a Writer's State, checks it against what dst holds,
// and returns it after a round trip through its binary form, as a
// checkpoint stored in another process would.
func saveAndLoad(t testing.TB, w *Writer, dst *bytes.Buffer, plaintext int) State {
	t.Helper()
	st, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.Written() != int64(dst.Len()) || w.Written() != int64(dst.Len()) {
		t.Fatalf("State.Written() = %d, Writer.Written() = %d, the destination holds %d",
			st.Written(), w.Written(), dst.Len())
	}
	if st.Plaintext() != int64(plaintext) || len(st.Pending) != w.Buffered() {
		t.Fatalf("State holds %d plaintext bytes (%d pending, %d buffered), want %d",
			st.Plaintext(), len(st.Pending), w.Buffered(), plaintext)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != stateFixedSize+len(st.Pending) {
		t.Fatalf("marshalled State is %d bytes, want %d", len(b), stateFixedSize+len(st.Pending))
	}
	var loaded State
	if err := loaded.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return loaded
}

// splitPoints returns the plaintext offsets to pause at for n bytes: the
// edges of every chunk, the start and end, and random ones.
func splitPoints(n int, rng *rand.Rand, random int) []int {
	points := []int{0, 1, n - 1, n}
	for c := ChunkSize; c <= n+1; c += ChunkSize {
		points = append(points, c-1, c, c+1)
	}
	for range random {
		points = append(points, rng.IntN(n+1))
	}
	points = slices.DeleteFunc(points, func(p int) bool { return p < 0 || p > n })
	slices.Sort(points)
	return slices.Compact(points)
}

// TestPauseResume pauses at many points: the State is marshalled, the
// Writer thrown away and a new one resumed from the State writes the rest.
// The result must be exactly the file the first Writer would have written
// without pausing (same key, so same bytes), and decrypt to the input.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	k := newTestKey(t)
	data := randomData(11, 4*ChunkSize+1234)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, at := range splitPoints(len(data), rng, 12) {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			t.Parallel()
			var first bytes.Buffer
			w, err := NewWriter(&first, k.recipient)
			if err != nil {
				t.Fatal(err)
			}
			writePieces(t, w, data[:at], uint64(at))
			st := saveAndLoad(t, w, &first, at)

			// The uninterrupted Writer goes on into a copy of the prefix.
			whole := bytes.NewBuffer(bytes.Clone(first.Bytes()))
			w.dst = whole
			writePieces(t, w, data[at:], 99)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			r, err := Resume(&first, st)
			if err != nil {
				t.Fatal(err)
			}
			writePieces(t, r, data[at:], 5)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if r.Written() != int64(first.Len()) {
				t.Fatalf("resumed Writer's Written() = %d, file is %d bytes", r.Written(), first.Len())
			}
			if !bytes.Equal(first.Bytes(), whole.Bytes()) {
				t.Fatal("the resumed file differs from the uninterrupted one")
			}
			if got := decrypt(t, first.Bytes(), k.identity); !bytes.Equal(got, data) {
				t.Fatal("the resumed file does not decrypt to the input")
			}
		})
	}
}

// TestResumeChain pauses and resumes many times in a row in one file (at
// chunk edges and random points, twice at the same point too), and the age
// CLI decrypts the result.
func TestResumeChain(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	k := newTestKey(t)
	data := randomData(12, 6*ChunkSize+77)
	rng := rand.New(rand.NewPCG(3, 4))
	points := splitPoints(len(data), rng, 10)
	points = append(points, points[len(points)/2]) // resume right after a resume
	slices.Sort(points)

	var file bytes.Buffer
	w, err := NewWriter(&file, k.recipient)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, at := range points {
		writePieces(t, w, data[done:at], uint64(at))
		done = at
		st := saveAndLoad(t, w, &file, done)
		if w, err = Resume(&file, st); err != nil {
			t.Fatal(err)
		}
	}
	writePieces(t, w, data[done:], 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := run(t, nil, ageBin, "-d", "-i", k.keyFile(t), writeTemp(t, "chain.age", file.Bytes()))
	if !bytes.Equal(got, data) {
		t.Fatalf("age -d gave %d bytes, want the %d written", len(got), len(data))
	}
}

// TestPauseResumeCLI has the age CLI decrypt files paused and resumed once
// and twice at chunk edges, inside the first chunk and at random points.
func TestPauseResumeCLI(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	k := newTestKey(t)
	keyFile := k.keyFile(t)
	data := randomData(13, 3*ChunkSize+500)
	rng := rand.New(rand.NewPCG(5, 6))
	points := splitPoints(len(data), rng, 6)
	for i, at := range points {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			t.Parallel()
			var file bytes.Buffer
			w, err := NewWriter(&file, k.recipient)
			if err != nil {
				t.Fatal(err)
			}
			writePieces(t, w, data[:at], 1)
			if w, err = Resume(&file, saveAndLoad(t, w, &file, at)); err != nil {
				t.Fatal(err)
			}
			// Every other case pauses a second time further on.
			if second := points[(i+3)%len(points)]; i%2 == 1 && second > at {
				writePieces(t, w, data[at:second], 2)
				at = second
				if w, err = Resume(&file, saveAndLoad(t, w, &file, at)); err != nil {
					t.Fatal(err)
				}
			}
			writePieces(t, w, data[at:], 3)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := run(t, nil, ageBin, "-d", "-i", keyFile, writeTemp(t, "resumed.age", file.Bytes()))
			if !bytes.Equal(got, data) {
				t.Fatalf("age -d gave %d bytes, want the %d written", len(got), len(data))
			}
		})
	}
}
