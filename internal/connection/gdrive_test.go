package connection_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/secret"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
)

const redirectURL = "https://coffer.example.com/api/v1/oauth/google/callback"

// testClock is a settable time source.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type driveBundle struct {
	svc    *connection.Service
	cat    *store.Store
	drive  *drivetest.Server
	clock  *testClock
	folder string
}

func driveSetup(t *testing.T, cat *store.Store) driveBundle {
	t.Helper()
	keys, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now().UTC()}
	svc, err := connection.New(cat, keys, connection.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	d := drivetest.New(t)
	svc.SetDrive(oauthOf(d), redirectURL)
	return driveBundle{svc: svc, cat: cat, drive: d, clock: clk, folder: d.AddFolder(drivetest.RootID, "coffer archives")}
}

func oauthOf(d *drivetest.Server) gdrive.OAuth {
	return gdrive.OAuth{ClientID: d.ClientID, ClientSecret: d.ClientSecret,
		AuthURL: d.AuthURL(), TokenURL: d.TokenURL(), APIURL: d.APIURL()}
}

func (b driveBundle) create(t *testing.T, name, access, refresh string) int64 {
	t.Helper()
	creds, _ := json.Marshal(map[string]string{"folder_id": b.folder, "access_token": access, "refresh_token": refresh})
	v, err := b.svc.Create(context.Background(), connection.NewConnection{Name: name, Type: store.TypeGoogleDrive, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func TestDriveCheck(t *testing.T) {
	t.Parallel()
	b := driveSetup(t, storetest.SQLite(t))
	ctx := context.Background()
	b.drive.SetQuota(10<<30, 3<<30)
	access, refresh := b.drive.Authorize()
	id := b.create(t, "drive", access, refresh)

	res, err := b.svc.Test(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || !strings.Contains(res.Message, "coffer archives") || res.FreeBytes == nil || *res.FreeBytes != 7<<30 {
		t.Fatalf("check = %+v", res)
	}
	if got := b.drive.TokenRequests(); got != 0 {
		t.Fatalf("a valid access token was refreshed (%d token requests)", got)
	}

	// The access token stops working: the check refreshes it and keeps the new one.
	b.drive.ExpireAccessTokens()
	res, err = b.svc.Test(ctx, id)
	if err != nil || !res.OK {
		t.Fatalf("check after expiry = %+v, %v", res, err)
	}
	cfg, err := connection.ConfigOf[gdrive.Config](ctx, b.svc, id)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessToken == access || cfg.AccessToken == "" || cfg.RefreshToken != refresh || cfg.Expiry.IsZero() {
		t.Fatalf("refreshed token not stored: access changed %v, refresh kept %v, expiry %v",
			cfg.AccessToken != access, cfg.RefreshToken == refresh, cfg.Expiry)
	}
	if res, err := b.svc.Test(ctx, id); err != nil || !res.OK {
		t.Fatalf("third check = %+v, %v", res, err)
	}
	if got := b.drive.TokenRequests(); got != 1 {
		t.Fatalf("%d token requests, want 1 (the stored refreshed token is reused)", got)
	}

	// Unlimited storage: no free bytes.
	b.drive.SetQuota(-1, 0)
	if res, err := b.svc.Test(ctx, id); err != nil || !res.OK || res.FreeBytes != nil {
		t.Fatalf("check with unlimited quota = %+v, %v", res, err)
	}

	// A folder that is a file, and a missing folder: ok=false, no reauth.
	fileID := b.drive.AddFile(drivetest.RootID, "notes.txt", []byte("x"))
	for _, folder := range []string{fileID, "missingFolder123"} {
		v, err := b.svc.Update(ctx, id, connection.Change{Credentials: json.RawMessage(`{"folder_id":"` + folder + `","access_token":"****","refresh_token":"****"}`), SaveUnchecked: true})
		if err != nil {
			t.Fatal(err)
		}
		if v.NeedsReauth {
			t.Fatal("needs_reauth after an update")
		}
		res, err := b.svc.Test(ctx, id)
		if err != nil || res.OK || res.Message == "" {
			t.Fatalf("check of folder %s = %+v, %v", folder, res, err)
		}
		if v, _ := b.svc.Get(ctx, id); v.NeedsReauth || v.LastValidationError == nil {
			t.Fatalf("after a failed folder check: %+v", v)
		}
	}
}

func TestDriveCheckRevokedGrant(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		b := driveSetup(t, cat)
		ctx := context.Background()
		access, refresh := b.drive.Authorize()
		id := b.create(t, "drive", access, refresh)
		b.drive.RevokeRefreshToken(refresh)

		res, err := b.svc.Test(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || !strings.Contains(res.Message, "reconnect") || res.FreeBytes != nil {
			t.Fatalf("check of a revoked grant = %+v", res)
		}
		for _, tok := range []string{access, refresh} {
			if strings.Contains(res.Message, tok) {
				t.Fatal("the message shows a token")
			}
		}
		v, err := b.svc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !v.NeedsReauth || v.Health() != connection.HealthFailing || v.LastValidationError == nil {
			t.Fatalf("view after a revoked grant: %+v", v)
		}

		// Saving new tokens by hand clears the mark; a passing check keeps it clear.
		access2, refresh2 := b.drive.Authorize()
		v, err = b.svc.Update(ctx, id, connection.Change{Credentials: json.RawMessage(`{"folder_id":"` + b.folder + `","access_token":"` + access2 + `","refresh_token":"` + refresh2 + `"}`)})
		if err != nil || v.NeedsReauth || v.LastValidatedAt == nil {
			t.Fatalf("update with new tokens: %+v, %v", v, err)
		}
		if err := b.svc.MarkNeedsReauth(ctx, id); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.svc.Get(ctx, id); !v.NeedsReauth {
			t.Fatal("MarkNeedsReauth did not mark")
		}
		if res, err := b.svc.Test(ctx, id); err != nil || !res.OK {
			t.Fatalf("check with the new grant = %+v, %v", res, err)
		}
		if v, _ := b.svc.Get(ctx, id); v.NeedsReauth || v.Health() != connection.HealthHealthy {
			t.Fatalf("a passing check did not clear needs_reauth: %+v", v)
		}
		if err := b.svc.MarkNeedsReauth(ctx, 98765); !isCode(err, apperr.NotFound) {
			t.Fatalf("MarkNeedsReauth of a missing connection: %v", err)
		}
	})
}

func TestDriveCheckWithoutOAuthClient(t *testing.T) {
	t.Parallel()
	b := driveSetup(t, storetest.SQLite(t))
	ctx := context.Background()
	access, refresh := b.drive.Authorize()
	id := b.create(t, "drive", access, refresh)
	b.svc.SetDrive(gdrive.OAuth{APIURL: b.drive.APIURL()}, redirectURL)
	res, err := b.svc.Test(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !strings.Contains(res.Message, "COFFER_GDRIVE_CLIENT_ID") {
		t.Fatalf("check without an OAuth client = %+v", res)
	}
	if v, _ := b.svc.Get(ctx, id); v.NeedsReauth {
		t.Fatal("a server without an OAuth client marked the grant as gone")
	}
	if _, err := b.svc.StartDriveConnect(ctx, connection.DriveCaller{UserID: 1}, connection.DriveConnect{ConnectionID: id}); !isCode(err, apperr.Conflict) ||
		!strings.Contains(err.Error(), "COFFER_GDRIVE_CLIENT_SECRET") {
		t.Fatalf("start without an OAuth client: %v", err)
	}
}

func TestDriveCheckServiceAccount(t *testing.T) {
	t.Parallel()
	b := driveSetup(t, storetest.SQLite(t))
	ctx := context.Background()
	key := b.drive.AddServiceAccount(t)
	creds, _ := json.Marshal(map[string]string{"folder_id": b.folder, "service_account_json": key})
	// A service account needs no OAuth client, only the API URL.
	b.svc.SetDrive(gdrive.OAuth{APIURL: b.drive.APIURL()}, "")
	v, err := b.svc.Create(ctx, connection.NewConnection{Name: "sa", Type: store.TypeGoogleDrive, Credentials: creds})
	if err != nil || v.LastValidatedAt == nil {
		t.Fatalf("service account saved after its check = %+v, %v", v, err)
	}
	res, err := b.svc.Test(ctx, v.ID)
	if err != nil || !res.OK {
		t.Fatalf("service account check = %+v, %v", res, err)
	}
}

// consent follows Google's consent page the way a browser would and
// returns the callback query it redirects to.
func consent(t *testing.T, authURL string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("consent page answered %d", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURL {
		t.Fatalf("consent redirected to %s, want %s", got, redirectURL)
	}
	return loc.Query()
}

func TestDriveConnectFlow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		b := driveSetup(t, cat)
		ctx := context.Background()
		alice := connection.DriveCaller{UserID: 1, SessionID: 10}

		authURL, err := b.svc.StartDriveConnect(ctx, alice, connection.DriveConnect{Name: " My Drive ", FolderID: b.folder})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		if q := u.Query(); !strings.HasPrefix(authURL, b.drive.AuthURL()+"?") || q.Get("access_type") != "offline" ||
			q.Get("redirect_uri") != redirectURL || q.Get("client_id") != b.drive.ClientID || len(q.Get("state")) < 40 {
			t.Fatalf("consent URL %s", authURL)
		}
		cb := consent(t, authURL)

		// Another session or user cannot use the state, and does not use it up.
		for _, other := range []connection.DriveCaller{{UserID: 1, SessionID: 11}, {UserID: 2, SessionID: 10}} {
			if _, err := b.svc.ConsumeDriveState(other, cb.Get("state")); !isCode(err, apperr.BadRequest) {
				t.Fatalf("state used by %+v: %v", other, err)
			}
		}
		target, err := b.svc.ConsumeDriveState(alice, cb.Get("state"))
		if err != nil {
			t.Fatal(err)
		}
		if target.ConnectionID != 0 || target.Name != "My Drive" || target.FolderID != b.folder {
			t.Fatalf("target = %+v", target)
		}
		if _, err := b.svc.ConsumeDriveState(alice, cb.Get("state")); !isCode(err, apperr.BadRequest) || !strings.Contains(err.Error(), "used already") {
			t.Fatalf("second use of a state: %v", err)
		}
		v, err := b.svc.FinishDriveConnect(ctx, target, cb.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != "My Drive" || v.Type != store.TypeGoogleDrive || v.NeedsReauth {
			t.Fatalf("new connection %+v", v)
		}
		cfg, err := connection.ConfigOf[gdrive.Config](ctx, b.svc, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RefreshToken == "" || cfg.AccessToken == "" || cfg.FolderID != b.folder || cfg.Expiry.IsZero() {
			t.Fatalf("stored config lacks the grant: folder %q, expiry %v", cfg.FolderID, cfg.Expiry)
		}
		if strings.Contains(string(v.Credentials), cfg.RefreshToken) || strings.Contains(string(v.Credentials), cfg.AccessToken) {
			t.Fatal("the view shows a token")
		}
		row, err := cat.GetConnection(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(row.Credentials), cfg.RefreshToken) || strings.Contains(string(row.Credentials), b.folder) {
			t.Fatal("the credentials are stored in plaintext")
		}
		if res, err := b.svc.Test(ctx, v.ID); err != nil || !res.OK {
			t.Fatalf("check after connecting = %+v, %v", res, err)
		}

		// The same code again: Google refuses it.
		authURL, err = b.svc.StartDriveConnect(ctx, alice, connection.DriveConnect{ConnectionID: v.ID})
		if err != nil {
			t.Fatal(err)
		}
		cb2 := consent(t, authURL)
		target, err = b.svc.ConsumeDriveState(alice, cb2.Get("state"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.FinishDriveConnect(ctx, target, cb.Get("code")); !isCode(err, apperr.Invalid) || !strings.Contains(err.Error(), "authorization code") {
			t.Fatalf("reused code: %v", err)
		}

		// Reconnect after the grant was revoked.
		b.drive.RevokeRefreshToken(cfg.RefreshToken)
		if res, _ := b.svc.Test(ctx, v.ID); res.OK {
			t.Fatal("check of a revoked grant passed")
		}
		authURL, err = b.svc.StartDriveConnect(ctx, alice, connection.DriveConnect{ConnectionID: v.ID})
		if err != nil {
			t.Fatal(err)
		}
		cb3 := consent(t, authURL)
		target, err = b.svc.ConsumeDriveState(alice, cb3.Get("state"))
		if err != nil || target.ConnectionID != v.ID {
			t.Fatalf("reconnect target %+v, %v", target, err)
		}
		v2, err := b.svc.FinishDriveConnect(ctx, target, cb3.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if v2.ID != v.ID || v2.NeedsReauth || v2.LastValidationError != nil || v2.LastValidatedAt != nil {
			t.Fatalf("after reconnecting: %+v", v2)
		}
		cfg2, _ := connection.ConfigOf[gdrive.Config](ctx, b.svc, v.ID)
		if cfg2.RefreshToken == cfg.RefreshToken || cfg2.FolderID != b.folder {
			t.Fatal("reconnecting did not store the new grant in the same folder")
		}
		if res, err := b.svc.Test(ctx, v.ID); err != nil || !res.OK {
			t.Fatalf("check after reconnecting = %+v, %v", res, err)
		}
	})
}

func TestDriveStateRefused(t *testing.T) {
	t.Parallel()
	b := driveSetup(t, storetest.SQLite(t))
	ctx := context.Background()
	alice := connection.DriveCaller{UserID: 1, SessionID: 10}
	state := func() string {
		t.Helper()
		authURL, err := b.svc.StartDriveConnect(ctx, alice, connection.DriveConnect{Name: "d", FolderID: b.folder})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		return u.Query().Get("state")
	}
	bad := func(what, st, want string) {
		t.Helper()
		_, err := b.svc.ConsumeDriveState(alice, st)
		if !isCode(err, apperr.BadRequest) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	s := state()
	flipped := []byte(s)
	if mid := len(flipped) / 2; flipped[mid] == 'A' {
		flipped[mid] = 'B'
	} else {
		flipped[mid] = 'A'
	}
	bad("tampered", string(flipped), "not issued by this server or was altered")
	bad("empty", "", "no state")
	bad("not base64", "!!!", "malformed")
	bad("too long", strings.Repeat("A", 5000), "too long")
	// Sealed by another server's key.
	other := driveSetup(t, storetest.SQLite(t))
	au, err := other.svc.StartDriveConnect(ctx, alice, connection.DriveConnect{Name: "d", FolderID: other.folder})
	if err != nil {
		t.Fatal(err)
	}
	ou, _ := url.Parse(au)
	bad("foreign", ou.Query().Get("state"), "not issued by this server")
	// The untampered state still works once.
	if _, err := b.svc.ConsumeDriveState(alice, s); err != nil {
		t.Fatal(err)
	}
	// Expired.
	s = state()
	b.clock.Advance(connection.DriveStateTTL + time.Second)
	bad("expired", s, "longer than")
}

func TestDriveConnectStartRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := driveSetup(t, storetest.SQLite(t))
	ctx := context.Background()
	alice := connection.DriveCaller{UserID: 1}
	access, refresh := b.drive.Authorize()
	driveID := b.create(t, "taken", access, refresh)
	s3, err := b.svc.Create(ctx, unchecked("bucket", "s3", s3Creds(s3Secret)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req   connection.DriveConnect
		code  apperr.Code
		field string
	}{
		{connection.DriveConnect{}, apperr.BadRequest, ""},
		{connection.DriveConnect{ConnectionID: driveID, Name: "x"}, apperr.BadRequest, ""},
		{connection.DriveConnect{Name: "new"}, apperr.Invalid, "folder_id"},
		{connection.DriveConnect{Name: "new", FolderID: "a/b"}, apperr.Invalid, "folder_id"},
		{connection.DriveConnect{Name: "a/b", FolderID: b.folder}, apperr.Invalid, "name"},
		{connection.DriveConnect{Name: "taken", FolderID: b.folder}, apperr.Conflict, "name"},
		{connection.DriveConnect{ConnectionID: 9999}, apperr.NotFound, ""},
		{connection.DriveConnect{ConnectionID: s3.ID}, apperr.Invalid, "connection_id"},
		{connection.DriveConnect{ConnectionID: driveID, FolderID: "bad id"}, apperr.Invalid, "folder_id"},
	}
	for _, c := range cases {
		_, err := b.svc.StartDriveConnect(ctx, alice, c.req)
		e, ok := apperr.As(err)
		if !ok || e.Code != c.code {
			t.Errorf("%+v: %v, want code %s", c.req, err, c.code)
			continue
		}
		if c.field != "" && e.Fields[c.field] == "" {
			t.Errorf("%+v: fields %v lack %s", c.req, e.Fields, c.field)
		}
	}
}

// TestDriveRefreshKeepsConcurrentEdits refreshes the token of an opened
// Drive destination, as a running backup does, while the user edits the
// connection: the refreshed token is stored when nothing changed (again
// after a second refresh), and dropped when the user changed the
// credentials meanwhile, whose edit stays whole.
func TestDriveRefreshKeepsConcurrentEdits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		b := driveSetup(t, cat)
		ctx := context.Background()
		access, refresh := b.drive.Authorize()
		id := b.create(t, "drive", access, refresh)

		dst, err := b.svc.OpenDestination(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if dst.Conn.Name != "drive" || dst.Conn.Type != "google_drive" || dst.Conn.ID != id {
			t.Fatalf("opened %+v", dst.Conn)
		}
		seen := map[string]bool{access: true}
		for range 2 {
			b.drive.ExpireAccessTokens()
			if _, err := dst.Size(ctx, "none.tar.gz"); err == nil {
				t.Fatal("Size of a missing archive succeeded")
			}
			cfg, err := connection.ConfigOf[gdrive.Config](ctx, b.svc, id)
			if err != nil {
				t.Fatal(err)
			}
			if seen[cfg.AccessToken] || cfg.RefreshToken != refresh {
				t.Fatal("the refreshed token was not stored")
			}
			seen[cfg.AccessToken] = true
		}

		// The user moves the connection to another folder and renames it
		// while the backup goes on; then the backup's token is refreshed.
		other := b.drive.AddFolder(drivetest.RootID, "elsewhere")
		name := "moved"
		if _, err := b.svc.Update(ctx, id, connection.Change{Name: &name,
			Credentials: json.RawMessage(`{"folder_id":"` + other + `","access_token":"****","refresh_token":"****"}`)}); err != nil {
			t.Fatal(err)
		}
		b.drive.ExpireAccessTokens()
		_, _ = dst.Size(ctx, "none.tar.gz")
		cfg, err := connection.ConfigOf[gdrive.Config](ctx, b.svc, id)
		if err != nil {
			t.Fatal(err)
		}
		v, err := b.svc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.FolderID != other || v.Name != "moved" {
			t.Fatalf("the token refresh undid the user's edit: folder %s, name %q", cfg.FolderID, v.Name)
		}
	})
}
