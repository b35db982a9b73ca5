import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupOperation } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp, verificationOp } from "@/test/fixtures";
import BackupDetailPage from "./BackupDetailPage";

class NoEventSource {
  addEventListener() {}
  close() {}
}

afterEach(() => vi.unstubAllGlobals());

const connections = ok({
  items: [
    { id: 1, name: "photos", type: "s3", roles: ["source", "destination", "restore_target"] },
    { id: 2, name: "disk", type: "local", roles: ["destination"] },
  ],
});

function serve(b: BackupOperation, latest = verificationOp({ id: 6, backup_operation_id: b.id, status: "failed" })) {
  vi.stubGlobal("EventSource", NoEventSource);
  return apiServer({
    [`GET /backups/${b.id}`]: ok(b),
    [`GET /backups/${b.id}/logs`]: ok({ items: [], next_after: 0 }),
    "GET /connections": connections,
    "GET /encryption-keys": ok({ items: [] }),
    "GET /verifications": ok({ items: [latest], page: 1, per_page: 1, total: 1 }),
    [`POST /backups/${b.id}/verify`]: () => ({ status: 202, body: verificationOp({ id: 7, backup_operation_id: b.id }) }),
  });
}

describe("BackupDetailPage", () => {
  it("shows how the last verification ended with a link to it, and verifies again", async () => {
    const server = serve(backupOp({ id: 4, last_verify_status: "failed", last_verified_at: "2026-02-01T10:00:00Z" }));
    const user = userEvent.setup({ delay: null });
    renderPage(<BackupDetailPage />, "/backups/4", "/backups/:id", me("operator"));
    const line = await screen.findByTestId("last-verified");
    expect(within(line).getByTestId("verify-badge")).toHaveAttribute("data-verdict", "failed");
    expect(line).toHaveTextContent(new Date("2026-02-01T10:00:00Z").toLocaleString());
    expect(await within(line).findByTestId("latest-verification")).toHaveAttribute("href", "/verifications/6");
    expect(server.calls.some((c) => c.path === "/verifications?backup_operation_id=4&per_page=1")).toBe(true);
    expect(screen.getByRole("link", { name: "Browse…" })).toHaveAttribute("href", "/backups/4/browse");
    expect(screen.getByTestId("backup-source")).toHaveTextContent("photos");

    await user.click(screen.getByRole("button", { name: "Verify" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/verifications/7"));
    expect(server.calls.some((c) => c.method === "POST" && c.path === "/backups/4/verify")).toBe(true);
  });

  it("names an imported backup's source from its manifest and says it was never verified", async () => {
    serve(
      backupOp({ id: 4, imported: true, source_connection_id: 0, source: { type: "mongodb", name: "shop" } }),
      verificationOp({ id: 6, backup_operation_id: 4, status: "running" }),
    );
    renderPage(<BackupDetailPage />, "/backups/4", "/backups/:id", me("operator"));
    const source = await screen.findByTestId("backup-source");
    expect(source).toHaveTextContent("Imported");
    expect(source).toHaveTextContent("shop (mongodb)");
    expect(screen.getByTestId("page-status")).toHaveTextContent("shop → disk");
    expect(within(screen.getByTestId("last-verified")).getByTestId("verify-badge")).toHaveTextContent("Never verified");
    expect(await screen.findByTestId("latest-verification")).toHaveTextContent("verification #6 running…");
  });

  it("says an incremental backup's base, with a link to it, and how many objects it holds of the bucket's", async () => {
    serve(
      backupOp({
        id: 8,
        mode: "incremental",
        base_backup_id: 7,
        changed_objects: 1,
        options: { mode: "incremental", compression: "zstd", compression_level: "best" },
        progress: { items_done: 5, items_total: 5, bytes_read: 10, bytes_written: 10 },
      }),
    );
    renderPage(<BackupDetailPage />, "/backups/8", "/backups/:id", me("operator"));
    const mode = await screen.findByTestId("backup-mode");
    expect(mode).toHaveTextContent("incremental (base #7, 1 changed of 5)");
    expect(within(mode).getByRole("link", { name: "#7" })).toHaveAttribute("href", "/backups/7");
    expect(screen.getByText("zstd (best)")).toBeInTheDocument();
  });

  it("says full for a full backup", async () => {
    serve(backupOp({ id: 7, changed_objects: 5 }));
    renderPage(<BackupDetailPage />, "/backups/7", "/backups/:id", me("operator"));
    expect(await screen.findByTestId("backup-mode")).toHaveTextContent(/^full$/);
  });

  it("offers viewers the entry browser but no verification, and pruned or unfinished backups no verification", async () => {
    serve(backupOp({ id: 4 }));
    const { unmount } = renderPage(<BackupDetailPage />, "/backups/4", "/backups/:id", me("viewer"));
    await screen.findByRole("link", { name: "Browse…" });
    expect(screen.queryByRole("button", { name: "Verify" })).toBeNull();
    unmount();

    serve(backupOp({ id: 4, pruned_at: "2026-03-01T00:00:00Z", prune_reason: "retention" }));
    const pruned = renderPage(<BackupDetailPage />, "/backups/4", "/backups/:id", me("operator"));
    await screen.findByTestId("pruned");
    expect(screen.queryByRole("button", { name: "Verify" })).toBeNull();
    pruned.unmount();

    serve(backupOp({ id: 4, status: "running" }));
    renderPage(<BackupDetailPage />, "/backups/4", "/backups/:id", me("operator"));
    await screen.findByRole("heading", { name: "Backup #4" });
    expect(screen.queryByRole("button", { name: "Verify" })).toBeNull();
    expect(screen.queryByRole("link", { name: "Browse…" })).toBeNull();
    expect(screen.queryByTestId("last-verified")).toBeNull();
  });
});
