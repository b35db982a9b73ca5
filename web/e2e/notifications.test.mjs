// A webhook channel made through the UI: the server's refusal of a bad URL
// beside the field, then the channel saved, its secret masked, and a test
// message that reaches a receiver here, signed with the secret.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD (an admin).
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { test } from "node:test";
import { env, gate, launch, login, shot } from "./lib.mjs";

const cfg = env();
const NEEDS = ["COFFER_E2E_URL", "COFFER_E2E_EMAIL", "COFFER_E2E_PASSWORD"];

test("a webhook channel made in the UI sends a signed test message", { timeout: 180_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const secret = `whsec-${randomBytes(8).toString("hex")}`;
  const got = [];
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const ts = req.headers["x-coffer-timestamp"];
      const want = "sha256=" + createHmac("sha256", secret).update(`${ts}.`).update(body).digest("hex");
      got.push({ signed: req.headers["x-coffer-signature"] === want, event: req.headers["x-coffer-event"], body: body.toString() });
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${receiver.address().port}/coffer`;
  const name = `hook-${randomBytes(3).toString("hex")}`;

  const b = await launch(cfg);
  try {
    const { page } = b;
    await page.goto("/login");
    await login(page, cfg);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Notifications" }).click();
    await page.waitForURL(/\/notifications$/);
    await page.getByRole("heading", { name: "Notifications" }).waitFor();

    await page.getByRole("button", { name: "New channel" }).click();
    const dialog = page.getByRole("dialog", { name: "New channel" });
    await dialog.getByLabel("Name", { exact: true }).fill(name);
    await dialog.getByLabel("Type").selectOption("webhook");
    await dialog.getByLabel("URL", { exact: true }).fill("ftp://example.com/hook");
    await dialog.getByLabel("Signing secret").fill(secret);
    await dialog.getByRole("button", { name: "Create channel" }).click();
    await dialog.locator('input[aria-invalid="true"]').first().waitFor();
    assert.equal(await dialog.getByLabel("URL", { exact: true }).getAttribute("aria-invalid"), "true", "the URL field is marked");
    assert.match(await dialog.textContent(), /URL must/);
    await dialog.getByLabel("URL", { exact: true }).fill(url);
    await dialog.getByRole("button", { name: "Create channel" }).click();
    await dialog.waitFor({ state: "hidden" });

    const row = page.locator(`[data-testid="channel-row"][data-name="${name}"]`);
    await row.waitFor();
    const listed = await page.evaluate(async () => (await (await fetch("/api/v1/notification-channels")).json()).items);
    const mine = listed.find((c) => c.name === name);
    assert.ok(mine && mine.config.secret !== secret, "the API shows the signing secret");
    await shot(page, "09-notifications");

    await row.getByRole("button", { name: `Send a test message to ${name}` }).click();
    await page.getByText(`Test message to ${name} delivered`).waitFor();
    assert.equal(got.length, 1, "one test message reached the receiver");
    assert.ok(got[0].signed, "the test message is signed with the channel's secret");
    assert.equal(got[0].event, "test");
  } finally {
    await b.close();
    receiver.close();
  }
});
