import { Fragment } from "react";
import { Link } from "react-router";
import type { BackupOperation } from "@/api/types";
import { cn, formatBytes } from "@/lib/utils";

/** One chain: a full backup and the incrementals built on it, directly or through each other. */
export interface BackupChain {
  /** The backup the chain starts from: its full backup, or the base that an incremental names when that base is not listed. */
  rootId: number;
  /** The full backup, when listed. */
  root: BackupOperation | undefined;
  /** The incrementals of the chain, oldest first. */
  incrementals: BackupOperation[];
}

/** A failed or cancelled backup left no archive: nothing is built on it and it builds nothing. */
function holdsArchive(b: BackupOperation): boolean {
  return b.status !== "failed" && b.status !== "cancelled";
}

/**
 * backupChains groups backups into chains by base_backup_id: each full
 * backup followed by the incrementals built on it. A chain whose full
 * backup is not among the backups (older than the list) starts from the
 * base its oldest incremental names. Pruned backups stay in their chain.
 * Chains come newest first.
 */
export function backupChains(backups: BackupOperation[]): BackupChain[] {
  const listed = backups.filter(holdsArchive).sort((a, b) => a.id - b.id);
  const byId = new Map(listed.map((b) => [b.id, b]));
  const chains = new Map<number, BackupChain>();
  for (const b of listed) {
    let root: BackupOperation | undefined = b;
    let rootId = b.id;
    const seen = new Set<number>();
    while (root && root.base_backup_id !== null && root.base_backup_id !== undefined && !seen.has(root.id)) {
      seen.add(root.id);
      rootId = root.base_backup_id;
      root = byId.get(rootId);
    }
    let chain = chains.get(rootId);
    if (!chain) {
      chain = { rootId, root, incrementals: [] };
      chains.set(rootId, chain);
    }
    if (b !== root) chain.incrementals.push(b);
  }
  const newest = (c: BackupChain) => Math.max(c.rootId, ...c.incrementals.map((b) => b.id));
  return [...chains.values()].sort((x, y) => newest(y) - newest(x));
}

/** shortDate is a day such as "Dec 1". */
function shortDate(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** What a backup of a chain holds now: its size, "pruned", or its status while it runs. */
function stateText(b: BackupOperation): string {
  if (b.pruned_at) return "pruned";
  if (b.status !== "completed") return b.status;
  return formatBytes(b.archive_size);
}

/** ChainBackup is one backup of a chain: its number (a link) and what it holds. */
function ChainBackup({ id, backup, first }: { id: number; backup: BackupOperation | undefined; first: boolean }) {
  const pruned = Boolean(backup?.pruned_at);
  let detail: string;
  if (!backup) detail = "not listed";
  else if (first) detail = ["full", shortDate(backup.completed_at ?? backup.created_at), stateText(backup)].filter(Boolean).join(", ");
  else detail = stateText(backup);
  return (
    <span data-testid="chain-backup" data-id={id} data-pruned={pruned || undefined} className={cn("whitespace-nowrap", pruned && "text-muted-foreground")}>
      <Link to={`/backups/${id}`} className={cn("font-medium underline-offset-4 hover:underline", pruned && "line-through")}>
        #{id}
      </Link>{" "}
      ({detail})
    </span>
  );
}

/**
 * BackupChains shows backups as chains, newest first: "Chain from #12
 * (full, Dec 1, 1.2 MB) → #13 (120 KB) → #14 (pruned)", with what the
 * chain's kept archives take in all.
 */
export function BackupChains({ backups }: { backups: BackupOperation[] }) {
  const chains = backupChains(backups);
  if (chains.length === 0) return <p className="text-sm text-muted-foreground">No backups yet.</p>;
  return (
    <ol className="grid gap-2 text-sm" data-testid="backup-chains">
      {chains.map((c) => {
        const members = c.root ? [c.root, ...c.incrementals] : c.incrementals;
        const kept = members.filter((b) => b.status === "completed" && !b.pruned_at);
        const bytes = kept.reduce((sum, b) => sum + b.archive_size, 0);
        return (
          <li key={c.rootId} data-testid="backup-chain" data-root={c.rootId} className="leading-relaxed">
            Chain from <ChainBackup id={c.rootId} backup={c.root} first />
            {c.incrementals.map((b) => (
              <Fragment key={b.id}>
                {" "}
                <span className="text-muted-foreground">→</span> <ChainBackup id={b.id} backup={b} first={false} />
              </Fragment>
            ))}{" "}
            <span className="whitespace-nowrap text-muted-foreground" data-testid="chain-summary">
              · {c.incrementals.length} incremental{c.incrementals.length === 1 ? "" : "s"}, {formatBytes(bytes)} kept
            </span>
          </li>
        );
      })}
    </ol>
  );
}
