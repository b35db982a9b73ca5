package httpapi

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// notBuiltMessage is what / says when the UI was not built into the binary.
const notBuiltMessage = `coffer is running, but its web UI was not built into this binary.

Build it with:
    cd web && npm ci && npm run build
then rebuild coffer (make build). The API is available under /api/v1.
`

// uiHandler serves the built UI: files as they are, hashed assets (under
// /assets/) as immutable, and index.html, with no-cache, for every other
// path so the single-page app can route on the client.
func (s *server) uiHandler() (http.Handler, error) {
	var index []byte
	if s.ui != nil {
		b, err := fs.ReadFile(s.ui, "index.html")
		switch {
		case err == nil:
			index = b
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, err
		}
	}
	started := s.now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if index == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = io.WriteString(w, notBuiltMessage)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if s.serveFile(w, r, name) {
				return
			}
			if strings.HasPrefix(name, "assets/") {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", started, bytes.NewReader(index))
	}), nil
}

// serveFile serves a regular file of the UI; false when there is none.
func (s *server) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	f, err := s.ui.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		data, err := io.ReadAll(f)
		if err != nil {
			return false
		}
		rs = bytes.NewReader(data)
	}
	if strings.HasPrefix(name, "assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	modTime := st.ModTime()
	if modTime.IsZero() {
		modTime = time.Time{}
	}
	http.ServeContent(w, r, st.Name(), modTime, rs)
	return true
}
