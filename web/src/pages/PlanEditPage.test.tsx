import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection, Plan, PlanInput } from "@/api/types";
import { apiServer, me, ok, renderPage } from "@/test/app";
import PlanEditPage, { verifyModeOf } from "./PlanEditPage";

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

  it("chooses when to verify: a schedule of its own is previewed, required and sent as verify", async () => {
    const server = apiServer({
      "GET /connections": ok({ items: [conn(1, "bucket", "s3", ["source", "destination", "restore_target"]), conn(2, "disk", "local", ["destination"])] }),
      "GET /schedules/preview": () => ({ status: 200, body: { times: ["2026-03-29T04:00:00Z"] } }),
      "POST /plans": (c) => ({ status: 201, body: { ...plan("none"), id: 9, verify: (c.body as { verify: string }).verify } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/new", "/plans/new", me("operator"));
    const verify = await screen.findByLabelText("Verify");
    expect(verify).toHaveValue("none");
    expect(screen.queryByLabelText("Verify at")).toBeNull();
    await user.type(screen.getByLabelText("Name"), "nightly");
    await user.selectOptions(screen.getByLabelText("Source"), "1");
    await user.selectOptions(screen.getByLabelText("Destination"), "2");

    await user.selectOptions(verify, "schedule");
    const at = screen.getByLabelText("Verify at");
    // Empty: refused here, before anything is sent.
    await user.click(screen.getByRole("button", { name: "Create plan" }));
    expect(await screen.findByText("Enter when to verify, or choose another option.")).toBeInTheDocument();
    expect(at).toHaveAttribute("aria-invalid", "true");
    expect(server.calls.some((c) => c.method === "POST")).toBe(false);

    await user.type(at, "@every 24h");
    const preview = await screen.findByTestId("verify-schedule-preview");
    expect(preview).toHaveTextContent("Next verifications (UTC):");
    expect(
      server.calls.some((c) => c.path.startsWith("/schedules/preview") && new URLSearchParams(c.path.split("?")[1]).get("schedule") === "@every 24h"),
    ).toBe(true);
    await user.click(screen.getByRole("button", { name: "Create plan" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/plans/9"));
    expect(server.calls.find((c) => c.method === "POST")?.body).toMatchObject({ name: "nightly", verify: "@every 24h", schedule: "@daily" });
  });

  it("shows a plan's verify setting as the choice it is, and sends none for Never", async () => {
    const server = apiServer({
      "GET /connections": ok({ items: [conn(1, "bucket", "s3", ["source", "destination", "restore_target"]), conn(2, "disk", "local", ["destination"])] }),
      "GET /plans/5": ok(plan("0 4 * * 0")),
      "GET /plans/5/retention": ok({ items: [] }),
      "GET /schedules/preview": ok({ times: [] }),
      "PUT /plans/5": (c) => ({ status: 200, body: { ...plan("none"), verify: (c.body as { verify: string }).verify } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/5/edit", "/plans/:id/edit", me("operator"));
    expect(await screen.findByLabelText("Verify")).toHaveValue("schedule");
    expect(screen.getByLabelText("Verify at")).toHaveValue("0 4 * * 0");
    await user.selectOptions(screen.getByLabelText("Verify"), "after_each");
    expect(screen.queryByLabelText("Verify at")).toBeNull();
    await user.selectOptions(screen.getByLabelText("Verify"), "none");
    await user.click(screen.getByRole("button", { name: "Save plan" }));
    await waitFor(() => expect(server.calls.some((c) => c.method === "PUT")).toBe(true));
    expect(server.calls.find((c) => c.method === "PUT")?.body).toMatchObject({ verify: "none" });
  });
});

describe("PlanEditPage incremental plans", () => {
  const connections = ok({
    items: [
      conn(1, "bucket", "s3", ["source", "destination", "restore_target"]),
      conn(2, "disk", "local", ["destination"]),
      conn(3, "shop", "mongodb", ["source", "restore_target"]),
    ],
  });

  it("offers incremental for an S3 source, asks then when a full backup runs, and sends mode, level and full_every", async () => {
    const server = apiServer({
      "GET /connections": connections,
      "GET /schedules/preview": ok({ times: [] }),
      "POST /plans": () => ({ status: 201, body: { ...plan("none"), id: 9 } }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/new", "/plans/new", me("operator"));
    await user.type(await screen.findByLabelText("Name"), "hourly");
    const mode = screen.getByLabelText("Mode");
    expect(within(mode).getAllByRole("option")).toHaveLength(1);
    await user.selectOptions(screen.getByLabelText("Source"), "1");
    await user.selectOptions(screen.getByLabelText("Destination"), "2");
    expect(screen.queryByLabelText("Full backup every")).toBeNull();

    await user.selectOptions(mode, "incremental");
    expect(mode).toHaveAccessibleDescription(
      "Incremental: only new and changed objects are stored; unchanged ones point at earlier archives.",
    );
    const every = screen.getByLabelText("Full backup every");
    expect(every).toHaveAttribute("placeholder", expect.stringContaining("cron"));
    expect(every).toHaveAccessibleDescription(/a number|incrementals/i);
    await user.type(every, "0 3 * * 0");
    await user.selectOptions(screen.getByLabelText("Compression level"), "fastest");
    await user.click(screen.getByRole("button", { name: "Create plan" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/plans/9"));
    const body = server.calls.find((c) => c.method === "POST")?.body as PlanInput;
    expect(body).toMatchObject({ name: "hourly", full_every: "0 3 * * 0" });
    expect(body.options).toEqual({ mode: "incremental", compression: "gzip", compression_level: "fastest" });
  });

  it("shows the server's refusal of full_every at its field, and of the mode at the mode", async () => {
    apiServer({
      "GET /connections": connections,
      "GET /schedules/preview": ok({ times: [] }),
      "GET /plans/5": ok({ ...plan("none"), options: { mode: "incremental", compression: "zstd", compression_level: "best" }, full_every: "7" }),
      "GET /plans/5/retention": ok({ items: [] }),
      "PUT /plans/5": () => ({
        status: 422,
        body: {
          error: "the plan is not valid",
          fields: { full_every: "must be a whole number or a 5-field cron expression", "options.mode": "incremental backups are for s3 sources" },
        },
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/5/edit", "/plans/:id/edit", me("operator"));
    expect(await screen.findByLabelText("Mode")).toHaveValue("incremental");
    expect(screen.getByLabelText("Compression level")).toHaveValue("best");
    const every = screen.getByLabelText("Full backup every");
    expect(every).toHaveValue("7");
    await user.clear(every);
    await user.type(every, "every sunday");
    await user.click(screen.getByRole("button", { name: "Save plan" }));
    await waitFor(() => expect(every).toHaveAttribute("aria-invalid", "true"));
    expect(every).toHaveAccessibleDescription("must be a whole number or a 5-field cron expression");
    expect(screen.getByLabelText("Mode")).toHaveAccessibleDescription("incremental backups are for s3 sources");
  });

  it("sends a full plan without full_every, and a MongoDB source's plan as full", async () => {
    const server = apiServer({
      "GET /connections": connections,
      "GET /schedules/preview": ok({ times: [] }),
      "GET /plans/5": ok({ ...plan("none"), options: { mode: "incremental" }, full_every: "7" }),
      "GET /plans/5/retention": ok({ items: [] }),
      "PUT /plans/5": () => ({ status: 200, body: plan("none") }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PlanEditPage />, "/plans/5/edit", "/plans/:id/edit", me("operator"));
    await user.selectOptions(await screen.findByLabelText("Source"), "3");
    expect(screen.getByLabelText("Mode")).toHaveValue("full");
    expect(screen.queryByLabelText("Full backup every")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Save plan" }));
    await waitFor(() => expect(server.calls.some((c) => c.method === "PUT")).toBe(true));
    const body = server.calls.find((c) => c.method === "PUT")?.body as PlanInput;
    expect(body.source_connection_id).toBe(3);
    expect(body.options).toEqual({ compression: "gzip" });
    expect(body).not.toHaveProperty("full_every");
  });

  it("says which backup a base is kept for in the retention preview", async () => {
    apiServer({
      "GET /connections": connections,
      "GET /schedules/preview": ok({ times: [] }),
      "GET /plans/5": ok({ ...plan("none"), options: { mode: "incremental" } }),
      "GET /plans/5/retention": ok({
        items: [
          { backup_id: 13, completed_at: "2026-01-03T00:00:00Z", keep: true, reasons: ["last"] },
          { backup_id: 12, completed_at: "2026-01-02T00:00:00Z", keep: true, reasons: ["base of #13"] },
          { backup_id: 11, completed_at: "2026-01-01T00:00:00Z", keep: true, reasons: ["daily", "base of #12"] },
          { backup_id: 10, completed_at: "2025-12-31T00:00:00Z", keep: false, reasons: [] },
        ],
      }),
    });
    renderPage(<PlanEditPage />, "/plans/5/edit", "/plans/:id/edit", me("operator"));
    const items = await screen.findAllByTestId("retention-item");
    expect(items.map((i) => i.textContent?.split(" · ")[2])).toEqual(["keep (last)", "keep (base of #13)", "keep (daily, base of #12)", "remove"]);
    const base = within(items[1] as HTMLElement).getByTestId("retention-base-of");
    expect(base).toHaveAttribute("title", "Kept because backup #13 is built on it.");
    expect(within(base).getByRole("link", { name: "#13" })).toHaveAttribute("href", "/backups/13");
  });
});

describe("verifyModeOf", () => {
  it("reads none, after_each and schedules", () => {
    expect(verifyModeOf(undefined)).toEqual({ mode: "none", schedule: "" });
    expect(verifyModeOf("none")).toEqual({ mode: "none", schedule: "" });
    expect(verifyModeOf("after_each")).toEqual({ mode: "after_each", schedule: "" });
    expect(verifyModeOf("@every 1h")).toEqual({ mode: "schedule", schedule: "@every 1h" });
  });
});

function plan(verify: string): Plan {
  return {
    id: 5,
    name: "nightly",
    source_connection_id: 1,
    destination_connection_id: 2,
    options: { compression: "gzip" },
    schedule: "@daily",
    schedule_text: "every day at 00:00",
    timezone: "UTC",
    catch_up: true,
    retention: {},
    alert_after: null,
    verify,
    full_every: "7",
    enabled: true,
    next_run_at: null,
    next_verify_at: null,
    last_run: null,
    last_success_at: null,
    overdue: false,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  };
}
