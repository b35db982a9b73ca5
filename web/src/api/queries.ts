// Query keys and TanStack Query hooks shared by the pages.
import { useQuery } from "@tanstack/react-query";
import { api } from "./endpoints";
import type { AuditFilters, BackupFilters, BackupOperation, RestoreOperation } from "./types";

/** Query keys, one place so invalidation matches what pages read. */
export const keys = {
  me: ["me"] as const,
  providers: ["auth-providers"] as const,
  dashboard: ["dashboard"] as const,
  connections: ["connections"] as const,
  connection: (id: number) => ["connections", id] as const,
  backups: (f: BackupFilters) => ["backups", "list", f] as const,
  backupsAll: ["backups"] as const,
  backup: (id: number) => ["backups", "one", id] as const,
  restores: (page: number) => ["restores", "list", page] as const,
  restoresAll: ["restores"] as const,
  restore: (id: number) => ["restores", "one", id] as const,
  users: ["users"] as const,
  audit: (f: AuditFilters) => ["audit", f] as const,
  auditAll: ["audit"] as const,
};

/** How often views of running operations refresh. */
export const LIVE_REFRESH_MS = 2000;

function needsRefresh(status: string): boolean {
  return status === "pending" || status === "running";
}

/** useConnections lists every connection. */
export function useConnections() {
  return useQuery({ queryKey: keys.connections, queryFn: api.listConnections });
}

/** useBackup reads one backup, refreshing every 2 s while it runs. */
export function useBackup(id: number) {
  return useQuery({
    queryKey: keys.backup(id),
    queryFn: () => api.getBackup(id),
    refetchInterval: (q) => {
      const d: BackupOperation | undefined = q.state.data;
      return d && needsRefresh(d.status) ? LIVE_REFRESH_MS : false;
    },
  });
}

/** useRestore reads one restore, refreshing every 2 s while it runs. */
export function useRestore(id: number) {
  return useQuery({
    queryKey: keys.restore(id),
    queryFn: () => api.getRestore(id),
    refetchInterval: (q) => {
      const d: RestoreOperation | undefined = q.state.data;
      return d && needsRefresh(d.status) ? LIVE_REFRESH_MS : false;
    },
  });
}

/** refreshWhileRunning returns the list refetch interval: 2 s if any item runs. */
export function refreshWhileRunning(items: { status: string }[] | undefined): number | false {
  return items?.some((i) => needsRefresh(i.status)) ? LIVE_REFRESH_MS : false;
}
