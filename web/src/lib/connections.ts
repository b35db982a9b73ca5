import type { BackupOperation, Connection } from "@/api/types";

/** connectionNames maps connection ids to names for labelling operations. */
export function connectionNames(list: Connection[] | undefined): Map<number, Connection> {
  return new Map((list ?? []).map((c) => [c.id, c]));
}

/** nameOf labels a connection id, falling back to "#id" when it is unknown (e.g. deleted). */
export function nameOf(map: Map<number, Connection>, id: number): string {
  return map.get(id)?.name ?? `#${id}`;
}

/** The fields of a backup that say where its data came from. */
type BackupOrigin = Pick<BackupOperation, "source_connection_id" | "imported" | "source">;

/**
 * sourceName labels a backup's source: its connection's name, or for a
 * backup a scan imported (no connection), the source its manifest names.
 */
export function sourceName(map: Map<number, Connection>, b: BackupOrigin): string {
  if (b.imported || b.source_connection_id === 0) return b.source?.name || "unknown source";
  return nameOf(map, b.source_connection_id);
}

/** sourceType is the type of system a backup copied (s3, mongodb), or undefined when unknown. */
export function sourceType(map: Map<number, Connection>, b: BackupOrigin): string | undefined {
  if (b.imported || b.source_connection_id === 0) return b.source?.type || undefined;
  return map.get(b.source_connection_id)?.type;
}
