// The new backup form: the mode (incremental only for an S3 source) and
// the compression level are sent with the options, and the server's
// refusal of a mode shows at its field.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp } from "@/test/fixtures";
import NewBackupPage from "./NewBackupPage";

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
  items: [
    conn(1, "photos", "s3", ["source", "destination", "restore_target"]),
    conn(2, "shop", "mongodb", ["source", "restore_target"]),
    conn(3, "disk", "local", ["destination"]),
  ],
});

function options(l: HTMLElement): string[] {
  return within(l).getAllByRole("option").map((o) => (o as HTMLOptionElement).value);
}

describe("NewBackupPage", () => {
  it("offers incremental for an S3 source only and sends the mode and compression level chosen", async () => {
    const server = apiServer({
      "GET /connections": connections,
      "GET /encryption-keys": ok({ items: [] }),
      "POST /backups": () => ({ status: 202, body: backupOp({ id: 21, status: "pending", mode: "incremental" }) }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<NewBackupPage />, "/backups/new", "/backups/new", me("operator"));

    const mode = await screen.findByLabelText("Mode");
    expect(options(mode)).toEqual(["full"]);
    expect(mode).toHaveAccessibleDescription(/Only an S3 source can be backed up incrementally/);
    await user.selectOptions(screen.getByLabelText("Source"), "2");
    expect(options(mode)).toEqual(["full"]);

    await user.selectOptions(screen.getByLabelText("Source"), "1");
    expect(options(mode)).toEqual(["full", "incremental"]);
    expect(mode).toHaveAccessibleDescription(
      "Incremental: only new and changed objects are stored; unchanged ones point at earlier archives.",
    );
    await user.selectOptions(mode, "incremental");
    expect(screen.getByLabelText("Compression level")).toHaveValue("default");
    await user.selectOptions(screen.getByLabelText("Compression level"), "best");
    await user.selectOptions(screen.getByLabelText("Destination"), "3");
    await user.click(screen.getByRole("button", { name: "Start backup" }));

    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/21"));
    expect(server.calls.find((c) => c.method === "POST")?.body).toEqual({
      source_connection_id: 1,
      destination_connection_id: 3,
      options: { mode: "incremental", compression: "gzip", compression_level: "best" },
    });
  });

  it("sends a MongoDB source's backup as full even after incremental was chosen for an S3 one, and leaves defaults out", async () => {
    const server = apiServer({
      "GET /connections": connections,
      "GET /encryption-keys": ok({ items: [] }),
      "POST /backups": () => ({ status: 202, body: backupOp({ id: 22, status: "pending" }) }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<NewBackupPage />, "/backups/new", "/backups/new", me("operator"));
    await user.selectOptions(await screen.findByLabelText("Source"), "1");
    await user.selectOptions(screen.getByLabelText("Mode"), "incremental");
    await user.selectOptions(screen.getByLabelText("Source"), "2");
    expect(screen.getByLabelText("Mode")).toHaveValue("full");
    await user.selectOptions(screen.getByLabelText("Destination"), "3");
    await user.click(screen.getByRole("button", { name: "Start backup" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/22"));
    expect(server.calls.find((c) => c.method === "POST")?.body).toEqual({
      source_connection_id: 2,
      destination_connection_id: 3,
      options: { compression: "gzip" },
    });
  });

  it("shows the server's refusal of the mode and the level at their fields", async () => {
    apiServer({
      "GET /connections": connections,
      "GET /encryption-keys": ok({ items: [] }),
      "POST /backups": () => ({
        status: 422,
        body: {
          error: "the backup is not valid",
          fields: { "options.mode": "incremental backups are for s3 sources", "options.compression_level": "must be fastest, default or best" },
        },
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<NewBackupPage />, "/backups/new", "/backups/new", me("operator"));
    await user.selectOptions(await screen.findByLabelText("Source"), "1");
    await user.selectOptions(screen.getByLabelText("Mode"), "incremental");
    await user.selectOptions(screen.getByLabelText("Destination"), "3");
    await user.click(screen.getByRole("button", { name: "Start backup" }));

    const mode = screen.getByLabelText("Mode");
    await waitFor(() => expect(mode).toHaveAttribute("aria-invalid", "true"));
    expect(mode).toHaveAccessibleDescription("incremental backups are for s3 sources");
    expect(screen.getByLabelText("Compression level")).toHaveAccessibleDescription("must be fastest, default or best");
    expect(screen.getByRole("alert")).toHaveTextContent("the backup is not valid");
  });
});
