import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { describe, expect, it, vi } from "vitest";
import type { Connection } from "@/api/types";
import { ConnectionCard, connectionHealth } from "./ConnectionCard";

const base: Connection = {
  id: 3,
  name: "media",
  type: "s3",
  credentials: { access_key: "AKIA1", secret_key: "****abcd", region: "us-east-1", bucket: "media" },
  is_active: true,
  last_validated_at: null,
  last_validation_error: null,
  needs_reauth: false,
  roles: ["source", "destination", "restore_target"],
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

describe("connectionHealth", () => {
  it("classifies by the last validation", () => {
    expect(connectionHealth(base)).toBe("unchecked");
    expect(connectionHealth({ ...base, last_validated_at: "2026-01-01T00:00:00Z" })).toBe("healthy");
    expect(connectionHealth({ ...base, last_validated_at: "2026-01-01T00:00:00Z", last_validation_error: "403" })).toBe("failing");
    expect(connectionHealth({ ...base, last_validated_at: "2026-01-01T00:00:00Z", needs_reauth: true })).toBe("failing");
  });
});

describe("ConnectionCard", () => {
  it("shows health, roles, the last error and working actions", async () => {
    const onTest = vi.fn();
    const onDelete = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(
      <MemoryRouter>
        <ConnectionCard
          connection={{ ...base, last_validated_at: "2026-01-01T00:00:00Z", last_validation_error: "Access denied." }}
          onTest={onTest}
          onDelete={onDelete}
        />
      </MemoryRouter>,
    );
    expect(screen.getByTestId("connection-health")).toHaveTextContent("Failing");
    expect(screen.getByText("Access denied.")).toBeInTheDocument();
    expect(screen.getByText("Restore target")).toBeInTheDocument();
    expect(screen.queryByText(/\*\*\*\*abcd/)).toBeNull();
    expect(screen.getByRole("link", { name: "Edit" })).toHaveAttribute("href", "/connections/3/edit");
    await user.click(screen.getByRole("button", { name: "Test" }));
    await user.click(screen.getByRole("button", { name: "Delete media" }));
    expect(onTest).toHaveBeenCalledOnce();
    expect(onDelete).toHaveBeenCalledOnce();
  });

  it("offers Reconnect for a Drive connection that needs it, and no actions for viewers", () => {
    const drive: Connection = { ...base, type: "google_drive", needs_reauth: true, roles: ["destination"] };
    const { rerender } = render(
      <MemoryRouter>
        <ConnectionCard connection={drive} />
      </MemoryRouter>,
    );
    expect(screen.getByTestId("connection-health")).toHaveTextContent("Needs reauthorization");
    expect(screen.getByRole("link", { name: "Reconnect Google Drive" })).toHaveAttribute(
      "href",
      "/api/v1/oauth/google/start?connection_id=3",
    );
    rerender(
      <MemoryRouter>
        <ConnectionCard connection={drive} canEdit={false} />
      </MemoryRouter>,
    );
    expect(screen.queryByRole("link", { name: "Edit" })).toBeNull();
    // Viewers learn why backups fail but get no action they may not take.
    expect(screen.getByTestId("reconnect-drive")).toHaveTextContent(/expired or was revoked/);
    expect(screen.queryByRole("link", { name: "Reconnect Google Drive" })).toBeNull();
    rerender(
      <MemoryRouter>
        <ConnectionCard connection={{ ...drive, needs_reauth: false }} />
      </MemoryRouter>,
    );
    expect(screen.queryByTestId("reconnect-drive")).toBeNull();
  });
});
