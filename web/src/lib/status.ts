import type { BackupStatus, OperationKind, OperationStatus } from "@/api/types";

/** The noun of each operation kind, in sentences ("backup #3"). */
export const OPERATION_NOUNS: Record<OperationKind, string> = {
  backups: "backup",
  restores: "restore",
  verifications: "verification",
};

/** Statuses after which an operation never changes again. */
export const TERMINAL_STATUSES: readonly OperationStatus[] = ["completed", "failed", "cancelled"];

/** isTerminal reports whether an operation has finished for good. */
export function isTerminal(status: OperationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** isLive reports whether an operation is doing work now (its view should refresh). */
export function isLive(status: OperationStatus): boolean {
  return status === "pending" || status === "running";
}

/** Control an operator can apply to an operation. */
export type OperationAction = "pause" | "resume" | "cancel";

/**
 * allowedActions lists the controls valid for a status: pause while
 * running/pending, resume when paused/failed, cancel while
 * pending/running/paused. Restores and verifications can only be cancelled.
 */
export function allowedActions(status: OperationStatus, kind: OperationKind = "backups"): Set<OperationAction> {
  const out = new Set<OperationAction>();
  const s = status as BackupStatus;
  if (kind === "backups") {
    if (s === "running" || s === "pending") out.add("pause");
    if (s === "paused" || s === "failed") out.add("resume");
    if (s === "pending" || s === "running" || s === "paused") out.add("cancel");
  } else if (s === "pending" || s === "running") {
    out.add("cancel");
  }
  return out;
}
