// OperationDetail is the page of any operation kind: the parts every kind
// shares come from it, the kind gives only its own.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupOperation, RestoreOperation } from "@/api/types";
import { MetaItem } from "@/components/Meta";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp, restoreOp } from "@/test/fixtures";
import { OperationDetail } from "./OperationDetail";

class NoEventSource {
  addEventListener() {}
  close() {}
}

afterEach(() => vi.unstubAllGlobals());

const emptyLogs = ok({ items: [], page: 1, per_page: 100, total: 0 });

function backup(status: BackupOperation["status"], error_message = ""): BackupOperation {
  return backupOp({
    id: 7,
    status,
    progress: { items_done: 3, items_total: 4, bytes_read: 30, bytes_written: 10 },
    error_message,
    started_at: "2026-01-01T00:00:01Z",
  });
}

const restore: RestoreOperation = restoreOp({ id: 5, status: "running", backup_operation_id: 7 });

describe("OperationDetail", () => {
  it("shows a backup with the kind's parts, and pauses it", async () => {
    vi.stubGlobal("EventSource", NoEventSource);
    let current = backup("running");
    const server = apiServer({
      "GET /backups/7": () => ({ status: 200, body: current }),
      "GET /backups/7/logs": emptyLogs,
      "POST /backups/7/pause": () => {
        current = backup("paused");
        return { status: 200, body: current };
      },
    });
    const user = userEvent.setup({ delay: null });
    renderPage(
      <OperationDetail
        kind="backups"
        id={7}
        parts={(b) => ({
          summary: <span>from {b.source_connection_id}</span>,
          details: <MetaItem label="Source">source #{b.source_connection_id}</MetaItem>,
          actions: <a href="/x">Extra action</a>,
        })}
      />,
      "/backups/7",
      "/backups/:id",
      me("operator"),
    );
    expect(await screen.findByRole("heading", { name: "Backup #7" })).toBeInTheDocument();
    expect(screen.getByTestId("page-status")).toHaveTextContent(/Running\s*from 1/);
    expect(screen.getByText("source #1")).toBeInTheDocument();
    for (const label of ["Source", "Created", "Started", "Finished"]) expect(screen.getByText(label)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Extra action" })).toBeInTheDocument();
    expect(screen.getByTestId("terminal-log")).toBeInTheDocument();
    expect(screen.queryByTestId("operation-error")).toBeNull();

    await user.click(screen.getByRole("button", { name: "Pause" }));
    await waitFor(() => expect(screen.getByTestId("page-status")).toHaveTextContent("Paused"));
    expect(server.calls.some((c) => c.method === "POST" && c.path === "/backups/7/pause")).toBe(true);
    expect(screen.getByRole("button", { name: "Resume" })).toBeEnabled();
  });

  it("shows the failure with the kind's hint", async () => {
    vi.stubGlobal("EventSource", NoEventSource);
    apiServer({ "GET /backups/7": ok(backup("failed", "the bucket is gone")), "GET /backups/7/logs": emptyLogs });
    renderPage(
      <OperationDetail kind="backups" id={7} parts={() => ({ summary: null, details: null, errorHint: <p>Resume it.</p> })} />,
      "/backups/7",
      "/backups/:id",
      me("viewer"),
    );
    const alert = await screen.findByTestId("operation-error");
    expect(alert).toHaveTextContent("The backup failed.");
    expect(alert).toHaveTextContent("the bucket is gone");
    expect(alert).toHaveTextContent("Resume it.");
    // A viewer gets no controls.
    expect(screen.queryByRole("button", { name: "Resume" })).toBeNull();
  });

  it("cancels a restore after asking, and offers it nothing else", async () => {
    vi.stubGlobal("EventSource", NoEventSource);
    const server = apiServer({
      "GET /restores/5": ok(restore),
      "GET /restores/5/logs": emptyLogs,
      "POST /restores/5/cancel": ok(restore),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(
      <OperationDetail kind="restores" id={5} parts={(r) => ({ summary: `of backup #${r.backup_operation_id}`, details: null })} />,
      "/restores/5",
      "/restores/:id",
      me("operator"),
    );
    expect(await screen.findByRole("heading", { name: "Restore #5" })).toBeInTheDocument();
    expect(screen.getByTestId("page-status")).toHaveTextContent("of backup #7");
    expect(screen.queryByRole("button", { name: "Pause" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    await user.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Cancel restore" }));
    await waitFor(() => expect(server.calls.some((c) => c.method === "POST" && c.path === "/restores/5/cancel")).toBe(true));
  });

  it("says when the address or the operation is wrong", async () => {
    apiServer({ "GET /restores/9": () => ({ status: 404, body: { error: "Restore 9 does not exist." } }) });
    const { unmount } = renderPage(
      <OperationDetail kind="restores" id={Number("x")} parts={() => ({ summary: null, details: null })} />,
      "/restores/x",
      "/restores/:id",
      me("viewer"),
    );
    expect(await screen.findByText("This restore address is not valid.")).toBeInTheDocument();
    unmount();
    renderPage(
      <OperationDetail kind="restores" id={9} parts={() => ({ summary: null, details: null })} />,
      "/restores/9",
      "/restores/:id",
      me("viewer"),
    );
    expect(await screen.findByText("Restore 9 does not exist.")).toBeInTheDocument();
  });
});
