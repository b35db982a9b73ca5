package gdrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/coffer-backup/coffer/internal/connector"
)

// retryAttempts is how many times a request is tried in all when Drive
// answers 5xx or 429 or the network fails.
const retryAttempts = 3

// Client is a Drive folder used as an archive destination.
type Client struct {
	cfg    Config
	chunk  int64
	delay  time.Duration
	svc    *drive.Service
	api    *http.Client // authorized, retrying
	raw    *http.Client // authorized, not retrying (session chunks handle failures themselves)
	upload string       // .../upload/drive/v3/files on the API host
	host   string       // scheme://host of the API, the only place tokens are sent
}

var (
	_ connector.Destination = (*Client)(nil)
	_ connector.Checker     = (*Client)(nil)
)

// New returns a Client for cfg. It does not contact Google; Check does.
func New(ctx context.Context, cfg Config, opts Options) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, fmt.Errorf("the Google Drive connection is not valid: %s %s", keys[0], errs[keys[0]])
	}
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	if chunk < ChunkQuantum || chunk%ChunkQuantum != 0 {
		return nil, fmt.Errorf("the Google Drive chunk size %d is not a positive multiple of 256 KiB", chunk)
	}
	base := http.DefaultTransport
	baseClient := http.DefaultClient
	if opts.HTTPClient != nil {
		baseClient = opts.HTTPClient
		if opts.HTTPClient.Transport != nil {
			base = opts.HTTPClient.Transport
		}
	}
	apiURL := opts.OAuth.apiURL()
	u, err := url.Parse(apiURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("the Google Drive API URL %q is not an absolute URL", apiURL)
	}

	tok := &tokens{}
	// Token requests go through the base client, never the authorized one.
	if cfg.ServiceAccountJSON != "" {
		jwt, err := google.JWTConfigFromJSON([]byte(cfg.ServiceAccountJSON), drive.DriveScope)
		if err != nil {
			return nil, fmt.Errorf("the Google service account key cannot be used; download a new JSON key: %w", err)
		}
		tok.fetch = func(ctx context.Context) (*oauth2.Token, error) {
			return jwt.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, baseClient)).Token()
		}
	} else {
		tok.cur = &oauth2.Token{AccessToken: cfg.AccessToken, RefreshToken: cfg.RefreshToken, Expiry: cfg.Expiry, TokenType: "Bearer"}
		if cfg.RefreshToken != "" {
			conf := opts.OAuth.config("")
			refresh := cfg.RefreshToken
			tok.fetch = func(ctx context.Context) (*oauth2.Token, error) {
				return conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, baseClient), &oauth2.Token{RefreshToken: refresh}).Token()
			}
		}
		tok.onToken = opts.OnToken
	}

	delay := opts.RetryBase
	if delay <= 0 {
		delay = 500 * time.Millisecond
	}
	auth := &authTransport{tokens: tok, base: base}
	c := &Client{
		cfg:    cfg,
		chunk:  chunk,
		delay:  delay,
		api:    &http.Client{Transport: &retryTransport{base: auth, attempts: retryAttempts, delay: delay}},
		raw:    &http.Client{Transport: auth},
		upload: apiURL + "upload/drive/v3/files",
		host:   u.Scheme + "://" + u.Host,
	}
	c.svc, err = drive.NewService(ctx, option.WithHTTPClient(c.api), option.WithEndpoint(apiURL+"drive/v3/"))
	if err != nil {
		return nil, fmt.Errorf("creating the Google Drive client: %w", err)
	}
	return c, nil
}

// Check verifies that the folder exists, is a folder (not trashed) and
// accepts new files, and reports the free space.
func (c *Client) Check(ctx context.Context) (connector.CheckResult, error) {
	f, err := c.svc.Files.Get(c.cfg.FolderID).Fields("id,name,mimeType,trashed,capabilities/canAddChildren").
		SupportsAllDrives(true).Context(ctx).Do()
	if err != nil {
		if isNotFound(err) {
			return connector.CheckResult{}, fmt.Errorf("Google Drive folder %q was not found; check the folder id and that the account can open the folder: %w", c.cfg.FolderID, connector.ErrNotExist)
		}
		return connector.CheckResult{}, describe(fmt.Sprintf("reading Google Drive folder %q", c.cfg.FolderID), err)
	}
	switch {
	case f.MimeType != FolderMimeType:
		return connector.CheckResult{}, fmt.Errorf("Google Drive item %q (%s) is a file, not a folder; give the id of a folder", f.Name, c.cfg.FolderID)
	case f.Trashed:
		return connector.CheckResult{}, fmt.Errorf("Google Drive folder %q is in the trash; restore it or choose another folder", f.Name)
	case f.Capabilities == nil || !f.Capabilities.CanAddChildren:
		return connector.CheckResult{}, fmt.Errorf("the Google account cannot add files to folder %q; share it with edit rights", f.Name)
	}
	free, err := c.FreeBytes(ctx)
	if err != nil {
		return connector.CheckResult{}, err
	}
	return connector.CheckResult{Message: fmt.Sprintf("Google Drive folder %q is writable", f.Name), FreeBytes: free}, nil
}

// FreeBytes is the account's storage limit minus its usage, or -1 when the
// storage is unlimited.
func (c *Client) FreeBytes(ctx context.Context) (int64, error) {
	a, err := c.svc.About.Get().Fields("storageQuota").Context(ctx).Do()
	if err != nil {
		return 0, describe("reading the Google Drive storage quota", err)
	}
	if a.StorageQuota == nil || a.StorageQuota.Limit <= 0 {
		return -1, nil
	}
	return max(a.StorageQuota.Limit-a.StorageQuota.Usage, 0), nil
}

// Location is "gdrive://<folder id>/<name>".
func (c *Client) Location(name string) string {
	return "gdrive://" + c.cfg.FolderID + "/" + name
}

// Sweep removes nothing and returns 0: Drive has no call to list open upload
// sessions, and unfinished sessions expire by themselves after about a
// week, holding no visible file.
func (c *Client) Sweep(context.Context, time.Time, []json.RawMessage) (int, error) {
	return 0, nil
}

// ListFiles walks the folder tree under the configured folder and calls fn
// with the files of each folder, named by their folder path and name
// ("a/b/c.tar.gz"). It lists what Open and Size find: where several
// folders of one name share a parent only the oldest is walked (the one
// every process picks), and where several files share a name in a folder
// (a rewrite in progress) the newest is listed, once. Folders themselves,
// trashed items and items whose name cannot be part of an archive name are
// not listed; an upload becomes a file only when it completes, so
// unfinished sessions are never listed.
func (c *Client) ListFiles(ctx context.Context, fn func(page []connector.StoredFile) error) error {
	type dir struct{ id, path string }
	queue := []dir{{id: c.cfg.FolderID}}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		folders, files, err := c.listFolder(ctx, cur.id)
		if err != nil {
			where := "the Google Drive folder " + c.Location(cur.path)
			return fmt.Errorf("list %s: %w", where, err)
		}
		for _, f := range folders {
			queue = append(queue, dir{id: f.Id, path: cur.path + f.Name + "/"})
		}
		page := make([]connector.StoredFile, 0, len(files))
		for _, f := range files {
			sf := connector.StoredFile{Name: cur.path + f.Name, Size: f.Size}
			if t, err := time.Parse(time.RFC3339Nano, f.ModifiedTime); err == nil {
				sf.ModTime = t
			}
			page = append(page, sf)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
	}
	return nil
}

// listFolder lists the non-trashed items of folder id that a name can
// reach: per name the oldest subfolder (as folder picks) and the newest
// file (as find picks), sorted by name.
func (c *Client) listFolder(ctx context.Context, id string) (folders, files []*drive.File, err error) {
	var all []*drive.File
	err = c.svc.Files.List().Q(quote(id)+" in parents and trashed = false").
		Fields("nextPageToken,files(id,name,mimeType,size,createdTime,modifiedTime)").
		PageSize(1000).SupportsAllDrives(true).IncludeItemsFromAllDrives(true).
		Pages(ctx, func(l *drive.FileList) error { all = append(all, l.Files...); return nil })
	if err != nil {
		return nil, nil, describe("listing a folder in Google Drive", err)
	}
	// Oldest first, as children sorts: the first folder and the last file
	// of a name are the ones folder and find resolve.
	slices.SortStableFunc(all, func(a, b *drive.File) int {
		if c := strings.Compare(a.CreatedTime, b.CreatedTime); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
	folderOf, fileOf := map[string]*drive.File{}, map[string]*drive.File{}
	for _, f := range all {
		if f.Name == "" || f.Name == "." || f.Name == ".." || strings.Contains(f.Name, "/") {
			continue // no archive name reaches it
		}
		if f.MimeType == FolderMimeType {
			if _, ok := folderOf[f.Name]; !ok {
				folderOf[f.Name] = f
			}
			continue
		}
		fileOf[f.Name] = f
	}
	byName := func(a, b *drive.File) int { return strings.Compare(a.Name, b.Name) }
	folders = slices.SortedFunc(maps.Values(folderOf), byName)
	files = slices.SortedFunc(maps.Values(fileOf), byName)
	return folders, files, nil
}

// splitName turns "a/b/c.tar.gz" into folders ["a","b"] and "c.tar.gz".
func splitName(name string) ([]string, string, error) {
	segs := strings.Split(name, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, "", fmt.Errorf("archive name %q is not a relative path of non-empty names", name)
		}
	}
	return segs[:len(segs)-1], segs[len(segs)-1], nil
}

// quote makes s a Drive query string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// children lists the non-trashed items called name in parent, oldest first.
func (c *Client) children(ctx context.Context, parent, name string, folders bool) ([]*drive.File, error) {
	q := "name = " + quote(name) + " and " + quote(parent) + " in parents and trashed = false"
	if folders {
		q += " and mimeType = '" + FolderMimeType + "'"
	} else {
		q += " and mimeType != '" + FolderMimeType + "'"
	}
	var out []*drive.File
	err := c.svc.Files.List().Q(q).Fields("nextPageToken,files(id,name,mimeType,size,md5Checksum,createdTime)").
		PageSize(100).SupportsAllDrives(true).IncludeItemsFromAllDrives(true).
		Pages(ctx, func(l *drive.FileList) error { out = append(out, l.Files...); return nil })
	if err != nil {
		return nil, describe(fmt.Sprintf("listing %q in Google Drive", name), err)
	}
	slices.SortStableFunc(out, func(a, b *drive.File) int {
		if c := strings.Compare(a.CreatedTime, b.CreatedTime); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
	return out, nil
}

// folder resolves the subfolders of a name under the configured folder. With
// create, missing ones are made; without, a missing one is ErrNotExist.
func (c *Client) folder(ctx context.Context, dirs []string, create bool) (string, error) {
	cur := c.cfg.FolderID
	for _, d := range dirs {
		found, err := c.children(ctx, cur, d, true)
		if err != nil {
			return "", err
		}
		if len(found) > 0 {
			cur = found[0].Id // the oldest, so that every process picks the same one
			continue
		}
		if !create {
			return "", fmt.Errorf("Google Drive folder %q: %w", d, connector.ErrNotExist)
		}
		f, err := c.svc.Files.Create(&drive.File{Name: d, MimeType: FolderMimeType, Parents: []string{cur}}).
			Fields("id").SupportsAllDrives(true).Context(ctx).Do()
		if err != nil {
			return "", describe(fmt.Sprintf("creating Google Drive folder %q", d), err)
		}
		cur = f.Id
	}
	return cur, nil
}

// find returns the newest stored file called name (ErrNotExist when absent).
func (c *Client) find(ctx context.Context, name string) (*drive.File, error) {
	dirs, base, err := splitName(name)
	if err != nil {
		return nil, err
	}
	parent, err := c.folder(ctx, dirs, false)
	if err != nil {
		if errors.Is(err, connector.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", c.Location(name), connector.ErrNotExist)
		}
		return nil, err
	}
	files, err := c.children(ctx, parent, base, false)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: %w", c.Location(name), connector.ErrNotExist)
	}
	return files[len(files)-1], nil
}

// removeOthers deletes the files called base in parent other than keep, so
// that a rewritten name leaves one file.
func (c *Client) removeOthers(ctx context.Context, parent, base, keep string) error {
	files, err := c.children(ctx, parent, base, false)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Id != keep {
			if err := c.deleteID(ctx, f.Id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Client) deleteID(ctx context.Context, id string) error {
	err := c.svc.Files.Delete(id).SupportsAllDrives(true).Context(ctx).Do()
	if err != nil && !isNotFound(err) {
		return describe("deleting a file in Google Drive", err)
	}
	return nil
}

// PutFile stores a small file with a multipart upload, replacing a file of
// the same name.
func (c *Client) PutFile(ctx context.Context, name string, data []byte) error {
	dirs, base, err := splitName(name)
	if err != nil {
		return err
	}
	parent, err := c.folder(ctx, dirs, true)
	if err != nil {
		return err
	}
	f, err := c.svc.Files.Create(&drive.File{Name: base, Parents: []string{parent}}).
		Media(bytes.NewReader(data), googleapi.ContentType("application/octet-stream")).
		Fields("id,size").SupportsAllDrives(true).Context(ctx).Do()
	if err != nil {
		return describe("uploading "+c.Location(name), err)
	}
	if f.Size != int64(len(data)) {
		_ = c.deleteID(ctx, f.Id)
		return fmt.Errorf("Google Drive stored %d bytes of %s instead of %d; try again", f.Size, c.Location(name), len(data))
	}
	return c.removeOthers(ctx, parent, base, f.Id)
}

// Size returns the stored size of name.
func (c *Client) Size(ctx context.Context, name string) (int64, error) {
	f, err := c.find(ctx, name)
	if err != nil {
		return 0, err
	}
	return f.Size, nil
}

// Delete removes every file stored as name; absent is not an error.
func (c *Client) Delete(ctx context.Context, name string) error {
	dirs, base, err := splitName(name)
	if err != nil {
		return err
	}
	parent, err := c.folder(ctx, dirs, false)
	if errors.Is(err, connector.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.removeOthers(ctx, parent, base, "")
}

// Open reads name from offset on. A connection that breaks mid-read is
// opened again from where it stopped (a few times in a row at most).
func (c *Client) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	f, err := c.find(ctx, name)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > f.Size {
		return nil, fmt.Errorf("offset %d is outside %s (%d bytes)", offset, c.Location(name), f.Size)
	}
	r := &reader{c: c, ctx: ctx, id: f.Id, loc: c.Location(name), pos: offset, size: f.Size}
	if offset < f.Size {
		if err := r.open(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

type reader struct {
	c         *Client
	ctx       context.Context
	id, loc   string
	pos, size int64
	body      io.ReadCloser
	failures  int // consecutive failed reads without progress
}

func (r *reader) open() error {
	call := r.c.svc.Files.Get(r.id).SupportsAllDrives(true)
	call.Header().Set("Range", fmt.Sprintf("bytes=%d-", r.pos))
	resp, err := call.Context(r.ctx).Download()
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%s: %w", r.loc, connector.ErrNotExist)
		}
		return describe("reading "+r.loc, err)
	}
	if r.pos > 0 && resp.StatusCode != http.StatusPartialContent {
		drain(resp)
		return fmt.Errorf("Google Drive ignored the range request for %s (status %d)", r.loc, resp.StatusCode)
	}
	r.body = resp.Body
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	for {
		if r.pos >= r.size {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if n > 0 {
			r.failures = 0
		}
		if err == nil || (err == io.EOF && r.pos >= r.size) {
			return n, nil // the next call reports io.EOF
		}
		// The body ended early or the connection broke: go on from r.pos.
		_ = r.body.Close()
		r.body = nil
		if cerr := r.ctx.Err(); cerr != nil {
			return n, cerr
		}
		r.failures++
		if r.failures >= retryAttempts {
			return n, fmt.Errorf("reading %s from Google Drive broke off at byte %d: %w", r.loc, r.pos, err)
		}
		if n > 0 {
			return n, nil
		}
		if err := sleep(r.ctx, r.c.delay<<(r.failures-1)); err != nil {
			return 0, err
		}
	}
}

func (r *reader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

func isNotFound(err error) bool {
	var g *googleapi.Error
	return errors.As(err, &g) && g.Code == http.StatusNotFound
}

// describe wraps a Drive failure with what was being done and, for the
// failures users can fix, what to do.
func describe(what string, err error) error {
	if errors.Is(err, ErrReauth) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var g *googleapi.Error
	if errors.As(err, &g) {
		for _, e := range g.Errors {
			switch e.Reason {
			case "storageQuotaExceeded", "quotaExceeded":
				return fmt.Errorf("%s failed: the Google Drive storage is full; free some space or choose another destination: %w", what, err)
			case "insufficientFilePermissions", "insufficientPermissions":
				return fmt.Errorf("%s failed: the Google account may not change this folder; share it with edit rights: %w", what, err)
			}
		}
		if g.Code == http.StatusUnauthorized {
			return fmt.Errorf("%s failed: %w", what, errors.Join(ErrReauth, err))
		}
	}
	return fmt.Errorf("%s failed: %w", what, err)
}
