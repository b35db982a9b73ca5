package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/verify"
)

// When the catalog is lost, the archives are enough: a scan lists a
// destination, finds the archives coffer wrote there (an archive name with
// its "<archive>.sha256" beside it), reads each the catalog lacks whole,
// checking it as a verification does, and records it as an imported
// backup: its entries and times from its manifest, its size and SHA-256
// as read. Such a backup restores, verifies and prunes like any other.

// ImportedMetadata is what an imported backup's metadata holds: what its
// manifest says of the backup (it has no source connection).
type ImportedMetadata struct {
	Source        archive.ManifestSource `json:"source"`
	CofferVersion string                 `json:"coffer_version,omitempty"`
}

// ScanResult is what a scan of a destination did.
type ScanResult struct {
	// Found counts the archives found (with their sidecars); Imported and
	// AlreadyKnown how many of them were added and were known already.
	Found        int     `json:"found"`
	Imported     int     `json:"imported"`
	AlreadyKnown int     `json:"already_known"`
	BackupIDs    []int64 `json:"backup_ids"`
	// Problems are the archives found but not imported, and why.
	Problems []ScanProblem `json:"problems"`
}

// ScanProblem is an archive a scan could not import.
type ScanProblem struct {
	Archive string `json:"archive"`
	Message string `json:"message"`
}

// archiveExts are the endings of archive names coffer writes.
var archiveExts = []string{".tar.gz", ".tar.zst", ".tar.gz" + archive.AgeExt, ".tar.zst" + archive.AgeExt}

// isArchiveName reports whether name is an archive coffer could have written.
func isArchiveName(name string) bool {
	return slices.ContainsFunc(archiveExts, func(ext string) bool { return strings.HasSuffix(name, ext) })
}

// ScanDestination imports the archives at destination connection id that
// the catalog lacks. progress, when set, hears of each archive as it
// starts on it. An archive that fails its checks, or is encrypted, is
// listed in the result's problems and not imported.
func (e *Engine) ScanDestination(ctx context.Context, actor Actor, id int64, progress func(archive string)) (*ScanResult, error) {
	fields := map[string]string{}
	conn := e.checkConnection(ctx, id, "id", "scanned for archives", registry.RoleDestination, fields)
	if len(fields) > 0 {
		if conn == nil {
			return nil, apperr.Wrap(apperr.NotFound, store.ErrNotFound, "Connection %d does not exist.", id)
		}
		return nil, apperr.InvalidFields("the connection cannot be scanned", fields)
	}
	_, dst, err := e.openDestination(ctx, id)
	if err != nil {
		return nil, err
	}
	names := map[string]int64{}
	err = dst.ListFiles(ctx, func(page []connector.StoredFile) error {
		for _, f := range page {
			names[f.Name] = f.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the files at %s: %w", conn.Name, err)
	}
	var found []string
	for n := range names {
		if _, ok := names[n+".sha256"]; ok && isArchiveName(n) {
			found = append(found, n)
		}
	}
	slices.Sort(found)
	res := &ScanResult{Found: len(found), BackupIDs: []int64{}, Problems: []ScanProblem{}}
	for _, name := range found {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := e.cat.BackupByArchive(ctx, id, name); err == nil {
			res.AlreadyKnown++
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if progress != nil {
			progress(name)
		}
		b, problem, err := e.importArchive(ctx, id, dst, name, 0, nil, nil)
		switch {
		case err != nil:
			return nil, fmt.Errorf("import %s: %w", dst.Location(name), err)
		case problem != "":
			res.Problems = append(res.Problems, ScanProblem{name, problem})
		case b == nil:
			res.AlreadyKnown++ // another scan imported it meanwhile
		default:
			res.Imported++
			res.BackupIDs = append(res.BackupIDs, b.ID)
		}
	}
	e.log.Info("destination scanned", "connection", conn.Name, "by", actor.Email, "found", res.Found,
		"imported", res.Imported, "already_known", res.AlreadyKnown, "problems", len(res.Problems))
	return res, nil
}

// ImportArchive reads and checks archive name at destination connection
// destID and records it as an imported backup (see ScanDestination). An
// encrypted archive needs identities that open it, and keyID names the key
// the backup records (a restore of it still needs an identity given).
// problem says why it was not imported; a nil backup without a problem
// means the catalog had it already. progress, when set, hears how far the
// reading came.
func (e *Engine) ImportArchive(ctx context.Context, destID int64, name string, keyID int64, ids []age.Identity, progress func(bytesRead, entries int64)) (*store.BackupOperation, string, error) {
	_, dst, err := e.openDestination(ctx, destID)
	if err != nil {
		return nil, "", err
	}
	if b, err := e.cat.BackupByArchive(ctx, destID, name); err == nil {
		return b, "", nil
	}
	return e.importArchive(ctx, destID, dst, name, keyID, ids, progress)
}

// importArchive is ImportArchive with the destination open.
func (e *Engine) importArchive(ctx context.Context, destID int64, dst connector.Destination, name string, keyID int64, ids []age.Identity, progress func(bytesRead, entries int64)) (*store.BackupOperation, string, error) {
	encrypted := verify.IsEncryptedName(name)
	if encrypted && len(ids) == 0 {
		return nil, "The archive is encrypted: importing it needs its contents. Restore it with `coffer restore --archive` and its identity.", nil
	}
	spool, err := os.CreateTemp("", "coffer-import-*")
	if err != nil {
		return nil, "", fmt.Errorf("create the import's spool file: %w", err)
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	sw := bufio.NewWriterSize(spool, 64<<10)
	enc := json.NewEncoder(sw)
	res, err := verify.Archive(ctx, verify.Input{Dest: dst, Name: name, Encrypted: encrypted, Identities: ids, Progress: progress,
		OnManifestEntry: func(me archive.ManifestEntry) error { return enc.Encode(me) }})
	if err != nil {
		return nil, "", err
	}
	if !res.OK() {
		return nil, res.Summary(), nil
	}
	if res.Header == nil {
		return nil, "The archive has no manifest.", nil
	}
	if err := sw.Flush(); err != nil {
		return nil, "", fmt.Errorf("write the import's spool file: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, "", fmt.Errorf("rewind the import's spool file: %w", err)
	}
	h := res.Header
	opts, _ := json.Marshal(BackupOptions{Compression: string(h.Compression), EncryptionKeyID: keyID})
	meta, _ := json.Marshal(ImportedMetadata{Source: h.Source, CofferVersion: h.CofferVersion})
	started, finished := h.StartedAt.UTC(), h.FinishedAt.UTC()
	if started.IsZero() {
		started = e.now()
	}
	if finished.IsZero() {
		finished = started
	}
	items := res.Totals.Entries
	if h.Source.Type == store.TypeMongoDB && res.Totals.Documents != nil {
		items = *res.Totals.Documents
	}
	op := &store.BackupOperation{DestinationConnectionID: destID, ArchivePath: name, ArchiveSize: res.BytesRead, SHA256: res.SHA256,
		Options: opts, Metadata: meta, Mode: store.ModeFull,
		Operation: store.Operation{StartedAt: &started, CompletedAt: &finished,
			Progress: store.Progress{ItemsDone: items, ItemsTotal: &items, BytesRead: res.Totals.Bytes, BytesWritten: res.BytesRead}}}
	if h.Source.Type == store.TypeS3 {
		held := res.EntriesChecked
		op.ChangedObjects = &held
	}
	if h.Mode == archive.ModeIncremental {
		// Its chain is found by the archive paths its entries name; the
		// base is linked when the catalog has it already.
		op.Mode = store.ModeIncremental
		if h.Base != nil {
			if base, err := e.cat.BackupByArchive(ctx, destID, h.Base.Archive); err == nil {
				op.BaseBackupID = base.ID
			}
		}
	}
	dec := json.NewDecoder(bufio.NewReaderSize(spool, 64<<10))
	var seq int64
	err = e.cat.ImportBackup(ctx, op, func() (store.ArchiveEntry, bool, error) {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return store.ArchiveEntry{}, false, nil
		} else if err != nil {
			return store.ArchiveEntry{}, false, fmt.Errorf("read the import's spool file: %w", err)
		}
		seq++
		return store.ArchiveEntry{Seq: seq - 1, Data: raw}, true, nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	e.log.Info("archive imported", "archive", dst.Location(name), "backup_id", op.ID, "entries", seq)
	return op, "", nil
}
