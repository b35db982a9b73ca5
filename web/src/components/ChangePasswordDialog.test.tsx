import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { Layout } from "./Layout";

afterEach(() => vi.unstubAllGlobals());

// The signed-in user comes from GET /auth/me, as in the app.
function renderLayout() {
  return renderPage(<Layout />, "/", "/");
}

describe("Layout", () => {
  it.each([
    ["admin", true],
    ["operator", false],
    ["viewer", false],
  ] as const)("%s: Users and Audit in the navigation = %s", async (role, shown) => {
    apiServer({ "GET /auth/me": ok(me(role)) });
    renderLayout();
    const nav = await screen.findByRole("navigation", { name: "Main" });
    // jsdom applies no CSS: each nav label is in the DOM twice (wide and narrow screens).
    expect(within(nav).getByRole("link", { name: /Dashboard/ })).toBeInTheDocument();
    expect(within(nav).queryByRole("link", { name: /Users/ }) !== null).toBe(shown);
    expect(within(nav).queryByRole("link", { name: /Audit/ }) !== null).toBe(shown);
  });
});

describe("ChangePasswordDialog", () => {
  it("is reachable by every user and changes the password", async () => {
    const server = apiServer({ "GET /auth/me": ok(me("viewer")), "POST /auth/password": () => ({ status: 204 }) });
    const user = userEvent.setup({ delay: null });
    renderLayout();
    await user.click(await screen.findByRole("button", { name: "Change password" }));
    const dialog = await screen.findByRole("dialog", { name: "Change your password" });
    await user.type(within(dialog).getByLabelText("Current password"), "old-password");
    await user.type(within(dialog).getByLabelText("New password"), "new-password");
    await user.type(within(dialog).getByLabelText("New password again"), "new-password");
    await user.click(within(dialog).getByRole("button", { name: "Change password" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(server.calls.find((c) => c.method === "POST")).toEqual({
      method: "POST",
      path: "/auth/password",
      body: { current_password: "old-password", new_password: "new-password" },
    });
  });

  it("checks the new password twice before sending, and shows a wrong current password beside its field", async () => {
    const server = apiServer({
      "GET /auth/me": ok(me("operator")),
      "POST /auth/password": () => ({
        status: 422,
        body: { error: "The current password is not correct.", fields: { current_password: "is not correct" } },
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderLayout();
    await user.click(await screen.findByRole("button", { name: "Change password" }));
    const dialog = await screen.findByRole("dialog");
    await user.type(within(dialog).getByLabelText("Current password"), "guess");
    await user.type(within(dialog).getByLabelText("New password"), "new-password");
    await user.type(within(dialog).getByLabelText("New password again"), "new-passwort");
    await user.click(within(dialog).getByRole("button", { name: "Change password" }));
    expect(within(dialog).getByLabelText("New password again")).toHaveAccessibleDescription(
      "The two new passwords differ; type the same one twice.",
    );
    expect(server.calls.some((c) => c.method === "POST")).toBe(false);

    await user.clear(within(dialog).getByLabelText("New password again"));
    await user.type(within(dialog).getByLabelText("New password again"), "new-password");
    await user.click(within(dialog).getByRole("button", { name: "Change password" }));
    await waitFor(() =>
      expect(within(dialog).getByLabelText("Current password")).toHaveAccessibleDescription("The current password is not correct."),
    );
  });

  it("shows the rate limit sentence", async () => {
    apiServer({
      "GET /auth/me": ok(me("admin")),
      "POST /auth/password": () => ({ status: 429, body: { error: "Too many wrong passwords; try again in 60 seconds." } }),
    });
    const user = userEvent.setup({ delay: null });
    renderLayout();
    await user.click(await screen.findByRole("button", { name: "Change password" }));
    const dialog = await screen.findByRole("dialog");
    await user.type(within(dialog).getByLabelText("Current password"), "guess");
    await user.type(within(dialog).getByLabelText("New password"), "new-password");
    await user.type(within(dialog).getByLabelText("New password again"), "new-password");
    await user.click(within(dialog).getByRole("button", { name: "Change password" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("Too many wrong passwords; try again in 60 seconds.");
  });
});
