import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Verification, VerifyResult } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { verificationOp } from "@/test/fixtures";
import VerificationDetailPage from "./VerificationDetailPage";

class NoEventSource {
  addEventListener() {}
  close() {}
}

afterEach(() => vi.unstubAllGlobals());

const emptyLogs = ok({ items: [], next_after: 0 });

function result(over: Partial<VerifyResult> = {}): VerifyResult {
  return {
    entries_checked: 1234,
    bytes_read: 3 * 1024 * 1024,
    entry_bytes: 5 * 1024 * 1024,
    documents: 0,
    contents_checked: true,
    sha256: "ef".repeat(32),
    problems: [],
    problem_count: 0,
    ...over,
  };
}

function ended(status: Verification["status"], r: VerifyResult | null, over: Partial<Verification> = {}): Verification {
  return verificationOp({
    id: 3,
    backup_operation_id: 8,
    status,
    result: r,
    started_at: "2026-01-01T00:00:01Z",
    completed_at: "2026-01-01T00:00:09Z",
    progress: { items_done: 1234, bytes_read: 3 * 1024 * 1024, bytes_written: 0 },
    ...over,
  });
}

function show(v: Verification, role: "operator" | "viewer" = "viewer") {
  vi.stubGlobal("EventSource", NoEventSource);
  const server = apiServer({ "GET /verifications/3": ok(v), "GET /verifications/3/logs": emptyLogs, "POST /verifications/3/cancel": ok(v) });
  renderPage(<VerificationDetailPage />, "/verifications/3", "/verifications/:id", me(role));
  return server;
}

describe("VerificationDetailPage", () => {
  it("shows a passed verification: its backup, figures and checksum, no problems", async () => {
    show(ended("completed", result()));
    expect(await screen.findByRole("heading", { name: "Verification #3" })).toBeInTheDocument();
    expect(screen.getByTestId("page-status")).toHaveTextContent(/Completed\s*of backup #8/);
    expect(screen.getByTestId("verified-backup")).toHaveAttribute("href", "/backups/8");
    const card = screen.getByTestId("verify-result");
    expect(card).toHaveAttribute("data-verdict", "passed");
    expect(within(card).getByTestId("verify-badge")).toHaveTextContent("Passed");
    expect(within(card).getByTestId("verify-verdict")).toHaveTextContent("1,234 entries read and checked, no problem found");
    expect(within(card).getByTestId("verify-entries")).toHaveTextContent("1,234");
    expect(within(card).getByTestId("verify-bytes-read")).toHaveTextContent("3.0 MB");
    expect(within(card).getByTestId("verify-contents-checked")).toHaveTextContent("yes");
    expect(within(card).getByText("ef".repeat(32))).toBeInTheDocument();
    expect(screen.queryByTestId("contents-not-checked")).toBeNull();
    expect(screen.queryByTestId("verify-problem")).toBeNull();
    expect(screen.queryByTestId("operation-error")).toBeNull();
    expect(screen.getByTestId("terminal-log")).toBeInTheDocument();
  });

  it("lists a failed verification's problems, entry by entry, and says when the list is cut", async () => {
    show(
      ended(
        "failed",
        result({
          documents: 50,
          problems: [
            { entry: "mongodb/shop/orders.bson", message: "SHA-256 does not match the manifest" },
            { message: "the archive ends early" },
          ],
          problem_count: 140,
        }),
        { error_message: "140 problems found in the archive." },
      ),
    );
    const card = await screen.findByTestId("verify-result");
    expect(card).toHaveAttribute("data-verdict", "failed");
    expect(within(card).getByTestId("verify-badge")).toHaveTextContent("Failed");
    expect(within(card).getByTestId("verify-verdict")).toHaveTextContent("140 problems found.");
    const rows = within(card).getAllByTestId("verify-problem");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("mongodb/shop/orders.bson");
    expect(rows[0]).toHaveTextContent("SHA-256 does not match the manifest");
    expect(rows[1]).toHaveTextContent("the whole archive");
    expect(rows[1]).toHaveTextContent("the archive ends early");
    expect(within(card).getByText("Showing the first 2 of 140 problems.")).toBeInTheDocument();
    expect(within(card).getByText("50")).toBeInTheDocument();
    expect(screen.getByTestId("operation-error")).toHaveTextContent("140 problems found in the archive.");
  });

  it("says when an encrypted archive was checked only by its stored checksum", async () => {
    show(ended("completed", result({ contents_checked: false, entries_checked: 0 })));
    const note = await screen.findByTestId("contents-not-checked");
    expect(note).toHaveTextContent("Contents not checked.");
    expect(note).toHaveTextContent(/only the stored bytes were checked against the archive's checksum/);
    expect(screen.getByTestId("verify-contents-checked")).toHaveTextContent("no (checksum only)");
    expect(screen.getByTestId("verify-verdict")).toHaveTextContent("The archive passed its checksum check.");
  });

  it("waits for the result while it runs, and lets an operator cancel it", async () => {
    const server = show(ended("running", null, { completed_at: null, plan_id: 2 }), "operator");
    const card = await screen.findByTestId("verify-result");
    expect(card).toHaveTextContent("The result shows here once the verification ends.");
    expect(screen.getByRole("link", { name: "plan #2" })).toHaveAttribute("href", "/plans/2");
    expect(screen.queryByRole("button", { name: "Pause" })).toBeNull();
    const user = userEvent.setup({ delay: null });
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("the backup and its archive are not changed");
    await user.click(within(dialog).getByRole("button", { name: "Cancel verification" }));
    await vi.waitFor(() => expect(server.calls.some((c) => c.method === "POST" && c.path === "/verifications/3/cancel")).toBe(true));
  });
});
