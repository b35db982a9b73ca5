import { Link } from "react-router";
import type { Connection, DashboardOperation } from "@/api/types";
import { nameOf, sourceName } from "@/lib/connections";
import { formatRelative } from "@/lib/utils";
import { OperationProgress } from "./OperationProgress";
import { OperationStatusBadge } from "./OperationStatusBadge";

/** operationPath is the detail page of a dashboard operation. */
export function operationPath(op: DashboardOperation): string {
  return op.kind === "restore" ? `/restores/${op.id}` : `/backups/${op.id}`;
}

/** operationKey is a React key unique across kinds (a backup and a restore may share an id). */
export function operationKey(op: DashboardOperation): string {
  return `${op.kind}-${op.id}`;
}

/**
 * operationTitle labels a dashboard operation: "Backup #4: source → destination"
 * or "Restore #2: backup #4 → target".
 */
export function operationTitle(op: DashboardOperation, names: Map<number, Connection>): string {
  if (op.kind === "restore") {
    return `Restore #${op.id}: backup #${op.backup_operation_id} → ${nameOf(names, op.destination_connection_id)}`;
  }
  return `Backup #${op.id}: ${sourceName(names, op)} → ${nameOf(names, op.destination_connection_id)}`;
}

/** Props of the dashboard operation items. */
export interface DashboardOperationProps {
  op: DashboardOperation;
  /** Connections by id, for labels. */
  names: Map<number, Connection>;
}

/** RunningOperation is a running backup or restore with its live progress. */
export function RunningOperation({ op, names }: DashboardOperationProps) {
  return (
    <div className="grid gap-2" data-testid="running-operation" data-kind={op.kind}>
      <div className="flex items-center justify-between gap-2 text-sm">
        <Link to={operationPath(op)} className="truncate font-medium hover:underline">
          {operationTitle(op, names)}
        </Link>
        <OperationStatusBadge status={op.status} />
      </div>
      <OperationProgress
        progress={op.progress}
        status={op.status}
        startedAt={op.started_at}
        completedAt={op.completed_at}
        compact
      />
    </div>
  );
}

/** FailedOperation is a failed backup or restore with when it ended and why. */
export function FailedOperation({ op, names }: DashboardOperationProps) {
  return (
    <li className="grid gap-1 py-2 text-sm" data-testid="failed-operation" data-kind={op.kind}>
      <div className="flex items-center justify-between gap-2">
        <Link to={operationPath(op)} className="hover:underline">
          {operationTitle(op, names)}
        </Link>
        <span className="shrink-0 text-xs text-muted-foreground">{formatRelative(op.completed_at ?? op.created_at)}</span>
      </div>
      {op.error_message && <p className="break-words text-xs text-destructive">{op.error_message}</p>}
    </li>
  );
}
