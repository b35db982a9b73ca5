import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import PlanEditPage from "./PlanEditPage";

afterEach(() => vi.unstubAllGlobals());

function conn(id: number, name: string, type: Connection["type"], roles: Connection["roles"]): Connection {
  return {
    id,
    name,
    type,
    credentials: {},
    is_active: true,
    last_validated_at: null,
    last_validation_error: null,
    needs_reauth: false,
    roles,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  } as Connection;
}

describe("PlanEditPage", () => {
  it("previews the schedule being typed, shows a refused one's reason, and puts the server's field errors at their fields", async () => {
    const server = apiServer({
      "GET /auth/me": ok(me("operator")),
      "GET /connections": ok({ items: [conn(1, "bucket", "s3", ["source", "destination", "restore_target"]), conn(2, "disk", "local", ["destination"])] }),
      "GET /schedules/preview": ({ path }) => {
        const q = new URLSearchParams(path.split("?")[1]);
        if (q.get("schedule") === "61 * * * *") {
          return { status: 422, body: { error: "the schedule is not valid", fields: { schedule: "minute 61 is out of range (0-59)" } } };
        }
        return { status: 200, body: { times: ["2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"] } };
      },
      "POST /plans": () => ({
        status: 422,
        body: { error: "the plan is not valid", fields: { "retention.keep_last": "must not be negative", name: "is required" } },
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/new", "/plans/new", me("operator"));
    const schedule = await screen.findByLabelText("Schedule");
    await user.clear(schedule);
    await user.type(schedule, "30 2 * * *");
    await user.clear(screen.getByLabelText("Time zone"));
    await user.type(screen.getByLabelText("Time zone"), "Europe/Berlin");
    const asked = (schedule: string, tz: string) =>
      server.calls.some((c) => {
        const q = new URLSearchParams(c.path.split("?")[1]);
        return c.path.startsWith("/schedules/preview") && q.get("schedule") === schedule && q.get("timezone") === tz;
      });
    await waitFor(() => expect(asked("30 2 * * *", "Europe/Berlin")).toBe(true));
    const preview = await screen.findByTestId("schedule-preview");
    expect(preview.querySelectorAll("li")).toHaveLength(2);

    await user.clear(schedule);
    await user.type(schedule, "61 * * * *");
    expect(await screen.findByTestId("schedule-preview-error")).toHaveTextContent("schedule minute 61 is out of range (0-59)");

    await user.selectOptions(screen.getByLabelText("Source"), "1");
    await user.selectOptions(screen.getByLabelText("Destination"), "2");
    await user.type(screen.getByLabelText("Keep last"), "-1");
    await user.click(screen.getByRole("button", { name: "Create plan" }));
    await waitFor(() => expect(screen.getByText("must not be negative")).toBeInTheDocument());
    const post = server.calls.find((c) => c.method === "POST");
    expect(post?.body).toMatchObject({
      source_connection_id: 1,
      destination_connection_id: 2,
      schedule: "61 * * * *",
      timezone: "Europe/Berlin",
      retention: { keep_last: -1 },
      catch_up: true,
      enabled: true,
    });
    expect(screen.getByText("is required")).toBeInTheDocument();
  });
});
