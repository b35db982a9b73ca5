package gdrive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
)

const chunk = 256 << 10

func randBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 11))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type bundle struct {
	srv    *drivetest.Server
	folder string
	cfg    gdrive.Config
	opts   gdrive.Options
	// tokens received by OnToken
	mu     sync.Mutex
	saved  []*oauth2.Token
	rtoken string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	srv := drivetest.New(t)
	at, rt := srv.Authorize()
	b := &bundle{srv: srv, folder: srv.AddFolder(drivetest.RootID, "backups"), rtoken: rt}
	b.cfg = gdrive.Config{AccessToken: at, RefreshToken: rt, FolderID: b.folder, Expiry: time.Now().Add(time.Hour)}
	b.opts = gdrive.Options{
		OAuth:     gdrive.OAuth{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL(), APIURL: srv.APIURL()},
		ChunkSize: chunk,
		RetryBase: time.Millisecond,
		OnToken: func(tok *oauth2.Token) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.saved = append(b.saved, tok)
		},
	}
	return b
}

// client is a new Client, as another process would make from the stored config.
func (b *bundle) client(t *testing.T) *gdrive.Client {
	t.Helper()
	c, err := gdrive.New(context.Background(), b.cfg, b.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func (b *bundle) tokens() []*oauth2.Token {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*oauth2.Token(nil), b.saved...)
}

func readAll(t *testing.T, c *gdrive.Client, name string, off int64) []byte {
	t.Helper()
	rc, err := c.Open(context.Background(), name, off)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", name, off, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return got
}

// sessionRequests returns the Content-Range of the requests to session URIs
// made after the first skip requests.
func sessionRequests(srv *drivetest.Server, skip int) []string {
	var out []string
	for i, r := range srv.Requests() {
		if i >= skip && r.Query.Get("upload_id") != "" {
			out = append(out, r.ContentRange)
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.srv.SetQuota(10<<20, 4<<20)
	res, err := b.client(t).Check(ctx)
	if err != nil || res.FreeBytes != 6<<20 || !strings.Contains(res.Message, "backups") {
		t.Fatalf("Check = %+v, %v", res, err)
	}

	b.cfg.FolderID = b.srv.AddFile(b.folder, "notes.txt", []byte("x"))
	if _, err := b.client(t).Check(ctx); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("Check of a file = %v", err)
	}
	b.cfg.FolderID = "missing-folder"
	if _, err := b.client(t).Check(ctx); !errors.Is(err, connector.ErrNotExist) || !strings.Contains(err.Error(), "was not found") {
		t.Fatalf("Check of a missing folder = %v", err)
	}
	b.cfg.FolderID = b.srv.AddFolder(b.folder, "ro")
	b.srv.SetReadOnly(b.cfg.FolderID, true)
	if _, err := b.client(t).Check(ctx); err == nil || !strings.Contains(err.Error(), "edit rights") {
		t.Fatalf("Check of a read-only folder = %v", err)
	}
}

func TestFreeBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	b.srv.SetQuota(1000, 400)
	if n, err := c.FreeBytes(ctx); err != nil || n != 600 {
		t.Fatalf("FreeBytes = %d, %v; want 600", n, err)
	}
	b.srv.SetQuota(1000, 1200)
	if n, err := c.FreeBytes(ctx); err != nil || n != 0 {
		t.Fatalf("FreeBytes over quota = %d, %v; want 0", n, err)
	}
	b.srv.SetQuota(-1, 5)
	if n, err := c.FreeBytes(ctx); err != nil || n != -1 {
		t.Fatalf("FreeBytes unlimited = %d, %v; want -1", n, err)
	}
	// An upload past the quota fails with a sentence saying so.
	b.srv.SetQuota(chunk/2, -1)
	up, err := c.NewUpload(ctx, "full.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, randBytes(chunk, 1)); err == nil || !strings.Contains(err.Error(), "storage is full") {
		t.Fatalf("WritePart over quota = %v", err)
	}
}

func TestUploadInChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	name := "conn/sub/20260101T000000Z-1.tar.gz"
	up, err := c.NewUpload(ctx, name)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if up.PartSize(1) != chunk || up.PartSize(7) != chunk {
		t.Fatalf("PartSize = %d", up.PartSize(1))
	}
	data := randBytes(6*chunk+1234, 2)
	for n := 1; n <= 6; n++ {
		if err := up.WritePart(ctx, n, data[(n-1)*chunk:n*chunk]); err != nil {
			t.Fatalf("WritePart %d: %v", n, err)
		}
	}
	if err := up.WritePart(ctx, 8, data[:chunk]); err == nil {
		t.Fatal("a part out of order was accepted")
	}
	if err := up.WritePart(ctx, 7, data[:10]); err == nil {
		t.Fatal("a short middle part was accepted")
	}
	var st struct {
		SessionURI string `json:"session_uri"`
		Offset     int64  `json:"offset"`
		Name       string `json:"name"`
		FolderID   string `json:"folder_id"`
	}
	if err := json.Unmarshal(up.State(), &st); err != nil || st.Offset != 6*chunk || st.Name != name || st.SessionURI == "" || st.FolderID == "" {
		t.Fatalf("State = %s, %v", up.State(), err)
	}
	if _, err := c.Size(ctx, name); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size before Complete = %v", err)
	}
	size, err := up.Complete(ctx, data[6*chunk:])
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Complete = %d, %v", size, err)
	}
	f, ok := b.srv.Lookup(b.folder, name)
	if !ok || f.ID == "" {
		t.Fatalf("%s not stored under its subfolders", name)
	}
	if got, _ := b.srv.Content(f.ID); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes differ from the %d written", len(got), len(data))
	}
	if n := len(b.srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions open after Complete", n)
	}
	if n, err := b.client(t).Size(ctx, name); err != nil || n != int64(len(data)) {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if got := readAll(t, c, name, chunk+3); !bytes.Equal(got, data[chunk+3:]) {
		t.Fatal("bytes read from an offset differ")
	}
	if got := readAll(t, c, name, int64(len(data))); len(got) != 0 {
		t.Fatalf("read %d bytes at the end", len(got))
	}
	if loc := c.Location(name); loc != "gdrive://"+b.folder+"/"+name {
		t.Fatalf("Location = %s", loc)
	}
	// A size that is an exact multiple of the chunk completes with "bytes */total".
	up, err = c.NewUpload(ctx, "conn/even.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, data[:chunk]); err != nil {
		t.Fatal(err)
	}
	if size, err := up.Complete(ctx, nil); err != nil || size != chunk {
		t.Fatalf("Complete(nil) = %d, %v", size, err)
	}
	if got := readAll(t, c, "conn/even.tar.gz", 0); !bytes.Equal(got, data[:chunk]) {
		t.Fatal("even archive differs")
	}
	// Only one "conn" folder exists although two uploads needed it.
	var conns int
	for _, f := range b.srv.Files() {
		if f.Name == "conn" {
			conns++
		}
	}
	if conns != 1 {
		t.Fatalf("%d folders called conn", conns)
	}
}

// The process dies after the session received part 2 but before the engine
// saved the state covering it: the new process asks the session and does
// not send part 2 again.
func TestResumeWhenServerIsAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	name := "conn/resume.tar.gz"
	data := randBytes(3*chunk+99, 3)
	up, err := b.client(t).NewUpload(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, data[:chunk]); err != nil {
		t.Fatal(err)
	}
	saved := up.State()
	if err := up.WritePart(ctx, 2, data[chunk:2*chunk]); err != nil {
		t.Fatal(err)
	}
	mark := len(b.srv.Requests())

	resumed, err := b.client(t).ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatalf("ResumeUpload: %v", err)
	}
	if resumed.PartSize(2) != chunk {
		t.Fatalf("PartSize after resume = %d", resumed.PartSize(2))
	}
	if err := resumed.WritePart(ctx, 2, data[chunk:2*chunk]); err != nil {
		t.Fatalf("WritePart 2 after resume: %v", err)
	}
	if err := resumed.WritePart(ctx, 3, data[2*chunk:3*chunk]); err != nil {
		t.Fatalf("WritePart 3: %v", err)
	}
	if size, err := resumed.Complete(ctx, data[3*chunk:]); err != nil || size != int64(len(data)) {
		t.Fatalf("Complete = %d, %v", size, err)
	}
	want := []string{"bytes */*", "bytes 524288-786431/*", "bytes 786432-786530/786531"}
	if got := sessionRequests(b.srv, mark); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("session requests after resume = %q, want %q", got, want)
	}
	if got := readAll(t, b.client(t), name, 0); !bytes.Equal(got, data) {
		t.Fatal("resumed archive differs")
	}
}

// When part 2 differs on the second try, the stored file cannot match what
// the engine hashed: Complete reports a checksum mismatch and keeps nothing.
func TestResumeWithDifferentBytesIsCaught(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	up, err := b.client(t).NewUpload(ctx, "diff.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(2*chunk, 4)
	if err := up.WritePart(ctx, 1, data[:chunk]); err != nil {
		t.Fatal(err)
	}
	saved := up.State()
	if err := up.WritePart(ctx, 2, bytes.Repeat([]byte{0xEE}, chunk)); err != nil {
		t.Fatal(err)
	}
	resumed, err := b.client(t).ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.WritePart(ctx, 2, data[chunk:]); err != nil {
		t.Fatal(err)
	}
	if _, err := resumed.Complete(ctx, []byte("tail")); !errors.Is(err, connector.ErrChecksumMismatch) {
		t.Fatalf("Complete = %v, want ErrChecksumMismatch", err)
	}
	if _, ok := b.srv.Lookup(b.folder, "diff.tar.gz"); ok {
		t.Fatal("a file with the wrong bytes was left")
	}
}

func TestLostChunkAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	up, err := c.NewUpload(ctx, "lost.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(2*chunk+5, 5)
	b.srv.LoseNextChunkResponse()
	if err := up.WritePart(ctx, 1, data[:chunk]); err != nil {
		t.Fatalf("WritePart with a lost answer: %v", err)
	}
	b.srv.FailNextChunks(2, http.StatusServiceUnavailable)
	if err := up.WritePart(ctx, 2, data[chunk:2*chunk]); err != nil {
		t.Fatalf("WritePart after 503s: %v", err)
	}
	b.srv.LoseNextChunkResponse()
	if size, err := up.Complete(ctx, data[2*chunk:]); err != nil || size != int64(len(data)) {
		t.Fatalf("Complete with a lost answer = %d, %v", size, err)
	}
	if got := readAll(t, c, "lost.tar.gz", 0); !bytes.Equal(got, data) {
		t.Fatal("archive differs")
	}
	// Each chunk was sent once: the lost ones were found by asking the session.
	var sent int
	for _, r := range sessionRequests(b.srv, 0) {
		if strings.HasPrefix(r, "bytes 0-") {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("part 1 sent %d times", sent)
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	up, err := c.NewUpload(ctx, "abort/me.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, randBytes(chunk, 6)); err != nil {
		t.Fatal(err)
	}
	if n := len(b.srv.Sessions()); n != 1 {
		t.Fatalf("%d sessions while writing", n)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := len(b.srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions after Abort", n)
	}
	if _, err := c.Size(ctx, "abort/me.tar.gz"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size after Abort = %v", err)
	}
	if _, err := b.client(t).ResumeUpload(ctx, up.State()); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("ResumeUpload after Abort = %v", err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	// Abort of an upload that completed deletes the file.
	up, err = c.NewUpload(ctx, "abort/done.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	saved := up.State()
	if _, err := up.Complete(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	again, err := b.client(t).ResumeUpload(ctx, saved)
	if err != nil {
		t.Fatalf("ResumeUpload of a completed upload: %v", err)
	}
	if err := again.Abort(ctx); err != nil {
		t.Fatalf("Abort of a completed upload: %v", err)
	}
	if _, ok := b.srv.Lookup(b.folder, "abort/done.tar.gz"); ok {
		t.Fatal("the completed file survived Abort")
	}
}

func TestEmptyArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	up, err := c.NewUpload(ctx, "empty.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if size, err := up.Complete(ctx, nil); err != nil || size != 0 {
		t.Fatalf("Complete(nil) = %d, %v", size, err)
	}
	if n, err := c.Size(ctx, "empty.tar.gz"); err != nil || n != 0 {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if got := readAll(t, c, "empty.tar.gz", 0); len(got) != 0 {
		t.Fatalf("read %d bytes", len(got))
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	name := "conn/a.tar.gz.sha256"
	if err := c.PutFile(ctx, name, []byte("old\n")); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	body := []byte("0123456789abcdef  a.tar.gz\n")
	if err := c.PutFile(ctx, name, body); err != nil {
		t.Fatalf("PutFile again: %v", err)
	}
	var same int
	for _, f := range b.srv.Files() {
		if f.Name == "a.tar.gz.sha256" {
			same++
		}
	}
	if same != 1 {
		t.Fatalf("%d files called a.tar.gz.sha256 after a rewrite", same)
	}
	if got := readAll(t, c, name, 4); !bytes.Equal(got, body[4:]) {
		t.Fatalf("read %q", got)
	}
	if err := c.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Open(ctx, name, 0); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Open after Delete = %v", err)
	}
	if err := c.Delete(ctx, name); err != nil {
		t.Fatalf("Delete of an absent file: %v", err)
	}
	if err := c.Delete(ctx, "no/such/dir/x"); err != nil {
		t.Fatalf("Delete under absent folders: %v", err)
	}
	if _, err := c.Size(ctx, "never/was.tar.gz"); !errors.Is(err, connector.ErrNotExist) {
		t.Fatalf("Size of a never-written name = %v", err)
	}
	if err := c.PutFile(ctx, "../escape", body); err == nil {
		t.Fatal("a name with .. was accepted")
	}
	// Quotes and backslashes in names survive the list query.
	odd := `it's a \ name.txt`
	if err := c.PutFile(ctx, odd, body); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Size(ctx, odd); err != nil || n != int64(len(body)) {
		t.Fatalf("Size(%q) = %d, %v", odd, n, err)
	}
	if n, err := c.Sweep(ctx, time.Now(), nil); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
}

func TestOpenResumesAfterCut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	data := randBytes(300_000, 7)
	b.srv.AddFolder(b.folder, "conn")
	if err := c.PutFile(ctx, "conn/cut.bin", data); err != nil {
		t.Fatal(err)
	}
	b.srv.CutNextDownload(70_000)
	if got := readAll(t, c, "conn/cut.bin", 1000); !bytes.Equal(got, data[1000:]) {
		t.Fatalf("read %d bytes after a cut, want %d equal ones", len(got), len(data)-1000)
	}
	var ranges []string
	for _, r := range b.srv.Requests() {
		if r.Query.Get("alt") == "media" {
			ranges = append(ranges, r.Path)
		}
	}
	if len(ranges) != 2 {
		t.Fatalf("%d downloads, want 2 (the cut one and its continuation)", len(ranges))
	}
}

func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	if _, err := c.FreeBytes(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.tokens()) != 0 {
		t.Fatal("OnToken called without a refresh")
	}
	// The server forgets the access token before its expiry: the 401 leads
	// to a refresh and the call goes through.
	b.srv.ExpireAccessTokens()
	if _, err := c.Check(ctx); err != nil {
		t.Fatalf("Check after the token expired: %v", err)
	}
	toks := b.tokens()
	if len(toks) != 1 || toks[0].AccessToken == "" || toks[0].AccessToken == b.cfg.AccessToken || toks[0].RefreshToken != b.rtoken || !toks[0].Expiry.After(time.Now()) {
		t.Fatalf("OnToken got %+v", toks)
	}
	// A token known to be expired is refreshed before the call.
	b.cfg.Expiry = time.Now().Add(-time.Minute)
	before := b.srv.TokenRequests()
	if _, err := b.client(t).FreeBytes(ctx); err != nil {
		t.Fatal(err)
	}
	if b.srv.TokenRequests() != before+1 || len(b.tokens()) != 2 {
		t.Fatalf("token grants %d (want %d), OnToken calls %d", b.srv.TokenRequests(), before+1, len(b.tokens()))
	}
	for _, r := range b.srv.Requests() {
		if r.Path != "/token" && r.Status == http.StatusUnauthorized && r.Query.Get("upload_id") != "" {
			t.Fatalf("a session request was refused: %+v", r)
		}
	}
}

func TestRevokedDuringUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	up, err := b.client(t).NewUpload(ctx, "revoked.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.WritePart(ctx, 1, randBytes(chunk, 8)); err != nil {
		t.Fatal(err)
	}
	b.srv.RevokeRefreshToken(b.rtoken)
	err = up.WritePart(ctx, 2, randBytes(chunk, 9))
	if !errors.Is(err, gdrive.ErrReauth) || !strings.Contains(err.Error(), "reconnect the connection") {
		t.Fatalf("WritePart after revocation = %v, want ErrReauth", err)
	}
	if strings.Contains(err.Error(), b.rtoken) || strings.Contains(err.Error(), b.cfg.AccessToken) {
		t.Fatalf("the error shows a token: %v", err)
	}
	if _, err := b.client(t).Check(ctx); !errors.Is(err, gdrive.ErrReauth) {
		t.Fatalf("Check after revocation = %v, want ErrReauth", err)
	}
	// An access token alone, once refused, cannot be renewed.
	b2 := setup(t)
	b2.cfg.RefreshToken = ""
	c := b2.client(t)
	b2.srv.ExpireAccessTokens()
	if _, err := c.FreeBytes(ctx); !errors.Is(err, gdrive.ErrReauth) {
		t.Fatalf("FreeBytes with a refused access token = %v, want ErrReauth", err)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c := b.client(t)
	b.srv.FailNext(2, http.StatusServiceUnavailable)
	if _, err := c.Check(ctx); err != nil {
		t.Fatalf("Check after two 503s: %v", err)
	}
	b.srv.FailNextUploads(2, http.StatusTooManyRequests)
	if err := c.PutFile(ctx, "r/x.txt", []byte("x")); err != nil {
		t.Fatalf("PutFile after two 429s: %v", err)
	}
	if got := readAll(t, c, "r/x.txt", 0); string(got) != "x" {
		t.Fatalf("read %q after retried PutFile", got)
	}
	b.srv.FailNextUploads(2, http.StatusServiceUnavailable)
	up, err := c.NewUpload(ctx, "r/up.tar.gz")
	if err != nil {
		t.Fatalf("NewUpload after two 503s: %v", err)
	}
	b.srv.FailNextChunks(2, http.StatusTooManyRequests)
	if err := up.WritePart(ctx, 1, randBytes(chunk, 10)); err != nil {
		t.Fatalf("WritePart after two 429s: %v", err)
	}
	b.srv.FailNext(3, http.StatusServiceUnavailable)
	if _, err := c.Size(ctx, "r/x.txt"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Size after three 503s = %v, want a failure", err)
	}
	b.srv.FailNextChunks(3, http.StatusServiceUnavailable)
	if err := up.WritePart(ctx, 2, randBytes(chunk, 11)); err == nil {
		t.Fatal("WritePart after three 503s succeeded")
	}
	// The failed part can be written again.
	if err := up.WritePart(ctx, 2, randBytes(chunk, 11)); err != nil {
		t.Fatalf("WritePart 2 again: %v", err)
	}
	if _, err := up.Complete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, r := range b.srv.Requests() {
		if r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests {
			failed++
		}
	}
	if failed != 2+2+2+2+3+3 {
		t.Fatalf("%d requests failed by injection, want 14", failed)
	}
}

func TestServiceAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	cfg := gdrive.Config{FolderID: b.folder, ServiceAccountJSON: b.srv.AddServiceAccount(t)}
	c, err := gdrive.New(ctx, cfg, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx); err != nil {
		t.Fatalf("Check with a service account: %v", err)
	}
	if len(b.tokens()) != 0 {
		t.Fatal("OnToken called for a service account token")
	}
}

func TestConnectFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	redirect := "http://127.0.0.1:9/api/v1/oauth/google/callback"
	u := gdrive.AuthCodeURL(b.opts.OAuth, redirect, "state-123")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("state") != "state-123" || loc.Query().Get("code") == "" {
		t.Fatalf("consent redirect %q (%d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	q, _ := url.Parse(u)
	if q.Query().Get("access_type") != "offline" || !strings.Contains(q.Query().Get("scope"), "auth/drive") {
		t.Fatalf("AuthCodeURL = %s", u)
	}
	tok, err := gdrive.Exchange(context.Background(), b.opts.OAuth, redirect, loc.Query().Get("code"))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("Exchange = %+v, %v", tok, err)
	}
	if _, err := gdrive.Exchange(context.Background(), b.opts.OAuth, redirect, loc.Query().Get("code")); err == nil || !strings.Contains(err.Error(), "connect again") {
		t.Fatalf("second Exchange = %v", err)
	}
	// The new grant works.
	b.cfg = gdrive.Config{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, FolderID: b.folder, Expiry: tok.Expiry}
	if _, err := b.client(t).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg   gdrive.Config
		field string
	}{
		{gdrive.Config{RefreshToken: "r"}, "folder_id"},
		{gdrive.Config{RefreshToken: "r", FolderID: "a/b"}, "folder_id"},
		{gdrive.Config{FolderID: "f"}, "refresh_token"},
		{gdrive.Config{FolderID: "f", RefreshToken: "r", ServiceAccountJSON: "{}"}, "service_account_json"},
		{gdrive.Config{FolderID: "f", ServiceAccountJSON: "nope"}, "service_account_json"},
		{gdrive.Config{FolderID: "f", ServiceAccountJSON: `{"type":"service_account"}`}, "service_account_json"},
	}
	for _, tc := range cases {
		errs := tc.cfg.Validate()
		if errs[tc.field] == "" || len(errs) != 1 {
			t.Errorf("Validate(%+v) = %v, want one reason for %s", tc.cfg, errs, tc.field)
		}
	}
	if errs := (gdrive.Config{FolderID: "1AbC-_x", RefreshToken: "r"}).Validate(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
	if _, err := gdrive.New(context.Background(), gdrive.Config{FolderID: "f", RefreshToken: "r"}, gdrive.Options{ChunkSize: 1000}); err == nil {
		t.Error("a chunk size that is not a multiple of 256 KiB was accepted")
	}
}
