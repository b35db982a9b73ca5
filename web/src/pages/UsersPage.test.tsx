import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AdminUser } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import UsersPage from "./UsersPage";

afterEach(() => vi.unstubAllGlobals());

function adminUser(id: number, email: string, role: AdminUser["role"], disabled = false): AdminUser {
  return { id, email, role, disabled, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };
}

const LAST_ADMIN =
  "admin@example.com is the last active administrator and cannot be demoted or disabled; make another user an administrator first.";

describe("UsersPage", () => {
  it("lists users and creates one, showing the server's field errors on the form", async () => {
    const users = [adminUser(1, "admin@example.com", "admin")];
    const server = apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /users": () => ({ status: 200, body: { items: users } }),
      "POST /users": ({ body }) => {
        const b = body as { email: string; role: AdminUser["role"] };
        if (b.email === "admin@example.com") {
          return {
            status: 409,
            body: { error: "A user with the email admin@example.com already exists.", fields: { email: "is already registered" } },
          };
        }
        const u = adminUser(2, b.email, b.role);
        users.push(u);
        return { status: 201, body: u };
      },
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<UsersPage />, "/users", "/users");
    expect(await screen.findByRole("cell", { name: /admin@example.com/ })).toHaveTextContent("(you)");

    await user.click(screen.getByRole("button", { name: "New user" }));
    const dialog = await screen.findByRole("dialog");
    await user.type(within(dialog).getByLabelText("Email"), "admin@example.com");
    await user.type(within(dialog).getByLabelText("Password"), "password123");
    await user.click(within(dialog).getByRole("button", { name: "Create user" }));
    expect(await within(dialog).findByText("Email is already registered.")).toBeInTheDocument();
    expect(within(dialog).getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");

    await user.clear(within(dialog).getByLabelText("Email"));
    await user.type(within(dialog).getByLabelText("Email"), "viewer@example.com");
    await user.click(within(dialog).getByRole("button", { name: "Create user" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    const row = await screen.findByRole("row", { name: /viewer@example.com/ });
    expect(within(row).getByLabelText("Role of viewer@example.com")).toHaveValue("viewer");
    const posts = server.calls.filter((c) => c.method === "POST");
    expect(posts.at(-1)).toEqual({
      method: "POST",
      path: "/users",
      body: { email: "viewer@example.com", role: "viewer", password: "password123" },
    });
  });

  it("shows the last-admin 409 sentence when demoting or disabling the last administrator", async () => {
    const server = apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /users": ok({ items: [adminUser(1, "admin@example.com", "admin"), adminUser(2, "ops@example.com", "operator")] }),
      "PUT /users/1": () => ({ status: 409, body: { error: LAST_ADMIN } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<UsersPage />, "/users", "/users");
    const select = await screen.findByLabelText("Role of admin@example.com");
    await user.selectOptions(select, "viewer");
    expect(await screen.findByTestId("users-error")).toHaveTextContent(LAST_ADMIN);
    expect(server.calls.find((c) => c.method === "PUT")).toEqual({ method: "PUT", path: "/users/1", body: { role: "viewer" } });
    // The role shown stays the stored one.
    expect(screen.getByLabelText("Role of admin@example.com")).toHaveValue("admin");

    await user.click(screen.getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByTestId("users-error")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Disable admin@example.com" }));
    await user.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Disable user" }));
    expect(await screen.findByTestId("users-error")).toHaveTextContent(LAST_ADMIN);
    expect(server.calls.filter((c) => c.method === "PUT").at(-1)?.body).toEqual({ disabled: true });
  });

  it("resets another user's password, with the server's reason when it is refused", async () => {
    const server = apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /users": ok({ items: [adminUser(1, "admin@example.com", "admin"), adminUser(2, "ops@example.com", "operator", true)] }),
      "POST /users/2/password": ({ body }) =>
        (body as { password: string }).password === "12345678"
          ? { status: 422, body: { error: "The password was not changed; correct the fields marked.", fields: { password: "is too common" } } }
          : { status: 204 },
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<UsersPage />, "/users", "/users");
    const row = await screen.findByRole("row", { name: /ops@example.com/ });
    expect(within(row).getByText("Disabled")).toBeInTheDocument();
    expect(within(row).getByRole("button", { name: "Enable ops@example.com" })).toBeInTheDocument();
    await user.click(within(row).getByRole("button", { name: "Reset the password of ops@example.com" }));
    const dialog = await screen.findByRole("dialog");
    await user.type(within(dialog).getByLabelText("New password"), "12345678");
    await user.click(within(dialog).getByRole("button", { name: "Set password" }));
    expect(await within(dialog).findByText("The password is too common.")).toBeInTheDocument();
    await user.clear(within(dialog).getByLabelText("New password"));
    await user.type(within(dialog).getByLabelText("New password"), "a-much-better-one");
    await user.click(within(dialog).getByRole("button", { name: "Set password" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(server.calls.filter((c) => c.path === "/users/2/password").map((c) => c.body)).toEqual([
      { password: "12345678" },
      { password: "a-much-better-one" },
    ]);
  });
});
