// An encryption key made in the UI: a short passphrase refused beside the
// field, a generated identity shown once and never again, and the key
// offered by the new-backup form.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD (an admin),
// COFFER_E2E_LOCAL_DIR (a directory under the server's local roots).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { env, gate, launch, login, shot } from "./lib.mjs";

const cfg = env();
const NEEDS = ["COFFER_E2E_URL", "COFFER_E2E_EMAIL", "COFFER_E2E_PASSWORD", "COFFER_E2E_LOCAL_DIR"];

test("a generated age key shows its identity once and is offered to backups", { timeout: 180_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const name = `key-${randomBytes(3).toString("hex")}`;
  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.waitForURL(/\/keys$/);
    await page.getByRole("heading", { name: "Encryption keys" }).waitFor();

    await page.getByRole("button", { name: "New key" }).click();
    let dialog = page.getByRole("dialog", { name: "New encryption key" });
    await dialog.getByLabel("Name", { exact: true }).fill(`${name}-pass`);
    await dialog.getByLabel("Kind").selectOption("passphrase");
    await dialog.getByLabel("Passphrase").fill("short");
    await dialog.getByRole("button", { name: "Add key" }).click();
    await dialog.getByText(/at least 12 characters/).first().waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await page.getByRole("button", { name: "New key" }).click();
    dialog = page.getByRole("dialog", { name: "New encryption key" });
    await dialog.getByLabel("Name", { exact: true }).fill(name);
    await dialog.getByLabel("Kind").selectOption("generate");
    await dialog.getByRole("button", { name: "Add key" }).click();
    const shown = page.getByRole("dialog", { name: "Keep this identity safe" });
    const identity = (await shown.getByTestId("new-identity").textContent()).trim();
    assert.match(identity, /^AGE-SECRET-KEY-1[0-9A-Z]+$/, "the identity is shown");
    await shot(page, "10-new-key");
    await shown.getByRole("button", { name: "I have saved it" }).click();

    const row = page.locator(`[data-testid="key-row"][data-name="${name}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /Identity kept offline/);
    const listed = await page.evaluate(async () => JSON.stringify(await (await fetch("/api/v1/encryption-keys")).json()));
    assert.ok(!listed.includes(identity) && !listed.includes("AGE-SECRET-KEY"), "the key list holds no identity");
    assert.ok(!(await page.content()).includes(identity), "the identity is gone from the page once closed");

    // The new-backup form needs a source and a destination to show its fields.
    const made = await page.evaluate(async ([n, dir]) => {
      const post = (body) =>
        fetch("/api/v1/connections", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body, save_unchecked: true }) });
      const a = await post({ name: `${n}-src`, type: "s3", credentials: { access_key: "a", secret_key: "b", region: "us-east-1", bucket: "keys", endpoint: "http://127.0.0.1:9" } });
      const b = await post({ name: `${n}-dst`, type: "local", credentials: { path: `${dir}/keys` } });
      return [a.status, b.status];
    }, [name, process.env.COFFER_E2E_LOCAL_DIR]);
    assert.ok(made.every((s) => s === 201 || s === 200), `connections made: ${made}`);
    await page.goto("/backups/new");
    await page.getByLabel("Encryption").locator("option", { hasText: name }).waitFor({ state: "attached" });
    const options = await page.getByLabel("Encryption").locator("option").allTextContents();
    assert.ok(options.some((o) => o.startsWith(`${name} (identity offline)`)), `the backup form offers the key: ${options}`);
  } finally {
    await b.close();
  }
});
