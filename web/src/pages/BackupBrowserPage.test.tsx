import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackupEntries, BackupEntry, Connection } from "@/api/types";
import { keysFromState } from "@/lib/restoreKeys";
import { apiServer, me, ok, renderPage, type Call } from "@/test/app";
import { backupOp } from "@/test/fixtures";
import BackupBrowserPage, { crumbsOf } from "./BackupBrowserPage";

afterEach(() => vi.unstubAllGlobals());

function conn(id: number, name: string, type: Connection["type"], roles: Connection["roles"]): Connection {
  return {
    id,
    name,
    type,
    credentials: {},
    is_active: true,
    last_validated_at: null,
    last_validation_error: null,
    needs_reauth: false,
    roles,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  } as Connection;
}

const connections = ok({
  items: [conn(1, "photos", "s3", ["source", "destination", "restore_target"]), conn(2, "disk", "local", ["destination"])],
});

function object(path: string, size: number, contentType = "text/plain"): BackupEntry {
  return { path, key: path, name: `objects/${path}`, size, sha256: "ab".repeat(32), content_type: contentType };
}

function page(over: Partial<BackupEntries>): BackupEntries {
  return { items: [], folders: [], page: 1, per_page: 50, total: over.items?.length ?? 0, ...over };
}

// The entries of a small bucket: readme.txt, docs/a.txt, docs/b.txt, img/logo.png.
function entries({ path }: Call) {
  const q = new URLSearchParams(path.split("?")[1]);
  const prefix = q.get("prefix") ?? "";
  const search = q.get("q") ?? "";
  if (search) {
    const all = [object("readme.txt", 10), object("docs/a.txt", 100), object("docs/b.txt", 200), object("img/logo.png", 5000, "image/png")];
    return { status: 200, body: page({ items: all.filter((e) => e.path.startsWith(prefix) && e.path.includes(search)) }) };
  }
  if (prefix === "docs/") return { status: 200, body: page({ items: [object("docs/a.txt", 100), object("docs/b.txt", 200)] }) };
  if (prefix === "img/") return { status: 200, body: page({ items: [object("img/logo.png", 5000, "image/png")] }) };
  return {
    status: 200,
    body: page({
      items: [object("readme.txt", 10)],
      folders: [
        { prefix: "docs/", entries: 2, bytes: 300 },
        { prefix: "img/", entries: 1, bytes: 5000 },
      ],
    }),
  };
}

describe("crumbsOf", () => {
  it("splits a prefix into its folders", () => {
    expect(crumbsOf("")).toEqual([]);
    expect(crumbsOf("a/b/")).toEqual([
      ["a", "a/"],
      ["b", "a/b/"],
    ]);
    expect(crumbsOf("a/part")).toEqual([
      ["a", "a/"],
      ["part", "a/part"],
    ]);
  });
});

describe("BackupBrowserPage", () => {
  it("opens folders, searches, keeps the objects chosen across both, and hands them to the restore form", async () => {
    const server = apiServer({
      "GET /backups/4": ok(backupOp({ id: 4, completed_at: "2026-01-01T00:10:00Z" })),
      "GET /connections": connections,
      "GET /backups/4/entries": entries,
    });
    const user = userEvent.setup({ delay: null });
    const { router } = renderPage(<BackupBrowserPage />, "/backups/4/browse", "/backups/:id/browse", me("operator"));

    // The top: two folders with their counts and sizes, and one object.
    const docs = await screen.findByRole("link", { name: "docs/" });
    const folders = screen.getAllByTestId("folder-row");
    expect(folders.map((r) => r.getAttribute("data-prefix"))).toEqual(["docs/", "img/"]);
    expect(folders[0]).toHaveTextContent("2 entries");
    expect(folders[0]).toHaveTextContent("300 B");
    expect(folders[1]).toHaveTextContent("1 entry");
    const readme = screen.getByTestId("entry-row");
    expect(readme).toHaveAttribute("data-path", "readme.txt");
    expect(readme).toHaveTextContent("text/plain");
    expect(readme).toHaveTextContent("abababababab…");
    expect(screen.getByRole("button", { name: "Restore 0 selected…" })).toBeDisabled();

    // Into docs/: the breadcrumbs follow, names are shown below the folder.
    await user.click(docs);
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/4/browse?prefix=docs%2F"));
    const a = await screen.findByRole("checkbox", { name: "Select docs/a.txt" });
    const crumbs = screen.getByRole("navigation", { name: "Folders" });
    expect(within(crumbs).getByText("docs")).toHaveAttribute("aria-current", "page");
    expect(screen.getAllByTestId("entry-row").map((r) => r.getAttribute("data-path"))).toEqual(["docs/a.txt", "docs/b.txt"]);
    expect(screen.queryByTestId("folder-row")).toBeNull();
    await user.click(a);
    expect(screen.getByTestId("selection-count")).toHaveTextContent("1 object selected (100 B)");

    // Back to the top by the breadcrumb, then a search: the choice stays.
    await user.click(within(crumbs).getByRole("link", { name: "All entries" }));
    await screen.findByRole("link", { name: "img/" });
    await user.type(screen.getByLabelText("Search paths"), "logo");
    await user.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/4/browse?q=logo"));
    const logo = await screen.findByRole("checkbox", { name: "Select img/logo.png" });
    expect(screen.getByTestId("search-summary")).toHaveTextContent("whose path contains “logo”: 1");
    // A search lists whole paths and no folders.
    expect(screen.getByTestId("entry-row")).toHaveTextContent("img/logo.png");
    expect(screen.queryByTestId("folder-row")).toBeNull();
    await user.click(logo);
    expect(screen.getByTestId("selection-count")).toHaveTextContent("2 objects selected");
    expect(
      server.calls.some((c) => c.path.startsWith("/backups/4/entries?") && new URLSearchParams(c.path.split("?")[1]).get("q") === "logo"),
    ).toBe(true);

    // Back in docs/, a.txt is still chosen.
    await user.click(screen.getByRole("button", { name: "Clear search" }));
    await user.click(await screen.findByRole("link", { name: "docs/" }));
    expect(await screen.findByRole("checkbox", { name: "Select docs/a.txt" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "Select docs/b.txt" })).not.toBeChecked();

    await user.click(screen.getByRole("button", { name: "Restore 2 selected…" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/backups\/4\/restore$/));
    expect(keysFromState(router.state.location.state).sort()).toEqual(["docs/a.txt", "img/logo.png"]);
  });

  it("selects a whole page at once, and clears the choice", async () => {
    apiServer({
      "GET /backups/4": ok(backupOp({ id: 4 })),
      "GET /connections": connections,
      "GET /backups/4/entries": entries,
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<BackupBrowserPage />, "/backups/4/browse?prefix=docs%2F", "/backups/:id/browse", me("operator"));
    await user.click(await screen.findByRole("checkbox", { name: "Select every object on this page" }));
    expect(screen.getByTestId("selection-count")).toHaveTextContent("2 objects selected (300 B)");
    expect(screen.getByRole("checkbox", { name: "Select every object on this page" })).toBeChecked();
    await user.click(screen.getByRole("button", { name: "Clear selection" }));
    expect(screen.getByRole("button", { name: "Restore 0 selected…" })).toBeDisabled();
  });

  it("lists an imported MongoDB backup's collections with their documents, with nothing to choose", async () => {
    apiServer({
      "GET /backups/9": ok(backupOp({ id: 9, imported: true, source_connection_id: 0, source: { type: "mongodb", name: "shop" } })),
      "GET /connections": connections,
      "GET /backups/9/entries": ok(
        page({
          items: [
            {
              path: "mongodb/shop/orders.bson",
              name: "mongodb/shop/orders.bson",
              size: 2048,
              sha256: "cd".repeat(32),
              documents: 1200,
              database: "shop",
              collection: "orders",
            },
          ],
        }),
      ),
    });
    renderPage(<BackupBrowserPage />, "/backups/9/browse?prefix=mongodb%2Fshop%2F", "/backups/:id/browse", me("operator"));
    const row = await screen.findByTestId("entry-row");
    expect(row).toHaveTextContent("orders.bson");
    expect(row).toHaveTextContent("1,200 documents");
    expect(screen.getByRole("heading", { name: "Browse backup #9" }).parentElement).toHaveTextContent("shop → disk");
    expect(screen.queryByRole("checkbox")).toBeNull();
    expect(screen.queryByTestId("selection-bar")).toBeNull();
  });

  it("offers viewers no choice, and says when the backup has not completed", async () => {
    apiServer({
      "GET /backups/4": ok(backupOp({ id: 4 })),
      "GET /backups/5": ok(backupOp({ id: 5, status: "running" })),
      "GET /connections": connections,
      "GET /backups/4/entries": entries,
    });
    const { unmount } = renderPage(<BackupBrowserPage />, "/backups/4/browse", "/backups/:id/browse", me("viewer"));
    await screen.findByRole("link", { name: "docs/" });
    expect(screen.queryByRole("checkbox")).toBeNull();
    unmount();
    renderPage(<BackupBrowserPage />, "/backups/5/browse", "/backups/:id/browse", me("operator"));
    expect(await screen.findByText("Nothing to browse yet")).toBeInTheDocument();
  });
});
