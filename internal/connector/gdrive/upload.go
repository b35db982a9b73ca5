package gdrive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"

	"github.com/coffer-backup/coffer/internal/connector"
)

// uploadState is what Upload.State returns: enough for another process to
// go on with the session.
type uploadState struct {
	SessionURI string `json:"session_uri"`
	// Offset is how many bytes are written and covered by this state.
	Offset int64 `json:"offset"`
	// Name is the archive name; FolderID the Drive folder it goes into.
	Name     string `json:"name"`
	FolderID string `json:"folder_id"`
	// ChunkSize is the part size the upload started with.
	ChunkSize int64 `json:"chunk_size"`
	// MD5 is the marshalled MD5 state of the bytes [0, Offset), compared
	// with the md5Checksum Drive reports when the upload completes.
	MD5 []byte `json:"md5,omitempty"`
}

type upload struct {
	c   *Client
	st  uploadState
	md5 hash.Hash // nil when the state had none (no check at the end)
	// server is how many bytes the session is known to hold, -1 when not
	// known (after a failure): then the session is asked first.
	server int64
}

// NewUpload starts a resumable upload session for name, creating the
// subfolders of name as needed.
func (c *Client) NewUpload(ctx context.Context, name string) (connector.Upload, error) {
	dirs, base, err := splitName(name)
	if err != nil {
		return nil, err
	}
	parent, err := c.folder(ctx, dirs, true)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(&drive.File{Name: base, Parents: []string{parent}, MimeType: "application/octet-stream"})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.upload+"?uploadType=resumable&supportsAllDrives=true&fields=id,size,md5Checksum", bytes.NewReader(meta))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("X-Upload-Content-Type", "application/octet-stream")
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, describe("starting the upload of "+c.Location(name), err)
	}
	defer drain(resp)
	if err := googleapi.CheckResponse(resp); err != nil {
		return nil, describe("starting the upload of "+c.Location(name), err)
	}
	loc := resp.Header.Get("Location")
	if err := c.checkSessionURI(loc); err != nil {
		return nil, fmt.Errorf("starting the upload of %s: %w", c.Location(name), err)
	}
	return &upload{
		c:      c,
		st:     uploadState{SessionURI: loc, Name: name, FolderID: parent, ChunkSize: c.chunk},
		md5:    md5.New(),
		server: 0,
	}, nil
}

// checkSessionURI makes sure a session URI is on the API host, the only
// place the access token may go.
func (c *Client) checkSessionURI(uri string) error {
	if !strings.HasPrefix(uri, c.host+"/") {
		return fmt.Errorf("Google Drive gave an upload session URI outside %s", c.host)
	}
	return nil
}

// ResumeUpload continues an upload from a state in this or another
// process. The session is asked what it holds; bytes it holds beyond the
// state are not sent again.
func (c *Client) ResumeUpload(ctx context.Context, state json.RawMessage) (connector.Upload, error) {
	var st uploadState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("the saved Google Drive upload state is not valid JSON: %w", err)
	}
	if st.SessionURI == "" || st.Name == "" || st.FolderID == "" || st.Offset < 0 {
		return nil, errors.New("the saved Google Drive upload state is incomplete; start the backup again")
	}
	if err := c.checkSessionURI(st.SessionURI); err != nil {
		return nil, err
	}
	if st.ChunkSize == 0 {
		st.ChunkSize = c.chunk
	}
	if st.ChunkSize%ChunkQuantum != 0 || st.ChunkSize <= 0 || st.Offset%st.ChunkSize != 0 {
		return nil, errors.New("the saved Google Drive upload state has an invalid chunk size or offset; start the backup again")
	}
	u := &upload{c: c, st: st, server: -1}
	if len(st.MD5) > 0 {
		h := md5.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.MD5); err != nil {
			return nil, fmt.Errorf("the saved Google Drive upload state has a bad checksum state: %w", err)
		}
		u.md5 = h
	} else if st.Offset == 0 {
		u.md5 = md5.New()
	}
	received, done, err := u.query(ctx)
	if err != nil {
		return nil, fmt.Errorf("resuming the upload of %s: %w", c.Location(st.Name), err)
	}
	if done == nil {
		if received < st.Offset {
			return nil, fmt.Errorf("the Google Drive upload session of %s holds %d bytes, fewer than the %d already written; start the backup again", c.Location(st.Name), received, st.Offset)
		}
		u.server = received
	}
	return u, nil
}

// PartSize is the chunk size for every part.
func (u *upload) PartSize(int) int64 { return u.st.ChunkSize }

// State is the JSON {session_uri, offset, name, folder_id, chunk_size, md5}.
func (u *upload) State() json.RawMessage {
	st := u.st
	if u.md5 != nil {
		if b, err := u.md5.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
			st.MD5 = b
		}
	}
	b, _ := json.Marshal(st) // cannot fail: strings, ints and bytes
	return b
}

// WritePart sends part n at offset (n-1)*PartSize. After a resume, bytes
// the session already holds are skipped.
func (u *upload) WritePart(ctx context.Context, n int, data []byte) error {
	start := int64(n-1) * u.st.ChunkSize
	switch {
	case n < 1:
		return fmt.Errorf("part number %d is not positive", n)
	case int64(len(data)) != u.st.ChunkSize:
		return fmt.Errorf("part %d has %d bytes; every part but the last must have %d", n, len(data), u.st.ChunkSize)
	case start != u.st.Offset:
		return fmt.Errorf("part %d starts at byte %d but the upload of %s is at byte %d", n, start, u.c.Location(u.st.Name), u.st.Offset)
	}
	if _, err := u.write(ctx, start, data, -1); err != nil {
		return fmt.Errorf("uploading part %d of %s: %w", n, u.c.Location(u.st.Name), err)
	}
	if u.md5 != nil {
		u.md5.Write(data)
	}
	u.st.Offset += int64(len(data))
	return nil
}

// Complete sends the last bytes with the total size, checks the stored
// size and MD5, and replaces an older file of the same name.
func (u *upload) Complete(ctx context.Context, last []byte) (int64, error) {
	loc := u.c.Location(u.st.Name)
	total := u.st.Offset + int64(len(last))
	f, err := u.write(ctx, u.st.Offset, last, total)
	if err != nil {
		return 0, fmt.Errorf("finishing the upload of %s: %w", loc, err)
	}
	if f.Id == "" {
		return 0, fmt.Errorf("finishing the upload of %s: Google Drive did not name the stored file", loc)
	}
	if f.Size != total || f.Md5Checksum == "" {
		g, err := u.c.svc.Files.Get(f.Id).Fields("id,size,md5Checksum").SupportsAllDrives(true).Context(ctx).Do()
		if err != nil {
			return 0, describe("reading the stored "+loc, err)
		}
		f = g
	}
	if f.Size != total {
		_ = u.c.deleteID(ctx, f.Id)
		return 0, fmt.Errorf("Google Drive stored %d bytes of %s instead of %d; run the backup again", f.Size, loc, total)
	}
	if u.md5 != nil && f.Md5Checksum != "" {
		u.md5.Write(last)
		if got := fmt.Sprintf("%x", u.md5.Sum(nil)); !strings.EqualFold(got, f.Md5Checksum) {
			_ = u.c.deleteID(ctx, f.Id)
			return 0, fmt.Errorf("the archive stored as %s differs from the bytes written (a part sent before an interruption was not the same when written again); it was deleted, run the backup again: %w", loc, connector.ErrChecksumMismatch)
		}
	}
	_, base, _ := splitName(u.st.Name)
	if err := u.c.removeOthers(ctx, u.st.FolderID, base, f.Id); err != nil {
		return 0, err
	}
	return total, nil
}

// Abort cancels the session, or deletes the file if the session had
// already completed.
func (u *upload) Abort(ctx context.Context) error {
	loc := u.c.Location(u.st.Name)
	_, done, err := u.query(ctx)
	if errors.Is(err, connector.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("aborting the upload of %s: %w", loc, err)
	}
	if done != nil {
		return u.c.deleteID(ctx, done.Id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.st.SessionURI, nil)
	if err != nil {
		return err
	}
	resp, err := u.c.api.Do(req)
	if err != nil {
		return describe("aborting the upload of "+loc, err)
	}
	defer drain(resp)
	// Google answers a cancelled session with 499; 404 means it is gone.
	if resp.StatusCode == 499 || resp.StatusCode == http.StatusNotFound || resp.StatusCode/100 == 2 {
		return nil
	}
	return describe("aborting the upload of "+loc, googleapi.CheckResponse(resp))
}

// query asks the session what it holds, retrying transient failures. It
// returns the file when the session has completed.
func (u *upload) query(ctx context.Context) (int64, *drive.File, error) {
	delay := u.c.delay
	for attempt := 1; ; attempt++ {
		received, f, err := u.send(ctx, 0, nil, -1)
		if err == nil || attempt >= retryAttempts || !retryableErr(ctx, err) {
			return received, f, err
		}
		if err := sleep(ctx, delay); err != nil {
			return 0, nil, err
		}
		delay *= 2
	}
}

// write makes the session hold data at start (and, with total >= 0,
// completes it). It sends only what the session lacks and recovers from
// failures by asking the session what arrived.
func (u *upload) write(ctx context.Context, start int64, data []byte, total int64) (*drive.File, error) {
	end := start + int64(len(data))
	delay := u.c.delay
	failures := 0
	fail := func(err error) error {
		u.server = -1 // the bytes may or may not have arrived
		failures++
		if failures >= retryAttempts || !retryableErr(ctx, err) {
			return err
		}
		if serr := sleep(ctx, delay); serr != nil {
			return serr
		}
		delay *= 2
		return nil
	}
	for {
		if u.server < 0 {
			received, f, err := u.send(ctx, 0, nil, -1)
			if err != nil {
				if err := fail(err); err != nil {
					return nil, err
				}
				continue
			}
			if f != nil {
				if total < 0 {
					return nil, errors.New("the Google Drive upload session was already completed")
				}
				return f, nil
			}
			u.server = received
		}
		if u.server < start {
			return nil, fmt.Errorf("the Google Drive upload session holds %d bytes, fewer than the %d already written; start the backup again", u.server, start)
		}
		if total < 0 && u.server >= end {
			return nil, nil
		}
		if total >= 0 && u.server > total {
			return nil, fmt.Errorf("the Google Drive upload session holds %d bytes, more than the %d of the archive", u.server, total)
		}
		before := u.server
		received, f, err := u.send(ctx, u.server, data[u.server-start:], total)
		if err != nil {
			if err := fail(err); err != nil {
				return nil, err
			}
			continue
		}
		if f != nil {
			if total < 0 {
				return nil, errors.New("Google Drive completed the upload before its last part")
			}
			return f, nil
		}
		u.server = received
		if received <= before {
			// Nothing new was kept; count it as a failure so that this ends.
			if err := fail(fmt.Errorf("Google Drive kept none of the %d bytes sent at offset %d", end-before, before)); err != nil {
				return nil, err
			}
		}
	}
}

// send makes one request to the session: data at off (a status query when
// data is empty and total < 0; the final request when total >= 0). It
// returns how many bytes the session holds, or the file once complete.
func (u *upload) send(ctx context.Context, off int64, data []byte, total int64) (int64, *drive.File, error) {
	tot := "*"
	if total >= 0 {
		tot = strconv.FormatInt(total, 10)
	}
	rng := "bytes */" + tot
	if len(data) > 0 {
		rng = fmt.Sprintf("bytes %d-%d/%s", off, off+int64(len(data))-1, tot)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.st.SessionURI, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Range", rng)
	req.Header.Set("X-GUploader-No-308", "yes")
	resp, err := u.c.raw.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the session URI is a capability; keep it out of messages
		}
		return 0, nil, fmt.Errorf("sending to the Google Drive upload session failed: %w", err)
	}
	defer drain(resp)
	incomplete := resp.StatusCode == http.StatusPermanentRedirect ||
		(resp.StatusCode == http.StatusOK && resp.Header.Get("X-Http-Status-Code-Override") == "308")
	switch {
	case incomplete:
		r := resp.Header.Get("Range")
		if r == "" {
			return 0, nil, nil
		}
		last, ok := strings.CutPrefix(r, "bytes=0-")
		n, perr := strconv.ParseInt(last, 10, 64)
		if !ok || perr != nil || n < -1 {
			return 0, nil, fmt.Errorf("google drive answered an unreadable Range %q", r)
		}
		return n + 1, nil, nil
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		var f drive.File
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&f); err != nil {
			return 0, nil, fmt.Errorf("reading Google Drive's answer to the finished upload: %w", err)
		}
		return 0, &f, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return 0, nil, fmt.Errorf("the Google Drive upload session no longer exists (it expired, was cancelled or was cleaned up); start the backup again: %w", connector.ErrNotExist)
	}
	if gerr := googleapi.CheckResponse(resp); gerr != nil {
		return 0, nil, describe("sending to the Google Drive upload session", gerr)
	}
	return 0, nil, fmt.Errorf("the Google Drive upload session answered %s", resp.Status)
}

// retryableErr reports whether a failed session request may work when
// made again.
func retryableErr(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrReauth) {
		return false
	}
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code >= 500 || g.Code == http.StatusTooManyRequests
	}
	return transient(err)
}
