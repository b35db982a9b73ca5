package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/local"
)

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newDir(t *testing.T, path string) *local.Dir {
	t.Helper()
	d, err := local.New(local.Config{Path: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	other := t.TempDir()
	if err := os.Symlink(other, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "real"), 0o750); err != nil {
		t.Fatal(err)
	}
	// A root reached through a symlink still admits its real contents.
	linkedRoot := filepath.Join(t.TempDir(), "linked-root")
	if err := os.Symlink(root, linkedRoot); err != nil {
		t.Fatal(err)
	}
	roots := []string{linkedRoot, "/nonexistent/coffer-root"}
	for _, ok := range []string{root, root + "/real", root + "/real/new/deeper", root + "/not-yet"} {
		if errs := (local.Config{Path: ok}).Validate(roots); len(errs) != 0 {
			t.Errorf("%s refused: %v", ok, errs)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"", "required"},
		{"relative/dir", "absolute"},
		{root + "/real/../real", "clean"},
		{root + "/", "clean"},
		{other, "must be inside one of the allowed directories: " + linkedRoot},
		{root + "/escape", "must be inside one of the allowed directories"},
		{root + "/escape/sub/new", "must be inside one of the allowed directories"},
		{"/etc", "must be inside one of the allowed directories"},
	} {
		errs := (local.Config{Path: tc.path}).Validate(roots)
		if !strings.Contains(errs["path"], tc.want) {
			t.Errorf("Validate(%q) = %v, want %q", tc.path, errs, tc.want)
		}
	}
	if errs := (local.Config{Path: root}).Validate(nil); errs["path"] == "" {
		t.Error("a path was accepted with no allowed roots")
	}
	if _, err := local.New(local.Config{Path: "rel"}); err == nil {
		t.Error("New accepted a relative path")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "backups", "coffer")
	d := newDir(t, dir)
	res, err := d.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() || info.Mode().Perm() != 0o750 {
		t.Fatalf("directory not created with 0750: %v %v", info, err)
	}
	if res.FreeBytes <= 0 || !strings.Contains(res.Message, dir) {
		t.Fatalf("result %+v", res)
	}
	free, err := d.FreeBytes(context.Background())
	if err != nil || free <= 0 {
		t.Fatalf("FreeBytes = %d, %v", free, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("Check left files behind: %v", entries)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newDir(t, file).Check(context.Background()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Check of a file: %v", err)
	}
}

// makeReadOnly makes dir unwritable even for root (immutable flag), or by
// permissions for other users.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("running as root without chattr: cannot make a directory read-only")
	}
	if out, err := exec.Command(chattr, "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("running as root and chattr +i failed (%v: %s): cannot make a directory read-only", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(chattr, "-i", dir).Run() })
}

func TestCheckReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	makeReadOnly(t, dir)
	_, err := newDir(t, dir).Check(context.Background())
	ae, ok := apperr.As(err)
	if !ok {
		t.Fatalf("Check of a read-only dir = %v", err)
	}
	if !strings.Contains(ae.Message, "read-only or not writable") || !strings.Contains(ae.Message, dir) {
		t.Fatalf("message %q", ae.Message)
	}
}

func TestUploadResumeAfterExtraBytes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := context.Background()
	name := "conn/20260101T000000Z-7.tar.gz"
	data := randBytes(3000, 1)

	first := newDir(t, root)
	up, err := first.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if up.PartSize(1) != 8<<20 || up.PartSize(100) != 8<<20 {
		t.Errorf("PartSize = %d", up.PartSize(1))
	}
	if err := up.WritePart(ctx, 1, data[:1000]); err != nil {
		t.Fatal(err)
	}
	saved := up.State()
	var st struct {
		Name   string `json:"name"`
		Offset int64  `json:"offset"`
		Parts  int    `json:"parts"`
	}
	if err := json.Unmarshal(saved, &st); err != nil || st.Name != name || st.Offset != 1000 || st.Parts != 1 {
		t.Fatalf("state %s (%v)", saved, err)
	}
	// The process writes more, then dies before the next checkpoint.
	if err := up.WritePart(ctx, 2, bytes.Repeat([]byte{0xEE}, 7777)); err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 4, data); err == nil {
		t.Fatal("a part out of order was accepted")
	}
	partial := filepath.Join(root, "conn", "20260101T000000Z-7.tar.gz.partial")
	if info, err := os.Stat(partial); err != nil || info.Size() != 8777 {
		t.Fatalf("partial file: %v %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(root, name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("archive visible before Complete")
	}

	second := newDir(t, root)
	resumed, err := second.ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatalf("ResumeUpload: %v", err)
	}
	if info, err := os.Stat(partial); err != nil || info.Size() != 1000 {
		t.Fatalf("partial file after ResumeUpload: %v %v; want it cut back to 1000 bytes", info, err)
	}
	if err := resumed.WritePart(ctx, 2, data[1000:2500]); err != nil {
		t.Fatal(err)
	}
	size, err := resumed.Complete(ctx, data[2500:])
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Complete = %d, %v", size, err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial file left after Complete")
	}
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("archive bytes differ (%v)", err)
	}
	if n, err := second.Size(ctx, name); err != nil || n != int64(len(data)) {
		t.Fatalf("Size = %d, %v", n, err)
	}
	rc, err := second.Open(ctx, name, 1234)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, rc), data[1234:]) {
		t.Fatal("bytes from offset differ")
	}
	if loc := second.Location(name); loc != filepath.Join(root, name) {
		t.Errorf("Location = %s", loc)
	}
	if _, err := second.ResumeUpload(ctx, saved); !errors.Is(err, connector.ErrNotExist) {
		t.Errorf("ResumeUpload after Complete: %v", err)
	}
}

func TestResumeRefusesAShorterFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := context.Background()
	d := newDir(t, root)
	up, err := d.NewUpload(ctx, "a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, randBytes(500, 2)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(root, "a.tar.gz.partial"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ResumeUpload(ctx, up.State()); err == nil || !strings.Contains(err.Error(), "start the backup again") {
		t.Fatalf("ResumeUpload of a truncated file: %v", err)
	}
}

func TestAbortPutFileDeleteAndEmpty(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := context.Background()
	d := newDir(t, root)
	up, err := d.NewUpload(ctx, "x/a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, []byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "x", "a.tar.gz.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial file left after Abort")
	}
	if _, err := d.ResumeUpload(ctx, up.State()); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("ResumeUpload after Abort: %v", err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Errorf("second Abort: %v", err)
	}

	empty, err := d.NewUpload(ctx, "empty.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if size, err := empty.Complete(ctx, nil); err != nil || size != 0 {
		t.Fatalf("empty Complete = %d, %v", size, err)
	}
	if n, err := d.Size(ctx, "empty.tar.gz"); err != nil || n != 0 {
		t.Fatalf("Size = %d, %v", n, err)
	}

	if err := d.PutFile(ctx, "x/a.tar.gz.sha256", []byte("abc  a.tar.gz\n")); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if err := d.PutFile(ctx, "x/a.tar.gz.sha256", []byte("def  a.tar.gz\n")); err != nil {
		t.Fatalf("PutFile again: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(root, "x", "a.tar.gz.sha256"))
	if err != nil || string(got) != "def  a.tar.gz\n" {
		t.Fatalf("sidecar %q, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "x"))
	if len(entries) != 1 {
		t.Fatalf("PutFile left temporary files: %v", entries)
	}
	if err := d.Delete(ctx, "x/a.tar.gz.sha256"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Size(ctx, "x/a.tar.gz.sha256"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Delete: %v", err)
	}
	if _, err := d.Open(ctx, "x/a.tar.gz.sha256", 0); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Open after Delete: %v", err)
	}
	if err := d.Delete(ctx, "x/a.tar.gz.sha256"); err != nil {
		t.Errorf("Delete of an absent file: %v", err)
	}
}

func TestNamesThatEscapeAreRefused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	ctx := context.Background()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	d := newDir(t, root)
	for _, name := range []string{"../x", "/etc/x", "a/../../x", "a/./b", "", "a//b", `a\..\b`, "x.partial", "link/x", "link/sub/x"} {
		if _, err := d.NewUpload(ctx, name); err == nil {
			t.Errorf("NewUpload(%q) accepted", name)
		}
		if err := d.PutFile(ctx, name, []byte("x")); err == nil {
			t.Errorf("PutFile(%q) accepted", name)
		}
		if _, err := d.Open(ctx, name, 0); err == nil || errors.Is(err, connector.ErrNotExist) {
			t.Errorf("Open(%q) = %v", name, err)
		}
		if err := d.Delete(ctx, name); err == nil {
			t.Errorf("Delete(%q) accepted", name)
		}
	}
	state, _ := json.Marshal(map[string]any{"name": "../escape", "offset": 0, "parts": 0})
	if _, err := d.ResumeUpload(ctx, state); err == nil {
		t.Error("ResumeUpload accepted an escaping name")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("files written outside the root: %v", entries)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := context.Background()
	d := newDir(t, root)
	var states = map[string]json.RawMessage{}
	// "keep.tar.gz" is a substring of the live "c/keep.tar.gz" and still goes.
	for _, name := range []string{"c/keep.tar.gz", "c/stale.tar.gz", "d/stale2.tar.gz", "keep.tar.gz", "fresh.tar.gz"} {
		up, err := d.NewUpload(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.WritePart(ctx, 1, []byte("data")); err != nil {
			t.Fatal(err)
		}
		states[name] = up.State()
	}
	if err := d.PutFile(ctx, "c/done.tar.gz", []byte("x")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, name := range []string{"c/keep.tar.gz", "c/stale.tar.gz", "d/stale2.tar.gz", "keep.tar.gz", "c/done.tar.gz"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if !strings.HasSuffix(name, "done.tar.gz") {
			p += local.PartSuffix
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	n, err := d.Sweep(ctx, time.Now().Add(-24*time.Hour), []json.RawMessage{states["c/keep.tar.gz"]})
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
	for name, want := range map[string]bool{
		"c/keep.tar.gz.partial": true, "c/stale.tar.gz.partial": false, "d/stale2.tar.gz.partial": false,
		"keep.tar.gz.partial": false, "fresh.tar.gz.partial": true, "c/done.tar.gz": true,
	} {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(name)))
		if (err == nil) != want {
			t.Errorf("%s present = %v, want %v", name, err == nil, want)
		}
	}
	if n, err := newDir(t, filepath.Join(root, "missing")).Sweep(ctx, time.Now(), nil); err != nil || n != 0 {
		t.Errorf("Sweep of a missing directory = %d, %v", n, err)
	}
}

// TestSymlinkSwappedInCannotLeadOutside plants symlinks to a directory
// outside the root after the names were checked (an upload started, a
// folder created): writes, renames, reads and deletes that would follow
// them fail, and nothing outside the root is created, changed or read.
func TestSymlinkSwappedInCannotLeadOutside(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDir(t, root)

	// An upload is under way in conn/; then conn/ is swapped for a link
	// to the outside directory, holding a partial file of the same name.
	up, err := d.NewUpload(ctx, "conn/a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, []byte("part one")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "conn"), filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "a.tar.gz.partial"), []byte("planted"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "conn")); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Complete(ctx, []byte("tail")); err == nil {
		t.Error("Complete renamed a file through a symlink that leads outside the root")
	}
	if err := d.PutFile(ctx, "conn/a.tar.gz.sha256", []byte("sum\n")); err == nil {
		t.Error("PutFile wrote through a symlink that leads outside the root")
	}
	if err := d.Delete(ctx, "conn/a.tar.gz.partial.x"); err == nil {
		t.Error("Delete went through a symlink that leads outside the root")
	}

	// A partial file and an archive that are links to a file outside.
	if err := os.MkdirAll(filepath.Join(root, "c2"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "c2", "b.tar.gz.partial")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "c2", "b.tar.gz")); err != nil {
		t.Fatal(err)
	}
	if up, err := d.NewUpload(ctx, "c2/b.tar.gz"); err == nil {
		_ = up.WritePart(ctx, 1, []byte("overwritten"))
		t.Error("NewUpload opened a partial file that links outside the root")
	}
	state, _ := json.Marshal(map[string]any{"name": "c2/b.tar.gz", "offset": 0, "parts": 0})
	if up, err := d.ResumeUpload(ctx, state); err == nil {
		_, _ = up.Complete(ctx, []byte("overwritten"))
		t.Error("ResumeUpload opened a partial file that links outside the root")
	}
	if rc, err := d.Open(ctx, "c2/b.tar.gz", 0); err == nil {
		got := readAll(t, rc)
		t.Errorf("Open read %q through a link that leads outside the root", got)
	}
	if n, err := d.Size(ctx, "c2/b.tar.gz"); err == nil {
		t.Errorf("Size = %d through a link that leads outside the root", n)
	}

	if got, err := os.ReadFile(victim); err != nil || string(got) != "precious" {
		t.Fatalf("the file outside the root was changed: %q, %v", got, err)
	}
	entries, _ := os.ReadDir(outside)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a.tar.gz.partial,victim" {
		t.Fatalf("outside the root now: %v; want only what was there", names)
	}
	if got, _ := os.ReadFile(filepath.Join(outside, "a.tar.gz.partial")); string(got) != "planted" {
		t.Fatalf("the planted file outside the root was changed: %q", got)
	}
}
