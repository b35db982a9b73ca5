// The keys chosen in a backup's entry browser travel to the restore form
// (and back, to change them) in the router's location state: a list can
// hold thousands of keys, too many for an address.

/** The location state that carries chosen keys. */
export interface RestoreKeysState {
  keys: string[];
}

/** restoreKeysState is the location state carrying keys. */
export function restoreKeysState(keys: Iterable<string>): RestoreKeysState {
  return { keys: [...keys] };
}

/** keysFromState reads the chosen keys from a location state; [] when it carries none. */
export function keysFromState(state: unknown): string[] {
  if (typeof state !== "object" || state === null || !("keys" in state)) return [];
  const keys = (state as { keys: unknown }).keys;
  if (!Array.isArray(keys)) return [];
  return keys.filter((k): k is string => typeof k === "string" && k !== "");
}
