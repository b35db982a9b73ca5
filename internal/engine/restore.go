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
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/joblog"
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
	// Archive is, for an incremental backup, the index in its chain
	// (oldest first) of the archive being read, and Before the entries
	// read from the archives before it.
	Archive int   `json:"archive,omitempty"`
	Before  int64 `json:"before,omitempty"`
}

// openRestore prepares a worker's run of restore r.id.
func openRestore(e *Engine, r *run, lg *joblog.Logger) (worker, error) {
	op, err := e.cat.GetRestore(r.ctx, r.id)
	if err != nil {
		return nil, err
	}
	return &restoreRun{e: e, r: r, op: op, lg: lg}, nil
}

// restoreRun is one worker's pass over a restore.
type restoreRun struct {
	e          *Engine
	r          *run
	op         *store.RestoreOperation
	lg         *joblog.Logger
	cp         restoreCheckpoint
	prog       store.Progress
	early      bool  // an archive was not read to its end (chosen keys)
	readBefore int64 // bytes read from the archives before the one being read
	lastSave   time.Time
	lastLog    time.Time
}

// progress is how far the run came.
func (rr *restoreRun) progress() store.Progress { return rr.prog }

// cancelled says what a cancel leaves: what was written stays.
func (rr *restoreRun) cancelled(context.Context) string {
	return fmt.Sprintf("Restore cancelled after %d objects; objects already written stay in place.", rr.cp.Written)
}

// restoreTarget is where a restore writes the archive's entries: objects
// into a bucket, collections into MongoDB. The restore reads the archive
// in order and checks each entry against the catalog; the target writes it.
type restoreTarget interface {
	// skip reads, without writing, what the target needs to know of an
	// entry an earlier run already restored.
	skip(ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry) error
	// write restores entry seq of the archive, its body read from ar.
	write(ctx context.Context, ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry, seq int64) error
	// done copies the target's counters into the restore's checkpoint and
	// progress and returns how many of the first read entries are entirely
	// written (a target may still be writing the last ones).
	done(read int64) int64
	// finish waits for the writes in flight and does what comes after the
	// last entry.
	finish(ctx context.Context) error
	// close waits for work in flight and releases the target.
	close()
}

// openRestoreTarget opens the connection the restore writes to as the
// target of its kind (objects into a bucket, collections into MongoDB),
// with the restore's configuration. The target's close releases the
// connection.
func (e *Engine) openRestoreTarget(ctx context.Context, rr *restoreRun) (registry.Info, restoreTarget, error) {
	tgt, err := e.conns.OpenTarget(ctx, rr.op.DestinationConnectionID)
	if err != nil {
		return registry.Info{}, nil, err
	}
	var target restoreTarget
	switch {
	case tgt.Mongo != nil:
		var cfg MongoRestoreConfig
		if err = restoreConfig(rr.op, &cfg); err == nil {
			target = newMongoTarget(ctx, rr, tgt.Mongo, cfg)
		}
	case tgt.Objects != nil:
		var cfg S3RestoreConfig
		if err = restoreConfig(rr.op, &cfg); err == nil {
			target = newObjectTarget(rr, cfg, tgt.Objects(cfg.Bucket, cfg.Prefix))
		}
	default:
		err = apperr.New(apperr.Invalid, "a %s connection cannot be restored into", tgt.Conn.Type)
	}
	if err != nil {
		_ = tgt.Close()
		return tgt.Conn, nil, err
	}
	return tgt.Conn, target, nil
}

// restoreConfig decodes the restore's stored target configuration into cfg
// as StartRestore checked it; one that does not decode fails the run.
func restoreConfig(op *store.RestoreOperation, cfg any) error {
	if bad := decodeRestoreConfig(op.DestinationConfig, cfg); bad != nil {
		return apperr.New(apperr.Invalid, "The stored configuration of this restore cannot be used: %s. Start a new restore with a valid configuration.", bad)
	}
	return nil
}

// run restores the backup's archive into the target and records the
// completion. When the process stops, it saves where it got to.
func (rr *restoreRun) run() (err error) {
	defer func() {
		if err != nil && errors.Is(rr.r.stopReason(), context.Canceled) {
			ctx, cancel := rr.r.bg()
			defer cancel()
			rr.save(ctx)
		}
	}()
	e, ctx := rr.e, rr.r.ctx
	backup, err := e.cat.GetBackup(ctx, rr.op.BackupOperationID)
	if err != nil {
		return fmt.Errorf("load backup %d: %w", rr.op.BackupOperationID, err)
	}
	if backup.Status != store.StatusCompleted {
		return apperr.New(apperr.Conflict, "backup %d is %s; only a completed backup can be restored", backup.ID, backup.Status)
	}
	if len(rr.op.Checkpoint) > 0 && string(rr.op.Checkpoint) != "null" {
		if err := json.Unmarshal(rr.op.Checkpoint, &rr.cp); err != nil {
			return fmt.Errorf("read the checkpoint of restore %d: %w", rr.op.ID, err)
		}
	}
	chain, err := e.chainOf(ctx, backup)
	if err != nil {
		return err
	}
	rr.prog = store.Progress{ItemsDone: rr.cp.Before + rr.cp.Entries}
	// Progress counts the entries read: of the archive, or of every
	// archive of an incremental backup's chain.
	var total int64
	for _, c := range chain {
		total += storedItems(c.backup)
	}
	if total > 0 {
		rr.prog.ItemsTotal = &total
	}

	_, src, err := e.openDestination(ctx, backup.DestinationConnectionID)
	if err != nil {
		return err
	}
	tgtConn, target, err := e.openRestoreTarget(ctx, rr)
	if err != nil {
		return err
	}
	defer target.close()
	if rr.cp.Entries == 0 && rr.cp.Archive == 0 {
		rr.lg.Info(ctx, fmt.Sprintf("Restore of backup %d (%s) to %q started.", backup.ID, src.Location(backup.ArchivePath), tgtConn.Name),
			"config", json.RawMessage(rr.op.DestinationConfig))
		if backup.Mode == store.ModeIncremental {
			names := make([]string, len(chain))
			for i, c := range chain {
				names[i] = fmt.Sprintf("#%d (%d objects)", c.backup.ID, c.need)
			}
			rr.lg.Info(ctx, fmt.Sprintf("Backup %d is incremental: its %d objects are read from %d archives of its chain, oldest first, each once: %s.",
				backup.ID, backupItems(backup), len(chain), strings.Join(names, ", ")))
		}
	} else {
		rr.lg.Info(ctx, fmt.Sprintf("Restore continues after %d entries.", rr.cp.Before+rr.cp.Entries))
	}
	ot, _ := target.(*objectTarget)
	if backup.Mode == store.ModeIncremental && ot == nil {
		return apperr.New(apperr.Invalid, "backup %d is an incremental S3 backup; restore it into an s3 connection", backup.ID)
	}
	for i := rr.cp.Archive; i < len(chain); i++ {
		if i != rr.cp.Archive {
			rr.cp.Archive, rr.cp.Before, rr.cp.Entries = i, rr.cp.Before+rr.cp.Entries, 0
		}
		if backup.Mode == store.ModeIncremental {
			ot.need = newNeedCursor(ctx, e.cat, backup, chain[i])
		}
		all, err := rr.restoreArchive(ctx, src, chain[i].backup, target)
		if err != nil {
			return err
		}
		if all {
			break
		}
	}
	if ot != nil && ot.passed > 0 {
		rr.lg.Info(ctx, fmt.Sprintf("%d entries of the archive were read past: include_prefix or keys left them out.", ot.passed))
	}
	verified := "archive checksum verified"
	if rr.early {
		verified = "each object's checksum verified"
	}
	rr.lg.Info(ctx, fmt.Sprintf("Restore completed: %d objects written, %d skipped, %s; %s.",
		rr.cp.Written, rr.cp.Skipped, bytesize.Human(rr.prog.BytesWritten), verified),
		"written", rr.cp.Written, "skipped", rr.cp.Skipped)
	bg, cancel := rr.r.bg()
	defer cancel()
	err = e.cat.FinishRun(bg, store.KindRestore, rr.op.ID, rr.r.token, store.RunEnd{Status: store.StatusCompleted, Progress: &rr.prog})
	if errors.Is(err, store.ErrLeaseLost) {
		rr.r.cancel(errLeaseLost)
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("record the completed restore: %w", err)
	}
	return nil
}

// restoreArchive reads the archive of backup holder (the restored backup
// itself, or for an incremental one an archive of its chain) and has the
// target write its entries that the restore needs. all is set when a
// restore of chosen keys met them all: no later archive is needed.
func (rr *restoreRun) restoreArchive(ctx context.Context, src connector.Destination, holder *store.BackupOperation, target restoreTarget) (all bool, err error) {
	e := rr.e
	where := src.Location(holder.ArchivePath)
	stream, err := src.Open(ctx, holder.ArchivePath, 0)
	if err != nil {
		return false, fmt.Errorf("open the archive %s: %w", where, err)
	}
	defer stream.Close()
	counted := &countingReader{r: stream}
	var ar *archive.Reader
	if keyID := encryptionKeyOf(holder); keyID > 0 {
		ids, err := e.restoreIdentities(ctx, rr.op.ID, keyID)
		if err != nil {
			return false, err
		}
		ar, err = archive.NewEncryptedReader(counted, ids...)
		if errors.Is(err, agecrypt.ErrWrongKey) {
			return false, wrongKey(where, err)
		}
	} else {
		ar, err = archive.NewReader(counted)
	}
	if err != nil {
		return false, fmt.Errorf("read the archive %s: %w", where, err)
	}
	read0 := rr.prog.BytesRead
	rr.readBefore = read0
	early, err := rr.copyEntries(ctx, ar, counted, target, newEntryCursor(ctx, e.cat, holder.ID).heldOnly())
	if err != nil {
		return false, err
	}
	rr.prog.BytesRead = read0 + counted.n
	ot, _ := target.(*objectTarget)
	if early {
		// Every object written was checked against its own SHA-256; the
		// whole archive's needs the bytes not read.
		rr.early = true
		passed := int64(0)
		if ot != nil {
			passed = ot.passed
		}
		rr.lg.Info(ctx, fmt.Sprintf("Every entry needed from %s was found after %d of %d entries (%d entries before them passed over); the rest of the archive was not read: %s of %s read.",
			where, rr.cp.Entries, storedItems(holder), passed, bytesize.Human(counted.n), bytesize.Human(holder.ArchiveSize)))
		return ot != nil && ot.keysFound(), nil
	}
	if ot != nil && ot.need != nil {
		if err := ot.need.missing(); err != nil {
			return false, err
		}
	}
	if got := ar.SHA256Hex(); got != holder.SHA256 {
		return false, fmt.Errorf("the SHA-256 of archive %s is %s but backup %d recorded %s: the stored archive is damaged (every object written was verified on its own)", where, got, holder.ID, holder.SHA256)
	}
	return false, nil
}

// copyEntries reads every entry of the archive, checks it against the
// catalog's record of it and has the target write those an earlier run did
// not, until the last one is written, or until a target that restores a
// chosen few has all of them (early is true then).
func (rr *restoreRun) copyEntries(ctx context.Context, ar *archive.Reader, counted *countingReader, target restoreTarget, expected *entryCursor) (early bool, err error) {
	var seq int64
	chosen, _ := target.(interface{ allWritten() bool })
	for {
		if reason := rr.r.stopReason(); reason != nil {
			return false, reason
		}
		if chosen != nil && chosen.allWritten() {
			early = true
			break
		}
		ent, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("read the archive after %d entries: %w", seq, err)
		}
		if ent.Name == "manifest.json" {
			if _, err := io.Copy(io.Discard, ar); err != nil {
				return false, fmt.Errorf("read the manifest: %w", err)
			}
			continue
		}
		want, err := expected.next()
		if errors.Is(err, io.EOF) {
			return false, errors.New("the archive has more entries than the catalog recorded for this backup")
		}
		if err != nil {
			return false, err
		}
		if want.Name != ent.Name || want.Size != ent.Size {
			return false, fmt.Errorf("archive entry %d is %q (%d bytes) but the catalog recorded %q (%d bytes): the archive does not belong to this backup or is damaged", seq, ent.Name, ent.Size, want.Name, want.Size)
		}
		if seq < rr.cp.Entries {
			if err := target.skip(ar, ent, want); err != nil {
				return false, err
			}
			seq++
			continue // handled by an earlier run
		}
		rr.e.crashPoint("restore-entry")
		if err := target.write(ctx, ar, ent, want, seq); err != nil {
			return false, err
		}
		seq++
		rr.cp.Entries = target.done(seq)
		rr.prog.ItemsDone = rr.cp.Before + seq
		rr.prog.BytesRead = rr.readBefore + counted.n
		rr.tick(ctx)
	}
	if err := target.finish(ctx); err != nil {
		return false, err
	}
	rr.cp.Entries = target.done(seq)
	return early, nil
}

// objectTarget restores objects into a bucket (an s3 connection).
type objectTarget struct {
	rr  *restoreRun
	cfg S3RestoreConfig
	dst connector.ObjectTarget
	// keys are the keys chosen (cfg.Keys), nil for all; found counts
	// those met in the archive so far, and passed the entries read past
	// because neither keys nor include_prefix chose them.
	keys   map[string]bool
	found  int
	passed int64
	// need, for an incremental backup, tells which entries of the archive
	// being read the restored point takes from it (the others are older
	// bytes of keys that changed later, or keys deleted since).
	need *needCursor
}

// newObjectTarget is the target of an S3 restore with cfg.
func newObjectTarget(rr *restoreRun, cfg S3RestoreConfig, dst connector.ObjectTarget) *objectTarget {
	t := &objectTarget{rr: rr, cfg: cfg, dst: dst}
	if len(cfg.Keys) > 0 {
		t.keys = make(map[string]bool, len(cfg.Keys))
		for _, k := range cfg.Keys {
			t.keys[k] = true
		}
	}
	return t
}

// allWritten reports whether a restore of chosen keys has met them all
// (the archive holds each key once, so nothing after is needed).
// Each archive of an incremental backup's chain is read to its end, so
// that its SHA-256 is checked, even after the last entry the point needs
// from it.
func (t *objectTarget) allWritten() bool { return t.keysFound() }

// keysFound reports whether a restore of chosen keys met them all.
func (t *objectTarget) keysFound() bool { return t.keys != nil && t.found == len(t.keys) }

// skip passes an entry an earlier run restored; an object target only
// keeps its place among the entries the point needs.
func (t *objectTarget) skip(_ *archive.Reader, _ *archive.Entry, want archive.ManifestEntry) error {
	if t.need != nil {
		_, err := t.need.match(want)
		return err
	}
	return nil
}

// An object target has written an entry when write returns, and has
// nothing to do after the last one.

func (t *objectTarget) done(read int64) int64 { return read }

func (t *objectTarget) finish(context.Context) error { return nil }

func (t *objectTarget) close() {}

// write puts one object, unless the subset leaves it out or it exists and
// overwrite is off, checking its bytes against the catalog's SHA-256.
func (t *objectTarget) write(ctx context.Context, ar *archive.Reader, ent *archive.Entry, want archive.ManifestEntry, _ int64) error {
	rr, cfg := t.rr, t.cfg
	obj, err := archive.ObjectFromPAX(ent.PAXRecords)
	if err != nil {
		return fmt.Errorf("read the metadata of archive entry %q: %w", ent.Name, err)
	}
	if obj.Key != want.Key {
		return fmt.Errorf("archive entry %q holds key %q but the catalog recorded %q", ent.Name, obj.Key, want.Key)
	}
	obj.Size = ent.Size
	if t.need != nil {
		needed, err := t.need.match(want)
		if err != nil {
			return err
		}
		if !needed {
			return nil // older bytes of a key the point has from a later archive, or a key deleted by then
		}
	}
	if cfg.IncludePrefix != "" && !strings.HasPrefix(obj.Key, cfg.IncludePrefix) {
		t.passed++
		return nil
	}
	if t.keys != nil {
		if !t.keys[obj.Key] {
			t.passed++
			return nil
		}
		t.found++
	}
	if !cfg.Overwrite {
		exists, err := t.dst.Exists(ctx, obj.Key)
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
	if err := t.dst.Put(ctx, obj, ar, sum); err != nil {
		if errors.Is(err, connector.ErrChecksumMismatch) {
			return fmt.Errorf("object %q in the archive does not match its recorded SHA-256; it was not written: the stored archive is damaged: %w", obj.Key, err)
		}
		return fmt.Errorf("write object %q: %w", obj.Key, err)
	}
	rr.cp.Written++
	rr.prog.BytesWritten += obj.Size
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
			rr.cp.Entries, rr.cp.Written, rr.cp.Skipped, bytesize.Human(rr.prog.BytesRead)))
	}
}

func (rr *restoreRun) save(ctx context.Context) {
	data, _ := json.Marshal(rr.cp)
	err := rr.e.cat.SaveCheckpoint(context.WithoutCancel(ctx), store.KindRestore, rr.op.ID, rr.r.token, rr.prog, data)
	if errors.Is(err, store.ErrLeaseLost) {
		rr.r.cancel(errLeaseLost)
	} else if err != nil {
		rr.e.log.Warn("save restore checkpoint", "id", rr.op.ID, "err", err)
	}
	rr.lastSave = rr.e.now()
}

// storedItems is how many entries backup b's archive holds.
func storedItems(b *store.BackupOperation) int64 {
	if b.Mode == store.ModeIncremental && b.ChangedObjects != nil {
		return *b.ChangedObjects
	}
	return backupItems(b)
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
	held     bool                 // only the entries the archive holds (see heldOnly)
}

// EachEntry calls fn with each entry the catalog records for backup
// backupID, in archive order (the catalog's copy of its manifest); an
// error from fn stops it.
func EachEntry(ctx context.Context, cat store.Catalog, backupID int64, fn func(archive.ManifestEntry) error) error {
	cur := newEntryCursor(ctx, cat, backupID)
	for {
		me, err := cur.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(me); err != nil {
			return err
		}
	}
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

// heldOnly makes the cursor return only the entries the backup's own
// archive holds: an incremental backup's catalog also lists the unchanged
// objects that earlier archives of its chain hold.
func (c *entryCursor) heldOnly() *entryCursor {
	c.held = true
	return c
}

func (c *entryCursor) next() (archive.ManifestEntry, error) {
	for {
		me, err := c.nextAny()
		if err != nil || !c.held || me.Held() {
			return me, err
		}
	}
}

func (c *entryCursor) nextAny() (archive.ManifestEntry, error) {
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
