// A backup's entries browsed in the UI: folders opened, a search, two keys
// in different folders chosen and restored into a new bucket, which must
// then hold exactly those two objects with their bodies. On the way, the
// backup is verified from its page, and its destination scanned (the archive
// is known already).
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD,
//      COFFER_E2E_S3_ENDPOINT, COFFER_E2E_S3_ACCESS_KEY, COFFER_E2E_S3_SECRET_KEY,
//      COFFER_E2E_LOCAL_DIR (a directory under the server's local roots).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createBucket, env, gate, launch, listKeys, login, putObject, s3Request, shot, waitForStatus } from "./lib.mjs";

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
const S3_LABEL = "Amazon S3 / S3-compatible";

test("browse a backup, choose two keys in different folders and restore only those", { timeout: 300_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const run = `browse${Date.now().toString(36)}`;
  const source = `${run}-src`;
  const target = `${run}-dst`;
  // Folders two deep, and one object at the top; each body is its own.
  const bodies = new Map(
    ["top.txt", "docs/readme.txt", "docs/guide/intro.md", "docs/guide/setup.md", "img/logo.png", "img/photos/cat.jpg", "img/photos/dog.jpg"].map(
      (k) => [k, `${k}\n${randomBytes(24).toString("hex")}\n`],
    ),
  );
  await createBucket(cfg.s3, source);
  for (const [k, body] of bodies) await putObject(cfg.s3, source, k, body);
  await createBucket(cfg.s3, target);
  const wanted = ["docs/guide/intro.md", "img/photos/cat.jpg"];

  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);

    // Connections and the backup come from the API (the flow spec drives their forms).
    const made = await page.evaluate(
      async ({ run, source, s3, dir }) => {
        const post = async (path, body) => {
          const r = await fetch(`/api/v1${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
          return { status: r.status, body: await r.json() };
        };
        const src = await post("/connections", {
          name: `${run}-s3`,
          type: "s3",
          credentials: { access_key: s3.accessKey, secret_key: s3.secretKey, region: s3.region, bucket: source, endpoint: s3.endpoint, force_path_style: true },
        });
        const dst = await post("/connections", { name: `${run}-disk`, type: "local", credentials: { path: `${dir}/${run}` } });
        if (src.status !== 201 || dst.status !== 201) return { src, dst };
        const backup = await post("/backups", { source_connection_id: src.body.id, destination_connection_id: dst.body.id });
        return { src, dst, backup };
      },
      { run, source, s3: cfg.s3, dir: cfg.localDir },
    );
    assert.equal(made.src.status, 201, JSON.stringify(made.src.body));
    assert.equal(made.dst.status, 201, JSON.stringify(made.dst.body));
    assert.equal(made.backup.status, 202, JSON.stringify(made.backup.body));
    const backupId = made.backup.body.id;

    await page.goto(`/backups/${backupId}`);
    await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
    await page.getByTestId("last-verified").getByTestId("verify-badge").and(page.locator("[data-verdict=never]")).waitFor();

    // Verify it: the verification's page follows it to its result.
    await page.getByRole("button", { name: "Verify", exact: true }).click();
    await page.waitForURL(/\/verifications\/\d+$/);
    await page.getByRole("heading", { name: /^Verification #\d+$/ }).waitFor();
    await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
    const result = page.getByTestId("verify-result");
    await result.and(page.locator("[data-verdict=passed]")).waitFor();
    assert.equal(await result.getByTestId("verify-entries").textContent(), String(bodies.size));
    assert.equal(await result.getByTestId("verify-contents-checked").textContent(), "yes");
    await shot(page, "browse-01-verification");
    await page.getByTestId("verified-backup").click();
    await page.waitForURL(new RegExp(`/backups/${backupId}$`));
    await page.getByTestId("last-verified").getByTestId("verify-badge").and(page.locator("[data-verdict=passed]")).waitFor();

    // The entry browser: the top holds the two folders and top.txt.
    await page.getByRole("link", { name: "Browse…" }).click();
    await page.waitForURL(new RegExp(`/backups/${backupId}/browse$`));
    await page.getByRole("heading", { name: `Browse backup #${backupId}` }).waitFor();
    await page.locator('[data-testid="folder-row"][data-prefix="img/"]').waitFor();
    const folders = await page.getByTestId("folder-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-prefix")));
    assert.deepEqual(folders, ["docs/", "img/"]);
    assert.match(await page.locator('[data-testid="folder-row"][data-prefix="docs/"]').textContent(), /3 entries/);
    const tops = await page.getByTestId("entry-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path")));
    assert.deepEqual(tops, ["top.txt"]);
    await shot(page, "browse-02-top");

    // docs/ then guide/ by navigation: choose intro.md.
    await page.getByRole("link", { name: "docs/", exact: true }).click();
    await page.getByRole("link", { name: "guide/", exact: true }).click();
    await page.waitForURL(/\?prefix=docs%2Fguide%2F$/);
    await page.getByRole("table", { name: "Entries under docs/guide/" }).and(page.locator("[aria-busy=false]")).waitFor();
    assert.deepEqual(
      await page.getByTestId("entry-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path"))),
      ["docs/guide/intro.md", "docs/guide/setup.md"],
    );
    await page.getByRole("checkbox", { name: "Select docs/guide/intro.md" }).check();
    assert.match(await page.getByTestId("selection-count").textContent(), /^1 object selected/);
    const crumbs = page.getByRole("navigation", { name: "Folders" });
    assert.equal(await crumbs.locator('[aria-current="page"]').textContent(), "guide");
    await shot(page, "browse-03-folder");

    // Back to the top, and a search for the cat in another folder.
    await crumbs.getByRole("link", { name: "All entries" }).click();
    await page.getByLabel("Search paths").fill("CAT");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.waitForURL(/\?q=CAT$/);
    await page.getByTestId("search-summary").filter({ hasText: "contains “CAT”: 1" }).waitFor();
    const found = page.getByTestId("entry-row");
    assert.deepEqual(await found.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path"))), ["img/photos/cat.jpg"]);
    await page.getByRole("checkbox", { name: "Select img/photos/cat.jpg" }).check();
    assert.match(await page.getByTestId("selection-count").textContent(), /^2 objects selected/);
    await shot(page, "browse-04-search");

    // The restore form lists the two keys and restores only them.
    await page.getByRole("button", { name: "Restore 2 selected…" }).click();
    await page.waitForURL(new RegExp(`/backups/${backupId}/restore$`));
    const chosen = page.getByTestId("chosen-keys");
    await chosen.waitFor();
    assert.match(await chosen.textContent(), /Only these 2 keys will be restored/);
    assert.deepEqual((await page.getByTestId("chosen-key").allTextContents()).sort(), wanted);
    await page.getByLabel("Restore into").selectOption({ label: `${run}-s3 (${S3_LABEL})` });
    await page.getByLabel("Bucket", { exact: true }).fill(target);
    await shot(page, "browse-05-restore-form");
    await page.getByRole("button", { name: "Start restore" }).click();
    await page.waitForURL(/\/restores\/\d+$/);
    await waitForStatus(page, ["completed"], cfg.opTimeoutMs);
    await shot(page, "browse-06-restore-completed");

    const restored = (await listKeys(cfg.s3, target)).sort();
    assert.deepEqual(restored, wanted, "exactly the two chosen keys were restored");
    for (const k of wanted) {
      const got = await s3Request(cfg.s3, "GET", `/${target}/${k}`);
      assert.equal(got.status, 200, `get ${k}`);
      assert.equal(got.body, bodies.get(k), `${k} has its body`);
    }

    // A scan of the destination finds the archive, which the catalog knows.
    await page.goto("/connections");
    const disk = page.getByTestId("connection-card").filter({ hasText: `${run}-disk` });
    await disk.getByRole("button", { name: `Scan for archives in ${run}-disk` }).click();
    const dialog = page.getByRole("dialog", { name: `Scan ${run}-disk for archives` });
    await dialog.getByTestId("scan-summary").waitFor({ timeout: cfg.opTimeoutMs });
    assert.equal(await dialog.getByTestId("scan-found").textContent(), "1");
    assert.equal(await dialog.getByTestId("scan-known").textContent(), "1");
    assert.equal(await dialog.getByTestId("scan-imported").textContent(), "0");
    await shot(page, "browse-07-scan");
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    // The page answers clicks again once the dialog is gone.
    await disk.getByRole("button", { name: "Test" }).click();

    assert.deepEqual(b.consoleErrors, [], "no uncaught errors in the page");
  } catch (err) {
    await shot(b.page, "failure-browse").catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
});
