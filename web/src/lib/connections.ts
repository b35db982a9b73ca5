import type { Connection } from "@/api/types";

/** connectionNames maps connection ids to names for labelling operations. */
export function connectionNames(list: Connection[] | undefined): Map<number, Connection> {
  return new Map((list ?? []).map((c) => [c.id, c]));
}

/** nameOf labels a connection id, falling back to "#id" when it is unknown (e.g. deleted). */
export function nameOf(map: Map<number, Connection>, id: number): string {
  return map.get(id)?.name ?? `#${id}`;
}
