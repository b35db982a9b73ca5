// OperationList is the list of any operation kind: the columns every kind
// has, with the kind's own in their places, and the states around it.
import { useQuery } from "@tanstack/react-query";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ListPage, RestoreOperation } from "@/api/types";
import { renderPage } from "@/test/app";
import { restoreOp } from "@/test/fixtures";
import { OperationList } from "./OperationList";

function restore(id: number): RestoreOperation {
  return restoreOp({ id, status: id === 1 ? "failed" : "completed", backup_operation_id: 40 + id });
}

function Harness({ page, onPage }: { page: () => Promise<ListPage<RestoreOperation>>; onPage: (p: number) => void }) {
  const list = useQuery({ queryKey: ["list"], queryFn: page });
  return (
    <OperationList
      kind="restores"
      list={list}
      page={1}
      perPage={2}
      onPage={onPage}
      columns={[{ header: "Backup", cell: (r) => `Backup #${r.backup_operation_id}` }]}
      trailing={[{ header: "Size", cell: () => "1 KiB", className: "tabular-nums" }]}
      empty={<p>Nothing here yet</p>}
    />
  );
}

describe("OperationList", () => {
  it("lists the rows with the kind's columns in their places and pages on", async () => {
    const onPage = vi.fn();
    const user = userEvent.setup({ delay: null });
    renderPage(
      <Harness page={async () => ({ items: [restore(2), restore(1)], page: 1, per_page: 2, total: 3 })} onPage={onPage} />,
      "/",
      "/",
    );
    const rows = await screen.findAllByTestId("restore-row");
    expect(rows).toHaveLength(2);
    const headers = screen.getAllByRole("columnheader").map((h) => h.textContent);
    expect(headers).toEqual(["#", "Status", "Backup", "Progress", "Size", "Created"]);
    const first = within(rows[0] as HTMLElement);
    expect(first.getByRole("link", { name: "#2" })).toHaveAttribute("href", "/restores/2");
    expect(first.getByText("Backup #42")).toBeInTheDocument();
    expect(first.getByTestId("operation-status")).toHaveAttribute("data-status", "completed");
    expect(within(rows[1] as HTMLElement).getByTestId("operation-status")).toHaveAttribute("data-status", "failed");
    expect(screen.getByText("1–2 of 3")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(onPage).toHaveBeenCalledWith(2);
  });

  it("shows the empty state, and a failure with a retry", async () => {
    const { unmount } = renderPage(
      <Harness page={async () => ({ items: [], page: 1, per_page: 2, total: 0 })} onPage={() => {}} />,
      "/",
      "/",
    );
    expect(await screen.findByText("Nothing here yet")).toBeInTheDocument();
    expect(screen.queryByRole("table")).toBeNull();
    unmount();
    renderPage(
      <Harness
        page={async () => {
          throw new Error("The list could not be read.");
        }}
        onPage={() => {}}
      />,
      "/",
      "/",
    );
    expect(await screen.findByText("The list could not be read.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
