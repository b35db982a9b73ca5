// Viewers may look at everything but change nothing: no page offers them a
// button or link that creates, edits, deletes, tests, pauses, resumes,
// cancels or restores. The same pages, for an operator, do offer them, so
// the check cannot pass by accident.
import { screen } from "@testing-library/react";
import type { ReactElement } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupOperation, Connection, RestoreOperation, User } from "@/api/types";
import { RequireRole } from "@/components/RequireRole";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp, restoreOp } from "@/test/fixtures";
import BackupDetailPage from "./BackupDetailPage";
import BackupsPage from "./BackupsPage";
import ConnectionEditPage from "./ConnectionEditPage";
import ConnectionsPage from "./ConnectionsPage";
import DashboardPage from "./DashboardPage";
import NewBackupPage from "./NewBackupPage";
import RestoreDetailPage from "./RestoreDetailPage";
import RestoresPage from "./RestoresPage";

afterEach(() => vi.unstubAllGlobals());

const CHANGES = /^(new|create|edit|delete|test|pause|resume|cancel|restore|reconnect|connect|add|start|save)\b/i;

const drive: Connection = {
  id: 1,
  name: "drive",
  type: "google_drive",
  credentials: { folder_id: "f" },
  is_active: true,
  last_validated_at: null,
  last_validation_error: null,
  needs_reauth: true,
  roles: ["destination"],
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};
const s3: Connection = { ...drive, id: 2, name: "media", type: "s3", needs_reauth: false, roles: ["source", "destination", "restore_target"] };

function backup(id: number, status: BackupOperation["status"]): BackupOperation {
  return backupOp({ id, status, source_connection_id: 2, destination_connection_id: 1 });
}

const restore: RestoreOperation = restoreOp({ id: 5, status: "running" });

function serve(user: User) {
  const emptyLogs = ok({ items: [], page: 1, per_page: 100, total: 0 });
  apiServer({
    "GET /auth/me": ok(user),
    "GET /connections": ok({ items: [drive, s3] }),
    "GET /connections/1": ok(drive),
    "GET /backups": ok({ items: [backup(1, "completed"), backup(2, "running")], page: 1, per_page: 20, total: 2 }),
    "GET /backups/1": ok(backup(1, "completed")),
    "GET /backups/2": ok(backup(2, "running")),
    "GET /backups/1/logs": emptyLogs,
    "GET /backups/2/logs": emptyLogs,
    "GET /restores": ok({ items: [restore], page: 1, per_page: 20, total: 1 }),
    "GET /restores/5": ok(restore),
    "GET /restores/5/logs": emptyLogs,
    "GET /dashboard": ok({
      backups_by_status: {},
      restores_by_status: {},
      running: [{ kind: "backup", ...backup(2, "running") }],
      recent_failures: [],
      connections: { healthy: 0, failing: 1, unchecked: 1, items: [drive, s3] },
    }),
  });
}

// Each page with the text that shows it has loaded.
const pages: [string, ReactElement, string, string, RegExp][] = [
  ["dashboard", <DashboardPage />, "/", "/", /Running now/],
  ["connections", <ConnectionsPage />, "/connections", "/connections", /Last checked/],
  ["connection", <ConnectionEditPage />, "/connections/1/edit", "/connections/:id/edit", /Google Drive/],
  ["backups", <BackupsPage />, "/backups", "/backups", /#2/],
  ["completed backup", <BackupDetailPage />, "/backups/1", "/backups/:id", /Backup #1/],
  ["running backup", <BackupDetailPage />, "/backups/2", "/backups/:id", /Backup #2/],
  ["restores", <RestoresPage />, "/restores", "/restores", /#5/],
  ["running restore", <RestoreDetailPage />, "/restores/5", "/restores/:id", /Restore #5/],
  [
    "new backup",
    <RequireRole role="operator">
      <NewBackupPage />
    </RequireRole>,
    "/backups/new",
    "/backups/new",
    /./,
  ],
];

function offered(): string[] {
  const controls = [...screen.queryAllByRole("button"), ...screen.queryAllByRole("link")];
  return controls.map((c) => (c.getAttribute("aria-label") ?? c.textContent ?? "").trim()).filter((n) => CHANGES.test(n));
}

class NoEventSource {
  addEventListener() {}
  close() {}
}

describe.each(pages)("the %s page", (_name, element, url, path, loaded) => {
  it("offers a viewer nothing that changes things, and an operator something", async () => {
    vi.stubGlobal("EventSource", NoEventSource);
    serve(me("viewer"));
    const viewer = renderPage(element, url, path, me("viewer"));
    await screen.findAllByText(loaded);
    expect(offered()).toEqual([]);
    viewer.unmount();

    vi.stubGlobal("EventSource", NoEventSource);
    serve(me("operator"));
    renderPage(element, url, path, me("operator"));
    await screen.findAllByText(loaded);
    if (url === "/backups/new") await screen.findByRole("button", { name: /Start backup/ });
    // The restores list has nothing to change for anyone; its rows link to detail pages.
    if (url !== "/restores") expect(offered().length).toBeGreaterThan(0);
  });
});
