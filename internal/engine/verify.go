package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/joblog"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/verify"
)

// A verification reads a backup's archive from its destination and checks
// it (internal/verify) without writing anything. It has no checkpoint: a
// verification a crash or a stop interrupts reads the archive again from
// its start on the next worker. What it found, problems included, is its
// result; an archive with problems, or one that cannot be read, ends it
// failed, which the backup shows and verify.failed tells.

// StartVerify records a verification of backup id with its job. planID is
// the plan that asks for it (0: a user). A backup that is not completed or
// whose archive was deleted is refused; one that is being verified answers
// that verification (a second would read the same bytes at the same time).
func (e *Engine) StartVerify(ctx context.Context, actor Actor, backupID, planID int64) (*store.VerifyOperation, bool, error) {
	b, err := e.cat.GetBackup(ctx, backupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, apperr.Wrap(apperr.NotFound, err, "Backup %d does not exist.", backupID)
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case b.Status != store.StatusCompleted:
		return nil, false, apperr.New(apperr.Conflict, "Backup %d is %s; only a completed backup can be verified.", b.ID, b.Status)
	case b.PrunedAt != nil:
		return nil, false, apperr.New(apperr.Conflict, "Backup %d cannot be verified: its archive was deleted (%s) on %s.",
			b.ID, b.PruneReason, b.PrunedAt.UTC().Format(time.DateOnly))
	}
	if cur, err := e.cat.ActiveVerification(ctx, b.ID); err == nil {
		return cur, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	op := &store.VerifyOperation{Operation: store.Operation{Status: store.StatusPending}, BackupOperationID: b.ID, PlanID: planID}
	err = e.cat.InTx(ctx, func(tx *sql.Tx) error {
		if err := e.cat.CreateVerification(ctx, tx, op); err != nil {
			return err
		}
		return e.q.InsertOperationTx(ctx, tx, store.KindVerify, op.ID)
	})
	if err != nil {
		return nil, false, fmt.Errorf("record the verification: %w", err)
	}
	joblog.New(e.cat, store.KindVerify, op.ID, e.log).Info(ctx,
		fmt.Sprintf("Verification of backup %d (%s) queued by %s.", b.ID, b.ArchivePath, actor.Email))
	return op, true, nil
}

// openVerify prepares a worker's run of verification r.id.
func openVerify(e *Engine, r *run, lg *joblog.Logger) (worker, error) {
	op, err := e.cat.GetVerification(r.ctx, r.id)
	if err != nil {
		return nil, err
	}
	return &verifyRun{e: e, r: r, op: op, lg: lg}, nil
}

// verifyRun is one worker's pass over a verification.
type verifyRun struct {
	e        *Engine
	r        *run
	op       *store.VerifyOperation
	lg       *joblog.Logger
	prog     store.Progress
	lastSave time.Time
	lastLog  time.Time
}

func (v *verifyRun) progress() store.Progress { return v.prog }

func (v *verifyRun) cancelled(context.Context) string {
	return fmt.Sprintf("Verification cancelled after %d entries; it wrote nothing.", v.prog.ItemsDone)
}

// run checks the archive and records the result: completed when it
// passed, failed with its problems when not. It returns an error only when
// the run stops (cancel, shutdown, lost lease) or the end cannot be
// recorded; a destination that cannot be read ends it failed, too.
func (v *verifyRun) run() error {
	e, ctx := v.e, v.r.ctx
	res, err := v.check(ctx)
	if reason := v.r.stopReason(); reason != nil {
		return reason
	}
	if err != nil {
		res = &verify.Result{}
		res.Add("", "%s", userMessage(err))
	}
	end := store.RunEnd{Status: store.StatusCompleted, Progress: &v.prog}
	if !res.OK() {
		// An archive deleted (pruned) while it was read is not a failure of
		// the backup: the verification ends cancelled and tells no one.
		if b, err := e.cat.GetBackup(ctx, v.op.BackupOperationID); err == nil && b.PrunedAt != nil {
			v.lg.Warn(ctx, "The archive was deleted while it was being verified; the verification stops without a verdict.")
			bg, cancel := v.r.bg()
			defer cancel()
			return e.cat.FinishRun(bg, store.KindVerify, v.op.ID, v.r.token, store.RunEnd{Status: store.StatusCancelled, Progress: &v.prog})
		}
	}
	if !res.OK() {
		end.Status, end.ErrorMessage = store.StatusFailed, res.Summary()
		for i, p := range res.Problems {
			if i == 20 {
				v.lg.Error(ctx, fmt.Sprintf("… and %d more problems (the result lists %d).", res.ProblemCount-20, len(res.Problems)))
				break
			}
			where := ""
			if p.Entry != "" {
				where = p.Entry + ": "
			}
			v.lg.Error(ctx, where+p.Message)
		}
	}
	v.lg.Info(ctx, res.Summary(), "entries_checked", res.EntriesChecked, "bytes_read", res.BytesRead, "problems", res.ProblemCount)
	data, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode the verification result: %w", err)
	}
	bg, cancel := v.r.bg()
	defer cancel()
	err = e.cat.FinishVerification(bg, v.op.ID, v.r.token, end, data)
	if errors.Is(err, store.ErrLeaseLost) {
		v.r.cancel(errLeaseLost)
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("record the end of the verification: %w", err)
	}
	return nil
}

// check reads and checks the backup's archive.
func (v *verifyRun) check(ctx context.Context) (*verify.Result, error) {
	e := v.e
	b, err := e.cat.GetBackup(ctx, v.op.BackupOperationID)
	if err != nil {
		return nil, fmt.Errorf("load backup %d: %w", v.op.BackupOperationID, err)
	}
	if b.Status != store.StatusCompleted || b.PrunedAt != nil {
		return nil, apperr.New(apperr.Conflict, "Backup %d is %s and has no archive to verify.", b.ID, prunedOr(b))
	}
	_, dst, err := e.openDestination(ctx, b.DestinationConnectionID)
	if err != nil {
		return nil, err
	}
	if b.Mode != store.ModeIncremental {
		return v.checkArchive(ctx, dst, b, nil, 0)
	}
	// An incremental backup: its own archive, and every archive of its
	// chain that holds objects of it, each against its own catalog record
	// and against what this backup says it holds.
	chain, err := e.chainOf(ctx, b)
	if err != nil {
		if errors.Is(err, errChainBroken) {
			res := &verify.Result{}
			res.Add("", "%s", err.Error())
			return res, nil
		}
		return nil, err
	}
	if len(chain) == 0 || chain[len(chain)-1].backup.ID != b.ID {
		chain = append(chain, chainArchive{backup: b})
	}
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = fmt.Sprintf("#%d", c.backup.ID)
	}
	v.lg.Info(ctx, fmt.Sprintf("Backup %d is incremental: verifying the %d archives of its chain that hold its objects (%s), and that each holds what it lists there.",
		b.ID, len(chain), strings.Join(names, ", ")))
	total := &verify.Result{ContentsChecked: true}
	for _, c := range chain { // each checkArchive counts its progress on from the last
		res, err := v.checkArchive(ctx, dst, c.backup, b, c.need)
		if err != nil {
			return nil, err
		}
		if c.backup.ID != b.ID {
			for i := range res.Problems {
				res.Problems[i].Message = fmt.Sprintf("In backup #%d (%s): %s", c.backup.ID, c.backup.ArchivePath, res.Problems[i].Message)
			}
		} else {
			total.SHA256 = res.SHA256
		}
		total.Merge(res.ProblemList)
		total.EntriesChecked += res.EntriesChecked
		total.BytesRead += res.BytesRead
		total.EntryBytes += res.EntryBytes
		total.Documents += res.Documents
		total.ContentsChecked = total.ContentsChecked && res.ContentsChecked
	}
	if total.Problems == nil {
		total.Problems = []archive.Problem{}
	}
	return total, nil
}

// checkArchive reads and checks the archive of backup b. With point set
// (an incremental backup whose chain b belongs to, need of whose entries
// b holds) it also checks that b's archive holds each of them.
func (v *verifyRun) checkArchive(ctx context.Context, dst connector.Destination, b, point *store.BackupOperation, need int64) (*verify.Result, error) {
	e := v.e
	read0, entries0 := v.prog.BytesRead, v.prog.ItemsDone
	exp := newEntryCursor(ctx, e.cat, b.ID).heldOnly()
	var needed *needCursor
	var chainProblems archive.ProblemList
	expected := exp.next
	if point != nil && need > 0 {
		needed = newNeedCursor(ctx, e.cat, point, chainArchive{backup: b, need: need})
		expected = func() (archive.ManifestEntry, error) {
			me, err := exp.next()
			if err == nil && needed != nil {
				if _, merr := needed.match(me); merr != nil {
					chainProblems.Add(me.Name, "%s", merr.Error())
					needed = nil
				}
			}
			return me, err
		}
	}
	in := verify.Input{Dest: dst, Name: b.ArchivePath, WantSHA256: b.SHA256,
		Expected: expected, Stop: v.r.stopReason,
		Progress: func(bytesRead, entries int64) {
			v.prog.BytesRead, v.prog.ItemsDone = read0+bytesRead, entries0+entries
			v.tick(ctx)
		}}
	if n := backupItems(b); n > 0 && point == nil {
		v.prog.ItemsTotal = &n
	}
	if keyID := encryptionKeyOf(b); keyID > 0 {
		in.Encrypted = true
		in.Identities = v.keptIdentities(ctx, keyID)
	}
	what := "Reading"
	if in.Encrypted && len(in.Identities) == 0 {
		what = "The archive is encrypted and coffer keeps no identity of its key: checking only the stored bytes' checksum. Reading"
	}
	v.lg.Info(ctx, fmt.Sprintf("%s %s (%s) to verify backup %d.", what, dst.Location(b.ArchivePath), bytesize.Human(b.ArchiveSize), b.ID))
	res, err := verify.Archive(ctx, in)
	if err != nil {
		return nil, err
	}
	if needed != nil && res.ContentsChecked {
		if err := needed.missing(); errors.Is(err, errChainBroken) {
			chainProblems.Add("", "%s", err.Error())
		} else if err != nil {
			return nil, err
		}
	}
	res.Merge(chainProblems)
	v.prog.BytesRead, v.prog.ItemsDone = read0+res.BytesRead, entries0+res.EntriesChecked
	return res, nil
}

// keptIdentities are the identities coffer keeps of key id, none when it
// keeps none (the verification then checks the stored bytes only).
func (v *verifyRun) keptIdentities(ctx context.Context, keyID int64) []age.Identity {
	if v.e.keys == nil {
		return nil
	}
	ids, err := v.e.keys.Identities(ctx, keyID, Unlock{})
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			v.lg.Warn(ctx, "Could not read the kept identity of the archive's key: "+userMessage(err))
		}
		return nil
	}
	return ids
}

// tick saves progress and logs every few seconds.
func (v *verifyRun) tick(ctx context.Context) {
	now := v.e.now()
	if now.Sub(v.lastSave) >= v.e.opt.ProgressEvery {
		v.lastSave = now
		err := v.e.cat.SaveProgress(context.WithoutCancel(ctx), store.KindVerify, v.op.ID, v.r.token, v.prog)
		if errors.Is(err, store.ErrLeaseLost) {
			v.r.cancel(errLeaseLost)
		} else if err != nil {
			v.e.log.Warn("save verification progress", "id", v.op.ID, "err", err)
		}
	}
	if now.Sub(v.lastLog) >= 5*time.Second {
		v.lastLog = now
		v.lg.Info(ctx, fmt.Sprintf("%d entries checked, %s read.", v.prog.ItemsDone, bytesize.Human(v.prog.BytesRead)))
	}
}

func prunedOr(b *store.BackupOperation) string {
	if b.PrunedAt != nil {
		return "pruned"
	}
	return b.Status
}
