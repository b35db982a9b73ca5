// Login + dashboard: runs against any coffer server with an admin account.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD.
import assert from "node:assert/strict";
import { test } from "node:test";
import { env, gate, launch, login, shot } from "./lib.mjs";

const cfg = env();
const NEEDS = ["COFFER_E2E_URL", "COFFER_E2E_EMAIL", "COFFER_E2E_PASSWORD"];

test("login, dashboard, theme, session expiry and sign out", { timeout: 120_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const b = await launch(cfg);
  try {
    const { page, context } = b;

    // A signed-out visit to a deep page goes to login and remembers the page.
    await page.goto("/backups?status=completed");
    await page.waitForURL(/\/login\?next=%2Fbackups%3Fstatus%3Dcompleted$/);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await shot(page, "01-login");

    // Wrong password: an error sentence, still on the login page.
    await page.getByLabel("Email").fill(cfg.email);
    await page.getByLabel("Password").fill(`${cfg.password}-wrong`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("form", { name: "Sign in" }).getByRole("alert").waitFor();
    assert.match(page.url(), /\/login/);

    // Right password: back to the page asked for.
    await login(page, cfg);
    await page.waitForURL(/\/backups\?status=completed$/);
    await page.getByRole("heading", { name: "Backups" }).waitFor();
    assert.equal(await page.getByLabel("Status").inputValue(), "completed");

    // Dashboard.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.getByText("Healthy connections").waitFor();
    await page.getByText("Running now").waitFor();
    assert.equal(await page.getByTestId("current-user").textContent(), cfg.email);
    await shot(page, "02-dashboard");

    // Theme toggle switches the class on <html> and survives a reload.
    await page.getByRole("button", { name: "Switch to dark theme" }).click();
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains("dark")), true);
    await page.reload();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains("dark")), true);
    await shot(page, "03-dashboard-dark");
    await page.getByRole("button", { name: "Switch to light theme" }).click();

    // Session expiry: the next API call gets 401 -> login -> back to that page.
    await context.clearCookies();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connections" }).click();
    await page.waitForURL(/\/login\?next=%2Fconnections$/);
    await login(page, cfg);
    await page.waitForURL(/\/connections$/);
    await page.getByRole("heading", { name: "Connections" }).waitFor();
    await shot(page, "04-connections");

    // Sign out.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await page.goto("/");
    await page.waitForURL(/\/login/);

    assert.deepEqual(b.consoleErrors, [], "no uncaught errors in the page");
  } catch (err) {
    await shot(b.page, `failure-smoke`).catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
});
