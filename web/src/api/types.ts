// Types of the coffer HTTP API for the UI. The JSON shapes come from the
// server's OpenAPI document, generated into generated.ts (never edit it: change
// the schemas in internal/httpapi and run `go generate ./internal/httpapi`);
// this file re-exports them and adds the UI's own types built on them.
import type { BackupList, BackupStatus, RestoreStatus, VerificationStatus } from "./generated";

export type * from "./generated";

/** Any operation state. */
export type OperationStatus = BackupStatus | RestoreStatus | VerificationStatus;

/** One page of a list of T: the shape every list route answers with (BackupList, RestoreList ...). */
export type ListPage<T> = Omit<BackupList, "items"> & { items: T[] };

/** Which operation collection a log belongs to (its path segment in the API). */
export type OperationKind = "backups" | "restores" | "verifications";

/** Filters of GET /backups. */
export interface BackupFilters {
  status?: BackupStatus | "";
  source_id?: number | "";
  destination_id?: number | "";
  plan_id?: number | "";
  page?: number;
  per_page?: number;
}

/** Filters of GET /audit; since is an RFC 3339 time. */
export interface AuditFilters {
  actor_id?: number | "";
  action?: string;
  target_type?: string;
  since?: string;
  page?: number;
  per_page?: number;
}

/** Filters of GET /verifications. */
export interface VerificationFilters {
  status?: VerificationStatus | "";
  backup_operation_id?: number | "";
  page?: number;
  per_page?: number;
}

/** What GET /backups/{id}/entries is asked: the folder browsed, a search in it, and the page. */
export interface EntryQuery {
  /** A folder's prefix (ends with "/"), or "" for the top. */
  prefix: string;
  /** Entries under prefix whose path contains this (any case); "" lists the folder. */
  q: string;
  page: number;
  per_page: number;
}
