package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/redact"
	"github.com/coffer-backup/coffer/internal/store"
)

// The routes of verification and disaster recovery (docs/verify.md):
// verifications (an operation kind, served by opAPI like the others), a
// backup's entries to browse, and the scan of a destination for archives
// the catalog lacks.

func newVerifyAPI(s *server) *opAPI[store.VerifyOperation] {
	return &opAPI[store.VerifyOperation]{s: s, kind: store.KindVerify, noun: "Verification",
		read: s.cat.GetVerification,
		view: func(op *store.VerifyOperation) any { return viewVerification(op) },
		query: func(r *http.Request, p store.Page) ([]store.VerifyOperation, int64, error) {
			status, err := queryStatus(r, restoreStatuses)
			if err != nil {
				return nil, 0, err
			}
			backupID, err := queryInt(r, "backup_operation_id", 0, 0, 1<<62)
			if err != nil {
				return nil, 0, err
			}
			return s.cat.ListVerifications(r.Context(), store.VerifyFilter{Status: status, BackupID: backupID}, p)
		},
	}
}

// verificationView is the API shape of a verification (docs/api.md).
type verificationView struct {
	ID                int64           `json:"id"`
	Status            string          `json:"status"`
	BackupOperationID int64           `json:"backup_operation_id"`
	PlanID            *int64          `json:"plan_id"`
	Progress          store.Progress  `json:"progress"`
	Result            json.RawMessage `json:"result"`
	ErrorMessage      string          `json:"error_message"`
	StartedAt         *time.Time      `json:"started_at"`
	CompletedAt       *time.Time      `json:"completed_at"`
	CreatedAt         time.Time       `json:"created_at"`
}

func viewVerification(op *store.VerifyOperation) *verificationView {
	res := json.RawMessage("null")
	if len(op.Result) > 0 && string(op.Result) != "{}" {
		res = op.Result
	}
	return &verificationView{ID: op.ID, Status: op.Status, BackupOperationID: op.BackupOperationID, PlanID: planRef(op.PlanID),
		Progress: op.Progress, Result: res, ErrorMessage: redact.String(op.ErrorMessage),
		StartedAt: utc(op.StartedAt), CompletedAt: utc(op.CompletedAt), CreatedAt: op.CreatedAt.UTC()}
}

// startVerify serves POST /backups/{id}/verify: 202 with a new
// verification, or 200 with the one already running.
func (s *server) startVerify(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.allowStart(w, r); err != nil {
		return err
	}
	op, created, err := s.ops.StartVerify(r.Context(), actorOf(r), id, 0)
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiPrefix+"/verifications/"+strconv.FormatInt(op.ID, 10))
	if !created {
		writeJSON(w, http.StatusOK, viewVerification(op))
		return nil
	}
	s.auditBy(r, "verify.start", "verify", op.ID, map[string]int64{"backup_operation_id": id})
	writeJSON(w, http.StatusAccepted, viewVerification(op))
	return nil
}

// entryView is one archive entry as GET /backups/{id}/entries shows it.
type entryView struct {
	// Path is what the browser shows and folders split: the key of an
	// object, the entry name of anything else.
	Path        string `json:"path"`
	Name        string `json:"name"`
	Key         string `json:"key,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type,omitempty"`
	Documents   *int64 `json:"documents,omitempty"`
	Database    string `json:"database,omitempty"`
	Collection  string `json:"collection,omitempty"`
}

// folderView is one folder below the prefix browsed.
type folderView struct {
	Prefix  string `json:"prefix"`
	Entries int64  `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

// entriesView is the answer of GET /backups/{id}/entries.
type entriesView struct {
	Items   []entryView  `json:"items"`
	Folders []folderView `json:"folders"`
	Page    int          `json:"page"`
	PerPage int          `json:"per_page"`
	Total   int64        `json:"total"`
}

// maxFolders bounds the folders one answer lists.
const maxFolders = 1000

// backupEntries serves GET /backups/{id}/entries?prefix=&q=&page=&per_page=:
// without q, the entries and folders directly under prefix (split at "/");
// with q, every entry under prefix whose path holds q (any case). It reads
// the catalog's copy of the manifest.
func (s *server) backupEntries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	page, err := queryPage(r)
	if err != nil {
		return err
	}
	prefix := r.URL.Query().Get("prefix")
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	b, err := s.cat.GetBackup(r.Context(), id)
	if err != nil {
		if e, ok := notFoundAs(err, "Backup %d does not exist.", id); ok {
			return e
		}
		return err
	}
	if b.Status != store.StatusCompleted {
		return apperr.New(apperr.Conflict, "Backup %d is %s; its entries are known once it has completed.", b.ID, b.Status)
	}
	out := entriesView{Items: []entryView{}, Folders: []folderView{}, Page: page.Page, PerPage: page.PerPage}
	folders := map[string]*folderView{}
	first := int64(page.Page-1) * int64(page.PerPage)
	err = engine.EachEntry(r.Context(), s.cat, b.ID, func(me archive.ManifestEntry) error {
		path := me.Path()
		if !strings.HasPrefix(path, prefix) {
			return nil
		}
		rest := path[len(prefix):]
		if q == "" {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				f := folders[rest[:i+1]]
				if f == nil {
					if len(folders) == maxFolders {
						return nil
					}
					f = &folderView{Prefix: prefix + rest[:i+1]}
					folders[rest[:i+1]] = f
				}
				f.Entries++
				f.Bytes += me.Size
				return nil
			}
		} else if !strings.Contains(strings.ToLower(path), q) {
			return nil
		}
		if out.Total >= first && len(out.Items) < page.PerPage {
			out.Items = append(out.Items, viewEntry(path, me))
		}
		out.Total++
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the entries of backup %d: %w", b.ID, err)
	}
	for _, f := range folders {
		out.Folders = append(out.Folders, *f)
	}
	sort.Slice(out.Folders, func(i, j int) bool { return out.Folders[i].Prefix < out.Folders[j].Prefix })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func viewEntry(path string, me archive.ManifestEntry) entryView {
	v := entryView{Path: path, Name: me.Name, Key: me.Key, Size: me.Size, SHA256: me.SHA256, Documents: me.Documents,
		Database: me.Database, Collection: me.Collection}
	if me.Metadata != nil {
		v.ContentType = me.Metadata.ContentType
	}
	return v
}

// scanConnection serves POST /connections/{id}/scan.
func (s *server) scanConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if r.ContentLength > 0 {
		// No body is taken; refuse one rather than ignore it.
		if n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n > 0 {
			return apperr.New(apperr.BadRequest, "POST /connections/{id}/scan takes no body.")
		}
	}
	res, err := s.ops.ScanDestination(r.Context(), actorOf(r), id, nil)
	if err != nil {
		return err // a missing connection is the engine's 404 already
	}
	s.auditBy(r, "connection.scan", "connection", id, map[string]int{"found": res.Found, "imported": res.Imported, "already_known": res.AlreadyKnown})
	writeJSON(w, http.StatusOK, res)
	return nil
}
