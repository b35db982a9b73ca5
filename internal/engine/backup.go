package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/object"
	"github.com/coffer-backup/coffer/internal/store"
)

// backupCheckpoint is everything a new process needs to continue a backup
// exactly where the last one stopped: the destination's upload state, the
// archive writer's state (hash and counters, at a closed compressed member),
// the archive bytes not yet uploaded, and the position in the source.
type backupCheckpoint struct {
	Version     int             `json:"v"`
	ArchiveName string          `json:"archive_name"`
	Compression string          `json:"compression"`
	Upload      json.RawMessage `json:"upload"`
	NextPart    int             `json:"next_part"`
	// Tail is saved apart from the JSON, as raw bytes (store.BackupCheckpointTail).
	Tail    []byte        `json:"-"`
	Archive archive.State `json:"archive"`
	LastKey string        `json:"last_key"`
	Entries int64         `json:"entries"`
	// Mongo is the position in a MongoDB source.
	Mongo *mongoPos `json:"mongo,omitempty"`
	// Progress is the progress at this checkpoint; a run that continues
	// from here counts on from it (what a dead run read after it is not counted twice).
	Progress store.Progress `json:"progress"`
	// Final is set once the whole archive (manifest included) is written and
	// only the last part remains to be completed.
	Final *finalState `json:"final,omitempty"`
	// Encrypted: the archive is age-encrypted; the age stream state is
	// saved sealed beside the checkpoint (store.BackupCheckpointSecret).
	Encrypted bool `json:"encrypted,omitempty"`
	// Clean is set on the checkpoint a run saves as it stops for a pause or
	// a shutdown, after which it writes nothing: the only kind an encrypted
	// archive may go on from.
	Clean bool `json:"clean,omitempty"`
	// Base is what an incremental archive is built on (nil: a full one).
	Base *chainBase `json:"base,omitempty"`
	// Changed counts the objects whose bytes the archive holds.
	Changed int64 `json:"changed,omitempty"`
}

type finalState struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// openBackup prepares a worker's run of backup r.id.
func openBackup(e *Engine, r *run, lg *joblog.Logger) (worker, error) {
	op, err := e.cat.GetBackup(r.ctx, r.id)
	if err != nil {
		return nil, err
	}
	return &backupRun{e: e, r: r, op: op, lg: lg}, nil
}

// progress is how far the run came.
func (b *backupRun) progress() store.Progress { return b.prog }

// cancelled aborts the upload of a cancelled backup and forgets its entries.
func (b *backupRun) cancelled(ctx context.Context) string {
	if b.up != nil {
		if err := b.up.Abort(ctx); err != nil {
			b.lg.Warn(ctx, "Could not remove the partial archive: "+userMessage(err))
		}
	}
	if err := b.e.cat.DeleteArchiveEntriesFrom(ctx, b.op.ID, 0); err != nil {
		b.lg.Warn(ctx, "Could not forget the archive entries of the cancelled backup.", "err", err.Error())
	}
	return "Backup cancelled; the partial archive was removed from the destination."
}

// backupRun is one worker's pass over a backup.
type backupRun struct {
	e  *Engine
	r  *run
	op *store.BackupOperation
	lg *joblog.Logger

	srcConn *registry.Info
	dst     connector.Destination
	space   *spaceGuard // nil: the destination's free space is unknown, or the run continues an archive
	up      connector.Upload
	pw      *partWriter
	aw      *archive.Writer
	// readLimit and writeLimit hold the source reads and the destination
	// writes to the backup's bandwidth_limit (nil: none).
	readLimit, writeLimit *throttle
	upCtx                 context.Context // uploads and object reads: not ended by a pause, only by cancel
	upCancel              context.CancelFunc

	cp       backupCheckpoint
	prog     store.Progress
	pending  []store.ArchiveEntry // entries written since the last checkpoint
	cpSave   *pendingSave         // the checkpoint being saved in the background, if any
	progSave *pendingSave         // the progress being saved in the background, if any
	saveMu   sync.Mutex           // one catalog write of progress at a time
	shown    store.Progress       // the progress last written to the catalog
	lastCP   time.Time
	cpParts  int // the last part cut before the last checkpoint
	restarts int // times an encrypted archive was begun again because a collection changed
	lastSave time.Time
	lastLog  time.Time
}

// run does the backup and marks a Google Drive destination whose grant
// was revoked or expired as needing to be reconnected.
func (b *backupRun) run() error {
	err := b.work()
	if errors.Is(err, gdrive.ErrReauth) {
		ctx, cancel := b.r.bg()
		defer cancel()
		b.e.markReauth(ctx, b.op.DestinationConnectionID)
	}
	return err
}

func (b *backupRun) work() error {
	e, ctx := b.e, b.r.ctx
	b.upCtx, b.upCancel = context.WithCancel(context.WithoutCancel(ctx))
	defer b.upCancel()
	go func() {
		// Only a cancel or a lost lease stops uploads mid-part; a pause lets the part finish.
		<-ctx.Done()
		if c := context.Cause(ctx); errors.Is(c, errCancelRequested) || errors.Is(c, errLeaseLost) {
			b.upCancel()
		}
	}()

	srcConn, src, err := e.openBackupSource(ctx, b.op.SourceConnectionID)
	if err != nil {
		return err
	}
	defer src.close()
	_, dst, err := e.openDestination(ctx, b.op.DestinationConnectionID)
	if err != nil {
		return err
	}
	b.dst, b.srcConn = dst, srcConn
	b.prog = b.op.Progress
	if opts, bad := decodeBackupOptions(b.op.Options); bad == nil && opts.BandwidthLimit > 0 {
		b.readLimit, b.writeLimit = newThrottle(opts.BandwidthLimit), newThrottle(opts.BandwidthLimit)
		b.lg.Info(ctx, fmt.Sprintf("Bandwidth limited to %s/s for the source and for the destination.", bytesize.Human(opts.BandwidthLimit)))
	}

	if len(b.op.Checkpoint) > 0 && string(b.op.Checkpoint) != "null" {
		if err := json.Unmarshal(b.op.Checkpoint, &b.cp); err != nil {
			return fmt.Errorf("read the checkpoint of backup %d: %w", b.op.ID, err)
		}
		if b.cp.Tail, err = e.cat.BackupCheckpointTail(ctx, b.op.ID); err != nil {
			return fmt.Errorf("read the checkpoint of backup %d: %w", b.op.ID, err)
		}
	}
	if b.cp.ArchiveName != "" {
		b.prog = b.cp.Progress
	}
	if b.cp.Final != nil {
		return b.complete(ctx)
	}

	resumed := false
	if b.cp.ArchiveName != "" && b.cp.Encrypted && !b.cp.Clean {
		// Parts past the last checkpoint may have reached the destination
		// before the run died; going on from it would seal other bytes
		// under the same chunk numbers (see agecrypt, "One ciphertext per
		// chunk number").
		b.lg.Warn(ctx, "The backup stopped without a clean checkpoint (its worker died or lost its lease). "+
			"An encrypted archive cannot go on from there without sealing the same age chunk twice, so it starts again from the beginning under a new file key.")
		if err := b.dropArchive(ctx); err != nil {
			return err
		}
	}
	if b.cp.ArchiveName == "" {
		if err := b.startArchive(ctx, srcConn); err != nil {
			return err
		}
	} else {
		if b.cp.Encrypted {
			sealed, err := e.cat.BackupCheckpointSecret(ctx, b.op.ID)
			if err != nil {
				return fmt.Errorf("read the checkpoint of backup %d: %w", b.op.ID, err)
			}
			if len(sealed) == 0 {
				return fmt.Errorf("the checkpoint of encrypted backup %d has no saved encryption state", b.op.ID)
			}
			if b.cp.Archive.Age, err = e.openState(sealed); err != nil {
				return err
			}
		}
		if err := b.openFrom(b.cp); err != nil {
			return err
		}
		resumed = true
		b.lg.Info(ctx, "Backup continues from its checkpoint.", "after_key", b.cp.LastKey,
			"entries_done", b.cp.Entries, "bytes_uploaded", b.cp.Archive.CompressedBytes-int64(len(b.cp.Tail)))
	}
	defer func() { b.pw.close() }()
	defer func() { b.aw.Abort() }()             // frees the compressor's goroutines when the run stops early; a no-op after Finish
	defer func() { _ = b.collectSaves(true) }() // no save outlives the run (it needs the uploader)
	b.lastCP = e.now()
	b.cpParts = b.pw.next - 1
	if resumed && b.cp.Encrypted {
		// The clean checkpoint is used up: until the next one is saved,
		// a crash must start the archive again, not go on from it.
		b.cp.Clean = false
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
	}

	for {
		if src.objects != nil {
			err = b.copyObjects(ctx, src.objects)
		} else {
			err = b.copyCollections(ctx, src.mongo)
		}
		if !errors.Is(err, errArchiveRestarted) {
			break // rewindCollection bounds the restarts
		}
	}
	if err != nil {
		return err
	}
	return b.finish(ctx, srcConn)
}

// errArchiveRestarted: the archive was dropped and begun again (an
// encrypted archive cannot go back to an earlier point of its age stream).
var errArchiveRestarted = errors.New("the archive was started again")

// startArchive begins a new archive at the destination: its name, the
// upload, the part writer and the archive writer (encrypted when the
// options name a key), and saves its first checkpoint in the background.
func (b *backupRun) startArchive(ctx context.Context, srcConn *registry.Info) error {
	e, dst := b.e, b.dst
	opts, bad := decodeBackupOptions(b.op.Options)
	if bad != nil {
		return apperr.New(apperr.Invalid, "The stored options of this backup cannot be used: %s. Start a new backup with valid options.", bad)
	}
	comp, err := archive.ParseCompression(opts.Compression)
	if err != nil {
		return err
	}
	level, err := archive.ParseLevel(opts.CompressionLevel)
	if err != nil {
		return err
	}
	mode, base := store.ModeFull, (*store.BackupOperation)(nil)
	if opts.Incremental() {
		var why string
		if base, why, err = b.chooseBase(ctx, opts); err != nil {
			return fmt.Errorf("choose the base of the incremental backup: %w", err)
		}
		if base == nil {
			b.lg.Info(ctx, "This backup is a full one, not an incremental: "+why+".", "mode", store.ModeFull)
		} else {
			mode = store.ModeIncremental
		}
	}
	var baseID int64
	if base != nil {
		baseID = base.ID
	}
	if err := e.cat.SetBackupMode(ctx, b.op.ID, b.r.token, mode, baseID); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			b.r.cancel(errLeaseLost)
			return errLeaseLost
		}
		return err
	}
	var recipients []age.Recipient
	if opts.EncryptionKeyID > 0 {
		if e.keys == nil {
			return errNoKeys
		}
		if recipients, err = e.keys.Recipients(ctx, opts.EncryptionKeyID); err != nil {
			return err
		}
	}
	started := b.op.CreatedAt
	if b.op.StartedAt != nil {
		started = *b.op.StartedAt
	}
	b.cp = backupCheckpoint{Version: 1, Compression: string(comp), NextPart: 1,
		ArchiveName: fmt.Sprintf("%s/%s-%d%s", pathSafe(srcConn.Name), started.UTC().Format("20060102T150405Z"), b.op.ID, comp.Ext())}
	if base != nil {
		b.cp.Base = &chainBase{ID: base.ID, Archive: base.ArchivePath}
	}
	if recipients != nil {
		b.cp.ArchiveName += archive.AgeExt
		b.cp.Encrypted = true
	}
	if err := b.checkSpace(ctx, srcConn.ID); err != nil {
		return err
	}
	b.up, err = dst.NewUpload(b.upCtx, b.cp.ArchiveName)
	if err != nil {
		return fmt.Errorf("start writing the archive to %s: %w", dst.Location(b.cp.ArchiveName), err)
	}
	b.pw = newPartWriter(b.upCtx, b.up, 1, nil)
	b.pw.limit = b.writeLimit
	b.pw.onPart = func() { b.e.crashPoint("mid-part") }
	if recipients != nil {
		b.aw, err = archive.NewEncryptedWriter(b.pw, comp, recipients...)
	} else {
		b.aw, err = archive.NewWriter(b.pw, comp)
	}
	if err == nil {
		err = b.aw.SetLevel(level)
	}
	if err != nil {
		b.pw.close()
		return err
	}
	b.space.watch(b.aw, b.pw)
	b.cpParts, b.lastCP = 0, e.now()
	kv := []any{"compression", string(comp)}
	how := ""
	if recipients != nil {
		name := e.keys.KeyName(ctx, opts.EncryptionKeyID)
		kv = append(kv, "encryption_key", name)
		how = fmt.Sprintf(", encrypted with age for key %q", name)
	}
	if base != nil {
		kv = append(kv, "mode", mode, "base_backup_id", base.ID)
		how += fmt.Sprintf(", incremental on backup #%d (%s): only new and changed objects are read", base.ID, base.ArchivePath)
	}
	b.lg.Info(ctx, fmt.Sprintf("Backup of %s %q to %s started%s.", srcConn.Type, srcConn.Name, dst.Location(b.cp.ArchiveName), how), kv...)
	// Save the upload's identity at once (in the background, as the
	// listing starts), so a cancel or a sweep can find it.
	return b.startCheckpoint(ctx)
}

// dropArchive removes the partial archive the checkpoint names and forgets
// its entries and progress, so the next startArchive begins afresh.
func (b *backupRun) dropArchive(ctx context.Context) error {
	if up, err := b.dst.ResumeUpload(b.upCtx, b.cp.Upload); err == nil {
		if err := up.Abort(b.upCtx); err != nil {
			b.lg.Warn(ctx, "Could not remove the partial archive: "+userMessage(err))
		}
	} else {
		b.lg.Warn(ctx, "Could not remove the partial archive: "+userMessage(err))
	}
	if err := b.e.cat.DeleteArchiveEntriesFrom(ctx, b.op.ID, 0); err != nil {
		return fmt.Errorf("forget the entries of the dropped archive: %w", err)
	}
	b.cp = backupCheckpoint{}
	b.prog = store.Progress{}
	b.pending = nil
	return nil
}

// openFrom sets up the upload, the part writer and the archive writer to go
// on from checkpoint cp (in this process or another one), and forgets the
// archive entries recorded after it.
func (b *backupRun) openFrom(cp backupCheckpoint) error {
	up, err := b.dst.ResumeUpload(b.upCtx, cp.Upload)
	if err != nil {
		return fmt.Errorf("continue the upload of %s: %w", b.dst.Location(cp.ArchiveName), err)
	}
	pw := newPartWriter(b.upCtx, up, cp.NextPart, cp.Tail)
	pw.limit = b.writeLimit
	pw.onPart = func() { b.e.crashPoint("mid-part") }
	aw, err := archive.ResumeWriter(pw, cp.Archive)
	if err != nil {
		pw.close()
		return err
	}
	if err := b.e.cat.DeleteArchiveEntriesFrom(b.r.ctx, b.op.ID, cp.Entries); err != nil {
		pw.close()
		return fmt.Errorf("trim archive entries: %w", err)
	}
	b.up, b.pw, b.aw, b.cp = up, pw, aw, cp
	b.pending = b.pending[:0]
	b.cpParts = cp.NextPart - 1
	b.prog = cp.Progress
	return nil
}

// copyObjects streams every object after the checkpoint into the archive.
func (b *backupRun) copyObjects(ctx context.Context, src connector.ObjectSource) error {
	var idx *baseIndex
	var unchanged func(object.Object) (*archive.ManifestEntry, error)
	if b.cp.Base != nil {
		idx = newBaseIndex(ctx, b.e.cat, *b.cp.Base)
		unchanged = idx.unchanged
	}
	f := newFetcher(ctx, b.upCtx, src, b.cp.LastKey, b.e.opt.FetchConcurrency, b.e.opt.SmallObject, b.lg, func(bytes int64) {
		b.space.sourceListed(bytes)
		b.e.crashPoint("listing")
	}, unchanged)
	defer f.stop()
	for {
		if reason := b.r.stopReason(); reason != nil {
			return b.stopAtBoundary(reason)
		}
		item, ok := f.next()
		if !ok {
			break
		}
		if item.ref != nil {
			if err := b.addReference(item.obj, item.ref); err != nil {
				return err
			}
			if err := b.afterEntry(ctx, f); err != nil {
				return err
			}
			continue
		}
		if item.err != nil {
			if b.r.stopReason() != nil {
				continue // the loop head handles the stop
			}
			if errors.Is(item.err, connector.ErrNotExist) {
				b.lg.Warn(ctx, fmt.Sprintf("Object %q was deleted after it was listed; it is not in this backup.", item.obj.Key))
				continue
			}
			return fmt.Errorf("read object %q: %w", item.obj.Key, item.err)
		}
		if err := b.writeObject(item); err != nil {
			return err
		}
		if err := b.afterEntry(ctx, f); err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		if reason := b.r.stopReason(); reason != nil {
			return b.stopAtBoundary(reason)
		}
		return fmt.Errorf("list the source: %w", err)
	}
	total := b.prog.ItemsDone
	b.prog.ItemsTotal = &total
	if idx != nil {
		b.lg.Info(ctx, fmt.Sprintf("Listing done: %d objects, %d of them new or changed since backup #%d and read; %d unchanged, left in the archives of the chain; %d deleted since.",
			total, b.cp.Changed, idx.base.ID, total-b.cp.Changed, idx.deleted),
			"objects", total, "changed", b.cp.Changed, "deleted", idx.deleted)
	}
	return nil
}

// addReference records an object unchanged since the base of an
// incremental backup: its manifest entry names the archive that holds it.
func (b *backupRun) addReference(obj object.Object, ref *archive.ManifestEntry) error {
	if err := b.addEntry(*ref); err != nil {
		return err
	}
	b.cp.LastKey = obj.Key
	b.prog.ItemsDone++
	return nil
}

func (b *backupRun) writeObject(item fetched) error {
	body, obj := item.body, item.obj
	defer body.Close()
	name, escaped := archive.ObjectEntryName(obj.Key)
	// Known compressed types and names go in stored; the writer judges the
	// bytes of the others as they come.
	stored := archive.ShouldStore(obj.Key, obj.ContentType, nil)
	sum, err := b.aw.WriteEntry(archive.EntryHeader{Name: name, Size: obj.Size, ModTime: obj.LastModified, PAXRecords: archive.ObjectPAX(obj),
		Stored: stored, Judge: !stored}, b.readLimit.reader(b.r.ctx, body))
	if err != nil {
		return fmt.Errorf("archive object %q: %w", obj.Key, err)
	}
	if escaped {
		b.lg.Warn(b.r.ctx, fmt.Sprintf("Key %q is not a safe file name; it is stored as %s (the manifest keeps the exact key).", obj.Key, name))
	}
	meta := obj.Metadata
	entry := archive.ManifestEntry{Name: name, Key: obj.Key, Size: obj.Size, SHA256: sum, Metadata: &meta, Stored: b.aw.LastEntryStored()}
	if err := b.addEntry(entry); err != nil {
		return err
	}
	b.cp.Changed++
	b.cp.LastKey = obj.Key
	b.prog.ItemsDone++
	b.prog.BytesRead += obj.Size
	b.prog.BytesWritten = b.aw.CompressedBytes()
	return nil
}

// afterEntry starts a checkpoint after uploaded parts, or a progress save
// every few seconds, and logs. Both saves run in the background, at most
// one of each kind: the archive goes on meanwhile (a checkpoint waits for
// the parts cut before it, and catalog writes take time the compressors
// should not lose).
func (b *backupRun) afterEntry(ctx context.Context, f *fetcher) error {
	now := b.e.now()
	if err := b.pw.failed(); err != nil {
		return err
	}
	if err := b.collectSaves(false); err != nil {
		return err
	}
	if b.cpSave == nil && b.pw.lastUploaded() > b.cpParts && now.Sub(b.lastCP) >= b.e.opt.CheckpointEvery {
		if err := b.startCheckpoint(ctx); err != nil {
			return err
		}
	} else if b.progSave == nil && now.Sub(b.lastSave) >= b.e.opt.ProgressEvery {
		b.startProgressSave(ctx)
	}
	if now.Sub(b.lastLog) >= 5*time.Second && strings.HasPrefix(b.prog.Phase, "measuring ") {
		b.lastLog = now
		b.lg.Info(ctx, fmt.Sprintf("Measuring %s: %d documents counted so far.", strings.TrimPrefix(b.prog.Phase, "measuring "), b.prog.PhaseItems),
			"phase", b.prog.Phase, "phase_items", b.prog.PhaseItems)
	}
	if now.Sub(b.lastLog) >= 5*time.Second {
		b.lastLog = now
		_, up := b.pw.uploaded()
		kv := []any{"items_done", b.prog.ItemsDone, "bytes_read", b.prog.BytesRead, "bytes_uploaded", up}
		word := "documents"
		if f != nil {
			word = "objects"
			kv = append(kv, "listed", f.listed())
		}
		b.lg.Info(ctx, fmt.Sprintf("%d %s, %s read, %s uploaded.", b.prog.ItemsDone, word, bytesize.Human(b.prog.BytesRead), bytesize.Human(up)), kv...)
	}
	return nil
}

// pendingSave is a checkpoint or a progress save running in the background.
type pendingSave struct {
	done  chan saveResult
	parts int // a checkpoint's last part cut before it
}

type saveResult struct {
	upload json.RawMessage // a checkpoint's upload state
	err    error
}

// checkpoint takes a checkpoint and waits until it is saved.
func (b *backupRun) checkpoint(ctx context.Context) error {
	if err := b.collectSaves(true); err != nil {
		return err
	}
	if err := b.startCheckpoint(ctx); err != nil {
		return err
	}
	return b.collectSaves(true)
}

// startCheckpoint closes the compressed member and saves in the background,
// once every part cut so far is uploaded, everything needed to continue
// from here, fenced by the lease. No other checkpoint may be running.
func (b *backupRun) startCheckpoint(ctx context.Context) error {
	st, err := b.aw.Checkpoint()
	if err != nil {
		return fmt.Errorf("checkpoint the archive: %w", err)
	}
	secret, err := b.e.sealState(st.Age)
	if err != nil {
		return fmt.Errorf("checkpoint the archive: seal the encryption state: %w", err)
	}
	b.cp.NextPart = b.pw.next
	b.cp.Tail = b.pw.tail()
	b.cp.Archive = st
	b.prog.BytesWritten = b.aw.CompressedBytes()
	b.cp.Progress = b.prog
	cp, entries, token := b.cp.clone(), b.pending, b.r.token
	b.pending = nil
	uploaded := b.pw.mark()
	s := &pendingSave{done: make(chan saveResult, 1), parts: b.pw.next - 1}
	b.cpSave = s
	b.lastCP = b.e.now()
	go func() {
		m := <-uploaded
		if m.err != nil {
			s.done <- saveResult{err: m.err}
			return
		}
		cp.Upload = m.state
		data, err := json.Marshal(cp)
		if err == nil {
			err = b.recordProgress(cp.Progress, func(p store.Progress) error {
				return b.e.cat.SaveBackupCheckpoint(context.WithoutCancel(ctx), b.op.ID, token, p, data, cp.Tail, secret, entries)
			})
		}
		if err != nil {
			s.done <- saveResult{err: fmt.Errorf("save checkpoint: %w", err)}
			return
		}
		b.e.crashPoint("after-checkpoint")
		s.done <- saveResult{upload: m.state}
	}()
	return nil
}

// startProgressSave saves the progress in the background, fenced by the lease.
func (b *backupRun) startProgressSave(ctx context.Context) {
	s := &pendingSave{done: make(chan saveResult, 1)}
	b.progSave = s
	b.lastSave = b.e.now()
	progress, token := b.prog, b.r.token
	go func() {
		err := b.recordProgress(progress, func(p store.Progress) error {
			return b.e.cat.SaveProgress(context.WithoutCancel(ctx), store.KindBackup, b.op.ID, token, p)
		})
		if err != nil {
			err = fmt.Errorf("save progress: %w", err)
		}
		s.done <- saveResult{err: err}
	}()
}

// recordProgress runs write, one at a time, with the progress to show: p,
// or the one already shown when that is further along, so a checkpoint
// saved after a newer progress save does not set the progress back (the
// checkpoint itself keeps its own, exact, progress to continue from).
func (b *backupRun) recordProgress(p store.Progress, write func(store.Progress) error) error {
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	if p.ItemsDone < b.shown.ItemsDone || p.BytesRead < b.shown.BytesRead {
		p = b.shown
	}
	if err := write(p); err != nil {
		return err
	}
	b.shown = p
	return nil
}

// collectSaves takes the results of the background saves that finished,
// waiting for them all if wait is set. A lost lease stops the run.
func (b *backupRun) collectSaves(wait bool) error {
	if b.cpSave == nil && b.progSave == nil {
		return nil // the common case, once per document of a MongoDB collection
	}
	var first error
	for _, slot := range []**pendingSave{&b.cpSave, &b.progSave} {
		s := *slot
		if s == nil {
			continue
		}
		var res saveResult
		if wait {
			res = <-s.done
		} else {
			select {
			case res = <-s.done:
			default:
				continue
			}
		}
		*slot = nil
		switch {
		case res.err != nil:
			if first == nil {
				first = res.err
			}
		case slot == &b.cpSave:
			b.cp.Upload = res.upload
			b.cpParts = s.parts
		}
	}
	if errors.Is(first, store.ErrLeaseLost) {
		b.r.cancel(errLeaseLost)
		return errLeaseLost
	}
	return first
}

// clone copies cp deeply enough for a background save while the run goes
// on changing its own (the MongoDB position, whose _id bytes live in the
// driver's buffers).
func (cp backupCheckpoint) clone() backupCheckpoint {
	if cp.Mongo != nil {
		m := *cp.Mongo
		if m.Cur != nil {
			cur := *m.Cur
			cur.UpTo.Data = bytes.Clone(cur.UpTo.Data)
			cur.LastID.Data = bytes.Clone(cur.LastID.Data)
			cur.RewindFrom = nil
			m.Cur = &cur
		}
		cp.Mongo = &m
	}
	return cp
}

// stopAtBoundary saves a checkpoint when the run stops for a pause or a
// shutdown (a cancel needs none) and returns the reason.
func (b *backupRun) stopAtBoundary(reason error) error {
	if errors.Is(reason, errPauseRequested) || errors.Is(reason, context.Canceled) {
		b.cp.Clean = true // nothing is written after it
		if err := b.checkpoint(context.WithoutCancel(b.r.ctx)); err != nil {
			return fmt.Errorf("save the checkpoint before stopping: %w", err)
		}
	}
	return reason
}

// finish writes the manifest, completes the upload, writes the sidecar and
// records the result.
func (b *backupRun) finish(ctx context.Context, srcConn *registry.Info) error {
	// The entries of a checkpoint still being saved reach the catalog; those
	// written since go into the manifest from memory and into the catalog
	// with the final state (no checkpoint in between: a crash before the
	// final state continues from the last checkpoint, as anywhere else).
	if err := b.collectSaves(true); err != nil {
		return err
	}
	if err := b.checkBase(ctx); err != nil {
		return err
	}
	spool, err := os.CreateTemp("", "coffer-manifest-*.json")
	if err != nil {
		return fmt.Errorf("create the manifest spool file: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	started := b.op.CreatedAt
	if b.op.StartedAt != nil {
		started = *b.op.StartedAt
	}
	head := archive.ManifestHeader{
		CofferVersion: b.e.opt.Version,
		Source:        archive.ManifestSource{Type: srcConn.Type, Name: srcConn.Name},
		StartedAt:     started.UTC(),
		FinishedAt:    b.e.now(),
		Compression:   archive.Compression(b.cp.Compression),
	}
	if b.cp.Base != nil {
		head.Mode = archive.ModeIncremental
		head.Base = &archive.ManifestBase{BackupID: b.cp.Base.ID, Archive: b.cp.Base.Archive}
	}
	if err := archive.WriteManifest(spool, head, newEntryCursor(context.WithoutCancel(ctx), b.e.cat, b.op.ID).then(b.pending).next); err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	size, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sum, total, err := b.aw.Finish(spool, size)
	if err != nil {
		return fmt.Errorf("finish the archive: %w", err)
	}
	if err := b.pw.sync(); err != nil {
		return err
	}
	if err := b.space.beforeLastPart(total); err != nil {
		return err
	}
	b.cp.Final = &finalState{SHA256: sum, Size: total}
	b.cp.Upload = b.up.State()
	b.cp.NextPart = b.pw.next
	b.cp.Tail = b.pw.tail()
	b.prog.BytesWritten = total
	b.cp.Progress = b.prog
	data, err := json.Marshal(b.cp)
	if err != nil {
		return err
	}
	if err := b.e.cat.SaveBackupCheckpoint(context.WithoutCancel(ctx), b.op.ID, b.r.token, b.prog, data, b.cp.Tail, nil, b.pending); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			b.r.cancel(errLeaseLost)
			return errLeaseLost
		}
		return fmt.Errorf("save the final checkpoint: %w", err)
	}
	b.pending = nil
	b.e.crashPoint("finalize")
	return b.complete(ctx)
}

// complete makes the archive visible, writes its sidecar and marks the
// backup completed. It is safe to repeat after a crash.
func (b *backupRun) complete(ctx context.Context) error {
	fin := b.cp.Final
	name := b.cp.ArchiveName
	// A run that died after completing the upload left the archive in place:
	// only the sidecar and the catalog remain to be written.
	stored, err := b.dst.Size(b.upCtx, name)
	if err != nil || stored != fin.Size {
		if b.up == nil {
			up, err := b.dst.ResumeUpload(b.upCtx, b.cp.Upload)
			if err != nil {
				return fmt.Errorf("continue the upload of %s: %w", b.dst.Location(name), err)
			}
			b.up = up
		}
		stored, err = b.up.Complete(b.upCtx, b.cp.Tail)
		if err != nil {
			return fmt.Errorf("complete the archive at %s: %w", b.dst.Location(name), err)
		}
	}
	if stored != fin.Size {
		return fmt.Errorf("the destination holds %d bytes for %s but %d were written", stored, b.dst.Location(name), fin.Size)
	}
	b.e.crashPoint("completed-upload")
	if err := b.dst.PutFile(b.upCtx, name+".sha256", []byte(archive.SidecarLine(fin.SHA256, path.Base(name)))); err != nil {
		return fmt.Errorf("write the checksum file next to the archive: %w", err)
	}
	now := b.e.now()
	started := now
	if b.op.StartedAt != nil {
		started = *b.op.StartedAt
	}
	took := now.Sub(started)
	word := "objects"
	if b.cp.Mongo != nil {
		word = "documents"
	}
	what := fmt.Sprintf("%d %s", b.prog.ItemsDone, word)
	if b.cp.Base != nil {
		what = fmt.Sprintf("incremental on #%d, %d of %d objects new or changed", b.cp.Base.ID, b.cp.Changed, b.prog.ItemsDone)
	}
	b.lg.Info(ctx, fmt.Sprintf("Backup completed: %s, %s read, archive %s (%s) at %s in %s.",
		what, bytesize.Human(b.prog.BytesRead), bytesize.Human(fin.Size), fin.SHA256[:12],
		b.dst.Location(name), took.Round(time.Millisecond)),
		"items", b.prog.ItemsDone, "bytes_read", b.prog.BytesRead, "archive_size", fin.Size, "sha256", fin.SHA256)
	res := store.BackupResult{ArchivePath: name, ArchiveSize: fin.Size, SHA256: fin.SHA256, Progress: b.prog}
	if b.cp.Mongo == nil {
		changed := b.cp.Changed
		res.ChangedObjects = &changed
	}
	err = b.e.cat.CompleteBackup(context.WithoutCancel(ctx), b.op.ID, b.r.token, res)
	if errors.Is(err, store.ErrLeaseLost) {
		b.r.cancel(errLeaseLost)
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("record the completed backup: %w", err)
	}
	if b.e.afterBackup != nil {
		done := *b.op
		done.Status, done.ArchivePath, done.ArchiveSize, done.SHA256 = store.StatusCompleted, name, fin.Size, fin.SHA256
		done.Mode = store.ModeFull
		if b.cp.Base != nil {
			done.Mode, done.BaseBackupID = store.ModeIncremental, b.cp.Base.ID
		}
		b.e.afterBackup(context.WithoutCancel(ctx), &done)
	}
	return nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// pathSafe turns a connection name into one path segment.
func pathSafe(name string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-.")
	if s == "" {
		s = "connection"
	}
	return s
}
