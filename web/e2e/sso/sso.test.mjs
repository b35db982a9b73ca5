// Single sign-on through the test identity provider's own login form, with
// password sign-in turned off (COFFER_LOCAL_LOGIN=false). Run by
// TestBrowserSSO (test/e2e), which starts coffer and the provider.
// Env: COFFER_E2E_URL, COFFER_E2E_EMAIL/PASSWORD (the local admin),
// COFFER_E2E_OIDC_ISSUER, COFFER_E2E_OIDC_NAME, and COFFER_E2E_OIDC_ADMIN,
// _OPERATOR, _NO_ACCESS as email:password of provider users in a group
// mapped to admin, one mapped to operator, and one in no mapped group.
import assert from "node:assert/strict";
import { test } from "node:test";
import { env, gate, launch, shot } from "../lib.mjs";

const cfg = env();
const NEEDS = [
  "COFFER_E2E_URL",
  "COFFER_E2E_EMAIL",
  "COFFER_E2E_PASSWORD",
  "COFFER_E2E_OIDC_ISSUER",
  "COFFER_E2E_OIDC_NAME",
  "COFFER_E2E_OIDC_ADMIN",
  "COFFER_E2E_OIDC_OPERATOR",
  "COFFER_E2E_OIDC_NO_ACCESS",
];

function creds(name) {
  const v = process.env[name] ?? "";
  const i = v.indexOf(":");
  return { email: v.slice(0, i), password: v.slice(i + 1) };
}

/** whoAmI reads /auth/me with the page's cookies. */
async function whoAmI(page) {
  return page.evaluate(async () => {
    const r = await fetch("/api/v1/auth/me");
    return { status: r.status, body: r.status === 200 ? await r.json() : null };
  });
}

test("signs in through the identity provider's login form with the mapped role", { timeout: 180_000 }, async (t) => {
  if (!gate(t, NEEDS)) return;
  const issuer = process.env.COFFER_E2E_OIDC_ISSUER.replace(/\/+$/, "");
  const name = process.env.COFFER_E2E_OIDC_NAME;
  const admin = creds("COFFER_E2E_OIDC_ADMIN");
  const operator = creds("COFFER_E2E_OIDC_OPERATOR");
  const noAccess = creds("COFFER_E2E_OIDC_NO_ACCESS");
  const b = await launch(cfg);
  try {
    const { page } = b;
    const nav = page.getByRole("navigation", { name: "Main" });
    const ssoButton = page.getByRole("link", { name: `Sign in with ${name}` });

    // signInAtProvider clicks the button and fills the provider's own form.
    const signInAtProvider = async (who, shotName) => {
      await ssoButton.click();
      await page.waitForURL((u) => u.origin === issuer && u.pathname === "/login");
      await page.getByRole("heading", { name: "Test identity provider" }).waitFor();
      await page.getByLabel("E-mail").fill(who.email);
      await page.getByLabel("Password").fill(who.password);
      if (shotName) await shot(page, shotName);
      await page.getByRole("button", { name: "Sign in to the test provider" }).click();
    };

    // Local login is off: the sign-in page offers only the provider.
    await page.goto("/login");
    await ssoButton.waitFor();
    assert.equal(await page.getByLabel("Password").count(), 0, "the password form is hidden");
    assert.equal(await page.getByRole("button", { name: "Sign in", exact: true }).count(), 0);
    await shot(page, "sso-01-login");

    // An admin of the provider's admin group lands on the dashboard as admin.
    await signInAtProvider(admin, "sso-02-provider-form");
    await page.waitForURL((u) => u.origin === cfg.baseURL && u.pathname === "/");
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await page.getByTestId("current-user").textContent(), admin.email);
    await nav.getByRole("link", { name: "Users" }).waitFor();
    await nav.getByRole("link", { name: "Audit" }).waitFor();
    let me = await whoAmI(page);
    assert.equal(me.status, 200);
    assert.equal(me.body.role, "admin");
    assert.equal(me.body.email, admin.email);
    await shot(page, "sso-03-dashboard-admin");

    // The audit log has the user created on first sign-in and the sign-in itself.
    await nav.getByRole("link", { name: "Audit" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.locator('[data-testid="audit-row"][data-action="user.create"]', { hasText: admin.email }).first().waitFor();
    await page.locator('[data-testid="audit-row"][data-action="auth.login"]', { hasText: admin.email }).first().waitFor();
    await shot(page, "sso-04-audit");

    // The user list shows the new user with the mapped role.
    await nav.getByRole("link", { name: "Users" }).click();
    const row = page.locator(`[data-testid="user-row"][data-email="${admin.email}"]`);
    await row.waitFor();
    assert.equal(await row.getByLabel(`Role of ${admin.email}`).inputValue(), "admin");

    // Sign out; an operator of the provider's ops group gets no admin pages.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await signInAtProvider(operator);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await page.getByTestId("current-user").textContent(), operator.email);
    me = await whoAmI(page);
    assert.equal(me.body.role, "operator");
    assert.equal(await nav.getByRole("link", { name: "Users" }).count(), 0);
    assert.equal(await nav.getByRole("link", { name: "Audit" }).count(), 0);
    await shot(page, "sso-05-dashboard-operator");

    // A user in no mapped group is refused on the no-access page, signed out.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await signInAtProvider(noAccess);
    await page.waitForURL((u) => u.origin === cfg.baseURL && u.pathname === "/no-access");
    await page.getByRole("heading", { name: "No access to coffer" }).waitFor();
    // The provider's name arrives with /auth/providers, which may answer
    // after the page first renders: wait for the sentence that names it.
    await page
      .getByTestId("no-access-reason")
      .filter({ hasText: new RegExp(`None of your ${name} groups gives access to coffer`) })
      .waitFor();
    me = await whoAmI(page);
    assert.equal(me.status, 401, "no session after a refusal");
    await shot(page, "sso-06-no-access");
    await page.getByRole("link", { name: "Back to sign-in" }).click();
    await ssoButton.waitFor();

    // Break-glass form: shown at /login?local=1, but a password without a
    // reset-password window is refused with a sentence.
    await page.goto("/login?local=1");
    await page.getByTestId("break-glass-note").waitFor();
    await page.getByLabel("Email").fill(cfg.email);
    await page.getByLabel("Password").fill(cfg.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByText(`Password sign-in is turned off on this server; use "Sign in with ${name}" instead.`).waitFor();
    await shot(page, "sso-07-break-glass-refused");

    assert.deepEqual(b.consoleErrors, []);
  } finally {
    await b.close();
  }
});
