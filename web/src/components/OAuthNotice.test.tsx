import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Toaster } from "sonner";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiServer, me, ok, renderPage } from "@/test/app";
import { OAuthNotice } from "./OAuthNotice";
import { RequireRole } from "./RequireRole";

afterEach(() => vi.unstubAllGlobals());

describe("OAuthNotice", () => {
  it("turns connected=1 into a success toast and takes it out of the URL", async () => {
    renderPage(
      <>
        <OAuthNotice />
        <Toaster />
      </>,
      "/connections/4/edit?connected=1&x=y",
      "/connections/:id/edit",
    );
    expect(await screen.findByText(/Google Drive is connected/)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/connections\/4\/edit\?x=y$/));
    expect(screen.queryByTestId("oauth-error")).toBeNull();
  });

  it("shows the server's oauth_error sentence until dismissed", async () => {
    const sentence = "Access to Google Drive was not granted, so nothing was changed; connect again and allow access to use Google Drive.";
    const user = userEvent.setup({ delay: null });
    renderPage(<OAuthNotice />, `/connections?oauth_error=${encodeURIComponent(sentence)}`, "/connections");
    expect(screen.getByTestId("oauth-error")).toHaveTextContent(`Google Drive was not connected. ${sentence}`);
    await user.click(screen.getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByTestId("oauth-error")).toBeNull();
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/connections$/);
  });
});

describe("RequireRole", () => {
  it.each([
    ["viewer", "operator", false],
    ["operator", "operator", true],
    ["operator", "admin", false],
    ["admin", "admin", true],
  ] as const)("%s on a page for %s: shown = %s", async (role, least, shown) => {
    apiServer({ "GET /auth/me": ok(me(role)) });
    renderPage(
      <RequireRole role={least}>
        <p>secret form</p>
      </RequireRole>,
      "/x",
      "/x",
    );
    if (shown) {
      expect(await screen.findByText("secret form")).toBeInTheDocument();
    } else {
      expect(await screen.findByTestId("forbidden")).toHaveTextContent("You do not have permission to open this page.");
      expect(screen.queryByText("secret form")).toBeNull();
    }
  });
});
