package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/store"
)

// Paging defaults and limits.
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// queryInt reads an optional integer query parameter: 400 when it is not an
// integer, 422 when it is outside [min, max].
func queryInt(r *http.Request, name string, def, min, max int64) (int64, error) {
	raw := strings.TrimSpace(r.URL.Query().Get(name))
	if raw == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, &apperr.Error{Code: apperr.BadRequest, Err: err,
			Message: "The query parameter " + strconv.Quote(name) + " must be an integer.",
			Fields:  map[string]string{name: "must be an integer"}}
	}
	if v < min || v > max {
		return 0, apperr.InvalidFields("The query parameter "+strconv.Quote(name)+" is out of range.",
			map[string]string{name: "must be between " + strconv.FormatInt(min, 10) + " and " + strconv.FormatInt(max, 10)})
	}
	return v, nil
}

// queryPage reads page and per_page.
func queryPage(r *http.Request) (store.Page, error) {
	page, err := queryInt(r, "page", 1, 1, 1_000_000)
	if err != nil {
		return store.Page{}, err
	}
	per, err := queryInt(r, "per_page", defaultPerPage, 1, maxPerPage)
	if err != nil {
		return store.Page{}, err
	}
	return store.Page{Page: int(page), PerPage: int(per)}, nil
}

// queryStatus reads an optional status filter that must be one of allowed.
func queryStatus(r *http.Request, allowed []string) (string, error) {
	st := strings.TrimSpace(r.URL.Query().Get("status"))
	if st == "" || slices.Contains(allowed, st) {
		return st, nil
	}
	return "", apperr.InvalidFields("The status filter is not a known status.",
		map[string]string{"status": "must be one of " + strings.Join(allowed, ", ")})
}

// Statuses an operation of each kind can have.
var (
	backupStatuses  = []string{store.StatusPending, store.StatusRunning, store.StatusPaused, store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
	restoreStatuses = []string{store.StatusPending, store.StatusRunning, store.StatusCompleted, store.StatusFailed, store.StatusCancelled}
)

// finalStatus reports whether an operation in status st will not change again.
func finalStatus(st string) bool {
	return st == store.StatusCompleted || st == store.StatusFailed || st == store.StatusCancelled
}

// requireObject checks that an optional JSON document is an object.
func requireObject(fields map[string]string, name string, raw []byte) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return
	}
	if !strings.HasPrefix(t, "{") {
		fields[name] = "must be a JSON object"
	}
}
