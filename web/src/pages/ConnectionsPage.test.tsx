import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection, ScanResult } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import ConnectionsPage from "./ConnectionsPage";

afterEach(() => vi.unstubAllGlobals());

function conn(id: number, name: string, type: Connection["type"], roles: Connection["roles"]): Connection {
  return {
    id,
    name,
    type,
    credentials: {},
    is_active: true,
    last_validated_at: "2026-01-01T00:00:00Z",
    last_validation_error: null,
    needs_reauth: false,
    roles,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  } as Connection;
}

const list = ok({
  items: [
    conn(1, "shop-db", "mongodb", ["source", "restore_target"]),
    conn(2, "disk", "local", ["destination"]),
    conn(3, "archive-bucket", "s3", ["source", "destination", "restore_target"]),
  ],
});

const scanned: ScanResult = {
  found: 4,
  imported: 2,
  already_known: 1,
  backup_ids: [11, 12],
  problems: [{ archive: "coffer-7.tar.gz", message: "its .sha256 does not match the archive" }],
};

/** holdScans makes POST …/scan wait until release() is called, so the busy state can be seen. */
function holdScans(fetchFn: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input).endsWith("/scan")) await gate;
    return fetchFn(input, init);
  });
  return () => release();
}

describe("ConnectionsPage scan", () => {
  it("scans a destination: busy while it runs, then what it found with links to the imported backups", async () => {
    const server = apiServer({
      "GET /connections": list,
      "POST /connections/3/scan": ok(scanned),
    });
    const release = holdScans(server.fetchFn);
    const user = userEvent.setup({ delay: null });
    renderPage(<ConnectionsPage />, "/connections", "/connections", me("operator"));

    const bucket = await screen.findByLabelText("Connection archive-bucket");
    // Destinations can be scanned; a MongoDB source cannot.
    expect(within(screen.getByLabelText("Connection disk")).getByRole("button", { name: "Scan for archives in disk" })).toBeEnabled();
    expect(within(screen.getByLabelText("Connection shop-db")).queryByRole("button", { name: /Scan for archives/ })).toBeNull();

    await user.click(within(bucket).getByRole("button", { name: "Scan for archives in archive-bucket" }));
    const dialog = await screen.findByRole("dialog", { name: "Scan archive-bucket for archives" });
    expect(within(dialog).getByRole("status")).toHaveTextContent("Scanning…");
    // The page behind the modal is hidden from assistive technology meanwhile.
    expect(within(bucket).getByRole("button", { name: "Scan for archives in archive-bucket", hidden: true })).toHaveTextContent("Scanning…");
    // One scan at a time.
    expect(screen.getByRole("button", { name: "Scan for archives in disk", hidden: true })).toBeDisabled();

    release();
    const summary = await within(dialog).findByTestId("scan-summary");
    expect(within(summary).getByTestId("scan-found")).toHaveTextContent("4");
    expect(within(summary).getByTestId("scan-imported")).toHaveTextContent("2");
    expect(within(summary).getByTestId("scan-known")).toHaveTextContent("1");
    expect(within(summary).getAllByTestId("scan-backup-link").map((a) => a.getAttribute("href"))).toEqual(["/backups/11", "/backups/12"]);
    expect(within(summary).getByTestId("scan-problem")).toHaveTextContent("coffer-7.tar.gz: its .sha256 does not match the archive");
    expect(server.calls.filter((c) => c.method === "POST").map((c) => c.path)).toEqual(["/connections/3/scan"]);

    // A link to an imported backup closes the dialog and goes there.
    await user.click(within(summary).getByRole("link", { name: "Backup #12" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/12"));
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("uses the same dialog for a deletion after a scan, and shows a failed scan's reason", async () => {
    apiServer({
      "GET /connections": list,
      "POST /connections/2/scan": () => ({ status: 422, body: { error: "The directory /srv/x does not exist." } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<ConnectionsPage />, "/connections", "/connections", me("operator"));
    await user.click(await screen.findByRole("button", { name: "Scan for archives in disk" }));
    const dialog = await screen.findByRole("dialog", { name: "Scan disk for archives" });
    expect(await within(dialog).findByTestId("scan-error")).toHaveTextContent("The directory /srv/x does not exist.");
    await user.click(within(dialog).getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());

    await user.click(screen.getByRole("button", { name: "Delete disk" }));
    const del = await screen.findByRole("dialog", { name: "Delete disk?" });
    expect(within(del).getByRole("button", { name: "Delete connection" })).toBeEnabled();
    expect(screen.getAllByRole("dialog")).toHaveLength(1);
  });

  it("offers viewers no scan", async () => {
    apiServer({ "GET /connections": list });
    renderPage(<ConnectionsPage />, "/connections", "/connections", me("viewer"));
    await screen.findByLabelText("Connection disk");
    expect(screen.queryByRole("button", { name: /Scan for archives/ })).toBeNull();
  });
});
