package notify

import (
	"fmt"
	"slices"
	"strings"
)

// EventName names what happened; channels subscribe to event names.
type EventName string

// The events coffer notifies about (docs/notifications.md).
const (
	// EventBackupFailed: a backup ended in status failed.
	EventBackupFailed EventName = "backup.failed"
	// EventBackupCompleted: a backup completed.
	EventBackupCompleted EventName = "backup.completed"
	// EventRestoreFailed: a restore ended in status failed.
	EventRestoreFailed EventName = "restore.failed"
	// EventRestoreCompleted: a restore completed.
	EventRestoreCompleted EventName = "restore.completed"
	// EventPlanSkipped: a plan's due run was skipped (its previous run was
	// still going, or it could not start).
	EventPlanSkipped EventName = "plan.skipped"
	// EventPlanOverdue: a plan had no successful run within its alert_after.
	EventPlanOverdue EventName = "plan.overdue"
	// EventPlanRecovered: an overdue plan completed a backup again.
	EventPlanRecovered EventName = "plan.recovered"
	// EventPruneFailed: removing a plan's old backups failed.
	EventPruneFailed EventName = "prune.failed"
	// EventVerifyFailed: verifying an archive failed or found problems.
	EventVerifyFailed EventName = "verify.failed"
	// EventConnectionNeedsReauth: a connection's grant was revoked or expired
	// (Google Drive) and a person must connect it again.
	EventConnectionNeedsReauth EventName = "connection.needs_reauth"
	// EventStorageInsufficient: a destination has too little free space.
	EventStorageInsufficient EventName = "storage.insufficient"

	// EventTest is the event of a test message (POST
	// /notification-channels/{id}/test). It cannot be subscribed to.
	EventTest EventName = "test"
)

// allEvents is every event a channel can subscribe to, in display order.
var allEvents = []EventName{
	EventBackupFailed, EventBackupCompleted,
	EventRestoreFailed, EventRestoreCompleted,
	EventPlanSkipped, EventPlanOverdue, EventPlanRecovered,
	EventPruneFailed, EventVerifyFailed,
	EventConnectionNeedsReauth, EventStorageInsufficient,
}

// defaultEvents is the subscription of a channel created without events:
// everything that needs a person (every failure, a plan that went overdue
// and its recovery, a connection to authorise again, a full destination),
// and none of the routine news (completed runs, skipped runs).
var defaultEvents = []EventName{
	EventBackupFailed, EventRestoreFailed, EventPruneFailed, EventVerifyFailed,
	EventStorageInsufficient,
	EventPlanOverdue, EventPlanRecovered,
	EventConnectionNeedsReauth,
}

// Events returns every event a channel can subscribe to.
func Events() []EventName { return slices.Clone(allEvents) }

// DefaultEvents returns the subscription of a channel created without an
// events list.
func DefaultEvents() []EventName { return slices.Clone(defaultEvents) }

// Known reports whether e is an event a channel can subscribe to.
func (e EventName) Known() bool { return slices.Contains(allEvents, e) }

// ParseEvents validates a channel's events list as sent by a client. A nil
// list (the member left out) is the default subscription; an empty list is
// refused, as are unknown names. Duplicates are dropped and the result is in
// display order. Failures are FieldErrors keyed "events".
func ParseEvents(names []string) ([]EventName, error) {
	if names == nil {
		return DefaultEvents(), nil
	}
	if len(names) == 0 {
		return nil, FieldErrors{"events": "must name at least one event; use " + eventList()}
	}
	seen := map[EventName]bool{}
	var unknown []string
	for _, n := range names {
		e := EventName(strings.TrimSpace(n))
		if !e.Known() {
			unknown = append(unknown, fmt.Sprintf("%q", n))
			continue
		}
		seen[e] = true
	}
	if len(unknown) > 0 {
		noun := "is not an event"
		if len(unknown) > 1 {
			noun = "are not events"
		}
		return nil, FieldErrors{"events": fmt.Sprintf("%s %s; use %s", strings.Join(unknown, ", "), noun, eventList())}
	}
	out := make([]EventName, 0, len(seen))
	for _, e := range allEvents {
		if seen[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

func eventList() string {
	parts := make([]string, len(allEvents))
	for i, e := range allEvents {
		parts[i] = string(e)
	}
	return strings.Join(parts, ", ")
}
