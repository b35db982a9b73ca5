package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/queue"
	"github.com/coffer-backup/coffer/internal/store"
)

// restoreCheckpoint records how many archive entries a restore has fully
// handled. A restore continues by reading the archive again from the start
// and skipping, without writing, the entries before that point: restores are
// idempotent, so anything past it is simply written again identically.
type restoreCheckpoint struct {
	Entries int64 `json:"entries"`
	Written int64 `json:"written"`
	Skipped int64 `json:"skipped"`
}

// RunRestore runs, or continues, restore id.
func (e *Engine) RunRestore(ctx context.Context, id int64) error {
	op, err := e.cat.GetRestore(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load restore %d: %w", id, err)
	}
	if op.Status != store.StatusPending && op.Status != store.StatusRunning {
		return nil
	}
	r, err := e.startRun(ctx, store.KindRestore, id)
	if errors.Is(err, errLeaseHeld) {
		if op.Status == store.StatusPending {
			// Handed back (resumed, or stopped for a restart) while the last
			// holder's lease still looks live: that holder may have died
			// between recording the status and giving the lease back. Try
			// again once such a lease would have expired.
			return queue.RetryLater(e.opt.LeaseTimeout / 2)
		}
		return nil // another worker runs it
	}
	if err != nil {
		return err
	}
	defer r.end()
	lg := joblog.New(e.cat, store.KindRestore, id, e.log)
	op, err = e.cat.TransitionRestore(ctx, nil, id, []string{store.StatusPending, store.StatusRunning}, store.StatusRunning)
	if err != nil {
		return nil
	}
	if op.StartedAt == nil {
		t := e.now()
		op.StartedAt = &t
		if err := e.cat.UpdateRestore(ctx, op); err != nil {
			return fmt.Errorf("record the start of restore %d: %w", id, err)
		}
	}
	rr := &restoreRun{e: e, r: r, op: op, lg: lg}
	runErr := rr.run()

	bg, cancel := r.bg()
	defer cancel()
	if runErr == nil {
		return nil
	}
	switch reason := r.stopReason(); {
	case errors.Is(reason, errLeaseLost):
		lg.Warn(bg, "Another worker took this restore over; this worker stopped.")
		return nil
	case errors.Is(reason, errCancelRequested):
		if err := e.finish(bg, store.KindRestore, id, store.StatusCancelled, ""); err != nil {
			return err
		}
		lg.Info(bg, fmt.Sprintf("Restore cancelled after %d objects; objects already written stay in place.", rr.cp.Written))
		return nil
	case errors.Is(reason, context.Canceled):
		rr.save(bg)
		if _, err := e.cat.TransitionRestore(bg, nil, id, []string{store.StatusRunning}, store.StatusPending); err != nil {
			return fmt.Errorf("hand restore %d back to the queue: %w", id, err)
		}
		lg.Info(bg, "Worker stopping: the restore will continue on the next worker.")
		return queue.Stopping()
	}
	msg := userMessage(runErr)
	lg.Error(bg, "Restore failed: "+msg)
	return e.finish(bg, store.KindRestore, id, store.StatusFailed, msg)
}

type restoreRun struct {
	e        *Engine
	r        *run
	op       *store.RestoreOperation
	lg       *joblog.Logger
	cp       restoreCheckpoint
	progress store.Progress
	lastSave time.Time
	lastLog  time.Time
}

func (rr *restoreRun) run() error {
	e, ctx := rr.e, rr.r.ctx
	backup, err := e.cat.GetBackup(ctx, rr.op.BackupOperationID)
	if err != nil {
		return fmt.Errorf("load backup %d: %w", rr.op.BackupOperationID, err)
	}
	if backup.Status != store.StatusCompleted {
		return apperr.New(apperr.Conflict, "backup %d is %s; only a completed backup can be restored", backup.ID, backup.Status)
	}
	var cfg S3RestoreConfig
	var mcfg MongoRestoreConfig
	tgtConn, err := e.cat.GetConnection(ctx, rr.op.DestinationConnectionID)
	if err != nil {
		return fmt.Errorf("load the restore target: %w", err)
	}
	into := any(&cfg)
	if tgtConn.Type == store.TypeMongoDB {
		into = &mcfg
	}
	if len(rr.op.DestinationConfig) > 0 {
		if err := json.Unmarshal(rr.op.DestinationConfig, into); err != nil {
			return apperr.Wrap(apperr.Invalid, err, "the restore configuration cannot be read")
		}
	}
	if len(rr.op.Checkpoint) > 0 && string(rr.op.Checkpoint) != "null" {
		if err := json.Unmarshal(rr.op.Checkpoint, &rr.cp); err != nil {
			return fmt.Errorf("read the checkpoint of restore %d: %w", rr.op.ID, err)
		}
	}
	rr.progress = store.Progress{ItemsDone: rr.cp.Entries}
	if n := backupItems(backup); n > 0 {
		rr.progress.ItemsTotal = &n
	}

	_, src, err := e.openDestination(ctx, backup.DestinationConnectionID)
	if err != nil {
		return err
	}
	var target connector.ObjectTarget
	var mt *mongoTarget
	if tgtConn.Type == store.TypeMongoDB {
		_, mc, err := e.openMongoTarget(ctx, rr.op.DestinationConnectionID)
		if err != nil {
			return err
		}
		defer mc.Close()
		mt = newMongoTarget(ctx, rr, mc, mcfg)
		defer mt.close()
	} else {
		_, target, err = e.openObjectTarget(ctx, rr.op.DestinationConnectionID, cfg)
		if err != nil {
			return err
		}
	}
	stream, err := src.Open(ctx, backup.ArchivePath, 0)
	if err != nil {
		return fmt.Errorf("open the archive %s: %w", src.Location(backup.ArchivePath), err)
	}
	defer stream.Close()
	counted := &countingReader{r: stream}
	ar, err := archive.NewReader(counted)
	if err != nil {
		return fmt.Errorf("read the archive %s: %w", src.Location(backup.ArchivePath), err)
	}
	if rr.cp.Entries == 0 {
		rr.lg.Info(ctx, fmt.Sprintf("Restore of backup %d (%s) to %q started.", backup.ID, src.Location(backup.ArchivePath), tgtConn.Name),
			"config", json.RawMessage(rr.op.DestinationConfig))
	} else {
		rr.lg.Info(ctx, fmt.Sprintf("Restore continues after %d entries.", rr.cp.Entries))
	}

	expected := newEntryCursor(ctx, e.cat, backup.ID)
	var seq int64
	for {
		if reason := rr.r.stopReason(); reason != nil {
			return reason
		}
		ent, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the archive after %d entries: %w", seq, err)
		}
		if ent.Name == "manifest.json" {
			if _, err := io.Copy(io.Discard, ar); err != nil {
				return fmt.Errorf("read the manifest: %w", err)
			}
			continue
		}
		want, err := expected.next()
		if errors.Is(err, io.EOF) {
			return errors.New("the archive has more entries than the catalog recorded for this backup")
		}
		if err != nil {
			return err
		}
		if want.Name != ent.Name || want.Size != ent.Size {
			return fmt.Errorf("archive entry %d is %q (%d bytes) but the catalog recorded %q (%d bytes): the archive does not belong to this backup or is damaged", seq, ent.Name, ent.Size, want.Name, want.Size)
		}
		if seq < rr.cp.Entries {
			if mt != nil {
				if err := mt.remember(ar, ent, want); err != nil {
					return err
				}
			}
			seq++
			continue // handled by an earlier run
		}
		rr.e.crashPoint("restore-entry")
		if mt != nil {
			err = mt.restoreEntry(ctx, ar, ent, want, seq)
		} else {
			err = rr.restoreEntry(ctx, ar, ent, want, cfg, target)
		}
		if err != nil {
			return err
		}
		seq++
		rr.cp.Entries = seq
		if mt != nil {
			rr.cp.Entries = mt.sync(seq)
		}
		rr.progress.ItemsDone = seq
		rr.progress.BytesRead = counted.n
		rr.tick(ctx)
	}
	if mt != nil {
		if err := mt.finish(ctx); err != nil {
			return err
		}
		rr.cp.Entries = mt.sync(seq)
	}
	got := ar.SHA256Hex()
	if got != backup.SHA256 {
		return fmt.Errorf("the archive's SHA-256 is %s but the backup recorded %s: the stored archive is damaged (every object written was verified on its own)", got, backup.SHA256)
	}
	rr.progress.BytesRead = counted.n
	rr.save(ctx)
	rr.lg.Info(ctx, fmt.Sprintf("Restore completed: %d objects written, %d skipped, %s; archive checksum verified.",
		rr.cp.Written, rr.cp.Skipped, humanBytes(rr.progress.BytesWritten)),
		"written", rr.cp.Written, "skipped", rr.cp.Skipped, "sha256", got)
	bg, cancel := rr.r.bg()
	defer cancel()
	op, err := e.cat.GetRestore(bg, rr.op.ID)
	if err != nil {
		return err
	}
	now := e.now()
	op.Status = store.StatusCompleted
	op.CompletedAt = &now
	op.Progress = rr.progress
	op.ErrorMessage = ""
	if err := e.cat.UpdateRestore(bg, op); err != nil {
		return fmt.Errorf("record the completed restore: %w", err)
	}
	return nil
}

func (rr *restoreRun) restoreEntry(ctx context.Context, ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry, cfg S3RestoreConfig, target connector.ObjectTarget) error {
	obj, err := archive.ObjectFromPAX(ent.PAXRecords)
	if err != nil {
		return fmt.Errorf("read the metadata of archive entry %q: %w", ent.Name, err)
	}
	if obj.Key != want.Key {
		return fmt.Errorf("archive entry %q holds key %q but the catalog recorded %q", ent.Name, obj.Key, want.Key)
	}
	obj.Size = ent.Size
	if cfg.IncludePrefix != "" && !strings.HasPrefix(obj.Key, cfg.IncludePrefix) {
		return nil
	}
	if !cfg.Overwrite {
		exists, err := target.Exists(ctx, obj.Key)
		if err != nil {
			return fmt.Errorf("check whether %q exists: %w", obj.Key, err)
		}
		if exists {
			rr.cp.Skipped++
			if rr.cp.Skipped <= 20 || rr.cp.Skipped%1000 == 0 {
				rr.lg.Info(ctx, fmt.Sprintf("Skipped %q: it already exists at the target (overwrite is off; %d skipped so far).", cfg.Prefix+obj.Key, rr.cp.Skipped))
			}
			return nil
		}
	}
	var sum [32]byte
	raw, err := hex.DecodeString(want.SHA256)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("the catalog's checksum for %q is not a SHA-256", obj.Key)
	}
	copy(sum[:], raw)
	if err := target.Put(ctx, obj, ar, sum); err != nil {
		if errors.Is(err, connector.ErrChecksumMismatch) {
			return fmt.Errorf("object %q in the archive does not match its recorded SHA-256; it was not written: the stored archive is damaged: %w", obj.Key, err)
		}
		return fmt.Errorf("write object %q: %w", obj.Key, err)
	}
	rr.cp.Written++
	rr.progress.BytesWritten += obj.Size
	return nil
}

// tick saves progress and the checkpoint every few seconds and logs.
func (rr *restoreRun) tick(ctx context.Context) {
	now := rr.e.now()
	if now.Sub(rr.lastSave) >= rr.e.opt.ProgressEvery {
		rr.save(ctx)
	}
	if now.Sub(rr.lastLog) >= 5*time.Second {
		rr.lastLog = now
		rr.lg.Info(ctx, fmt.Sprintf("%d entries restored (%d written, %d skipped), %s read from the archive.",
			rr.cp.Entries, rr.cp.Written, rr.cp.Skipped, humanBytes(rr.progress.BytesRead)))
	}
}

func (rr *restoreRun) save(ctx context.Context) {
	data, _ := json.Marshal(rr.cp)
	err := rr.e.cat.SaveRestoreCheckpoint(context.WithoutCancel(ctx), rr.op.ID, rr.r.token, rr.progress, data)
	if errors.Is(err, store.ErrLeaseLost) {
		rr.r.cancel(errLeaseLost)
	} else if err != nil {
		rr.e.log.Warn("save restore checkpoint", "id", rr.op.ID, "err", err)
	}
	rr.lastSave = rr.e.now()
}

func backupItems(b *store.BackupOperation) int64 {
	if b.Progress.ItemsTotal != nil {
		return *b.Progress.ItemsTotal
	}
	return b.Progress.ItemsDone
}

// entryCursor walks a backup's catalog entries in archive order, a page at
// a time: for the manifest at the end of a backup, and in step with the
// archive during a restore. next returns io.EOF after the last entry.
type entryCursor struct {
	cat      store.Catalog
	ctx      context.Context
	backupID int64
	after    int64
	buf      []store.ArchiveEntry
	done     bool                 // the last page was shorter than a full one
	rest     []store.ArchiveEntry // read after the catalog's (see then)
}

func newEntryCursor(ctx context.Context, cat store.Catalog, backupID int64) *entryCursor {
	return &entryCursor{cat: cat, ctx: ctx, backupID: backupID, after: -1}
}

const entryPage = 1000

// then makes the cursor go on, after the catalog's last entry, with
// entries not yet saved in the catalog.
func (c *entryCursor) then(entries []store.ArchiveEntry) *entryCursor {
	c.rest = entries
	return c
}

func (c *entryCursor) next() (archive.ManifestEntry, error) {
	if len(c.buf) == 0 && !c.done {
		page, err := c.cat.ListArchiveEntries(c.ctx, c.backupID, c.after, entryPage)
		if err != nil {
			return archive.ManifestEntry{}, fmt.Errorf("load the backup's entries: %w", err)
		}
		c.done = len(page) < entryPage
		c.buf = page
	}
	if len(c.buf) == 0 && c.done && len(c.rest) > 0 {
		c.buf, c.rest = c.rest, nil
	}
	if len(c.buf) == 0 {
		return archive.ManifestEntry{}, io.EOF
	}
	var me archive.ManifestEntry
	if err := json.Unmarshal(c.buf[0].Data, &me); err != nil {
		return me, fmt.Errorf("read catalog entry %d: %w", c.buf[0].Seq, err)
	}
	c.after = c.buf[0].Seq
	c.buf = c.buf[1:]
	return me, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
