package notify

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Operation kinds an event can be about.
const (
	KindBackup  = "backup"
	KindRestore = "restore"
	KindVerify  = "verify"
	KindPrune   = "prune"
)

// Event is one thing that happened, in the JSON shape of the webhook body
// (docs/notifications.md). The caller fills Name, OccurredAt and what the event is about
// (Plan, Operation, Connection, Detail); (*Sender).Prepare fills Message,
// URL and Operation.DurationS and redacts the free text.
type Event struct {
	// Name is the event ("backup.failed").
	Name EventName `json:"event"`
	// OccurredAt is when it happened.
	OccurredAt time.Time `json:"occurred_at"`
	// Message is the one line saying what happened; the e-mail subject.
	Message string `json:"message"`
	// URL is the page of the operation, plan or connection in coffer's UI
	// ("" when no public URL is configured).
	URL string `json:"url"`
	// Detail is a sentence adding what the rest does not say: why a run was
	// skipped, since when a plan is overdue, how much space is missing.
	Detail string `json:"detail,omitempty"`
	// Plan is the plan the event belongs to, if any.
	Plan *PlanRef `json:"plan,omitempty"`
	// Operation is the backup, restore, verification or prune the event is
	// about, if any.
	Operation *Operation `json:"operation,omitempty"`
	// Connection is the connection the event is about, if any
	// (connection.needs_reauth, storage.insufficient).
	Connection *ConnectionRef `json:"connection,omitempty"`
}

// PlanRef names a plan.
type PlanRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// ConnectionRef names a connection.
type ConnectionRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Operation describes the operation an event is about. Times and numbers
// that are not known are null in JSON.
type Operation struct {
	// Kind is KindBackup, KindRestore, KindVerify or KindPrune.
	Kind string `json:"kind"`
	// ID is the operation's id.
	ID int64 `json:"id"`
	// Status is the operation's status (completed, failed, ...).
	Status string `json:"status"`
	// Source and Destination are connection names: what was read and where
	// it went (for a restore: the backup's source and the restore target).
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// StartedAt and CompletedAt bound the run.
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	// DurationS is CompletedAt - StartedAt in seconds; Prepare computes it
	// when it is nil.
	DurationS *float64 `json:"duration_s"`
	// ArchiveSize is the archive's size in bytes (backups).
	ArchiveSize *int64 `json:"archive_size"`
	// Error is the error sentence of a failed operation ("" otherwise).
	Error string `json:"error"`
}

// maxErrorLen bounds the error sentence and detail in a message.
const maxErrorLen = 2000

// summary is the one line saying what happened.
func summary(ev Event) string {
	op := ev.Operation
	if op == nil {
		op = &Operation{}
	}
	plan := ""
	if ev.Plan != nil {
		plan = quote(ev.Plan.Name)
	}
	conn := ""
	if ev.Connection != nil {
		conn = quote(ev.Connection.Name)
	}
	var line string
	switch ev.Name {
	case EventBackupFailed, EventBackupCompleted:
		line = fmt.Sprintf("Backup #%d%s%s %s", op.ID, of(op.Source), to(" to ", op.Destination), outcome(ev.Name))
	case EventRestoreFailed, EventRestoreCompleted:
		line = fmt.Sprintf("Restore #%d%s%s %s", op.ID, of(op.Source), to(" into ", op.Destination), outcome(ev.Name))
	case EventVerifyFailed:
		line = fmt.Sprintf("Verification #%d%s%s failed", op.ID, of(op.Source), to(" on ", op.Destination))
	case EventPruneFailed:
		line = "Removing old backups failed"
		if plan != "" {
			line = "Removing old backups of plan " + plan + " failed"
		}
		plan = ""
	case EventPlanSkipped:
		line = "Plan " + plan + " skipped a run"
		plan = ""
	case EventPlanOverdue:
		line = "Plan " + plan + " is overdue"
		if ev.Detail == "" {
			line += ": no backup completed within its alert window"
		}
		plan = ""
	case EventPlanRecovered:
		line = "Plan " + plan + " is back on schedule: a backup completed"
		plan = ""
	case EventConnectionNeedsReauth:
		line = "Connection " + conn + " needs to be connected again"
	case EventStorageInsufficient:
		where := conn
		if where == "" && op.Destination != "" {
			where = quote(op.Destination)
		}
		line = "Not enough free space on " + where
		if where == "" {
			line = "Not enough free space on the destination"
		}
	case EventTest:
		line = "Test message from coffer: this channel works"
	default:
		line = "coffer: " + string(ev.Name)
	}
	if plan != "" {
		line = "Plan " + plan + ": " + lowerFirst(line)
	}
	if detailInSummary(ev) {
		line += ": " + truncate(strings.TrimSuffix(oneLine(ev.Detail), "."), 300)
	}
	return oneLine(line)
}

// detailInSummary reports whether the one line carries ev.Detail (events
// whose reason is their news), so the body does not repeat it.
func detailInSummary(ev Event) bool {
	switch ev.Name {
	case EventPlanSkipped, EventPlanOverdue, EventStorageInsufficient:
		return ev.Detail != ""
	}
	return false
}

func outcome(e EventName) string {
	if strings.HasSuffix(string(e), ".failed") {
		return "failed"
	}
	return "completed"
}

func of(name string) string {
	if name == "" {
		return ""
	}
	return " of " + quote(name)
}

func to(prep, name string) string {
	if name == "" {
		return ""
	}
	return prep + quote(name)
}

func quote(name string) string { return `"` + oneLine(name) + `"` }

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r >= 'A' && r <= 'Z' {
		return string(r+'a'-'A') + s[n:]
	}
	return s
}

// oneLine replaces line breaks and control characters with spaces, so a
// name cannot add a header to an e-mail or a line to a message.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// link returns the UI page of ev under publicURL, or "".
func link(publicURL string, ev Event) string {
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		return ""
	}
	if op := ev.Operation; op != nil && op.ID > 0 {
		switch op.Kind {
		case KindBackup:
			return fmt.Sprintf("%s/backups/%d", base, op.ID)
		case KindRestore:
			return fmt.Sprintf("%s/restores/%d", base, op.ID)
		case KindVerify:
			return fmt.Sprintf("%s/verifications/%d", base, op.ID)
		}
	}
	if ev.Plan != nil && ev.Plan.ID > 0 {
		return fmt.Sprintf("%s/plans/%d", base, ev.Plan.ID)
	}
	if ev.Connection != nil && ev.Connection.ID > 0 {
		return fmt.Sprintf("%s/connections/%d/edit", base, ev.Connection.ID)
	}
	return base + "/"
}

// Text is the plain-text message of a prepared event, for e-mail bodies and
// chat services: the one line, then plan, source, destination, duration,
// size, the error sentence and the link, each on its own line when known.
func Text(ev Event) string {
	var b strings.Builder
	b.WriteString(ev.Message)
	b.WriteString("\n")
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "\n%s: %s", name, value)
		}
	}
	if ev.Plan != nil {
		field("Plan", oneLine(ev.Plan.Name))
	}
	if ev.Connection != nil {
		field("Connection", oneLine(ev.Connection.Name))
	}
	if op := ev.Operation; op != nil {
		field("Source", oneLine(op.Source))
		field("Destination", oneLine(op.Destination))
		if op.StartedAt != nil {
			field("Started", op.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		if op.DurationS != nil {
			field("Duration", formatDuration(*op.DurationS))
		}
		if op.ArchiveSize != nil {
			field("Size", formatSize(*op.ArchiveSize))
		}
		field("Error", op.Error)
	} else {
		field("When", ev.OccurredAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if ev.Detail != "" && !detailInSummary(ev) {
		b.WriteString("\n\n")
		b.WriteString(ev.Detail)
	}
	if ev.URL != "" {
		b.WriteString("\n\n")
		b.WriteString(ev.URL)
	}
	b.WriteString("\n")
	return b.String()
}

// formatDuration writes seconds as "3m12s" (tenths below a minute).
func formatDuration(s float64) string {
	if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return ""
	}
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// formatSize writes a byte count in binary units ("1.2 GiB").
func formatSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", v, units[i], n)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
