import { screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupOperation, Connection, Dashboard, Plan, RestoreOperation } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp, restoreOp } from "@/test/fixtures";
import DashboardPage from "./DashboardPage";

afterEach(() => vi.unstubAllGlobals());

function conn(id: number, name: string): Connection {
  return {
    id,
    name,
    type: "s3",
    credentials: { access_key: "AKIA1", secret_key: "****abcd", region: "us-east-1", bucket: name },
    is_active: true,
    last_validated_at: null,
    last_validation_error: null,
    needs_reauth: false,
    roles: ["source", "destination", "restore_target"],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  };
}

const started = { started_at: "2026-01-01T10:00:00Z", created_at: "2026-01-01T10:00:00Z" };

const backup: BackupOperation = backupOp({
  id: 4,
  status: "running",
  progress: { items_done: 3, bytes_read: 10, bytes_written: 5 },
  ...started,
});

const restore: RestoreOperation = restoreOp({
  id: 4, // same id as the backup: items are told apart by kind
  status: "running",
  backup_operation_id: 9,
  destination_connection_id: 3,
  destination_config: { bucket: "copy" },
  progress: { items_done: 1, bytes_read: 10, bytes_written: 10 },
  ...started,
});

function dashboard(): Dashboard {
  return {
    backups_by_status: { pending: 0, running: 1, paused: 0, completed: 0, failed: 0, cancelled: 0 },
    restores_by_status: { pending: 0, running: 1, completed: 0, failed: 1, cancelled: 0 },
    running: [
      { kind: "backup", ...backup },
      { kind: "restore", ...restore },
    ],
    recent_failures: [
      {
        kind: "restore",
        ...restore,
        id: 7,
        status: "failed",
        error_message: "The bucket copy does not exist; create it or pick another.",
        completed_at: "2026-01-01T11:00:00Z",
      },
    ],
    connections: { healthy: 0, failing: 0, unchecked: 3, items: [conn(1, "media"), conn(2, "archive"), conn(3, "scratch")] },
  };
}

function serve(role: "admin" | "viewer") {
  return apiServer({
    "GET /auth/me": ok(me(role)),
    "GET /dashboard": ok(dashboard()),
    "GET /backups": ok({ items: [], page: 1, per_page: 5, total: 0 }),
  });
}

describe("DashboardPage", () => {
  it("renders running backups and restores, each linked to its own page", async () => {
    serve("admin");
    renderPage(<DashboardPage />, "/", "/");
    const running = await screen.findByTestId("running-operations");
    const items = within(running).getAllByTestId("running-operation");
    expect(items.map((i) => i.dataset.kind)).toEqual(["backup", "restore"]);
    expect(within(items[0]!).getByRole("link")).toHaveAttribute("href", "/backups/4");
    expect(within(items[0]!).getByRole("link")).toHaveTextContent("Backup #4: media → archive");
    expect(within(items[1]!).getByRole("link")).toHaveAttribute("href", "/restores/4");
    expect(within(items[1]!).getByRole("link")).toHaveTextContent("Restore #4: backup #9 → scratch");
  });

  it("renders a failed restore with its error, linked to /restores/:id", async () => {
    serve("admin");
    renderPage(<DashboardPage />, "/", "/");
    const failures = await screen.findByTestId("recent-failures");
    const item = within(failures).getByTestId("failed-operation");
    expect(item.dataset.kind).toBe("restore");
    expect(within(item).getByRole("link")).toHaveAttribute("href", "/restores/7");
    expect(within(item).getByRole("link")).toHaveTextContent("Restore #7: backup #9 → scratch");
    expect(item).toHaveTextContent("The bucket copy does not exist; create it or pick another.");
  });

  it("offers New backup to operators and admins, not to viewers", async () => {
    serve("admin");
    const { unmount } = renderPage(<DashboardPage />, "/", "/", me("operator"));
    await screen.findByTestId("running-operations");
    expect(screen.getByRole("link", { name: /New backup/ })).toHaveAttribute("href", "/backups/new");
    unmount();
    serve("viewer");
    renderPage(<DashboardPage />, "/", "/", me("viewer"));
    await screen.findByTestId("running-operations");
    expect(screen.queryByRole("link", { name: /New backup/ })).toBeNull();
  });

  it("lists the plans whose last run failed or that are overdue, and only those", async () => {
    const plan = (id: number, name: string, over: Partial<Plan>): Plan => ({
      id, name, source_connection_id: 1, destination_connection_id: 2, options: {}, schedule: "@daily",
      schedule_text: "every day at 00:00", timezone: "UTC", catch_up: true, retention: {}, alert_after: null,
      verify: "none", full_every: "7", enabled: true, next_run_at: "2026-01-02T00:00:00Z", next_verify_at: null, last_run: null, last_success_at: null,
      overdue: false, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", ...over,
    });
    apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /dashboard": ok(dashboard()),
      "GET /backups": ok({ items: [], page: 1, per_page: 5, total: 0 }),
      "GET /plans": ok({
        items: [
          plan(1, "fine", { last_run: { backup_id: 3, status: "completed", at: "2026-01-01T00:00:00Z" } }),
          plan(2, "broken", { last_run: { backup_id: 4, status: "failed", at: "2026-01-01T00:00:00Z" } }),
          plan(3, "late", { alert_after: "26h", overdue: true }),
        ],
      }),
    });
    renderPage(<DashboardPage />, "/", "/");
    const card = await screen.findByTestId("plans-attention");
    expect(within(card).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      expect.stringContaining("broken"),
      "lateoverdue: no success within 26h (never succeeded)",
    ]);
    expect(within(card).queryByText("fine")).toBeNull();
    expect(within(card).getByRole("link", { name: "broken" })).toHaveAttribute("href", "/plans/2");
  });
});
