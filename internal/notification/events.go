package notification

import (
	"context"
	"fmt"

	"github.com/coffer-backup/coffer/internal/notify"
	"github.com/coffer-backup/coffer/internal/store"
)

// OperationEnded sends backup.failed, backup.completed, restore.failed,
// restore.completed or verify.failed for operation id of kind once it has
// ended (the engine calls it); other ends (paused, cancelled, a passed
// verification) send nothing.
func (s *Service) OperationEnded(ctx context.Context, kind string, id int64) {
	ev, planID, err := s.operationEvent(ctx, kind, id)
	if err != nil {
		s.log.Error("describe an ended operation for notifications", "operation", kind, "id", id, "err", err)
		return
	}
	if ev != nil {
		s.Notify(ctx, *ev, planID)
	}
}

func (s *Service) operationEvent(ctx context.Context, kind string, id int64) (*notify.Event, int64, error) {
	var op store.Operation
	var src, dst, planID int64
	var size *int64
	switch kind {
	case store.KindBackup:
		b, err := s.cat.GetBackup(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		op, src, dst, planID = b.Operation, b.SourceConnectionID, b.DestinationConnectionID, b.PlanID
		if b.Status == store.StatusCompleted {
			size = &b.ArchiveSize
		}
	case store.KindRestore:
		r, err := s.cat.GetRestore(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		b, err := s.cat.GetBackup(ctx, r.BackupOperationID)
		if err != nil {
			return nil, 0, err
		}
		op, src, dst = r.Operation, b.SourceConnectionID, r.DestinationConnectionID
	case store.KindVerify:
		v, err := s.cat.GetVerification(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		b, err := s.cat.GetBackup(ctx, v.BackupOperationID)
		if err != nil {
			return nil, 0, err
		}
		op, src, dst, planID = v.Operation, b.SourceConnectionID, b.DestinationConnectionID, b.PlanID
		if v.PlanID != 0 {
			planID = v.PlanID
		}
	default:
		return nil, 0, fmt.Errorf("no events for operations of kind %q", kind)
	}
	var name notify.EventName
	switch {
	case kind == store.KindBackup && op.Status == store.StatusFailed:
		name = notify.EventBackupFailed
	case kind == store.KindBackup && op.Status == store.StatusCompleted:
		name = notify.EventBackupCompleted
	case kind == store.KindRestore && op.Status == store.StatusFailed:
		name = notify.EventRestoreFailed
	case kind == store.KindRestore && op.Status == store.StatusCompleted:
		name = notify.EventRestoreCompleted
	case kind == store.KindVerify && op.Status == store.StatusFailed:
		name = notify.EventVerifyFailed
	default:
		return nil, 0, nil
	}
	ev := &notify.Event{
		Name: name,
		Operation: &notify.Operation{
			Kind: kind, ID: id, Status: op.Status,
			Source: s.connectionName(ctx, src), Destination: s.connectionName(ctx, dst),
			StartedAt: op.StartedAt, CompletedAt: op.CompletedAt, ArchiveSize: size, Error: op.ErrorMessage,
		},
	}
	if op.CompletedAt != nil {
		ev.OccurredAt = *op.CompletedAt
	}
	if planID != 0 {
		if p, err := s.cat.GetPlan(ctx, planID); err == nil {
			ev.Plan = &notify.PlanRef{ID: p.ID, Name: p.Name}
		}
	}
	return ev, planID, nil
}

// connectionName is connection id's name, or "#id" when it is gone.
func (s *Service) connectionName(ctx context.Context, id int64) string {
	if c, err := s.cat.GetConnection(ctx, id); err == nil {
		return c.Name
	}
	return fmt.Sprintf("#%d", id)
}

// ConnectionNeedsReauth sends connection.needs_reauth for connection id
// (its Google grant was revoked or expired; the engine calls it).
func (s *Service) ConnectionNeedsReauth(ctx context.Context, id int64) {
	s.Notify(ctx, notify.Event{
		Name:       notify.EventConnectionNeedsReauth,
		Connection: &notify.ConnectionRef{ID: id, Name: s.connectionName(ctx, id)},
		Detail:     "Its Google authorisation was revoked or has expired; connect it again from the Connections page.",
	}, 0)
}

// StorageInsufficient sends storage.insufficient for backup id, whose
// archive cannot fit at its destination; detail says how much is missing.
func (s *Service) StorageInsufficient(ctx context.Context, id int64, detail string) {
	b, err := s.cat.GetBackup(ctx, id)
	if err != nil {
		s.log.Error("describe a backup short of space for notifications", "id", id, "err", err)
		return
	}
	ev := notify.Event{
		Name:       notify.EventStorageInsufficient,
		Connection: &notify.ConnectionRef{ID: b.DestinationConnectionID, Name: s.connectionName(ctx, b.DestinationConnectionID)},
		Detail:     detail,
		Operation: &notify.Operation{Kind: store.KindBackup, ID: id, Status: b.Status, StartedAt: b.StartedAt,
			Source: s.connectionName(ctx, b.SourceConnectionID), Destination: s.connectionName(ctx, b.DestinationConnectionID)},
	}
	if b.PlanID != 0 {
		if p, err := s.cat.GetPlan(ctx, b.PlanID); err == nil {
			ev.Plan = &notify.PlanRef{ID: p.ID, Name: p.Name}
		}
	}
	s.Notify(ctx, ev, b.PlanID)
}

// PlanEvent sends what a line of a plan's history means for people:
// plan.skipped for a skipped due time, prune.failed for a failed prune.
func (s *Service) PlanEvent(ctx context.Context, p *store.Plan, line *store.PlanEvent) {
	var name notify.EventName
	switch line.Kind {
	case store.PlanEventSkipped:
		name = notify.EventPlanSkipped
	case store.PlanEventPruneFailed:
		name = notify.EventPruneFailed
	default:
		return
	}
	s.Notify(ctx, notify.Event{Name: name, OccurredAt: line.CreatedAt, Plan: &notify.PlanRef{ID: p.ID, Name: p.Name}, Detail: line.Message}, p.ID)
}

// PlanOverdue sends plan.overdue (overdue true) or plan.recovered for plan
// p; detail says since when or what ended it.
func (s *Service) PlanOverdue(ctx context.Context, p *store.Plan, overdue bool, detail string) {
	name := notify.EventPlanRecovered
	if overdue {
		name = notify.EventPlanOverdue
	}
	s.Notify(ctx, notify.Event{Name: name, Plan: &notify.PlanRef{ID: p.ID, Name: p.Name}, Detail: detail}, p.ID)
}
