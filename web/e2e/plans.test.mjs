// A backup plan made through the UI: the schedule preview while typing, run
// now, the run in the plan's history and its backup listed, the retention
// preview while editing, and the Backups page filtered by the plan.
// Env: as flow.test.mjs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBucket, env, gate, launch, login, putObject, shot } from "./lib.mjs";

const cfg = env();
const NEEDS = [
  "COFFER_E2E_URL",
  "COFFER_E2E_EMAIL",
  "COFFER_E2E_PASSWORD",
  "COFFER_E2E_S3_ENDPOINT",
  "COFFER_E2E_S3_ACCESS_KEY",
  "COFFER_E2E_S3_SECRET_KEY",
  "COFFER_E2E_LOCAL_DIR",
];

test("a plan created through the UI runs, shows its history and previews its retention", { timeout: 300_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const run = `plan${Date.now().toString(36)}`;
  const bucket = `${run}-src`;
  await createBucket(cfg.s3, bucket);
  for (let i = 0; i < 3; i++) await putObject(cfg.s3, bucket, `doc-${i}.txt`, Buffer.from(`document ${i}\n`));

  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);
    // The connections come from the API (the connection form has its own spec).
    const made = await page.evaluate(
      async ({ run, bucket, s3, dir }) => {
        const post = async (body) => {
          const r = await fetch("/api/v1/connections", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
          return { status: r.status, body: await r.json() };
        };
        const src = await post({ name: `${run}-s3`, type: "s3", credentials: { access_key: s3.accessKey, secret_key: s3.secretKey, region: s3.region, bucket, endpoint: s3.endpoint, force_path_style: true } });
        const dst = await post({ name: `${run}-disk`, type: "local", credentials: { path: `${dir}/${run}` } });
        return { src, dst };
      },
      { run, bucket, s3: cfg.s3, dir: cfg.localDir },
    );
    assert.equal(made.src.status, 201, JSON.stringify(made.src.body));
    assert.equal(made.dst.status, 201, JSON.stringify(made.dst.body));

    await page.goto("/plans");
    await page.getByRole("link", { name: "New plan" }).first().click();
    await page.waitForURL(/\/plans\/new$/);
    await page.getByLabel("Name").fill(run);
    await page.getByLabel("Source", { exact: true }).selectOption({ label: `${run}-s3 (Amazon S3 / S3-compatible)` });
    await page.getByLabel("Destination", { exact: true }).selectOption({ label: `${run}-disk (Local directory)` });
    await page.getByLabel("Schedule").fill("61 2 * * *");
    await page.getByTestId("schedule-preview-error").filter({ hasText: "schedule" }).waitFor();
    await page.getByLabel("Schedule").fill("30 2 * * *");
    await page.getByLabel("Time zone").fill("Europe/Berlin");
    // The preview follows what is typed: wait for the one in Berlin time.
    const preview = page.getByTestId("schedule-preview").filter({ hasText: "Europe/Berlin" });
    await preview.locator("li").nth(4).waitFor();
    assert.equal(await preview.locator("li").count(), 5);
    await page.getByLabel("Keep last").fill("2");
    await shot(page, "plans-01-form");
    await page.getByRole("button", { name: "Create plan" }).click();
    await page.waitForURL(/\/plans\/\d+$/);
    const planId = Number(new URL(page.url()).pathname.split("/").pop());
    await page.getByRole("heading", { name: run }).waitFor();
    assert.match(await page.getByTestId("plan-schedule").textContent(), /2:30|02:30/);

    await page.getByRole("button", { name: "Run now" }).click();
    await page.locator('[data-testid="plan-event"][data-kind="run"]').first().waitFor({ timeout: 30_000 });
    const row = page.getByTestId("backup-row").first();
    await row.locator('[data-testid="operation-status"][data-status="completed"]').waitFor({ timeout: cfg.opTimeoutMs });
    await page.getByRole("img", { name: /Archive size and duration of the last 1 runs/ }).waitFor({ timeout: 15_000 });
    await shot(page, "plans-02-plan-page");

    // Editing retention previews what the policy keeps of the plan's backups.
    await page.getByRole("link", { name: "Edit" }).click();
    await page.waitForURL(/\/plans\/\d+\/edit$/);
    await page.getByLabel("Keep last").fill("1");
    const item = page.getByTestId("retention-item").first();
    await item.waitFor();
    assert.equal(await item.getAttribute("data-keep"), "true");
    assert.match(await page.getByTestId("retention-preview").textContent(), /keeps 1 and removes 0/);
    await shot(page, "plans-03-retention-preview");
    await page.getByRole("button", { name: "Save plan" }).click();
    await page.waitForURL(new RegExp(`/plans/${planId}$`));

    // The Backups page lists the plan's backup under its filter.
    await page.goto(`/backups?plan_id=${planId}`);
    await page.getByTestId("backup-row").first().waitFor();
    assert.equal(await page.getByTestId("backup-row").count(), 1);
    assert.equal(await page.getByLabel("Plan").inputValue(), String(planId));
  } finally {
    await b.close();
  }
});
