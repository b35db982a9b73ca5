package archive

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"testing"
)

// TestJudgeStoresOnlyWhatDoesNotCompress writes, with Judge, a body of
// random and text pieces (as a streamed object arrives, chunk by chunk),
// a random body and a text body: the random pieces go in stored, the text
// ones compressed, the archive reads back identical, LastEntryStored says
// which bodies went in stored whole, and a Checkpoint in the middle of a
// judged body carries its judging over.
func TestJudgeStoresOnlyWhatDoesNotCompress(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<20; i++ {
		fmt.Fprintf(&text, "2026-12-07T04:%02d level=info req=%x order=%d status=completed\n", i%60, i*7919, i)
	}
	pieces := [][]byte{random(1 << 20), text.Bytes()[:1<<20], random(1 << 20), text.Bytes()[:1<<20]}
	mixed := bytes.Join(pieces, nil)
	var out bytes.Buffer
	w, err := NewWriter(&out, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.BeginEntry(EntryHeader{Name: "mixed.bin", Size: int64(len(mixed)), Judge: true}); err != nil {
		t.Fatal(err)
	}
	for i, p := range pieces {
		if err := w.WriteBody(p); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			st, err := w.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if !st.Open.Judge || st.Open.StoredBytes != 1<<20 {
				t.Fatalf("the checkpoint of a judged body: judge %v, %d bytes stored, want true and %d", st.Open.Judge, st.Open.StoredBytes, 1<<20)
			}
			if w, err = ResumeWriter(&out, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.EndEntry(); err != nil {
		t.Fatal(err)
	}
	if w.LastEntryStored() {
		t.Fatal("a body half text went in stored whole")
	}
	rnd := random(300 << 10)
	if _, err := w.WriteEntry(EntryHeader{Name: "random.bin", Size: int64(len(rnd)), Judge: true}, bytes.NewReader(rnd)); err != nil {
		t.Fatal(err)
	}
	if !w.LastEntryStored() {
		t.Fatal("a random body judged whole did not go in stored")
	}
	txt := text.Bytes()[:300<<10]
	if _, err := w.WriteEntry(EntryHeader{Name: "text.txt", Size: int64(len(txt)), Judge: true}, bytes.NewReader(txt)); err != nil {
		t.Fatal(err)
	}
	if w.LastEntryStored() {
		t.Fatal("a text body went in stored")
	}
	if _, _, err := w.Finish(bytes.NewReader([]byte("{}")), 2); err != nil {
		t.Fatal(err)
	}
	// 2.3 MiB of random bytes (stored) and 2.3 MiB of text (compressed
	// several times): a little over the random bytes.
	randomBytes := 2<<20 + 300<<10
	if size := out.Len(); size < randomBytes || size > randomBytes+randomBytes/5 {
		t.Fatalf("the archive of %d random and as many text bytes is %d bytes", randomBytes, size)
	}
	ar, err := NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{mixed, rnd, txt} {
		if _, err := ar.Next(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(ar)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("an entry reads back different (%v)", err)
		}
	}
}
