import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuthProviders } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import LoginPage from "./LoginPage";

afterEach(() => vi.unstubAllGlobals());

const both: AuthProviders = { local: true, oidc: { name: "Keycloak" } };
const ssoOnly: AuthProviders = { local: false, oidc: { name: "Keycloak" } };
const localOnly: AuthProviders = { local: true, oidc: null };

describe("LoginPage", () => {
  it("offers single sign-on beside the password form, keeping where to return", async () => {
    apiServer({ "GET /auth/providers": ok(both) });
    renderPage(<LoginPage />, "/login?next=%2Fbackups%3Fstatus%3Dfailed", "/login");
    const sso = await screen.findByRole("link", { name: "Sign in with Keycloak" });
    expect(sso).toHaveAttribute("href", "/api/v1/auth/oidc/start?next=%2Fbackups%3Fstatus%3Dfailed");
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByText("Use your Keycloak account, or the account your administrator created for you.")).toBeInTheDocument();
  });

  it("links to the plain start URL when there is nowhere to return to", async () => {
    apiServer({ "GET /auth/providers": ok(both) });
    renderPage(<LoginPage />, "/login", "/login");
    expect(await screen.findByRole("link", { name: "Sign in with Keycloak" })).toHaveAttribute("href", "/api/v1/auth/oidc/start");
  });

  it("hides the password form when local login is off", async () => {
    const server = apiServer({ "GET /auth/providers": ok(ssoOnly) });
    renderPage(<LoginPage />, "/login", "/login");
    expect(await screen.findByRole("link", { name: "Sign in with Keycloak" })).toBeInTheDocument();
    expect(screen.queryByLabelText("Password")).toBeNull();
    expect(screen.queryByLabelText("Email")).toBeNull();
    expect(screen.queryByRole("form", { name: "Sign in" })).toBeNull();
    expect(screen.getByText("Use your Keycloak account.")).toBeInTheDocument();
    expect(server.calls.map((c) => c.path)).toEqual(["/auth/providers"]);
  });

  it("shows the password form for break-glass sign-in at /login?local=1", async () => {
    apiServer({
      "GET /auth/providers": ok(ssoOnly),
      "POST /auth/login": ok(me("admin")),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<LoginPage />, "/login?local=1", "/login");
    expect(await screen.findByTestId("break-glass-note")).toHaveTextContent("coffer users reset-password");
    await user.type(screen.getByLabelText("Email"), "admin@example.com");
    await user.type(screen.getByLabelText("Password"), "break-glass-password");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/));
  });

  it("shows the server's refusal of a password sign-in", async () => {
    apiServer({
      "GET /auth/providers": ok(localOnly),
      "POST /auth/login": () => ({ status: 401, body: { error: "The email or password is incorrect." } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<LoginPage />, "/login", "/login");
    await user.type(await screen.findByLabelText("Email"), "a@example.com");
    await user.type(screen.getByLabelText("Password"), "wrong-password");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The email or password is incorrect.");
    expect(screen.queryByRole("link", { name: /Sign in with/ })).toBeNull();
  });

  it.each([
    ["email_unverified", "Your e-mail address at Keycloak is not verified. Verify it there, then sign in again."],
    ["state", "This sign-in could not be finished: it expired, was already used, or was started in another browser. Sign in again."],
    ["disabled", "Your coffer account is disabled. Ask an administrator to enable it."],
    ["unreachable", "Keycloak cannot be reached right now. Try again in a minute."],
    ["token_invalid", "The answer from Keycloak could not be verified, so you were not signed in. Ask an administrator to check coffer's log."],
    ["something-new", "Single sign-on did not sign you in. Try again."],
  ])("says why single sign-on was refused (%s)", async (code, sentence) => {
    apiServer({ "GET /auth/providers": ok(both) });
    renderPage(<LoginPage />, `/login?sso_error=${code}`, "/login");
    await screen.findByRole("link", { name: "Sign in with Keycloak" });
    expect(screen.getByTestId("sso-error")).toHaveTextContent(sentence);
  });

  it("keeps the password form when the sign-in options cannot be read", async () => {
    apiServer({ "GET /auth/providers": () => ({ status: 500, body: { error: "internal error" } }) });
    renderPage(<LoginPage />, "/login", "/login");
    expect(await screen.findByLabelText("Password")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: /Sign in with/ })).toBeNull();
  });
});
