import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "@/api/types";
import { sinceToRFC3339 } from "@/lib/audit";
import { apiServer, type Call, me, ok, renderPage } from "@/test/app";
import AuditPage from "./AuditPage";

afterEach(() => vi.unstubAllGlobals());

function event(id: number, action: string, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    actor_id: 1,
    actor_email: "admin@example.com",
    action,
    target_type: "user",
    target_id: "1",
    ip: "127.0.0.1",
    details: {},
    created_at: "2026-01-01T10:00:00Z",
    ...extra,
  };
}

// The audit endpoint over a fixed list: filters by action and target type, pages of per_page.
function auditServer(all: AuditEvent[]) {
  return apiServer({
    "GET /auth/me": ok(me("admin")),
    "GET /audit": (call: Call) => {
      const q = new URL(call.path, "http://x").searchParams;
      const per = Number(q.get("per_page") ?? 20);
      const page = Number(q.get("page") ?? 1);
      const items = all.filter(
        (e) => (!q.get("action") || e.action === q.get("action")) && (!q.get("target_type") || e.target_type === q.get("target_type")),
      );
      return { status: 200, body: { items: items.slice((page - 1) * per, page * per), page, per_page: per, total: items.length } };
    },
  });
}

function auditQueries(calls: Call[]): URLSearchParams[] {
  return calls.filter((c) => c.path.startsWith("/audit")).map((c) => new URL(c.path, "http://x").searchParams);
}

describe("AuditPage", () => {
  it("keeps filters in the URL and sends them to the API", async () => {
    const server = auditServer([
      event(3, "user.create", { target_id: "2", details: { email: "v@example.com", role: "viewer" } }),
      event(2, "backup.start", { target_type: "backup", target_id: "9" }),
      event(1, "auth.login"),
    ]);
    const user = userEvent.setup({ delay: null });
    renderPage(<AuditPage />, "/audit", "/audit");
    expect(await screen.findAllByTestId("audit-row")).toHaveLength(3);
    expect(screen.getByRole("link", { name: "backup #9" })).toHaveAttribute("href", "/backups/9");
    expect(screen.getByText("email: v@example.com")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Action"), "user.create{Enter}");
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(1));
    expect(screen.getByTestId("location")).toHaveTextContent("/audit?action=user.create");

    await user.selectOptions(screen.getByLabelText("Target type"), "user");
    await user.type(screen.getByLabelText("Since"), "2026-01-02");
    await waitFor(() =>
      expect(screen.getByTestId("location")).toHaveTextContent("/audit?action=user.create&target_type=user&since=2026-01-02"),
    );
    await waitFor(() => {
      const last = auditQueries(server.calls).at(-1)!;
      expect(Object.fromEntries(last)).toEqual({
        action: "user.create",
        target_type: "user",
        since: sinceToRFC3339("2026-01-02"),
        page: "1",
        per_page: "50",
      });
    });

    await user.click(screen.getAllByRole("button", { name: "Clear filters" })[0]!);
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/audit$/));
    expect(screen.getByLabelText("Action")).toHaveValue("");
  });

  it("reads filters from the URL it is opened at, and pages", async () => {
    const many = Array.from({ length: 60 }, (_, i) => event(60 - i, "auth.login"));
    const server = auditServer(many);
    const user = userEvent.setup({ delay: null });
    renderPage(<AuditPage />, "/audit?action=auth.login&target_type=user", "/audit");
    expect(await screen.findAllByTestId("audit-row")).toHaveLength(50);
    expect(screen.getByLabelText("Action")).toHaveValue("auth.login");
    expect(screen.getByLabelText("Target type")).toHaveValue("user");
    expect(screen.getByText("1–50 of 60")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: /Next/ }));
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(10));
    expect(screen.getByTestId("location")).toHaveTextContent("/audit?action=auth.login&target_type=user&page=2");
    expect(Object.fromEntries(auditQueries(server.calls).at(-1)!)).toMatchObject({ page: "2", action: "auth.login" });
  });

  it("says when nothing matches", async () => {
    auditServer([event(1, "auth.login")]);
    renderPage(<AuditPage />, "/audit?action=user.delete", "/audit");
    const empty = await screen.findByText("No events match these filters");
    expect(empty.parentElement).toHaveTextContent(/matches whole names/);
    expect(within(empty.parentElement!).getByRole("button", { name: "Clear filters" })).toBeInTheDocument();
  });
});
