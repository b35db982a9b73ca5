package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
)

// driveEnv is an API server whose connection service talks to a Drive test server.
type driveEnv struct {
	*env
	drive  *drivetest.Server
	folder string
	// bodies collects every response body, to check no token ever leaves.
	bodies []string
}

func newDriveEnv(t *testing.T, cat *store.Store) *driveEnv {
	t.Helper()
	e := newEnv(t, cat)
	d := drivetest.New(t)
	e.conns.SetDrive(gdrive.OAuth{ClientID: d.ClientID, ClientSecret: d.ClientSecret,
		AuthURL: d.AuthURL(), TokenURL: d.TokenURL(), APIURL: d.APIURL()}, "https://coffer.example.com/api/v1/oauth/google/callback")
	return &driveEnv{env: e, drive: d, folder: d.AddFolder(drivetest.RootID, "Backups")}
}

// get sends a GET without following redirects.
func (e *driveEnv) get(c cred, rawURL string) resp {
	e.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = e.srv.URL + rawURL
	}
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.bodies = append(e.bodies, string(b))
	return resp{res, b}
}

func (e *driveEnv) call(c cred, method, path, body string) resp {
	e.t.Helper()
	r := e.do(c, method, path, body)
	e.bodies = append(e.bodies, string(r.body))
	return r
}

// location asserts a 302 and returns where it points.
func (e *driveEnv) location(r resp) *url.URL {
	e.t.Helper()
	e.expect(r, http.StatusFound)
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// connect runs the browser's part of the flow: start, Google's consent
// page, and back to the callback; it returns the callback's response.
func (e *driveEnv) connect(c cred, query string) resp {
	e.t.Helper()
	consentURL := e.location(e.get(c, "/api/v1/oauth/google/start?"+query))
	if !strings.HasPrefix(consentURL.String(), e.drive.AuthURL()+"?") {
		e.t.Fatalf("start redirected to %s, not the consent page", consentURL)
	}
	back := e.location(e.get(cred{}, consentURL.String()))
	if back.Host != "coffer.example.com" || back.Path != "/api/v1/oauth/google/callback" {
		e.t.Fatalf("consent redirected to %s", back)
	}
	return e.get(c, back.Path+"?"+back.RawQuery)
}

// callbackQuery starts a flow and follows the consent page, returning the
// callback's query without calling it.
func (e *driveEnv) callbackQuery(c cred, query string) url.Values {
	e.t.Helper()
	consentURL := e.location(e.get(c, "/api/v1/oauth/google/start?"+query))
	return e.location(e.get(cred{}, consentURL.String())).Query()
}

func TestGoogleDriveConnectThroughTheAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, cat *store.Store) {
		e := newDriveEnv(t, cat)
		admin := e.admin()
		e.drive.SetQuota(2<<30, 1<<30)

		// A new connection.
		back := e.location(e.connect(admin, url.Values{"name": {"Team drive"}, "folder_id": {e.folder}}.Encode()))
		list := e.call(admin, "GET", "/api/v1/connections", "").json(t)["items"].([]any)
		if len(list) != 1 {
			t.Fatalf("%d connections after connecting", len(list))
		}
		conn := list[0].(map[string]any)
		id := int64(conn["id"].(float64))
		if back.Path != "/connections/"+strconv.FormatInt(id, 10)+"/edit" || back.Query().Get("connected") != "1" {
			t.Fatalf("callback redirected to %s", back)
		}
		if conn["name"] != "Team drive" || conn["type"] != "google_drive" || conn["needs_reauth"] != false {
			t.Fatalf("connection %v", conn)
		}
		creds := conn["credentials"].(map[string]any)
		if rt, _ := creds["refresh_token"].(string); !strings.HasPrefix(rt, "****") || creds["folder_id"] != e.folder {
			t.Fatalf("credentials %v", creds)
		}
		cfg, err := storedCreds[gdrive.Config](t, e.env, id)
		if err != nil {
			t.Fatal(err)
		}
		row, err := cat.GetConnection(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(row.Credentials), cfg.RefreshToken) {
			t.Fatal("the refresh token is stored in plaintext")
		}

		check := e.expect(e.call(admin, "POST", "/api/v1/connections/"+strconv.FormatInt(id, 10)+"/test", ""), http.StatusOK).json(t)
		if check["ok"] != true || !strings.Contains(check["message"].(string), "Backups") || check["free_bytes"] != float64(1<<30) {
			t.Fatalf("check %v", check)
		}

		// The grant is revoked at Google: the check fails and asks for a reconnect.
		e.drive.RevokeRefreshToken(cfg.RefreshToken)
		path := "/api/v1/connections/" + strconv.FormatInt(id, 10)
		check = e.expect(e.call(admin, "POST", path+"/test", ""), http.StatusOK).json(t)
		if check["ok"] != false || !strings.Contains(check["message"].(string), "reconnect") {
			t.Fatalf("check of a revoked grant %v", check)
		}
		if v := e.call(admin, "GET", path, "").json(t); v["needs_reauth"] != true {
			t.Fatalf("needs_reauth not set: %v", v)
		}

		// Reconnecting clears it and the check passes again.
		back = e.location(e.connect(admin, "connection_id="+strconv.FormatInt(id, 10)))
		if back.Path != "/connections/"+strconv.FormatInt(id, 10)+"/edit" || back.Query().Get("connected") != "1" {
			t.Fatalf("reconnect redirected to %s", back)
		}
		v := e.call(admin, "GET", path, "").json(t)
		if v["needs_reauth"] != false || v["last_validation_error"] != nil {
			t.Fatalf("after reconnecting: %v", v)
		}
		check = e.expect(e.call(admin, "POST", path+"/test", ""), http.StatusOK).json(t)
		if check["ok"] != true {
			t.Fatalf("check after reconnecting %v", check)
		}

		// No token ever appeared in a response.
		cfg2, _ := storedCreds[gdrive.Config](t, e.env, id)
		for _, b := range e.bodies {
			for _, tok := range []string{cfg.RefreshToken, cfg.AccessToken, cfg2.RefreshToken, cfg2.AccessToken} {
				if tok != "" && strings.Contains(b, tok) {
					t.Fatalf("a token leaked in a response: %s", b)
				}
			}
		}
	})
}

func TestGoogleCallbackRefusesBadStates(t *testing.T) {
	t.Parallel()
	e := newDriveEnv(t, nil)
	admin := e.admin()
	e.user("op@example.com", store.RoleOperator)
	other := e.login("op@example.com")
	start := url.Values{"name": {"d"}, "folder_id": {e.folder}}.Encode()

	// Reused.
	q := e.callbackQuery(admin, start)
	e.location(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()))
	r := e.expect(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()), http.StatusBadRequest)
	if !strings.Contains(r.json(t)["error"].(string), "used already") {
		t.Fatalf("reused state: %s", r.body)
	}

	// Tampered.
	q = e.callbackQuery(admin, url.Values{"name": {"d2"}, "folder_id": {e.folder}}.Encode())
	st := []byte(q.Get("state"))
	if st[10] == 'A' {
		st[10] = 'B'
	} else {
		st[10] = 'A'
	}
	q.Set("state", string(st))
	e.expect(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()), http.StatusBadRequest)

	// Another user's session, then a new session of the same user.
	q = e.callbackQuery(admin, url.Values{"name": {"d3"}, "folder_id": {e.folder}}.Encode())
	e.expect(e.get(other, "/api/v1/oauth/google/callback?"+q.Encode()), http.StatusBadRequest)
	e.expect(e.get(e.login("admin@example.com"), "/api/v1/oauth/google/callback?"+q.Encode()), http.StatusBadRequest)

	// Expired.
	q = e.callbackQuery(admin, url.Values{"name": {"d4"}, "folder_id": {e.folder}}.Encode())
	e.clock.Advance(connection.DriveStateTTL + time.Second)
	e.expect(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()), http.StatusBadRequest)

	// None.
	e.expect(e.get(admin, "/api/v1/oauth/google/callback?code=abc"), http.StatusBadRequest)

	if views, _ := e.conns.List(context.Background()); len(views) != 1 || views[0].Name != "d" {
		t.Fatalf("connections after refused callbacks: %+v", views)
	}
}

func TestGoogleCallbackErrorsGoBackToTheUI(t *testing.T) {
	t.Parallel()
	e := newDriveEnv(t, nil)
	admin := e.admin()
	access, refresh := e.drive.Authorize()
	id := e.connection("drive", "google_drive", `{"folder_id":"`+e.folder+`","access_token":"`+access+`","refresh_token":"`+refresh+`"}`)
	sid := strconv.FormatInt(id, 10)

	// The user says no at Google.
	q := e.callbackQuery(admin, "connection_id="+sid)
	back := e.location(e.get(admin, "/api/v1/oauth/google/callback?"+url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}.Encode()))
	if back.Path != "/connections/"+sid+"/edit" || !strings.Contains(back.Query().Get("oauth_error"), "not granted") {
		t.Fatalf("access_denied redirected to %s", back)
	}
	// Without a usable state it still goes to the UI, never a 500.
	back = e.location(e.get(admin, "/api/v1/oauth/google/callback?error=access_denied&state=garbage"))
	if back.Path != "/connections" || back.Query().Get("oauth_error") == "" {
		t.Fatalf("access_denied without state redirected to %s", back)
	}
	back = e.location(e.get(admin, "/api/v1/oauth/google/callback?error=server_error"))
	if back.Path != "/connections" || back.Query().Get("oauth_error") == "" {
		t.Fatalf("server_error redirected to %s", back)
	}

	// A code Google does not know: back to the page with the reason.
	q = e.callbackQuery(admin, "connection_id="+sid)
	q.Set("code", "code-nobody-issued")
	back = e.location(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()))
	if back.Path != "/connections/"+sid+"/edit" || !strings.Contains(back.Query().Get("oauth_error"), "authorization code") {
		t.Fatalf("bad code redirected to %s", back)
	}
	// The name was taken while the user was at Google.
	q = e.callbackQuery(admin, url.Values{"name": {"late"}, "folder_id": {e.folder}}.Encode())
	e.connection("late", "local", `{"path":"`+e.roots+`/x"}`)
	back = e.location(e.get(admin, "/api/v1/oauth/google/callback?"+q.Encode()))
	if back.Path != "/connections" || !strings.Contains(back.Query().Get("oauth_error"), "already exists") {
		t.Fatalf("taken name redirected to %s", back)
	}
	if v, _ := e.conns.Get(context.Background(), id); v.NeedsReauth {
		t.Fatal("a failed connect marked the connection")
	}
}

func TestGoogleStartRefusesBadParameters(t *testing.T) {
	t.Parallel()
	e := newDriveEnv(t, nil)
	admin := e.admin()
	local := e.connection("disk", "local", `{"path":"`+e.roots+`/a"}`)
	cases := []struct {
		query string
		want  int
	}{
		{"", http.StatusBadRequest},
		{"connection_id=abc", http.StatusBadRequest},
		{"connection_id=-1", http.StatusBadRequest},
		{"connection_id=1&name=x", http.StatusBadRequest},
		{"name=x", http.StatusUnprocessableEntity},
		{"name=x&folder_id=a%2Fb", http.StatusUnprocessableEntity},
		{"name=disk&folder_id=" + e.folder, http.StatusConflict},
		{"connection_id=" + strconv.FormatInt(local, 10), http.StatusUnprocessableEntity},
		{"connection_id=999", http.StatusNotFound},
	}
	for _, c := range cases {
		e.expect(e.get(admin, "/api/v1/oauth/google/start?"+c.query), c.want)
	}

	// A viewer cannot connect.
	e.user("viewer@example.com", store.RoleViewer)
	e.expect(e.get(e.login("viewer@example.com"), "/api/v1/oauth/google/start?name=x&folder_id="+e.folder), http.StatusForbidden)

	// Without a Google OAuth client the server says which settings are missing.
	e.conns.SetDrive(gdrive.OAuth{}, "https://coffer.example.com/api/v1/oauth/google/callback")
	r := e.expect(e.get(admin, "/api/v1/oauth/google/start?name=x&folder_id="+e.folder), http.StatusConflict)
	if msg := r.json(t)["error"].(string); !strings.Contains(msg, "COFFER_GDRIVE_CLIENT_ID") || !strings.Contains(msg, "COFFER_GDRIVE_CLIENT_SECRET") {
		t.Fatalf("not configured: %s", msg)
	}
}
