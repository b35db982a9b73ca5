// The full flow: connections, a backup with pause/resume, a restore into a
// new bucket, each checked through the UI and against S3 / the local dir.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD,
//      COFFER_E2E_S3_ENDPOINT, COFFER_E2E_S3_ACCESS_KEY, COFFER_E2E_S3_SECRET_KEY,
//      COFFER_E2E_S3_BUCKET, COFFER_E2E_LOCAL_DIR (a directory the server writes
//      to and this process can read).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { createBucket, env, filesUnder, gate, launch, listKeys, login, putObject, shot, waitForStatus } from "./lib.mjs";

const cfg = env();
const NEEDS = [
  "COFFER_E2E_URL",
  "COFFER_E2E_EMAIL",
  "COFFER_E2E_PASSWORD",
  "COFFER_E2E_S3_ENDPOINT",
  "COFFER_E2E_S3_ACCESS_KEY",
  "COFFER_E2E_S3_SECRET_KEY",
  "COFFER_E2E_S3_BUCKET",
  "COFFER_E2E_LOCAL_DIR",
];
const S3_LABEL = "Amazon S3 / S3-compatible";
const LOCAL_LABEL = "Local directory";

test("backup S3 to a local dir with pause/resume, then restore into a new bucket", { timeout: 600_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const run = `e2e${Date.now().toString(36)}`;
  const prefix = `${run}/`;
  // Incompressible data, several 8 MiB archive parts, so the backup reaches a
  // checkpoint (where a pause takes effect) before it finishes.
  const objects = Number(process.env.COFFER_E2E_OBJECTS ?? 300);
  const objectKB = Number(process.env.COFFER_E2E_OBJECT_KB ?? 1024);
  const restoreBucket = cfg.s3.restoreBucket || `${cfg.s3.bucket}-${run}`.toLowerCase().slice(0, 63);

  // Source data under a run-specific prefix, and an empty target bucket.
  await createBucket(cfg.s3, cfg.s3.bucket);
  const names = [];
  for (let i = 0; i < objects; i += 16) {
    const batch = [];
    for (let j = i; j < Math.min(objects, i + 16); j++) {
      const name = `obj-${String(j).padStart(5, "0")}.txt`;
      names.push(name);
      batch.push(putObject(cfg.s3, cfg.s3.bucket, `${prefix}${name}`, randomBytes(objectKB * 1024)));
    }
    await Promise.all(batch);
  }
  await createBucket(cfg.s3, restoreBucket);
  const localBefore = existsSync(cfg.localDir) ? new Set(filesUnder(cfg.localDir)) : new Set();

  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);

    // --- connections ---
    const s3Name = `${run}-s3`;
    await page.goto("/connections/new");
    await page.getByRole("heading", { name: "New connection" }).waitFor();
    await page.getByLabel("Type").selectOption({ label: S3_LABEL });
    await page.getByLabel("Name", { exact: true }).fill(s3Name);
    await page.getByLabel("Access key ID").fill(cfg.s3.accessKey);
    await page.getByLabel("Secret access key").fill(cfg.s3.secretKey);
    await page.getByLabel("Region").fill(cfg.s3.region);
    await page.getByLabel("Bucket", { exact: true }).fill(cfg.s3.bucket);
    await page.getByLabel("Key prefix").fill(prefix);
    await page.getByLabel("Endpoint URL").fill(cfg.s3.endpoint);
    await page.getByLabel("Force path-style addressing").check();
    await shot(page, "10-connection-new-s3");
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.waitForURL(/\/connections$/);
    const s3Card = page.getByTestId("connection-card").filter({ hasText: s3Name });
    await s3Card.waitFor();

    const localName = `${run}-local`;
    await page.goto("/connections/new");
    await page.getByLabel("Type").selectOption({ label: LOCAL_LABEL });
    await page.getByLabel("Name", { exact: true }).fill(localName);
    await page.getByLabel("Directory path").fill(cfg.localDir);
    await shot(page, "11-connection-new-local");
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.waitForURL(/\/connections$/);
    await page.getByTestId("connection-card").filter({ hasText: localName }).waitFor();

    // Saved after its check, the S3 connection is healthy at once.
    await s3Card.getByTestId("connection-health").and(page.locator("[data-health=healthy]")).waitFor();

    // A wrong secret key: the check refuses it with its reason, and the
    // form offers to save it anyway, as unchecked.
    const wrongName = `${run}-wrong`;
    await page.goto("/connections/new");
    await page.getByLabel("Type").selectOption({ label: S3_LABEL });
    await page.getByLabel("Name", { exact: true }).fill(wrongName);
    await page.getByLabel("Access key ID").fill(cfg.s3.accessKey);
    await page.getByLabel("Secret access key").fill(`${cfg.s3.secretKey}-wrong`);
    await page.getByLabel("Region").fill(cfg.s3.region);
    await page.getByLabel("Bucket", { exact: true }).fill(cfg.s3.bucket);
    await page.getByLabel("Endpoint URL").fill(cfg.s3.endpoint);
    await page.getByLabel("Force path-style addressing").check();
    await page.getByRole("button", { name: "Create connection" }).click();
    const refused = page.getByTestId("check-failed");
    await refused.waitFor();
    const reason = await refused.innerText();
    assert.match(reason, /key/i, "the refusal says what is wrong");
    assert.ok(!reason.includes(`${cfg.s3.secretKey}-wrong`), "the refusal does not show the secret typed");
    await shot(page, "11b-connection-check-failed");
    await page.getByRole("button", { name: "Save without checking" }).click();
    await page.waitForURL(/\/connections$/);
    await page
      .getByTestId("connection-card")
      .filter({ hasText: wrongName })
      .getByTestId("connection-health")
      .and(page.locator("[data-health=unchecked]"))
      .waitFor();

    // Test the S3 connection from its card: it must pass.
    await s3Card.getByRole("button", { name: "Test" }).click();
    await s3Card.getByTestId("connection-health").and(page.locator("[data-health=healthy]")).waitFor();
    await shot(page, "12-connections");

    // Edit shows the secret only masked.
    await s3Card.getByRole("link", { name: "Edit" }).click();
    const secret = page.getByLabel("Secret access key");
    await secret.waitFor();
    assert.equal(await secret.inputValue(), "", "a stored secret is never put in the form");
    assert.doesNotMatch(await page.content(), new RegExp(escapeRe(cfg.s3.secretKey)), "the secret is not in the page");
    await shot(page, "13-connection-edit");

    // --- backup ---
    await page.goto("/backups/new");
    await page.getByLabel("Source", { exact: true }).selectOption({ label: `${s3Name} (${S3_LABEL})` });
    await page.getByLabel("Destination", { exact: true }).selectOption({ label: `${localName} (${LOCAL_LABEL})` });
    await page.getByLabel("Compression", { exact: true }).selectOption("gzip");
    await shot(page, "20-backup-new");
    await page.getByRole("button", { name: "Start backup" }).click();
    await page.waitForURL(/\/backups\/\d+$/);
    const backupURL = page.url();

    // Pause as early as allowed, then see log lines.
    const pause = page.getByRole("button", { name: "Pause" });
    let paused = false;
    if (await pause.isEnabled().catch(() => false)) {
      await pause.click();
      const s = await waitForStatus(page, ["paused", "completed"], cfg.opTimeoutMs);
      paused = s === "paused";
    }
    if (!paused) {
      const msg = "the backup completed before the pause took effect; use more data (COFFER_E2E_OBJECTS) to exercise pause";
      if (cfg.requirePause) assert.fail(msg);
      t.diagnostic(msg);
    }
    await page.getByTestId("log-line").first().waitFor({ timeout: cfg.opTimeoutMs });
    if (paused) {
      await shot(page, "21-backup-paused");
      assert.equal(await page.getByRole("button", { name: "Resume" }).isEnabled(), true);
      assert.equal(await pause.isEnabled(), false);
      await page.getByRole("button", { name: "Resume" }).click();
      await waitForStatus(page, ["pending", "running", "completed"], cfg.opTimeoutMs);
    }
    await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
    await page.getByTestId("progress-percent").filter({ hasText: "100%" }).waitFor();
    assert.ok((await page.getByTestId("log-line").count()) > 0, "log lines arrived");
    assert.equal(await pause.isEnabled(), false);
    assert.equal(await page.getByRole("button", { name: "Cancel", exact: true }).isEnabled(), false);
    await shot(page, "22-backup-completed");

    // The archive and its checksum file are in the local directory.
    const added = filesUnder(cfg.localDir).filter((f) => !localBefore.has(f));
    assert.ok(added.some((f) => f.endsWith(".tar.gz")), `a .tar.gz archive was written (new files: ${added.join(", ")})`);
    assert.ok(added.some((f) => f.endsWith(".tar.gz.sha256")), "its .sha256 file was written");

    // --- restore into the new bucket ---
    await page.getByRole("link", { name: "Restore…" }).click();
    await page.waitForURL(/\/backups\/\d+\/restore$/);
    await page.getByLabel("Restore into").selectOption({ label: `${s3Name} (${S3_LABEL})` });
    await page.getByLabel("Bucket", { exact: true }).fill(restoreBucket);
    await shot(page, "30-restore-new");
    await page.getByRole("button", { name: "Start restore" }).click();
    await page.waitForURL(/\/restores\/\d+$/);
    await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
    await page.getByTestId("log-line").first().waitFor();
    await shot(page, "31-restore-completed");

    const restored = await listKeys(cfg.s3, restoreBucket);
    assert.equal(restored.length, names.length, `restored ${restored.length} of ${names.length} objects`);
    for (const n of names) assert.ok(restored.some((k) => k.endsWith(n)), `${n} restored`);

    // --- lists and dashboard ---
    await page.goto("/restores");
    await page.getByTestId("restore-row").first().waitFor();
    await shot(page, "32-restores");
    await page.goto("/backups");
    await page.getByTestId("backup-row").first().waitFor();
    await shot(page, "23-backups");
    await page.goto(backupURL);
    await page.getByTestId("terminal-log").waitFor();
    await page.goto("/");
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await shot(page, "40-dashboard-after");

    assert.deepEqual(b.consoleErrors, [], "no uncaught errors in the page");
  } catch (err) {
    await shot(b.page, `failure-flow`).catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
});

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
