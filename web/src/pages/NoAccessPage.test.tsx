import { screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiServer, ok, renderPage } from "@/test/app";
import NoAccessPage from "./NoAccessPage";

afterEach(() => vi.unstubAllGlobals());

describe("NoAccessPage", () => {
  it("says the provider's groups give no access and leads back to sign-in", async () => {
    apiServer({ "GET /auth/providers": ok({ local: false, oidc: { name: "Authentik" } }) });
    renderPage(<NoAccessPage />, "/no-access", "/no-access");
    expect(screen.getByRole("heading", { name: "No access to coffer" })).toBeInTheDocument();
    expect(await screen.findByText(/None of your Authentik groups gives access to coffer/)).toHaveTextContent(
      "None of your Authentik groups gives access to coffer. Ask an administrator to add you to a group that has a coffer role.",
    );
    expect(screen.getByRole("link", { name: "Back to sign-in" })).toHaveAttribute("href", "/login");
  });
});
