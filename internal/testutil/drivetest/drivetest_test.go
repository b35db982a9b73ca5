package drivetest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
)

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// official returns the official Drive client, authorized through the
// server's token endpoint with tok.
func official(t *testing.T, srv *drivetest.Server, tok *oauth2.Token) *drive.Service {
	t.Helper()
	conf := &oauth2.Config{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret,
		Endpoint: oauth2.Endpoint{AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL()}}
	ctx := context.Background()
	svc, err := drive.NewService(ctx, option.WithHTTPClient(conf.Client(ctx, tok)),
		option.WithEndpoint(srv.APIURL()+"drive/v3/"))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestOfficialClient(t *testing.T) {
	t.Parallel()
	srv := drivetest.New(t)
	at, rt := srv.Authorize()
	svc := official(t, srv, &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(time.Hour)})
	ctx := context.Background()

	folder, err := svc.Files.Create(&drive.File{Name: "backups", MimeType: drivetest.FolderMimeType, Parents: []string{drivetest.RootID}}).Context(ctx).Do()
	if err != nil {
		t.Fatalf("create folder: %v", err)
	}
	small := []byte("it's small")
	f, err := svc.Files.Create(&drive.File{Name: "o'neil.txt", Parents: []string{folder.Id}}).Media(bytes.NewReader(small)).Context(ctx).Do()
	if err != nil {
		t.Fatalf("multipart upload: %v", err)
	}
	if f.Size != int64(len(small)) {
		t.Fatalf("size %d", f.Size)
	}

	// A resumable upload in 256 KiB chunks, with failures the client retries.
	big := randBytes(5*256<<10+1234, 1)
	srv.FailNextChunks(2, http.StatusServiceUnavailable)
	bf, err := svc.Files.Create(&drive.File{Name: "big.bin", Parents: []string{folder.Id}}).
		Media(bytes.NewReader(big), googleapi.ChunkSize(256<<10)).Context(ctx).Do()
	if err != nil {
		t.Fatalf("resumable upload: %v", err)
	}
	got, ok := srv.Content(bf.Id)
	if !ok || !bytes.Equal(got, big) {
		t.Fatalf("stored %d bytes, want the %d sent", len(got), len(big))
	}
	var chunks int
	for _, r := range srv.Requests() {
		if r.Query.Get("upload_id") != "" && r.Status == http.StatusOK {
			chunks++
		}
	}
	if chunks != 6 {
		t.Errorf("%d chunks answered 200, want 6", chunks)
	}
	if n := len(srv.Sessions()); n != 0 {
		t.Errorf("%d sessions open after the upload", n)
	}

	// A size that is a multiple of the chunk ends with "bytes */total".
	even := randBytes(2*256<<10, 2)
	ef, err := svc.Files.Create(&drive.File{Name: "even.bin", Parents: []string{folder.Id}}).
		Media(bytes.NewReader(even), googleapi.ChunkSize(256<<10)).Context(ctx).Do()
	if err != nil {
		t.Fatalf("resumable upload of an even size: %v", err)
	}
	if got, _ := srv.Content(ef.Id); !bytes.Equal(got, even) {
		t.Fatal("even upload stored wrong bytes")
	}

	// files.list with name (quote escaped), parent and trashed clauses.
	list, err := svc.Files.List().Q(`name = 'o\'neil.txt' and '` + folder.Id + `' in parents and trashed = false`).Context(ctx).Do()
	if err != nil || len(list.Files) != 1 || list.Files[0].Id != f.Id {
		t.Fatalf("list = %+v, %v", list, err)
	}
	list, err = svc.Files.List().Q("mimeType = '" + drivetest.FolderMimeType + "' and trashed = false").PageSize(1).Context(ctx).Do()
	if err != nil || len(list.Files) != 1 || list.Files[0].Id != folder.Id {
		t.Fatalf("folder list = %+v, %v", list, err)
	}
	if _, err := svc.Files.List().Q("fullText contains 'x'").Context(ctx).Do(); err == nil {
		t.Fatal("an unsupported query was accepted")
	}

	// Ranged download.
	call := svc.Files.Get(bf.Id)
	call.Header().Set("Range", "bytes=1000-")
	resp, err := call.Context(ctx).Download()
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	part, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, big[1000:]) {
		t.Fatalf("ranged download: status %d, %d bytes, %v", resp.StatusCode, len(part), err)
	}

	// An expired access token is refreshed by the oauth2 client once it knows.
	about, err := svc.About.Get().Fields("storageQuota").Context(ctx).Do()
	if err != nil || about.StorageQuota.Limit != 15<<30 || about.StorageQuota.Usage != int64(len(small)+len(big)+len(even)) {
		t.Fatalf("about = %+v, %v", about.StorageQuota, err)
	}
	srv.ExpireAccessTokens()
	var gerr *googleapi.Error
	if _, err := svc.About.Get().Fields("storageQuota").Context(ctx).Do(); !errors.As(err, &gerr) || gerr.Code != http.StatusUnauthorized {
		t.Fatalf("about with an expired token = %v, want 401", err)
	}

	// A client that knows its token is stale refreshes it first.
	before := srv.TokenRequests()
	svc = official(t, srv, &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)})
	if err := svc.Files.Delete(folder.Id).Context(ctx).Do(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if srv.TokenRequests() != before+1 {
		t.Errorf("%d token grants, want %d", srv.TokenRequests(), before+1)
	}
	if len(srv.Files()) != 0 {
		t.Fatalf("files left after deleting their folder: %+v", srv.Files())
	}
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	srv := drivetest.New(t)
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, RedirectURL: "http://127.0.0.1:1/cb",
		Endpoint: oauth2.Endpoint{AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL()}, Scopes: []string{drive.DriveScope}}

	// Consent redirect, then code exchange.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(conf.AuthCodeURL("st4te", oauth2.AccessTypeOffline))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st4te" || !strings.HasPrefix(loc.String(), conf.RedirectURL) {
		t.Fatalf("consent answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"))
	if err != nil || tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("Exchange = %+v, %v", tok, err)
	}
	if _, err := conf.Exchange(ctx, loc.Query().Get("code")); err == nil {
		t.Fatal("a code was accepted twice")
	}

	// Refresh, then revoke.
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.AccessToken == tok.AccessToken {
		t.Fatalf("refresh = %+v, %v", refreshed, err)
	}
	srv.RevokeRefreshToken(tok.RefreshToken)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh of a revoked token = %v, want invalid_grant", err)
	}
	bad := *conf
	bad.ClientSecret = "wrong"
	if _, err := bad.TokenSource(ctx, &oauth2.Token{RefreshToken: "x"}).Token(); err == nil {
		t.Fatal("a wrong client secret was accepted")
	}
}

func TestSessionProtocol(t *testing.T) {
	t.Parallel()
	srv := drivetest.New(t)
	at, _ := srv.Authorize()
	folder := srv.AddFolder(drivetest.RootID, "f")
	do := func(method, u string, hdr map[string]string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+at)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do("POST", srv.URL+"/upload/drive/v3/files?uploadType=resumable", map[string]string{"Content-Type": "application/json"},
		[]byte(`{"name":"a.bin","parents":["`+folder+`"]}`))
	uri := resp.Header.Get("Location")
	if resp.StatusCode != 200 || uri == "" {
		t.Fatalf("start: %d %q", resp.StatusCode, uri)
	}
	chunk := randBytes(256<<10, 3)
	// Without X-GUploader-No-308, a real 308.
	resp = do("PUT", uri, map[string]string{"Content-Range": "bytes 0-262143/*"}, chunk)
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Range") != "bytes=0-262143" {
		t.Fatalf("chunk: %d Range %q", resp.StatusCode, resp.Header.Get("Range"))
	}
	// A chunk that is not a multiple of 256 KiB and not the last is refused.
	if resp = do("PUT", uri, map[string]string{"Content-Range": "bytes 262144-262153/*"}, chunk[:10]); resp.StatusCode != 400 {
		t.Fatalf("odd chunk: %d", resp.StatusCode)
	}
	// The answer to the next chunk is lost; a status query tells what arrived.
	srv.LoseNextChunkResponse()
	req, _ := http.NewRequest("PUT", uri, bytes.NewReader(chunk))
	req.Header.Set("Content-Range", "bytes 262144-524287/*")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the lost chunk got an answer")
	}
	resp = do("PUT", uri, map[string]string{"Content-Range": "bytes */*", "X-GUploader-No-308": "yes"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Http-Status-Code-Override") != "308" || resp.Header.Get("Range") != "bytes=0-524287" {
		t.Fatalf("status query: %d %v", resp.StatusCode, resp.Header)
	}
	// Re-sending a chunk the session has is harmless; the tail completes it.
	do("PUT", uri, map[string]string{"Content-Range": "bytes 262144-524287/*"}, chunk)
	if resp = do("PUT", uri, map[string]string{"Content-Range": "bytes 524288-524290/524291"}, []byte("end")); resp.StatusCode != 200 {
		t.Fatalf("last chunk: %d", resp.StatusCode)
	}
	f, ok := srv.Lookup(folder, "a.bin")
	if !ok || f.Size != 524291 {
		t.Fatalf("stored %+v %v", f, ok)
	}
	if resp = do("DELETE", uri, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("DELETE of a finished session: %d", resp.StatusCode)
	}
	// Quota: an upload past the limit is refused.
	srv.SetQuota(f.Size+10, -1)
	resp = do("POST", srv.URL+"/upload/drive/v3/files?uploadType=resumable", nil, []byte(`{"name":"b.bin","parents":["`+folder+`"]}`))
	if resp = do("PUT", resp.Header.Get("Location"), map[string]string{"Content-Range": "bytes 0-262143/*"}, chunk); resp.StatusCode != 403 {
		t.Fatalf("chunk over quota: %d", resp.StatusCode)
	}
	// No token or a bad one: 401 on the API.
	req, _ = http.NewRequest("GET", srv.URL+"/drive/v3/files/"+folder, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}
}
