package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/object"
	"github.com/coffer-backup/coffer/internal/schedule"
	"github.com/coffer-backup/coffer/internal/store"
)

// Incremental S3 backups (docs/incremental.md). An incremental backup
// lists the bucket like a full one, but reads only the objects that are new
// or changed since its base (the previous backup of the same source,
// destination and plan): size, ETag or Last-Modified differ from the base's
// record. Every other key goes into its manifest as a reference to the
// archive that holds its bytes ("in"), so each backup's catalog entries and
// manifest list the whole bucket as it was, and a restore of any point
// reads each archive of its chain at most once.

// chainBase is the base of an incremental backup, as its checkpoint keeps it.
type chainBase struct {
	ID      int64  `json:"id"`
	Archive string `json:"archive"`
}

// chooseBase decides what an incremental backup is built on: the previous
// completed backup of the same source, destination and plan, when it and
// every backup of its chain are still whole. It returns nil and the reason,
// a phrase for the log, when the backup must be a full one instead.
func (b *backupRun) chooseBase(ctx context.Context, opts BackupOptions) (*store.BackupOperation, string, error) {
	e, op := b.e, b.op
	prev, err := e.cat.PreviousBackup(ctx, op.SourceConnectionID, op.DestinationConnectionID, op.PlanID, op.ID)
	if errors.Is(err, store.ErrNotFound) {
		if op.PlanID != 0 {
			return nil, "the plan has no earlier completed backup to build on", nil
		}
		return nil, "there is no earlier completed backup of this source to this destination (outside plans) to build on", nil
	}
	if err != nil {
		return nil, "", err
	}
	if k := encryptionKeyOf(prev); k != opts.EncryptionKeyID {
		switch {
		case k == 0:
			return nil, fmt.Sprintf("the previous backup #%d is not encrypted and this one is", prev.ID), nil
		case opts.EncryptionKeyID == 0:
			return nil, fmt.Sprintf("the previous backup #%d is encrypted and this one is not", prev.ID), nil
		default:
			return nil, fmt.Sprintf("the previous backup #%d is encrypted with another key", prev.ID), nil
		}
	}
	// Walk the chain down to its full backup: each link must still be there.
	incrementals := 0
	link := prev
	for {
		switch {
		case link.PrunedAt != nil:
			return nil, fmt.Sprintf("backup #%d of the chain was pruned", link.ID), nil
		case link.Status != store.StatusCompleted:
			return nil, fmt.Sprintf("backup #%d of the chain is %s", link.ID, link.Status), nil
		case link.LastVerifyStatus == store.VerifyFailed:
			return nil, fmt.Sprintf("backup #%d of the chain failed its last verification", link.ID), nil
		}
		if _, err := b.dst.Size(ctx, link.ArchivePath); errors.Is(err, connector.ErrNotExist) {
			return nil, fmt.Sprintf("the archive of backup #%d (%s) is missing at the destination", link.ID, link.ArchivePath), nil
		} else if err != nil {
			return nil, "", fmt.Errorf("check the archive of backup #%d: %w", link.ID, err)
		}
		if link.Mode != store.ModeIncremental {
			break
		}
		incrementals++
		if link.BaseBackupID == 0 || incrementals > maxChain {
			return nil, fmt.Sprintf("the chain of backup #%d cannot be followed to its full backup", prev.ID), nil
		}
		next, err := e.cat.GetBackup(ctx, link.BaseBackupID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Sprintf("backup #%d, the base of #%d, no longer exists", link.BaseBackupID, link.ID), nil
		}
		if err != nil {
			return nil, "", err
		}
		link = next
	}
	if op.PlanID != 0 {
		why, err := b.fullDue(ctx, link, incrementals)
		if err != nil || why != "" {
			return nil, why, err
		}
	}
	return prev, "", nil
}

// checkBase makes sure the base of an incremental backup is still kept
// as the backup ends: one pruned while it ran would leave it a point that
// cannot be restored.
func (b *backupRun) checkBase(ctx context.Context) error {
	if b.cp.Base == nil {
		return nil
	}
	base, err := b.e.cat.GetBackup(ctx, b.cp.Base.ID)
	if err != nil {
		return fmt.Errorf("check the base of the incremental backup: %w", err)
	}
	missing := base.PrunedAt != nil
	if !missing {
		_, err := b.dst.Size(ctx, base.ArchivePath)
		if err != nil && !errors.Is(err, connector.ErrNotExist) {
			return fmt.Errorf("check the archive of base backup #%d: %w", base.ID, err)
		}
		missing = err != nil
	}
	if missing {
		return apperr.New(apperr.Conflict, "The base of this incremental backup, backup #%d, was deleted while it ran, so this archive could not be restored; run the backup again (it will be a full one).", base.ID)
	}
	return nil
}

// maxChain bounds the incrementals a chain is followed through.
const maxChain = 10_000

// fullDue says why the plan's full_every asks for a full backup now ("" when
// it does not): after full (the chain's full backup) came incrementals.
func (b *backupRun) fullDue(ctx context.Context, full *store.BackupOperation, incrementals int) (string, error) {
	p, err := b.e.cat.GetPlan(ctx, b.op.PlanID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	every := strings.TrimSpace(p.FullEvery)
	if every == "" {
		every = store.DefaultFullEvery
	}
	if n, err := strconv.Atoi(every); err == nil {
		if incrementals >= n {
			return fmt.Sprintf("the plan's full_every (%d) came: the chain from #%d already has %d incrementals", n, full.ID, incrementals), nil
		}
		return "", nil
	}
	sched, err := schedule.Parse(every, p.Timezone, 0)
	if err != nil {
		return fmt.Sprintf("the plan's full_every %q cannot be read (%v)", every, err), nil
	}
	since := full.CreatedAt
	if full.StartedAt != nil {
		since = *full.StartedAt
	}
	if next := sched.Next(since); !next.IsZero() && !b.e.now().Before(next) {
		return fmt.Sprintf("the plan's full_every (%s) came at %s, after the chain's full backup #%d", every, next.UTC().Format(time.RFC3339), full.ID), nil
	}
	return "", nil
}

// ParseFullEvery checks a plan's full_every: a whole number of
// incrementals (1 to 1000) or a cron expression in timezone. It returns a
// phrase saying what is wrong, "" when it is valid.
func ParseFullEvery(s, timezone string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 1000 {
			return "must be a number of incrementals from 1 to 1000, or a cron expression"
		}
		return ""
	}
	if strings.HasPrefix(s, "@every") {
		return "must be a number of incrementals or a cron expression (not @every)"
	}
	if _, err := schedule.Parse(s, timezone, 0); err != nil {
		return "must be a number of incrementals or a cron expression: " + err.Error()
	}
	return ""
}

// baseIndex tells which listed objects are unchanged since the base of an
// incremental backup. It walks the base's catalog entries (the whole bucket
// as the base saw it, in key order) in step with the listing.
type baseIndex struct {
	base    chainBase
	cur     *entryCursor
	next    *archive.ManifestEntry
	done    bool
	deleted int64 // base keys the listing went past (deleted since)
	same    int64
}

func newBaseIndex(ctx context.Context, cat store.Catalog, base chainBase) *baseIndex {
	return &baseIndex{base: base, cur: newEntryCursor(ctx, cat, base.ID)}
}

// unchanged returns the manifest entry of o pointing at the archive that
// holds its bytes when o is unchanged since the base, nil when it must be
// read. Calls come in ascending key order.
func (x *baseIndex) unchanged(o object.Object) (*archive.ManifestEntry, error) {
	for {
		if x.next == nil && !x.done {
			me, err := x.cur.next()
			if errors.Is(err, io.EOF) {
				x.done = true
			} else if err != nil {
				return nil, fmt.Errorf("read the entries of base backup #%d: %w", x.base.ID, err)
			} else {
				x.next = &me
			}
		}
		if x.next == nil {
			return nil, nil // a key the base did not have
		}
		switch {
		case x.next.Key < o.Key:
			x.next = nil
			x.deleted++
			continue
		case x.next.Key > o.Key:
			return nil, nil
		}
		e := *x.next
		x.next = nil
		if !sameObject(&e, o) {
			return nil, nil
		}
		if e.Held() {
			e.In, e.InBackupID = x.base.Archive, x.base.ID
		}
		x.same++
		return &e, nil
	}
}

// sameObject reports whether the listed object o is the one entry e
// records: same size, ETag and Last-Modified (to the second: a listing
// and a GET may differ below it). An entry without them is never the same.
func sameObject(e *archive.ManifestEntry, o object.Object) bool {
	if e.Metadata == nil || e.Metadata.ETag == "" || o.ETag == "" || e.Size != o.Size {
		return false
	}
	if e.Metadata.LastModified.IsZero() || o.LastModified.IsZero() {
		return false
	}
	return e.Metadata.ETag == o.ETag &&
		e.Metadata.LastModified.Truncate(time.Second).Equal(o.LastModified.Truncate(time.Second))
}

// chainArchive is one archive a restore or a verification of a point
// reads: its backup, and how many of the point's entries it holds.
type chainArchive struct {
	backup *store.BackupOperation
	need   int64
}

// chainOf returns the archives that hold the entries of point, oldest
// first (only point itself for a full backup), each once. An incremental
// point's entries name, by path at the same destination, the archive that
// holds them; each must be a completed backup whose archive is kept.
func (e *Engine) chainOf(ctx context.Context, point *store.BackupOperation) ([]chainArchive, error) {
	if point.Mode != store.ModeIncremental {
		return []chainArchive{{backup: point, need: backupItems(point)}}, nil
	}
	counts, held, err := heldWhere(ctx, e.cat, point.ID)
	if err != nil {
		return nil, err
	}
	var out []chainArchive
	for path, n := range counts {
		b, err := e.cat.BackupByArchive(ctx, point.DestinationConnectionID, path)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("backup #%d needs the archive %s for %d objects, but the catalog has no backup of it at this destination: %w", point.ID, path, n, errChainBroken)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case b.PrunedAt != nil:
			return nil, fmt.Errorf("backup #%d needs backup #%d (%s) for %d objects, but it was pruned: %w", point.ID, b.ID, path, n, errChainBroken)
		case b.Status != store.StatusCompleted:
			return nil, fmt.Errorf("backup #%d needs backup #%d (%s), which is %s: %w", point.ID, b.ID, path, b.Status, errChainBroken)
		}
		out = append(out, chainArchive{backup: b, need: n})
	}
	slices.SortFunc(out, func(a, b chainArchive) int {
		if c := a.backup.CompletedAt.Compare(*b.backup.CompletedAt); c != 0 {
			return c
		}
		return int(a.backup.ID - b.backup.ID)
	})
	if held > 0 {
		out = append(out, chainArchive{backup: point, need: held})
	}
	return out, nil
}

// heldWhere counts the entries of backup id by the earlier archive that
// holds them ("in", by path), and those its own archive holds.
func heldWhere(ctx context.Context, cat store.Catalog, id int64) (elsewhere map[string]int64, held int64, err error) {
	elsewhere = map[string]int64{}
	err = EachEntry(ctx, cat, id, func(me archive.ManifestEntry) error {
		if me.Held() {
			held++
		} else {
			elsewhere[me.In]++
		}
		return nil
	})
	return elsewhere, held, err
}

// ChainArchives are the paths of the earlier archives that hold entries
// of backup id (an incremental one), in name order: for each source, oldest
// first.
func ChainArchives(ctx context.Context, cat store.Catalog, id int64) ([]string, error) {
	elsewhere, _, err := heldWhere(ctx, cat, id)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(elsewhere)), nil
}

// errChainBroken marks a point whose chain lacks an archive.
var errChainBroken = errors.New("the chain of this incremental backup is broken")

// needCursor walks the entries of a point that one archive of its chain
// holds, in key order, in step with that archive's entries.
type needCursor struct {
	point   int64
	archive string // the holder's archive path; "" for the point's own entries
	holder  int64
	cur     *entryCursor
	next    *archive.ManifestEntry
	left    int64
}

func newNeedCursor(ctx context.Context, cat store.Catalog, point *store.BackupOperation, holder chainArchive) *needCursor {
	c := &needCursor{point: point.ID, holder: holder.backup.ID, cur: newEntryCursor(ctx, cat, point.ID), left: holder.need}
	if holder.backup.ID != point.ID {
		c.archive = holder.backup.ArchivePath
	}
	return c
}

// peek returns the next entry of the point that the holder holds (nil after the last).
func (c *needCursor) peek() (*archive.ManifestEntry, error) {
	for c.next == nil && c.left > 0 {
		me, err := c.cur.next()
		if errors.Is(err, io.EOF) {
			c.left = 0
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if me.In == c.archive {
			c.next = &me
		}
	}
	return c.next, nil
}

// match reports whether the holder's entry want is one the point needs
// from it. A needed key the holder went past without holding it, or one
// it holds with other bytes than the point records, breaks the chain.
func (c *needCursor) match(want archive.ManifestEntry) (bool, error) {
	n, err := c.peek()
	if err != nil || n == nil {
		return false, err
	}
	switch {
	case n.Key < want.Key:
		return false, fmt.Errorf("backup #%d lists object %q in backup #%d, whose archive does not hold it: %w", c.point, n.Key, c.holder, errChainBroken)
	case n.Key > want.Key:
		return false, nil
	}
	c.next = nil
	c.left--
	if n.SHA256 != want.SHA256 || n.Size != want.Size {
		return false, fmt.Errorf("backup #%d records other bytes for object %q than backup #%d holds: %w", c.point, n.Key, c.holder, errChainBroken)
	}
	return true, nil
}

// missing is the error of a holder whose archive ended before an entry
// the point needs from it (nil when it held them all).
func (c *needCursor) missing() error {
	n, err := c.peek()
	if err != nil || n == nil {
		return err
	}
	return fmt.Errorf("backup #%d lists object %q in backup #%d, whose archive does not hold it: %w", c.point, n.Key, c.holder, errChainBroken)
}
