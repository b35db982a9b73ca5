// A plan's page: its mode, and its backups as chains when it makes
// incrementals, beside the table it always shows.
import { screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupOperation, Plan } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp } from "@/test/fixtures";
import PlanDetailPage from "./PlanDetailPage";

afterEach(() => vi.unstubAllGlobals());

function plan(over: Partial<Plan> = {}): Plan {
  return {
    id: 5,
    name: "hourly",
    source_connection_id: 1,
    destination_connection_id: 2,
    options: { mode: "incremental", compression: "gzip" },
    full_every: "0 3 * * 0",
    schedule: "@hourly",
    schedule_text: "every hour",
    timezone: "UTC",
    catch_up: true,
    retention: { keep_last: 3 },
    alert_after: null,
    verify: "none",
    enabled: true,
    next_run_at: null,
    next_verify_at: null,
    last_run: null,
    last_success_at: null,
    overdue: false,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...over,
  };
}

function serve(p: Plan, backups: BackupOperation[]) {
  return apiServer({
    "GET /plans/5": ok(p),
    "GET /plans/5/events": ok({ items: [], page: 1, per_page: 20, total: 0 }),
    "GET /backups": ok({ items: backups, page: 1, per_page: 30, total: backups.length }),
    "GET /connections": ok({ items: [] }),
  });
}

const chain = [
  backupOp({ id: 4, plan_id: 5, mode: "incremental", base_backup_id: 3, changed_objects: 2, archive_size: 2048 }),
  backupOp({ id: 3, plan_id: 5, mode: "full", archive_size: 10240, completed_at: "2026-01-02T03:00:00Z" }),
];

describe("PlanDetailPage", () => {
  it("shows an incremental plan's mode and its backups as chains, and keeps the backups table", async () => {
    serve(plan(), chain);
    renderPage(<PlanDetailPage />, "/plans/5", "/plans/:id", me("viewer"));
    expect(await screen.findByTestId("plan-mode")).toHaveTextContent(
      "incremental, a full backup at the first run after each time of 0 3 * * 0",
    );
    const chains = await screen.findAllByTestId("backup-chain");
    expect(chains).toHaveLength(1);
    expect(chains[0]).toHaveTextContent(/^Chain from #3 \(full, .+, 10\.0 KB\) → #4 \(2\.0 KB\) · 1 incremental, 12\.0 KB kept$/);
    const rows = screen.getAllByTestId("backup-row");
    expect(rows).toHaveLength(2);
    expect(within(rows[0] as HTMLElement).getByTestId("backup-mode")).toHaveTextContent("incremental (base #3, 2 changed)");
  });

  it("shows no chains for a plan of full backups", async () => {
    serve(plan({ options: { compression: "zstd", compression_level: "fastest" } }), [backupOp({ id: 3, plan_id: 5 })]);
    renderPage(<PlanDetailPage />, "/plans/5", "/plans/:id", me("viewer"));
    expect(await screen.findByTestId("plan-mode")).toHaveTextContent(/^full$/);
    await screen.findAllByTestId("backup-row");
    expect(screen.getByText("zstd (fastest)")).toBeInTheDocument();
    expect(screen.queryByTestId("backup-chains")).toBeNull();
  });
});
