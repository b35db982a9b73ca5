import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { verificationOp } from "@/test/fixtures";
import VerificationsPage from "./VerificationsPage";

afterEach(() => vi.unstubAllGlobals());

const result = { entries_checked: 3, bytes_read: 10, entry_bytes: 30, documents: 0, problems: [], problem_count: 0 };

describe("VerificationsPage", () => {
  it("lists verifications with their backup and verdict, and filters by status in the address", async () => {
    const server = apiServer({
      "GET /verifications": ok({
        items: [
          verificationOp({ id: 3, backup_operation_id: 8, status: "failed", plan_id: 2, result: { ...result, contents_checked: true, problem_count: 2 } }),
          verificationOp({ id: 2, backup_operation_id: 7, status: "completed", result: { ...result, contents_checked: false } }),
          verificationOp({ id: 1, backup_operation_id: 7, status: "cancelled" }),
        ],
        page: 1,
        per_page: 20,
        total: 3,
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<VerificationsPage />, "/verifications?backup_operation_id=7", "/verifications", me("viewer"));
    const rows = await screen.findAllByTestId("verification-row");
    expect(rows).toHaveLength(3);
    expect(within(rows[0]!).getByRole("link", { name: "#3" })).toHaveAttribute("href", "/verifications/3");
    expect(within(rows[0]!).getByRole("link", { name: "Backup #8" })).toHaveAttribute("href", "/backups/8");
    expect(within(rows[0]!).getByTestId("verify-badge")).toHaveTextContent("Failed");
    expect(rows[0]).toHaveTextContent("2 problems");
    expect(rows[0]).toHaveTextContent("plan #2");
    expect(within(rows[1]!).getByTestId("verify-badge")).toHaveTextContent("Passed");
    expect(rows[1]).toHaveTextContent("checksum only");
    expect(within(rows[2]!).queryByTestId("verify-badge")).toBeNull();
    expect(screen.getByText(/Of backup #7/)).toBeInTheDocument();
    expect(server.calls[0]?.path).toBe("/verifications?backup_operation_id=7&page=1&per_page=20");

    await user.selectOptions(screen.getByLabelText("Status"), "failed");
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/verifications?backup_operation_id=7&status=failed"));
    await waitFor(() => expect(server.calls.some((c) => c.path.includes("status=failed"))).toBe(true));
  });
});
