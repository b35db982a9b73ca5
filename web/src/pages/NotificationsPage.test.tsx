import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Channel, Delivery } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import NotificationsPage from "./NotificationsPage";

afterEach(() => vi.unstubAllGlobals());

const hook: Channel = {
  id: 1,
  name: "ops hook",
  type: "webhook",
  config: { url: "https://hooks.example.com/coffer", secret: "****" },
  events: ["backup.failed", "plan.overdue"],
  plan_ids: [],
  enabled: true,
  created_at: "2026-12-01T00:00:00Z",
  updated_at: "2026-12-01T00:00:00Z",
};

const failed: Delivery = {
  id: 9,
  channel_id: 1,
  event: "backup.failed",
  status: "failed",
  attempts: 5,
  last_error: "the webhook answered 503 Service Unavailable",
  reply: "",
  payload: { message: "Backup #4 of prod to offsite failed." },
  created_at: "2026-12-01T03:00:00Z",
  sent_at: null,
};

const deliveries = (items: Delivery[]) => () => ({ status: 200, body: { items, page: 1, per_page: 20, total: items.length } });

describe("NotificationsPage", () => {
  it("lets an administrator create a channel, showing the server's field errors, and test one", async () => {
    const channels: Channel[] = [hook];
    const server = apiServer({
      "GET /auth/me": ok(me("admin")),
      "GET /notification-channels": () => ({ status: 200, body: { items: channels } }),
      "GET /notification-deliveries": deliveries([failed]),
      "GET /plans": ok({ items: [] }),
      "POST /notification-channels": ({ body }) => {
        const b = body as { name: string; config: { url: string } };
        if (!b.config.url.startsWith("https://")) {
          return { status: 422, body: { error: "The notification channel is not valid.", fields: { "config.url": "must be an http or https URL" } } };
        }
        const c: Channel = { ...hook, id: 2, name: b.name, config: b.config, events: ["backup.failed"] };
        channels.push(c);
        return { status: 201, body: c };
      },
      "POST /notification-channels/1/test": ok({ ok: true, reply: "200 OK" }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<NotificationsPage />, "/notifications", "/notifications");
    const row = within(await screen.findByRole("table", { name: "Notification channels" })).getByRole("row", { name: /ops hook/ });
    expect(within(row).getByText("https://hooks.example.com/coffer")).toBeInTheDocument();
    const log = within(await screen.findByRole("table", { name: "Delivery log" })).getByRole("row", { name: /A backup failed/ });
    expect(within(log).getByText("the webhook answered 503 Service Unavailable")).toBeInTheDocument();

    await user.click(within(row).getByRole("button", { name: "Send a test message to ops hook" }));
    await waitFor(() => expect(server.calls.some((c) => c.path === "/notification-channels/1/test")).toBe(true));

    await user.click(screen.getByRole("button", { name: "New channel" }));
    const dialog = await screen.findByRole("dialog");
    await user.type(within(dialog).getByLabelText("Name"), "chat");
    await user.selectOptions(within(dialog).getByLabelText("Type"), "webhook");
    await user.type(within(dialog).getByLabelText("URL"), "ftp://nope");
    for (const label of ["A restore failed", "Removing old backups failed", "Verifying an archive failed", "A destination is short of space"]) {
      await user.click(within(dialog).getByLabelText(label));
    }
    await user.click(within(dialog).getByLabelText("A plan is overdue (no success within alert_after)"));
    await user.click(within(dialog).getByLabelText("An overdue plan succeeded again"));
    await user.click(within(dialog).getByLabelText("A connection must be authorised again"));
    await user.click(within(dialog).getByRole("button", { name: "Create channel" }));
    expect(await within(dialog).findByText("URL must be an http or https URL.")).toBeInTheDocument();

    await user.clear(within(dialog).getByLabelText("URL"));
    await user.type(within(dialog).getByLabelText("URL"), "https://chat.example.com/h");
    await user.click(within(dialog).getByRole("button", { name: "Create channel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    await waitFor(() => expect(within(screen.getByRole("table", { name: "Notification channels" })).getByRole("row", { name: /chat/ })).toBeInTheDocument());
    const posts = server.calls.filter((c) => c.method === "POST" && c.path === "/notification-channels");
    expect(posts.at(-1)?.body).toEqual({
      name: "chat",
      type: "webhook",
      config: { url: "https://chat.example.com/h" },
      events: ["backup.failed"],
      plan_ids: [],
      enabled: true,
    });
  });

  it("shows a viewer the channels and the delivery log, without changing anything", async () => {
    apiServer({
      "GET /auth/me": ok(me("viewer")),
      "GET /notification-channels": ok({ items: [hook] }),
      "GET /notification-deliveries": deliveries([failed]),
    });
    renderPage(<NotificationsPage />, "/notifications", "/notifications");
    expect(within(await screen.findByRole("table", { name: "Notification channels" })).getByRole("row", { name: /ops hook/ })).toBeInTheDocument();
    expect(within(await screen.findByRole("table", { name: "Delivery log" })).getByRole("row", { name: /A backup failed/ })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "New channel" })).toBeNull();
    expect(screen.queryByRole("button", { name: /Edit/ })).toBeNull();
  });
});
