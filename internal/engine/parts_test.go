package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/local"
)

// localUpload starts an upload to a real local directory (8 MiB parts).
func localUpload(t *testing.T) connector.Upload {
	t.Helper()
	dir, err := local.New(local.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	up, err := dir.NewUpload(t.Context(), "a/archive.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// uploadedParts reads the part count out of a local upload's state.
func uploadedParts(t *testing.T, state json.RawMessage) int {
	t.Helper()
	var st struct {
		Parts int `json:"parts"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatalf("upload state %s: %v", state, err)
	}
	return st.Parts
}

// TestPartWriterMark checks that a mark answers with the upload's state
// taken right after the last part cut before it, while a later part is
// still waiting to be written, and that marks never wait forever.
func TestPartWriterMark(t *testing.T) {
	up := localUpload(t)
	pw := newPartWriter(t.Context(), up, 1, nil)
	release := make(chan struct{})
	calls := 0
	pw.onPart = func() {
		calls++
		if calls == 2 {
			<-release // part 2 waits until the mark was answered
		}
	}
	size := int(up.PartSize(1))
	chunk := bytes.Repeat([]byte{7}, size)

	if got := uploadedParts(t, (<-pw.mark()).state); got != 0 {
		t.Fatalf("a mark before any part: state has %d parts, want 0", got)
	}
	if _, err := pw.Write(append(chunk, 1)); err != nil { // part 1 cut, 1 byte left
		t.Fatal(err)
	}
	first := pw.mark()
	if _, err := pw.Write(chunk); err != nil { // part 2 cut
		t.Fatal(err)
	}
	second := pw.mark()
	select {
	case res := <-first:
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := uploadedParts(t, res.state); got != 1 {
			t.Fatalf("the mark after part 1: state has %d parts, want 1", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mark after part 1 was not answered while part 2 waited")
	}
	select {
	case <-second:
		t.Fatal("the mark after part 2 was answered before part 2 was written")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if res := <-second; res.err != nil || uploadedParts(t, res.state) != 2 {
		t.Fatalf("the mark after part 2: %s, %v; want 2 parts", res.state, res.err)
	}
	if n := pw.lastUploaded(); n != 2 {
		t.Fatalf("lastUploaded %d, want 2", n)
	}
	if tail := pw.tail(); len(tail) != 1 {
		t.Fatalf("tail of %d bytes, want 1", len(tail))
	}

	// A mark waiting on a part whose upload fails gets the failure (the
	// local upload refuses part 2 before part 1).
	pw2 := newPartWriter(t.Context(), localUpload(t), 2, nil)
	if _, err := pw2.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if res := <-pw2.mark(); res.err == nil {
		t.Fatalf("a mark behind a failed part got state %s, want an error", res.state)
	}
	pw2.close()
	if res := <-pw2.mark(); res.err == nil {
		t.Fatalf("a mark after close: %v, want an error", res.err)
	}
	pw.close()
	if res := <-pw.mark(); !errors.Is(res.err, errPartWriterClosed) {
		t.Fatalf("a mark after close: %v, want %v", res.err, errPartWriterClosed)
	}
}
