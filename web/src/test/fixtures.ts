// Operation rows for tests: every field the API sends, with plain values a
// test overrides where it matters.
import type { BackupOperation, RestoreOperation, Verification } from "@/api/types";

const untouched = {
  progress: { items_done: 0, bytes_read: 0, bytes_written: 0 },
  error_message: "",
  started_at: null,
  completed_at: null,
  created_at: "2026-01-01T00:00:00Z",
};

/** backupOp is a completed backup #1 from connection 1 to 2, changed by over. */
export function backupOp(over: Partial<BackupOperation> = {}): BackupOperation {
  return {
    id: 1,
    status: "completed",
    source_connection_id: 1,
    destination_connection_id: 2,
    options: {},
    mode: "full",
    base_backup_id: null,
    changed_objects: null,
    archive_path: "",
    archive_size: 0,
    sha256: "",
    plan_id: null,
    pruned_at: null,
    prune_reason: null,
    imported: false,
    source: null,
    last_verified_at: null,
    last_verify_status: null,
    ...untouched,
    ...over,
  };
}

/** restoreOp is a completed restore #1 of backup 1 into connection 2, changed by over. */
export function restoreOp(over: Partial<RestoreOperation> = {}): RestoreOperation {
  return {
    id: 1,
    status: "completed",
    backup_operation_id: 1,
    destination_connection_id: 2,
    destination_config: {},
    ...untouched,
    ...over,
  };
}

/** verificationOp is a pending verification #1 of backup 1, asked for by a user, changed by over. */
export function verificationOp(over: Partial<Verification> = {}): Verification {
  return {
    id: 1,
    status: "pending",
    backup_operation_id: 1,
    plan_id: null,
    result: null,
    ...untouched,
    ...over,
  };
}
