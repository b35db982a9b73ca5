import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keysFromState } from "@/lib/restoreKeys";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { backupOp, restoreOp } from "@/test/fixtures";
import NewRestorePage from "./NewRestorePage";

afterEach(() => vi.unstubAllGlobals());

const connections = ok({
  items: [
    { id: 1, name: "photos", type: "s3", roles: ["source", "destination", "restore_target"], credentials: { bucket: "photos" } },
    { id: 2, name: "disk", type: "local", roles: ["destination"], credentials: { path: "/srv" } },
    { id: 3, name: "shop", type: "mongodb", roles: ["source", "restore_target"], credentials: { uri: "mongodb://x" } },
  ],
});

const chosen = { pathname: "/backups/4/restore", state: { keys: ["docs/a.txt", "img/logo.png"] } };

describe("NewRestorePage with keys chosen in the entry browser", () => {
  it("lists the keys, restores only those, and puts the server's refusal beside them", async () => {
    let refuse = true;
    const server = apiServer({
      "GET /backups/4": ok(backupOp({ id: 4 })),
      "GET /connections": connections,
      "GET /encryption-keys": ok({ items: [] }),
      "POST /restores": () =>
        refuse
          ? { status: 422, body: { error: "The restore is not valid.", fields: { "config.keys": "1 of the keys are not in backup 4 (\"img/logo.png\")" } } }
          : { status: 202, body: restoreOp({ id: 12, backup_operation_id: 4 }) },
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<NewRestorePage />, chosen, "/backups/:id/restore", me("operator"));
    const box = await screen.findByTestId("chosen-keys");
    expect(box).toHaveTextContent("Only these 2 keys will be restored");
    expect(screen.getAllByTestId("chosen-key").map((li) => li.textContent)).toEqual(["docs/a.txt", "img/logo.png"]);
    // Only S3 targets for an S3 backup.
    const target = screen.getByLabelText("Restore into");
    expect([...target.querySelectorAll("option")].map((o) => o.textContent)).toEqual([
      "Choose a target connection…",
      "photos (Amazon S3 / S3-compatible)",
    ]);
    await user.selectOptions(target, "1");
    // The prefix filter makes no sense beside chosen keys.
    expect(screen.queryByLabelText("Only keys starting with")).toBeNull();
    await user.type(screen.getByLabelText("Bucket"), "photos-restored");

    await user.click(screen.getByRole("button", { name: "Start restore" }));
    expect(await screen.findByTestId("chosen-keys-error")).toHaveTextContent('1 of the keys are not in backup 4 ("img/logo.png")');
    refuse = false;
    await user.click(screen.getByRole("button", { name: "Start restore" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/restores/12"));
    const posts = server.calls.filter((c) => c.method === "POST");
    expect(posts.at(-1)?.body).toEqual({
      backup_operation_id: 4,
      destination_connection_id: 1,
      config: { bucket: "photos-restored", keys: ["docs/a.txt", "img/logo.png"], overwrite: false },
    });
  });

  it("goes back to the browser with the keys, or drops them to restore everything", async () => {
    const server = apiServer({
      "GET /backups/4": ok(backupOp({ id: 4 })),
      "GET /connections": connections,
      "GET /encryption-keys": ok({ items: [] }),
      "POST /restores": () => ({ status: 202, body: restoreOp({ id: 13, backup_operation_id: 4 }) }),
    });
    const user = userEvent.setup({ delay: null });
    const { unmount } = renderPage(<NewRestorePage />, chosen, "/backups/:id/restore", me("operator"));
    await screen.findByTestId("chosen-keys");
    await user.click(screen.getByRole("link", { name: "Change the selection" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/backups/4/browse"));
    unmount();

    const { router } = renderPage(<NewRestorePage />, chosen, "/backups/:id/restore", me("operator"));
    expect(keysFromState(router.state.location.state)).toHaveLength(2);
    await user.click(await screen.findByRole("button", { name: "Restore everything instead" }));
    expect(screen.queryByTestId("chosen-keys")).toBeNull();
    await user.selectOptions(screen.getByLabelText("Restore into"), "1");
    expect(screen.getByLabelText("Only keys starting with")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Start restore" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/restores/13"));
    expect((server.calls.find((c) => c.method === "POST")?.body as { config: object }).config).toEqual({ overwrite: false });
  });
});
