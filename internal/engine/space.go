package engine

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/store"
)

// spaceFactor is how much smaller than the source an archive can plausibly
// be: a destination with less than source/spaceFactor free cannot hold the
// backup even if it compresses that well.
const spaceFactor = 4

// projectionMargin is how far the archive's projected size must exceed the
// free space before the backup stops on the projection alone: the first
// parts may compress worse than the rest (pictures before text), so only an
// archive on course to need several times the space stops early.
const projectionMargin = 2

// spaceGuard stops a backup whose archive cannot fit at its destination
// before the part that proves it is sent, using what is known without a
// second pass over the source: the size the last completed backup of the
// same source read, the bytes listed so far, and how well the stream
// compresses so far. It is made when a backup starts writing a new archive
// and consulted before every part upload (in the uploader's goroutine).
type spaceGuard struct {
	free     int64 // bytes free at the destination when the backup started
	estimate int64 // bytes the last completed backup of the source read (0: none)
	listed   atomic.Int64
	aw       atomic.Pointer[archive.Writer]
}

// noSpaceError is the failure of a backup whose archive cannot fit at its
// destination: the engine tells the notifier (storage.insufficient) besides
// failing the backup with the sentence.
type noSpaceError struct{ err *apperr.Error }

func (e noSpaceError) Error() string { return e.err.Error() }
func (e noSpaceError) Unwrap() error { return e.err }

func noSpace(format string, args ...any) error {
	return noSpaceError{apperr.New(apperr.Invalid, format, args...)}
}

// checkSpace reads the destination's free space and what the catalog knows
// of the source's size, fails when that alone shows the archive cannot fit,
// and otherwise arms the guard that watches the parts (b.space; nil when the
// destination does not know its free space).
func (b *backupRun) checkSpace(ctx context.Context, sourceID int64) error {
	free, err := b.dst.FreeBytes(ctx)
	if err != nil {
		return fmt.Errorf("read the destination's free space: %w", err)
	}
	if free < 0 {
		return nil // unknown or unlimited
	}
	g := &spaceGuard{free: free}
	var lastArchive int64
	last, _, err := b.e.cat.ListBackups(ctx, store.BackupFilter{SourceID: sourceID, Status: store.StatusCompleted}, store.Page{Page: 1, PerPage: 1})
	if err != nil {
		return fmt.Errorf("read the size of the last backup of the source: %w", err)
	}
	if len(last) > 0 {
		g.estimate, lastArchive = last[0].Progress.BytesRead, last[0].ArchiveSize
	}
	switch {
	case g.estimate/spaceFactor > free:
		return noSpace("the destination has %s free but the last backup of this source read %s; the archive cannot fit even if it compresses %d:1. Free space at the destination or choose another one",
			bytesize.Human(free), bytesize.Human(g.estimate), spaceFactor)
	case lastArchive > projectionMargin*free:
		return noSpace("the destination has %s free but the last archive of this source took %s; this one cannot be expected to fit. Free space at the destination or choose another one",
			bytesize.Human(free), bytesize.Human(lastArchive))
	case lastArchive > free:
		b.lg.Warn(ctx, fmt.Sprintf("The destination has %s free and the last archive of this source took %s; the backup fits only if the source shrank.", bytesize.Human(free), bytesize.Human(lastArchive)))
	case g.estimate > 0:
		b.lg.Info(ctx, fmt.Sprintf("The last backup of this source read %s into a %s archive; the destination has %s free.", bytesize.Human(g.estimate), bytesize.Human(lastArchive), bytesize.Human(free)))
	default:
		b.lg.Info(ctx, fmt.Sprintf("The destination has %s free; the backup stops early should the archive prove too large for it.", bytesize.Human(free)))
	}
	b.space = g
	return nil
}

// watch makes the guard judge every part pw is about to upload, from what
// aw has compressed so far. A nil guard watches nothing.
func (g *spaceGuard) watch(aw *archive.Writer, pw *partWriter) {
	if g == nil {
		return
	}
	g.aw.Store(aw)
	pw.check = g.beforePart
}

// sourceListed adds a page of the source's listing (bytes) to what is known
// of its size. A nil guard ignores it.
func (g *spaceGuard) sourceListed(bytes int64) {
	if g != nil {
		g.listed.Add(bytes)
	}
}

// beforeLastPart judges the whole archive, total bytes, before its last
// part is sent on completion. A nil guard lets everything through.
func (g *spaceGuard) beforeLastPart(total int64) error {
	if g == nil {
		return nil
	}
	return g.beforePart(total)
}

// beforePart is called before the part that ends the archive's first end
// bytes is uploaded. It returns why the archive cannot fit, or nil.
func (g *spaceGuard) beforePart(end int64) error {
	source := max(g.listed.Load(), g.estimate)
	if source/spaceFactor > g.free {
		return noSpace("the destination has %s free but the source holds at least %s; the archive cannot fit even if it compresses %d:1. Free space at the destination, then resume the backup, or choose another destination",
			bytesize.Human(g.free), bytesize.Human(source), spaceFactor)
	}
	if end > g.free {
		return noSpace("the archive has grown to %s and cannot fit the %s free at the destination; nothing past that was sent. Free space at the destination, then resume the backup, or choose another destination",
			bytesize.Human(end), bytesize.Human(g.free))
	}
	aw := g.aw.Load()
	if aw == nil {
		return nil
	}
	in, out := aw.InputBytes(), aw.CompressedBytes()
	if in <= 0 || out <= 0 || source <= in {
		return nil
	}
	projected := int64(float64(source) * float64(out) / float64(in))
	if projected > projectionMargin*g.free {
		return noSpace("the source holds at least %s and compresses %.1f:1 so far, so the archive is on course to need about %s and cannot fit the %s free at the destination; nothing more was sent. Free space at the destination, then resume the backup, or choose another destination",
			bytesize.Human(source), float64(in)/float64(out), bytesize.Human(projected), bytesize.Human(g.free))
	}
	return nil
}
