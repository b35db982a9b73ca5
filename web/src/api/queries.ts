// Query keys and TanStack Query hooks shared by the pages.
import { useQuery } from "@tanstack/react-query";
import { api, type OperationOf } from "./endpoints";
import type { AuditFilters, BackupFilters, EntryQuery, OperationKind, VerificationFilters } from "./types";

/** Query keys, one place so invalidation matches what pages read. */
export const keys = {
  me: ["me"] as const,
  providers: ["auth-providers"] as const,
  dashboard: ["dashboard"] as const,
  connections: ["connections"] as const,
  connection: (id: number) => ["connections", id] as const,
  backups: (f: BackupFilters) => ["backups", "list", f] as const,
  backupsAll: ["backups"] as const,
  restores: (page: number) => ["restores", "list", page] as const,
  restoresAll: ["restores"] as const,
  verifications: (f: VerificationFilters) => ["verifications", "list", f] as const,
  verificationsAll: ["verifications"] as const,
  backupEntries: (id: number, q: EntryQuery) => ["backups", "entries", id, q] as const,
  operation: (kind: OperationKind, id: number) => [kind, "one", id] as const,
  plans: ["plans"] as const,
  plan: (id: number) => ["plans", id] as const,
  channels: ["notification-channels"] as const,
  deliveries: (page: number, status: string) => ["notification-deliveries", page, status] as const,
  deliveriesAll: ["notification-deliveries"] as const,
  encryptionKeys: ["encryption-keys"] as const,
  users: ["users"] as const,
  audit: (f: AuditFilters) => ["audit", f] as const,
  auditAll: ["audit"] as const,
};

/** useEncryptionKeys lists the age keys archives can be encrypted to. */
export function useEncryptionKeys() {
  return useQuery({ queryKey: keys.encryptionKeys, queryFn: api.listKeys });
}

/** How often views of running operations refresh. */
export const LIVE_REFRESH_MS = 2000;

function needsRefresh(status: string): boolean {
  return status === "pending" || status === "running";
}

/** useConnections lists every connection. */
export function useConnections() {
  return useQuery({ queryKey: keys.connections, queryFn: api.listConnections });
}

/** useOperation reads one operation, refreshing every 2 s while it runs. */
export function useOperation<K extends OperationKind>(kind: K, id: number) {
  return useQuery({
    queryKey: keys.operation(kind, id),
    queryFn: () => api.getOperation(kind, id),
    refetchInterval: (q) => {
      const d: OperationOf[K] | undefined = q.state.data;
      return d && needsRefresh(d.status) ? LIVE_REFRESH_MS : false;
    },
  });
}

/** useBackup reads one backup, refreshing every 2 s while it runs. */
export function useBackup(id: number) {
  return useOperation("backups", id);
}

/** refreshWhileRunning returns the list refetch interval: 2 s if any item runs. */
export function refreshWhileRunning(items: { status: string }[] | undefined): number | false {
  return items?.some((i) => needsRefresh(i.status)) ? LIVE_REFRESH_MS : false;
}
