// Incremental S3 backups through the UI: an S3 -> S3 backup started from
// the form with mode Incremental is full the first time (nothing to build
// on yet); after one object of the source bucket changes, a second one is
// an incremental on the first, holding 1 changed object of the bucket's.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD,
//      COFFER_E2E_S3_ENDPOINT, COFFER_E2E_S3_ACCESS_KEY, COFFER_E2E_S3_SECRET_KEY.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createBucket, env, gate, launch, login, putObject, shot, waitForStatus } from "./lib.mjs";

const cfg = env();
const NEEDS = [
  "COFFER_E2E_URL",
  "COFFER_E2E_EMAIL",
  "COFFER_E2E_PASSWORD",
  "COFFER_E2E_S3_ENDPOINT",
  "COFFER_E2E_S3_ACCESS_KEY",
  "COFFER_E2E_S3_SECRET_KEY",
];
const S3_LABEL = "Amazon S3 / S3-compatible";

/** startIncremental fills the new backup form (source -> destination, incremental) and waits for the backup to complete. */
async function startIncremental(page, run, level) {
  await page.goto("/backups/new");
  await page.getByRole("heading", { name: "New backup" }).waitFor();
  await page.getByLabel("Source", { exact: true }).selectOption({ label: `${run}-src (${S3_LABEL})` });
  await page.getByLabel("Destination", { exact: true }).selectOption({ label: `${run}-dst (${S3_LABEL})` });
  // Offered once the source is known to be S3.
  await page.getByLabel("Mode", { exact: true }).selectOption("incremental");
  await page.getByLabel("Compression level", { exact: true }).selectOption(level);
  await page.getByRole("button", { name: "Start backup" }).click();
  await page.waitForURL(/\/backups\/\d+$/);
  const id = Number(new URL(page.url()).pathname.split("/").pop());
  await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
  return id;
}

test("an incremental S3 backup is full first, then holds only the changed object", { timeout: 300_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const run = `incr${Date.now().toString(36)}`;
  const source = `${run}-src`;
  const target = `${run}-dst`;
  const keys = ["a.txt", "docs/b.txt", "docs/c.txt", "img/d.bin", "img/e.bin"];
  await createBucket(cfg.s3, source);
  for (const k of keys) await putObject(cfg.s3, source, k, `${k}\n${randomBytes(32).toString("hex")}\n`);
  await createBucket(cfg.s3, target);

  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);

    // The connections come from the API (the flow spec drives their form).
    const made = await page.evaluate(
      async ({ run, source, target, s3 }) => {
        const post = async (path, body) => {
          const r = await fetch(`/api/v1${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
          return { status: r.status, body: await r.json() };
        };
        const creds = (bucket) => ({
          access_key: s3.accessKey,
          secret_key: s3.secretKey,
          region: s3.region,
          bucket,
          endpoint: s3.endpoint,
          force_path_style: true,
        });
        const src = await post("/connections", { name: `${run}-src`, type: "s3", credentials: creds(source) });
        const dst = await post("/connections", { name: `${run}-dst`, type: "s3", credentials: creds(target) });
        return { src, dst };
      },
      { run, source, target, s3: cfg.s3 },
    );
    assert.equal(made.src.status, 201, JSON.stringify(made.src.body));
    assert.equal(made.dst.status, 201, JSON.stringify(made.dst.body));

    // The first: asked for as incremental, but there is nothing to build on.
    const first = await startIncremental(page, run, "fastest");
    const firstMode = page.getByTestId("backup-mode");
    assert.equal(await firstMode.getAttribute("data-mode"), "full");
    assert.equal((await firstMode.textContent()).trim(), "full");
    assert.equal(await firstMode.getByRole("link").count(), 0, "a full backup names no base");
    await shot(page, "incremental-01-first-full");

    // One object changes.
    await putObject(cfg.s3, source, "docs/b.txt", `docs/b.txt changed\n${randomBytes(32).toString("hex")}\n`);

    const second = await startIncremental(page, run, "best");
    assert.ok(second > first, `backup #${second} comes after #${first}`);
    const mode = page.getByTestId("backup-mode");
    assert.equal(await mode.getAttribute("data-mode"), "incremental");
    assert.equal(await mode.getAttribute("data-base"), String(first));
    assert.equal((await mode.textContent()).trim(), `incremental (base #${first}, 1 changed of ${keys.length})`);
    await page.getByText("gzip (best)", { exact: true }).waitFor();
    await shot(page, "incremental-02-second");

    // The list says the same, and the base is a link to the first backup's page.
    await page.goto(`/backups?source_id=${made.src.body.id}`);
    // A row by its number (the first cell): the second's row links to the first's page too.
    const rowOf = (id) => page.getByTestId("backup-row").filter({ has: page.locator("td:first-child a", { hasText: new RegExp(`^#${id}$`) }) });
    const row = rowOf(second);
    await row.waitFor();
    assert.equal((await row.getByTestId("backup-mode").textContent()).trim(), `incremental (base #${first}, 1 changed of ${keys.length})`);
    assert.equal((await rowOf(first).getByTestId("backup-mode").textContent()).trim(), "full");
    await shot(page, "incremental-03-list");
    await row.getByTestId("backup-base").click();
    await page.waitForURL(new RegExp(`/backups/${first}$`));
    await page.getByRole("heading", { name: `Backup #${first}` }).waitFor();

    assert.deepEqual(b.consoleErrors, [], "no uncaught errors in the page");
  } catch (err) {
    await shot(b.page, "failure-incremental").catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
});
