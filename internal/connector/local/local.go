// Package local keeps archives in a directory on the coffer server: parts
// are appended to "<name>.partial" with an fsync each, and the file is
// renamed to its name when complete. Every file below the directory is
// reached through an os.Root, so no symlink, whenever it appears, leads a
// read, write, rename or removal outside the directory.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector"
)

// PartSuffix is appended to an archive's name while it is being written.
const PartSuffix = ".partial"

// partSize is the size of every part; appends take any size, so it only
// sets how much the engine buffers between checkpoints.
const partSize = 8 << 20

// Config is the credentials document of a "local" connection.
type Config struct {
	// Path is the absolute directory archives are kept in.
	Path string `json:"path"`
}

// Validate checks that Path is an absolute, clean path inside one of roots
// (the directories the server allows). Symlinks of the longest existing
// ancestor are resolved first, so a link cannot lead outside the roots. It
// returns field -> reason; an empty map means valid.
func (c Config) Validate(roots []string) map[string]string {
	errs := map[string]string{}
	switch {
	case c.Path == "":
		errs["path"] = "is required"
	case strings.ContainsRune(c.Path, 0):
		errs["path"] = "must not contain NUL characters"
	case !filepath.IsAbs(c.Path):
		errs["path"] = "must be an absolute path such as /var/backups/coffer"
	case filepath.Clean(c.Path) != c.Path:
		errs["path"] = fmt.Sprintf("must be written in clean form (%s)", filepath.Clean(c.Path))
	}
	if len(errs) > 0 {
		return errs
	}
	if len(roots) == 0 {
		errs["path"] = "cannot be used: the server allows no directories for local destinations"
		return errs
	}
	resolved, err := resolveExisting(c.Path)
	if err != nil {
		errs["path"] = fmt.Sprintf("cannot be checked: %v", err)
		return errs
	}
	for _, root := range roots {
		if root == "" {
			continue
		}
		r, err := resolveExisting(filepath.Clean(root))
		if err != nil {
			continue
		}
		if within(r, resolved) {
			return errs
		}
	}
	errs["path"] = "must be inside one of the allowed directories: " + strings.Join(roots, ", ")
	return errs
}

// within reports whether p is root or below it (both cleaned, absolute).
func within(root, p string) bool {
	if root == p {
		return true
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// resolveExisting resolves symlinks in the longest existing ancestor of p
// and appends the rest unchanged.
func resolveExisting(p string) (string, error) {
	rest := ""
	cur := p
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// Dir is a local directory destination. It is a connector.Checker and
// connector.Destination.
type Dir struct {
	root string
}

var (
	_ connector.Checker     = (*Dir)(nil)
	_ connector.Destination = (*Dir)(nil)
)

// New returns the destination for cfg. The allowed roots are checked by
// Config.Validate; New only needs an absolute, clean path.
func New(cfg Config) (*Dir, error) {
	if cfg.Path == "" || !filepath.IsAbs(cfg.Path) || filepath.Clean(cfg.Path) != cfg.Path {
		return nil, apperr.InvalidFields("The local directory must be an absolute path.", map[string]string{"path": "must be an absolute, clean path"})
	}
	return &Dir{root: cfg.Path}, nil
}

// Root is the directory archives are kept in.
func (d *Dir) Root() string { return d.root }

// open opens the directory as an os.Root: every path below it is resolved
// inside it, and a symlink that leads outside is refused by the kernel's
// view of the tree at the moment of use, not at an earlier check.
func (d *Dir) open() (*os.Root, error) {
	r, err := os.OpenRoot(d.root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("directory %s: %w", d.root, connector.ErrNotExist)
		}
		return nil, d.explain(err, "open")
	}
	return r, nil
}

// Check creates the directory if it is missing, proves it is writable
// (create, write, fsync and remove a file) and reports the free space.
func (d *Dir) Check(ctx context.Context) (connector.CheckResult, error) {
	if err := os.MkdirAll(d.root, 0o750); err != nil {
		return connector.CheckResult{}, d.explain(err, "create")
	}
	info, err := os.Stat(d.root)
	if err != nil {
		return connector.CheckResult{}, d.explain(err, "open")
	}
	if !info.IsDir() {
		return connector.CheckResult{}, apperr.New(apperr.Invalid, "%s is a file, not a directory. Choose a directory for the backups.", d.root)
	}
	r, err := d.open()
	if err != nil {
		return connector.CheckResult{}, err
	}
	defer r.Close()
	f, name, err := createTemp(r, ".coffer-check-")
	if err != nil {
		return connector.CheckResult{}, d.explain(err, "write to")
	}
	_, werr := f.Write([]byte("coffer write check\n"))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	rerr := r.Remove(name)
	for _, err := range []error{werr, cerr, rerr} {
		if err != nil {
			return connector.CheckResult{}, d.explain(err, "write to")
		}
	}
	free, err := d.FreeBytes(ctx)
	if err != nil {
		return connector.CheckResult{}, err
	}
	msg := fmt.Sprintf("Directory %s is writable.", d.root)
	if free >= 0 {
		msg = fmt.Sprintf("Directory %s is writable; %s free.", d.root, bytesize.Human(free))
	}
	return connector.CheckResult{Message: msg, FreeBytes: free}, nil
}

// FreeBytes is the space available to the server's user in the directory
// (in the nearest existing folder above it while it does not exist yet, as
// it is made on the first write), or -1 where the platform does not say.
func (d *Dir) FreeBytes(context.Context) (int64, error) {
	dir := d.root
	for {
		free, err := freeBytes(dir)
		if err == nil {
			return free, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return 0, fmt.Errorf("checking the free space of %s: %w", d.root, err)
		}
		dir = parent
	}
}

// createTemp creates a new file called prefix + a random suffix in the
// root's top directory, or in dir below it.
func createTemp(r *os.Root, prefix string) (*os.File, string, error) {
	for range 10000 {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36)
		f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary name for %s*", prefix)
}

// explain turns a file system error into a sentence for the user.
func (d *Dir) explain(err error, what string) error {
	switch {
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM):
		return apperr.Wrap(apperr.Invalid, err, "The coffer server cannot %s directory %s: it is read-only or not writable by the server's user. Change its permissions or choose another directory.", what, d.root)
	case errors.Is(err, syscall.ENOSPC) || isQuotaExceeded(err):
		return apperr.Wrap(apperr.Unavailable, err, "Directory %s is full. Free some space or choose another directory.", d.root)
	case errors.Is(err, syscall.ENOTDIR):
		return apperr.Wrap(apperr.Invalid, err, "Part of the path %s is a file, not a directory. Choose another directory.", d.root)
	}
	return fmt.Errorf("cannot %s directory %s: %w", what, d.root, err)
}

// validName checks an archive name: relative, slash-separated, clean, with
// no "." or ".." segments and not a partial file's name. The os.Root every
// file is opened through keeps symlinks from leading outside; this keeps the
// names themselves plain.
func validName(name string) error {
	switch {
	case name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) || strings.Contains(name, "\\"):
		return fmt.Errorf("archive name %q must be a non-empty relative path", name)
	case path.Clean(name) != name:
		return fmt.Errorf("archive name %q must be a clean relative path", name)
	case strings.HasSuffix(name, PartSuffix):
		return fmt.Errorf("archive name %q must not end in %s", name, PartSuffix)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("archive name %q must not contain . or .. segments", name)
		}
	}
	return nil
}

// rel is name as a path inside the root (validated).
func rel(name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	return filepath.FromSlash(name), nil
}

// Location is the archive's absolute path.
func (d *Dir) Location(name string) string {
	return filepath.Join(d.root, filepath.FromSlash(name))
}

// uploadState is the JSON an Upload's State returns.
type uploadState struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Parts  int    `json:"parts"`
}

type upload struct {
	d     *Dir
	st    uploadState
	root  *os.Root // open until Complete or Abort
	final string   // the archive's path inside root
	f     *os.File
}

// NewUpload starts writing <root>/<name>.partial (replacing any earlier one).
func (d *Dir) NewUpload(ctx context.Context, name string) (connector.Upload, error) {
	final, err := rel(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.root, 0o750); err != nil {
		return nil, d.explain(err, "create")
	}
	r, err := d.open()
	if err != nil {
		return nil, err
	}
	if err := r.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		r.Close()
		return nil, d.explain(err, "create a folder in")
	}
	f, err := r.OpenFile(final+PartSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		r.Close()
		return nil, d.explain(err, "write to")
	}
	if err := syncDir(r, filepath.Dir(final)); err != nil {
		f.Close()
		r.Close()
		return nil, err
	}
	return &upload{d: d, st: uploadState{Name: name}, root: r, final: final, f: f}, nil
}

// ResumeUpload reopens the .partial file of a State, cuts off anything
// written after that state (a crash may have appended more), and goes on.
func (d *Dir) ResumeUpload(ctx context.Context, state json.RawMessage) (connector.Upload, error) {
	var st uploadState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("reading the saved local upload state: %w", err)
	}
	if st.Offset < 0 || st.Parts < 0 {
		return nil, fmt.Errorf("the saved local upload state of %q is not valid", st.Name)
	}
	final, err := rel(st.Name)
	if err != nil {
		return nil, err
	}
	r, err := d.open()
	if err != nil {
		if errors.Is(err, connector.ErrNotExist) {
			return nil, fmt.Errorf("the unfinished archive %s%s no longer exists: %w", d.Location(st.Name), PartSuffix, connector.ErrNotExist)
		}
		return nil, err
	}
	partial := d.Location(st.Name) + PartSuffix
	f, err := r.OpenFile(final+PartSuffix, os.O_WRONLY, 0)
	if err != nil {
		r.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the unfinished archive %s no longer exists: %w", partial, connector.ErrNotExist)
		}
		return nil, d.explain(err, "write to")
	}
	fail := func(err error) (connector.Upload, error) {
		f.Close()
		r.Close()
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("stat %s: %w", partial, err))
	}
	if info.Size() < st.Offset {
		return fail(fmt.Errorf("the unfinished archive %s has %d bytes but the saved state needs %d; start the backup again", partial, info.Size(), st.Offset))
	}
	if err := f.Truncate(st.Offset); err != nil {
		return fail(fmt.Errorf("truncating %s: %w", partial, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync %s: %w", partial, err))
	}
	return &upload{d: d, st: st, root: r, final: final, f: f}, nil
}

// PartSize is 8 MiB for every part.
func (u *upload) PartSize(int) int64 { return partSize }

// WritePart appends part n at the recorded offset and fsyncs it.
func (u *upload) WritePart(ctx context.Context, n int, data []byte) error {
	if u.f == nil {
		return fmt.Errorf("local upload of %s is already finished", u.st.Name)
	}
	if n != u.st.Parts+1 {
		return fmt.Errorf("local upload of %s: part %d written after part %d", u.st.Name, n, u.st.Parts)
	}
	if err := u.append(data); err != nil {
		return err
	}
	u.st.Parts++
	return nil
}

func (u *upload) append(data []byte) error {
	if _, err := u.f.WriteAt(data, u.st.Offset); err != nil {
		return u.d.explain(err, "write to")
	}
	if err := u.f.Sync(); err != nil {
		return u.d.explain(err, "write to")
	}
	u.st.Offset += int64(len(data))
	return nil
}

// State is {name, offset, parts}.
func (u *upload) State() json.RawMessage {
	b, err := json.Marshal(u.st)
	if err != nil {
		panic(fmt.Sprintf("local: marshalling upload state: %v", err)) // plain struct cannot fail
	}
	return b
}

// Complete appends last, fsyncs, renames the .partial file to the archive's
// name and fsyncs the directory. It returns the archive's size.
func (u *upload) Complete(ctx context.Context, last []byte) (int64, error) {
	if u.f == nil {
		return 0, fmt.Errorf("local upload of %s is already finished", u.st.Name)
	}
	defer u.release()
	if len(last) > 0 {
		if err := u.append(last); err != nil {
			return 0, err
		}
	}
	// Drop anything beyond the offset (possible after an odd resume).
	if err := u.f.Truncate(u.st.Offset); err != nil {
		return 0, fmt.Errorf("truncating %s%s: %w", u.d.Location(u.st.Name), PartSuffix, err)
	}
	if err := u.f.Sync(); err != nil {
		return 0, u.d.explain(err, "write to")
	}
	if err := u.f.Close(); err != nil {
		return 0, u.d.explain(err, "write to")
	}
	u.f = nil
	if err := u.root.Rename(u.final+PartSuffix, u.final); err != nil {
		return 0, u.d.explain(err, "write to")
	}
	if err := syncDir(u.root, filepath.Dir(u.final)); err != nil {
		return 0, err
	}
	return u.st.Offset, nil
}

// release closes the partial file and the root.
func (u *upload) release() {
	if u.f != nil {
		_ = u.f.Close()
		u.f = nil
	}
	if u.root != nil {
		_ = u.root.Close()
		u.root = nil
	}
}

// Abort removes the .partial file.
func (u *upload) Abort(ctx context.Context) error {
	u.release()
	r, err := u.d.open()
	if errors.Is(err, connector.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Remove(u.final + PartSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return u.d.explain(err, "remove a file from")
	}
	return nil
}

// PutFile writes a small file atomically (temporary file, fsync, rename).
func (d *Dir) PutFile(ctx context.Context, name string, data []byte) error {
	p, err := rel(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.root, 0o750); err != nil {
		return d.explain(err, "create")
	}
	r, err := d.open()
	if err != nil {
		return err
	}
	defer r.Close()
	dir := filepath.Dir(p)
	if err := r.MkdirAll(dir, 0o750); err != nil {
		return d.explain(err, "create a folder in")
	}
	f, tmp, err := createTemp(r, filepath.Join(dir, "."+filepath.Base(p)+".tmp-"))
	if err != nil {
		return d.explain(err, "write to")
	}
	defer func() { _ = r.Remove(tmp) }() // fails harmlessly after the rename
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d.explain(err, "write to")
	}
	if err := r.Rename(tmp, p); err != nil {
		return d.explain(err, "write to")
	}
	return syncDir(r, dir)
}

// Open reads an archive from byte offset on.
func (d *Dir) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	p, err := rel(name)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("opening %s: negative offset %d", d.Location(name), offset)
	}
	r, err := d.open()
	if err != nil {
		return nil, err
	}
	defer r.Close() // an open file stays usable
	f, err := r.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", d.Location(name), connector.ErrNotExist)
		}
		return nil, d.explain(err, "read from")
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", d.Location(name))
	}
	if err == nil {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s at %d: %w", d.Location(name), offset, err)
	}
	return f, nil
}

// Size returns the size of a stored archive (ErrNotExist when absent).
func (d *Dir) Size(ctx context.Context, name string) (int64, error) {
	p, err := rel(name)
	if err != nil {
		return 0, err
	}
	r, err := d.open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	info, err := r.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("%s: %w", d.Location(name), connector.ErrNotExist)
		}
		return 0, d.explain(err, "read from")
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", d.Location(name))
	}
	return info.Size(), nil
}

// Delete removes an archive or file; absent is not an error.
func (d *Dir) Delete(ctx context.Context, name string) error {
	p, err := rel(name)
	if err != nil {
		return err
	}
	r, err := d.open()
	if errors.Is(err, connector.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	info, err := r.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return d.explain(err, "remove a file from")
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a folder, not an archive", d.Location(name))
	}
	if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d.explain(err, "remove a file from")
	}
	return nil
}

// Sweep removes *.partial files under the directory last modified before
// olderThan, except those of the archives a state in live names
// ("conn/x.tar.gz" keeps "conn/x.tar.gz.partial"). It returns how many it
// removed.
func (d *Dir) Sweep(ctx context.Context, olderThan time.Time, live []json.RawMessage) (int, error) {
	keep := map[string]bool{}
	for _, raw := range live {
		var st uploadState
		if err := json.Unmarshal(raw, &st); err != nil || st.Name == "" {
			return 0, fmt.Errorf("the saved state of an unfinished upload cannot be read, so no partial archive in %s was swept", d.root)
		}
		keep[st.Name] = true
	}
	r, err := d.open()
	if errors.Is(err, connector.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer r.Close()
	removed := 0
	err = fs.WalkDir(r.FS(), ".", func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if !entry.Type().IsRegular() || !strings.HasSuffix(entry.Name(), PartSuffix) {
			return nil
		}
		info, err := entry.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !info.ModTime().Before(olderThan) {
			return nil
		}
		if keep[strings.TrimSuffix(p, PartSuffix)] {
			return nil
		}
		if err := r.Remove(filepath.FromSlash(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweeping partial archives in %s: %w", d.root, err)
	}
	return removed, nil
}

// listPageSize is how many files ListFiles hands fn at a time.
const listPageSize = 1000

// ListFiles walks the directory and calls fn with pages of the regular files
// below it, named relative to it with slashes. The files uploads and
// PutFile write on the way are not listed: "<name>.partial", PutFile's
// ".<base>.tmp-*" and Check's ".coffer-check-*"; nor are folders, symlinks
// and files with a name no archive could have. A directory that does not
// exist yet holds nothing.
func (d *Dir) ListFiles(ctx context.Context, fn func(page []connector.StoredFile) error) error {
	r, err := d.open()
	if errors.Is(err, connector.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	var page []connector.StoredFile
	var fnErr error // an error of fn, returned as it is
	err = fs.WalkDir(r.FS(), ".", func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != "." {
				return nil // removed while the walk went on
			}
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if !entry.Type().IsRegular() || temporary(entry.Name()) || validName(p) != nil {
			return nil
		}
		info, err := entry.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		page = append(page, connector.StoredFile{Name: p, Size: info.Size(), ModTime: info.ModTime()})
		if len(page) >= listPageSize {
			fnErr = fn(page)
			page = nil
			return fnErr
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("listing the archives in %s: %w", d.root, err)
	case len(page) > 0:
		return fn(page)
	}
	return nil
}

// temporary reports whether base is the name of a file this package
// writes on the way to another: an upload's "<name>.partial", PutFile's
// ".<base>.tmp-<random>" and Check's ".coffer-check-<random>".
func temporary(base string) bool {
	if strings.HasSuffix(base, PartSuffix) {
		return true
	}
	if rest, ok := strings.CutPrefix(base, ".coffer-check-"); ok && isBase36(rest) {
		return true
	}
	if i := strings.LastIndex(base, ".tmp-"); strings.HasPrefix(base, ".") && i > 1 && isBase36(base[i+len(".tmp-"):]) {
		return true
	}
	return false
}

// isBase36 reports whether s is a non-empty run of 0-9a-z, as createTemp's
// random suffixes are.
func isBase36(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// syncDir fsyncs a directory below the root so a rename or create in it is durable.
func syncDir(r *os.Root, dir string) error {
	f, err := r.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
