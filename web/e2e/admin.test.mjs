// Users, audit log, viewer role and own password, through the UI.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL, COFFER_E2E_PASSWORD (an admin).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { env, gate, launch, login, shot } from "./lib.mjs";

const cfg = env();
const NEEDS = ["COFFER_E2E_URL", "COFFER_E2E_EMAIL", "COFFER_E2E_PASSWORD"];

test("users page creates a viewer, audit shows it, the viewer can change nothing", { timeout: 180_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const b = await launch(cfg);
  const run = randomBytes(4).toString("hex");
  const viewer = { email: `viewer-${run}@example.com`, password: `first-${run}-password`, chromium: cfg.chromium };
  try {
    const { page, context } = b;
    const nav = page.getByRole("navigation", { name: "Main" });

    // The admin signs in and creates a viewer.
    await page.goto("/login");
    await login(page, cfg);
    await nav.getByRole("link", { name: "Users" }).click();
    await page.waitForURL(/\/users$/);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByRole("button", { name: "New user" }).click();
    const dialog = page.getByRole("dialog", { name: "New user" });
    await dialog.getByLabel("Email").fill(viewer.email);
    await dialog.getByLabel("Role").selectOption("viewer");
    await dialog.getByLabel("Password").fill("short");
    await dialog.getByRole("button", { name: "Create user" }).click();
    await dialog.getByText("Use at least 8 characters.").waitFor();
    await dialog.getByLabel("Password").fill(viewer.password);
    await dialog.getByRole("button", { name: "Create user" }).click();
    await dialog.waitFor({ state: "hidden" });
    const row = page.locator(`[data-testid="user-row"][data-email="${viewer.email}"]`);
    await row.waitFor();
    assert.equal(await row.getByLabel(`Role of ${viewer.email}`).inputValue(), "viewer");

    // The same email again: the server's 409 shows beside the field.
    await page.getByRole("button", { name: "New user" }).click();
    await dialog.getByLabel("Email").fill(viewer.email);
    await dialog.getByLabel("Password").fill(viewer.password);
    await dialog.getByRole("button", { name: "Create user" }).click();
    await dialog.getByText("Email is already registered.").waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await shot(page, "05-users");

    // The audit log shows the admin's sign-in and the user creation.
    await nav.getByRole("link", { name: "Audit" }).click();
    await page.waitForURL(/\/audit$/);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const created = page.locator('[data-testid="audit-row"][data-action="user.create"]', { hasText: viewer.email });
    await created.first().waitFor();
    assert.match(await created.first().textContent(), new RegExp(cfg.email.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    await page.locator('[data-testid="audit-row"][data-action="auth.login"]').first().waitFor();
    await shot(page, "06-audit");
    // Filters go into the URL and narrow the list.
    await page.getByLabel("Action").fill("user.create");
    await page.getByLabel("Action").press("Enter");
    await page.waitForURL(/\/audit\?action=user\.create$/);
    await page.getByLabel("Target type").selectOption("user");
    await page.waitForURL(/\/audit\?action=user\.create&target_type=user$/);
    await created.first().waitFor();
    // The filtered page replaces the unfiltered rows when its answer arrives,
    // which can be after the URL changed: wait for it instead of reading at once.
    const onlyCreates = (rows) => rows.length > 0 && rows.every((r) => r.getAttribute("data-action") === "user.create");
    const filtered = await page
      .waitForFunction(`(${onlyCreates})([...document.querySelectorAll('[data-testid="audit-row"]')])`, null, { timeout: 30_000, polling: 100 })
      .then(() => true, () => false);
    const actions = await page.getByTestId("audit-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
    assert.ok(filtered, `only user.create rows, got ${actions}`);
    await page.reload();
    assert.equal(await page.getByLabel("Action").inputValue(), "user.create");
    assert.equal(await page.getByLabel("Target type").inputValue(), "user");

    // The viewer signs in: no admin pages, nothing that changes things.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await login(page, viewer);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await nav.getByRole("link", { name: "Users" }).count(), 0);
    assert.equal(await nav.getByRole("link", { name: "Audit" }).count(), 0);
    assert.equal(await page.getByRole("link", { name: "New backup" }).count(), 0);
    await shot(page, "07-viewer-dashboard");
    await nav.getByRole("link", { name: "Connections" }).click();
    await page.getByRole("heading", { name: "Connections" }).waitFor();
    await page.waitForLoadState("networkidle");
    for (const name of ["New connection", "Add your first connection", "Edit", "Test"]) {
      assert.equal(await page.getByRole("link", { name, exact: true }).count() + (await page.getByRole("button", { name, exact: true }).count()), 0, name);
    }
    await page.goto("/users");
    await page.getByTestId("forbidden").waitFor();
    await page.goto("/backups/new");
    await page.getByTestId("forbidden").waitFor();

    // Every user can change their own password and stays signed in.
    const newPassword = `second-${run}-password`;
    await page.getByRole("button", { name: "Change password" }).click();
    const pw = page.getByRole("dialog", { name: "Change your password" });
    await pw.getByLabel("Current password").fill("not-my-password");
    await pw.getByLabel("New password", { exact: true }).fill(newPassword);
    await pw.getByLabel("New password again").fill(newPassword);
    await pw.getByRole("button", { name: "Change password" }).click();
    await pw.getByText("The current password is not correct.").waitFor();
    await pw.getByLabel("Current password").fill(viewer.password);
    await pw.getByRole("button", { name: "Change password" }).click();
    await pw.waitFor({ state: "hidden" });
    await page.goto("/");
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await login(page, { ...viewer, password: newPassword });
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();

    await context.clearCookies();
    assert.deepEqual(b.consoleErrors, [], "no uncaught errors in the page");
  } catch (err) {
    await shot(b.page, "failure-admin").catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
});
