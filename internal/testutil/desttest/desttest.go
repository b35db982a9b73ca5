// Package desttest is the contract suite every archive destination (S3,
// Google Drive, a local directory) runs against a real peer: parts written
// and resumed from State in a fresh instance, Complete, Abort, empty
// archives, small files, reads from an offset, deletion of archives and
// their sidecars, listing, free space and Sweep (the rules of connector.Destination).
package desttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connector"
)

// Dest is what the suite tests: the one destination interface.
type Dest = connector.Destination

// Harness is one destination over fresh, empty storage.
type Harness struct {
	// Open returns a destination over the storage; each call is a new
	// instance, as another process would make.
	Open func(t *testing.T) Dest
	// Incomplete counts unfinished uploads left in the storage (multipart
	// uploads, .partial files, open sessions).
	Incomplete func(t *testing.T) int
	// AppendOnly is set for storage that cannot take back bytes it received
	// (a Google Drive resumable session): a part re-sent after a resume must
	// be identical, as the engine regenerates it from the checkpoint.
	AppendOnly bool
	// NoSweep is set for storage whose leftovers expire by themselves and
	// cannot be listed (Drive sessions); the Sweep case then only checks
	// that Sweep reports nothing removed.
	NoSweep bool
}

// Run runs the suite; newHarness is called once per case, which may run in
// parallel with the others.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("ResumeInNewInstance", func(t *testing.T) { t.Parallel(); resume(t, newHarness(t)) })
	t.Run("Abort", func(t *testing.T) { t.Parallel(); abort(t, newHarness(t)) })
	t.Run("EmptyArchive", func(t *testing.T) { t.Parallel(); empty(t, newHarness(t)) })
	t.Run("Files", func(t *testing.T) { t.Parallel(); files(t, newHarness(t)) })
	t.Run("DeleteArchiveAndSidecar", func(t *testing.T) { t.Parallel(); deleteArchive(t, newHarness(t)) })
	t.Run("DeleteAbsent", func(t *testing.T) { t.Parallel(); deleteAbsent(t, newHarness(t)) })
	t.Run("FreeBytes", func(t *testing.T) { t.Parallel(); freeBytes(t, newHarness(t)) })
	t.Run("ListFiles", func(t *testing.T) { t.Parallel(); list(t, newHarness(t)) })
	t.Run("Sweep", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.NoSweep {
			// Nothing to list: Sweep must say so (0, nil) and touch nothing.
			d := h.Open(t)
			if n, err := d.Sweep(context.Background(), time.Now(), nil); n != 0 || err != nil {
				t.Fatalf("Sweep = %d, %v; want 0, nil for storage whose leftovers expire by themselves", n, err)
			}
			return
		}
		sweep(t, h)
	})
}

func randBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 99))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func read(t *testing.T, d Dest, name string, offset int64) []byte {
	t.Helper()
	rc, err := d.Open(context.Background(), name, offset)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", name, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

func resume(t *testing.T, h Harness) {
	ctx := context.Background()
	name := "conn/20260101T000000Z-1.tar.gz"
	first := h.Open(t)
	up, err := first.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	p1, p2, p3 := up.PartSize(1), up.PartSize(2), up.PartSize(3)
	data := randBytes(p1+p2+p3+777, 1)
	if err := up.WritePart(ctx, 1, data[:p1]); err != nil {
		t.Fatalf("WritePart 1: %v", err)
	}
	saved := up.State()
	// Written, but the process dies before this part's checkpoint. (Where
	// the storage is append-only the engine regenerates identical bytes.)
	lost := bytes.Repeat([]byte{0xEE}, int(p2))
	if h.AppendOnly {
		lost = data[p1 : p1+p2]
	}
	if err := up.WritePart(ctx, 2, lost); err != nil {
		t.Fatalf("WritePart 2: %v", err)
	}
	if _, err := first.Size(ctx, name); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size before Complete = %v, want ErrNotExist", err)
	}

	second := h.Open(t)
	resumed, err := second.ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatalf("ResumeUpload: %v", err)
	}
	if got := resumed.PartSize(2); got != p2 {
		t.Fatalf("PartSize(2) after resume = %d, want %d", got, p2)
	}
	if err := resumed.WritePart(ctx, 2, data[p1:p1+p2]); err != nil {
		t.Fatalf("WritePart 2 again: %v", err)
	}
	if err := resumed.WritePart(ctx, 3, data[p1+p2:p1+p2+p3]); err != nil {
		t.Fatalf("WritePart 3: %v", err)
	}
	size, err := resumed.Complete(ctx, data[p1+p2+p3:])
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Complete = %d, %v; want %d", size, err, len(data))
	}

	third := h.Open(t)
	if n, err := third.Size(ctx, name); err != nil || n != int64(len(data)) {
		t.Fatalf("Size = %d, %v; want %d", n, err, len(data))
	}
	if !bytes.Equal(read(t, third, name, 0), data) {
		t.Fatal("archive bytes differ")
	}
	off := p1 + 5
	if !bytes.Equal(read(t, third, name, off), data[off:]) {
		t.Fatalf("bytes from offset %d differ", off)
	}
	if got := read(t, third, name, int64(len(data))); len(got) != 0 {
		t.Fatalf("%d bytes read from the end", len(got))
	}
	if n := h.Incomplete(t); n != 0 {
		t.Fatalf("%d unfinished uploads left after Complete", n)
	}
	if loc := third.Location(name); !strings.Contains(loc, name) {
		t.Errorf("Location(%s) = %s", name, loc)
	}
}

func abort(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	up, err := d.NewUpload(ctx, "abort/me.tar.gz")
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if err := up.WritePart(ctx, 1, randBytes(up.PartSize(1), 2)); err != nil {
		t.Fatalf("WritePart: %v", err)
	}
	if n := h.Incomplete(t); n != 1 {
		t.Fatalf("%d unfinished uploads while writing, want 1", n)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := h.Incomplete(t); n != 0 {
		t.Fatalf("%d unfinished uploads after Abort", n)
	}
	if _, err := d.Size(ctx, "abort/me.tar.gz"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Abort = %v, want ErrNotExist", err)
	}
	if _, err := h.Open(t).ResumeUpload(ctx, up.State()); err == nil {
		t.Fatal("ResumeUpload of an aborted upload succeeded")
	}
}

func empty(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	up, err := d.NewUpload(ctx, "empty.tar.gz")
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if size, err := up.Complete(ctx, nil); err != nil || size != 0 {
		t.Fatalf("Complete(nil) = %d, %v", size, err)
	}
	if n, err := d.Size(ctx, "empty.tar.gz"); err != nil || n != 0 {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if got := read(t, d, "empty.tar.gz", 0); len(got) != 0 {
		t.Fatalf("read %d bytes of an empty archive", len(got))
	}
	if n := h.Incomplete(t); n != 0 {
		t.Fatalf("%d unfinished uploads left", n)
	}
}

func files(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	name := "conn/a.tar.gz.sha256"
	if err := d.PutFile(ctx, name, []byte("old\n")); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	body := []byte("0123456789abcdef  a.tar.gz\n")
	if err := d.PutFile(ctx, name, body); err != nil {
		t.Fatalf("PutFile over an existing file: %v", err)
	}
	if got := read(t, d, name, 0); !bytes.Equal(got, body) {
		t.Fatalf("read %q", got)
	}
	if got := read(t, d, name, 4); !bytes.Equal(got, body[4:]) {
		t.Fatalf("read from 4: %q", got)
	}
	if n, err := d.Size(ctx, name); err != nil || n != int64(len(body)) {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if err := d.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := d.Size(ctx, name); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Delete = %v", err)
	}
	if _, err := d.Open(ctx, name, 0); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Open after Delete = %v", err)
	}
	if err := d.Delete(ctx, name); err != nil {
		t.Fatalf("Delete of an absent file: %v", err)
	}
	if _, err := d.Size(ctx, "never/was.tar.gz"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size of a never-written name = %v", err)
	}
}

func sweep(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	live, err := d.NewUpload(ctx, "s/live.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := d.NewUpload(ctx, "s/dead.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range []connector.Upload{live, dead} {
		if err := up.WritePart(ctx, 1, randBytes(up.PartSize(1), 3)); err != nil {
			t.Fatal(err)
		}
	}
	keep := []json.RawMessage{live.State()}
	if n, err := d.Sweep(ctx, time.Now().Add(-time.Hour), keep); err != nil || n != 0 {
		t.Fatalf("Sweep of recent uploads = %d, %v; want 0", n, err)
	}
	// A live state it cannot read might name any upload: nothing goes.
	if n, err := d.Sweep(ctx, time.Now().Add(time.Minute), append(keep, json.RawMessage(`{}`))); err == nil || n != 0 {
		t.Fatalf("Sweep with an unreadable live state = %d, %v; want an error and nothing removed", n, err)
	}
	if n, err := d.Sweep(ctx, time.Now().Add(time.Minute), keep); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if n := h.Incomplete(t); n != 1 {
		t.Fatalf("%d unfinished uploads after Sweep, want the live one", n)
	}
	if _, err := h.Open(t).ResumeUpload(ctx, dead.State()); err == nil {
		t.Fatal("a swept upload could be resumed")
	}
	resumed, err := h.Open(t).ResumeUpload(ctx, live.State())
	if err != nil {
		t.Fatalf("ResumeUpload of the kept upload: %v", err)
	}
	if _, err := resumed.Complete(ctx, []byte("tail")); err != nil {
		t.Fatalf("Complete of the kept upload: %v", err)
	}
	if n := h.Incomplete(t); n != 0 {
		t.Fatalf("%d unfinished uploads left", n)
	}
}

// complete writes a whole archive called name in one part and a tail.
func complete(t *testing.T, d Dest, name string, data []byte) {
	t.Helper()
	ctx := context.Background()
	up, err := d.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload(%s): %v", name, err)
	}
	if size, err := up.Complete(ctx, data); err != nil || size != int64(len(data)) {
		t.Fatalf("Complete(%s) = %d, %v; want %d", name, size, err, len(data))
	}
}

// deleteArchive deletes an archive and its sidecar (the way retention
// does, one name at a time), in sub-folders, and checks that nothing else
// goes with them: not a neighbour, not the sidecar before its own call,
// not an unfinished upload of the same name.
func deleteArchive(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	name := "conn/sub/20260101T000000Z-9.tar.gz"
	other := "conn/sub/20260102T000000Z-10.tar.gz"
	data := randBytes(5000, 4)
	complete(t, d, name, data)
	complete(t, d, other, data[:100])
	sidecar := []byte("0123  20260101T000000Z-9.tar.gz\n")
	if err := d.PutFile(ctx, name+".sha256", sidecar); err != nil {
		t.Fatalf("PutFile: %v", err)
	}

	// A new instance, as retention in another process would use.
	del := h.Open(t)
	if err := del.Delete(ctx, name); err != nil {
		t.Fatalf("Delete(archive): %v", err)
	}
	if _, err := del.Size(ctx, name); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Delete = %v, want ErrNotExist", err)
	}
	if _, err := del.Open(ctx, name, 0); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Open after Delete = %v, want ErrNotExist", err)
	}
	if got := read(t, del, name+".sha256", 0); !bytes.Equal(got, sidecar) {
		t.Fatalf("deleting the archive changed its sidecar: %q", got)
	}
	if err := del.Delete(ctx, name+".sha256"); err != nil {
		t.Fatalf("Delete(sidecar): %v", err)
	}
	if _, err := del.Size(ctx, name+".sha256"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size of the sidecar after Delete = %v, want ErrNotExist", err)
	}
	if n, err := h.Open(t).Size(ctx, other); err != nil || n != 100 {
		t.Fatalf("the neighbour archive after Delete: Size = %d, %v", n, err)
	}

	// An unfinished upload of a deleted name is not touched by Delete.
	up, err := d.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	part := randBytes(up.PartSize(1), 5)
	if err := up.WritePart(ctx, 1, part); err != nil {
		t.Fatalf("WritePart: %v", err)
	}
	if err := h.Open(t).Delete(ctx, name); err != nil {
		t.Fatalf("Delete of a name being uploaded: %v", err)
	}
	if size, err := up.Complete(ctx, []byte("end")); err != nil || size != int64(len(part))+3 {
		t.Fatalf("Complete after a Delete of the name = %d, %v", size, err)
	}
	if got := read(t, h.Open(t), name, 0); !bytes.Equal(got, append(part, "end"...)) {
		t.Fatal("the archive completed after a Delete of its name differs")
	}
}

// deleteAbsent deletes names that are not there: never written, in a
// folder that does not exist, and deleted twice.
func deleteAbsent(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	for _, name := range []string{"never.tar.gz", "no/such/folder/x.tar.gz", "never.tar.gz.sha256"} {
		if err := d.Delete(ctx, name); err != nil {
			t.Fatalf("Delete(%s) of an absent name = %v, want nil", name, err)
		}
	}
	complete(t, d, "twice/a.tar.gz", []byte("abc"))
	for i := range 2 {
		if err := h.Open(t).Delete(ctx, "twice/a.tar.gz"); err != nil {
			t.Fatalf("Delete #%d = %v", i+1, err)
		}
	}
	if _, err := d.Size(ctx, "twice/a.tar.gz"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Delete = %v, want ErrNotExist", err)
	}
	for _, bad := range []string{"", "../x", "a/../b", "a//b"} {
		if err := d.Delete(ctx, bad); err == nil {
			t.Errorf("Delete(%q) accepted a name that is not a clean relative path", bad)
		}
	}
}

// listAll collects what ListFiles reports, by name; a name reported twice
// is an error.
func listAll(ctx context.Context, d Dest) (map[string]connector.StoredFile, error) {
	got := map[string]connector.StoredFile{}
	err := d.ListFiles(ctx, func(page []connector.StoredFile) error {
		if len(page) == 0 {
			return errors.New("an empty page")
		}
		for _, f := range page {
			if _, dup := got[f.Name]; dup {
				return fmt.Errorf("%s listed twice", f.Name)
			}
			got[f.Name] = f
		}
		return nil
	})
	if err != nil {
		return got, fmt.Errorf("list %s: %w", d.Location(""), err)
	}
	return got, nil
}

// list stores two archives in different folders and a sidecar, leaves
// two uploads unfinished (one with a part written, one in a folder of its
// own) and checks that ListFiles reports exactly the three finished files
// with their sizes, in a new instance, and that an error of fn ends it.
func list(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Open(t)
	if got, err := listAll(ctx, d); err != nil || len(got) != 0 {
		t.Fatalf("ListFiles of empty storage = %v, %v; want nothing", slices.Sorted(maps.Keys(got)), err)
	}
	before := time.Now().Add(-time.Hour)
	want := map[string]int64{"a/x.tar.gz": 3000, "b/c/y.tar.gz": 1234, "a/x.tar.gz.sha256": 0}
	complete(t, d, "a/x.tar.gz", randBytes(want["a/x.tar.gz"], 6))
	complete(t, d, "b/c/y.tar.gz", randBytes(want["b/c/y.tar.gz"], 7))
	sidecar := []byte("0123456789abcdef  x.tar.gz\n")
	want["a/x.tar.gz.sha256"] = int64(len(sidecar))
	if err := d.PutFile(ctx, "a/x.tar.gz.sha256", sidecar); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	unfinished, err := d.NewUpload(ctx, "b/c/z.tar.gz")
	if err != nil {
		t.Fatalf("NewUpload(b/c/z.tar.gz): %v", err)
	}
	if err := unfinished.WritePart(ctx, 1, randBytes(unfinished.PartSize(1), 8)); err != nil {
		t.Fatalf("WritePart: %v", err)
	}
	started, err := d.NewUpload(ctx, "d/w.tar.gz")
	if err != nil {
		t.Fatalf("NewUpload(d/w.tar.gz): %v", err)
	}

	got, err := listAll(ctx, h.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Hour)
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("ListFiles = %q; want %q (the finished files only)", names, slices.Sorted(maps.Keys(want)))
	}
	for name, f := range got {
		if f.Size != want[name] {
			t.Errorf("ListFiles: %s has size %d, want %d", name, f.Size, want[name])
		}
		if !f.ModTime.IsZero() && (f.ModTime.Before(before) || f.ModTime.After(after)) {
			t.Errorf("ListFiles: %s has ModTime %v, not about now", name, f.ModTime)
		}
	}

	stop := errors.New("stop")
	if err := d.ListFiles(ctx, func([]connector.StoredFile) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ListFiles with fn failing = %v, want fn's error", err)
	}
	for _, up := range []connector.Upload{unfinished, started} {
		if err := up.Abort(ctx); err != nil {
			t.Fatalf("Abort: %v", err)
		}
	}
}

// freeBytes checks that FreeBytes answers -1 or a plausible amount.
func freeBytes(t *testing.T, h Harness) {
	n, err := h.Open(t).FreeBytes(context.Background())
	if err != nil {
		t.Fatalf("FreeBytes: %v", err)
	}
	if n < -1 {
		t.Fatalf("FreeBytes = %d; want -1 (unknown) or the bytes free", n)
	}
}
