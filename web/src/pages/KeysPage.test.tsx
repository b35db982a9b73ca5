import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EncryptionKey } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import KeysPage, { keyInput, keyNeeds } from "./KeysPage";

afterEach(() => vi.unstubAllGlobals());

const kept: EncryptionKey = { id: 1, name: "vault", type: "x25519", recipient: "age1qqq", keeps_identity: true, created_at: "2026-12-01T00:00:00Z" };

describe("keyInput", () => {
  it("sends only what each kind of key takes", () => {
    expect(keyInput("a", "generate", "age1x", true, "p")).toEqual({ name: "a", type: "x25519", generate: true, keep_identity: true });
    expect(keyInput("a", "recipient", " age1x ", true, "p")).toEqual({ name: "a", type: "x25519", recipient: "age1x" });
    expect(keyInput("a", "passphrase", "age1x", true, "secret words")).toEqual({ name: "a", type: "passphrase", passphrase: "secret words" });
  });
  it("says what a restore needs", () => {
    expect(keyNeeds(kept)).toBe("Identity kept by coffer");
    expect(keyNeeds({ ...kept, keeps_identity: false })).toBe("Identity kept offline");
    expect(keyNeeds({ ...kept, type: "passphrase", recipient: undefined })).toBe("Passphrase kept by coffer");
  });
});

describe("KeysPage", () => {
  it("shows a generated identity once and the server's field errors", async () => {
    const items: EncryptionKey[] = [kept];
    const server = apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /encryption-keys": () => ({ status: 200, body: { items } }),
      "POST /encryption-keys": ({ body }) => {
        const b = body as { name: string; type: string; passphrase?: string };
        if (b.type === "passphrase") {
          return { status: 422, body: { error: "The encryption key is not valid.", fields: { passphrase: "must be at least 12 characters" } } };
        }
        const k: EncryptionKey = { id: 2, name: b.name, type: "x25519", recipient: "age1new", keeps_identity: false, created_at: "2026-12-02T00:00:00Z" };
        items.push(k);
        return { status: 201, body: { ...k, identity: "AGE-SECRET-KEY-1TESTIDENTITY" } };
      },
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<KeysPage />, "/keys", "/keys");
    const row = within(await screen.findByRole("table", { name: "Encryption keys" })).getByRole("row", { name: /vault/ });
    expect(within(row).getByText("Identity kept by coffer")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "New key" }));
    let form = screen.getByRole("form", { name: "New encryption key" });
    await user.type(within(form).getByLabelText(/Name/), "pass");
    await user.selectOptions(within(form).getByLabelText("Kind"), "passphrase");
    await user.type(within(form).getByLabelText(/Passphrase/), "short");
    await user.click(within(form).getByRole("button", { name: "Add key" }));
    expect(await within(form).findByText("must be at least 12 characters")).toBeInTheDocument();

    await user.selectOptions(within(form).getByLabelText("Kind"), "generate");
    await user.clear(within(form).getByLabelText(/Name/));
    await user.type(within(form).getByLabelText(/Name/), "offline");
    await user.click(within(form).getByRole("button", { name: "Add key" }));
    expect(await screen.findByTestId("new-identity")).toHaveTextContent("AGE-SECRET-KEY-1TESTIDENTITY");
    await user.click(screen.getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByText("AGE-SECRET-KEY-1TESTIDENTITY")).not.toBeInTheDocument();
    const posted = server.calls.filter((c) => c.method === "POST" && c.path === "/encryption-keys").map((c) => c.body);
    expect(posted[1]).toEqual({ name: "offline", type: "x25519", generate: true, keep_identity: false });
    form = await screen.findByRole("table", { name: "Encryption keys" });
    expect(within(form).getByRole("row", { name: /offline/ })).toBeInTheDocument();
  });

  it("offers no changes to a viewer", async () => {
    apiServer({ "GET /auth/me": ok(me("viewer")), "GET /encryption-keys": ok({ items: [kept] }) });
    renderPage(<KeysPage />, "/keys", "/keys");
    await screen.findByRole("table", { name: "Encryption keys" });
    expect(screen.queryByRole("button", { name: "New key" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Delete/ })).not.toBeInTheDocument();
  });
});
