// A plan's backups as chains: each full backup and the incrementals built
// on it, pruned ones shown as such, newest chain first.
import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { BackupOperation } from "@/api/types";
import { renderPage } from "@/test/app";
import { backupOp } from "@/test/fixtures";
import { BackupChains, backupChains } from "./BackupChains";

const KiB = 1024;

function full(id: number, over: Partial<BackupOperation> = {}): BackupOperation {
  return backupOp({ id, mode: "full", archive_size: 100 * KiB, completed_at: "2025-12-01T03:00:00Z", ...over });
}

function incr(id: number, base: number, over: Partial<BackupOperation> = {}): BackupOperation {
  return backupOp({ id, mode: "incremental", base_backup_id: base, changed_objects: 1, archive_size: 2 * KiB, ...over });
}

// Newest first, as GET /backups answers: two chains, the older one's full
// backup pruned (it stays while incrementals on it are kept), one of its
// incrementals pruned too, and a failed run that belongs to no chain.
const pruned = { pruned_at: "2026-01-10T00:00:00Z", prune_reason: "retention" as const };
const backups = [
  incr(16, 15, { status: "running", changed_objects: null }),
  full(15, { completed_at: "2025-12-08T03:00:00Z" }),
  backupOp({ id: 14, status: "failed", mode: "incremental", base_backup_id: null }),
  incr(13, 12),
  incr(12, 11, pruned),
  full(11, pruned),
];

describe("backupChains", () => {
  it("groups each full backup with the incrementals built on it, newest chain first, pruned ones kept in place", () => {
    const chains = backupChains(backups);
    expect(chains.map((c) => [c.rootId, c.incrementals.map((b) => b.id)])).toEqual([
      [15, [16]],
      [11, [12, 13]],
    ]);
    expect(chains[1]?.root?.pruned_at).toBe(pruned.pruned_at);
  });

  it("starts a chain from the base its oldest incremental names when that base is not listed", () => {
    const chains = backupChains([incr(22, 21), incr(21, 20), full(19)]);
    expect(chains.map((c) => [c.rootId, c.root?.id, c.incrementals.map((b) => b.id)])).toEqual([
      [20, undefined, [21, 22]],
      [19, 19, []],
    ]);
  });
});

describe("BackupChains", () => {
  it("shows each chain from its full backup, with sizes, pruned backups marked and links to each", () => {
    renderPage(<BackupChains backups={backups} />, "/", "/");
    const [newer, older] = screen.getAllByTestId("backup-chain");
    if (!newer || !older) throw new Error("two chains expected");
    const day = (iso: string) => new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric" });

    expect(newer).toHaveAttribute("data-root", "15");
    expect(newer).toHaveTextContent(`Chain from #15 (full, ${day("2025-12-08T03:00:00Z")}, 100 KB) → #16 (running)`);
    expect(within(newer).getByTestId("chain-summary")).toHaveTextContent("1 incremental, 100 KB kept");

    expect(older).toHaveTextContent(`Chain from #11 (full, ${day("2025-12-01T03:00:00Z")}, pruned) → #12 (pruned) → #13 (2.0 KB)`);
    expect(within(older).getByTestId("chain-summary")).toHaveTextContent("2 incrementals, 2.0 KB kept");
    const members = within(older).getAllByTestId("chain-backup");
    expect(members.map((m) => [m.getAttribute("data-id"), m.hasAttribute("data-pruned")])).toEqual([
      ["11", true],
      ["12", true],
      ["13", false],
    ]);
    expect(within(older).getByRole("link", { name: "#11" })).toHaveAttribute("href", "/backups/11");
    expect(within(older).getByRole("link", { name: "#13" })).toHaveAttribute("href", "/backups/13");
    expect(screen.queryByText("#14")).toBeNull();
  });

  it("says when a chain's full backup is older than the list", () => {
    renderPage(<BackupChains backups={[incr(21, 20)]} />, "/", "/");
    expect(screen.getByTestId("backup-chain")).toHaveTextContent("Chain from #20 (not listed) → #21 (2.0 KB)");
  });
});
