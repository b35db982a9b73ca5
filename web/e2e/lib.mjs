// Shared helpers of the end-to-end specs: environment, browser, screenshots,
// a small S3 client (SigV4) to prepare and check buckets.
import { createHash, createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/** Directory screenshots go to (git-ignored). */
export const RESULTS_DIR = fileURLToPath(new URL("../test-results/", import.meta.url));

/** True when missing prerequisites must fail the run instead of skipping it. */
export const STRICT = process.env.CI === "true";

/**
 * env reads the e2e configuration. `missing` lists required variables that
 * are not set, for a skip (or, under CI=true, a failure) message.
 */
export function env() {
  const e = process.env;
  const base = (e.COFFER_E2E_URL ?? "").replace(/\/+$/, "");
  return {
    baseURL: base,
    email: e.COFFER_E2E_EMAIL ?? "",
    password: e.COFFER_E2E_PASSWORD ?? "",
    chromium: e.COFFER_E2E_CHROMIUM ?? "/usr/bin/chromium",
    s3: {
      endpoint: (e.COFFER_E2E_S3_ENDPOINT ?? "").replace(/\/+$/, ""),
      accessKey: e.COFFER_E2E_S3_ACCESS_KEY ?? "",
      secretKey: e.COFFER_E2E_S3_SECRET_KEY ?? "",
      bucket: e.COFFER_E2E_S3_BUCKET ?? "",
      region: e.COFFER_E2E_S3_REGION ?? "us-east-1",
      restoreBucket: e.COFFER_E2E_RESTORE_BUCKET ?? "",
    },
    localDir: e.COFFER_E2E_LOCAL_DIR ?? "",
    requirePause: e.COFFER_E2E_REQUIRE_PAUSE === "true",
    opTimeoutMs: Number(e.COFFER_E2E_OP_TIMEOUT_MS ?? 180_000),
  };
}

/** missingVars names the unset variables among the given ones. */
export function missingVars(names) {
  return names.filter((n) => !process.env[n]);
}

/**
 * gate skips the test (or fails it under CI=true) when variables are unset.
 * Returns true when the test may go on.
 */
export function gate(t, names) {
  const missing = missingVars(names);
  if (missing.length === 0) return true;
  const msg = `e2e: set ${missing.join(", ")} to run this test`;
  if (STRICT) throw new Error(`${msg} (CI=true makes missing prerequisites a failure)`);
  t.skip(msg);
  return false;
}

/** Flags Chromium runs with in this environment (no network but the server under test). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * launch starts Chromium with a fresh profile directory and returns
 * { context, page, close }. close() also removes the profile.
 */
export async function launch(cfg) {
  const profile = mkdtempSync(join(tmpdir(), "coffer-e2e-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: cfg.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    baseURL: cfg.baseURL,
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
  });
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  return {
    context,
    page,
    consoleErrors,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** shot saves a full-page screenshot as test-results/<name>.png. */
export async function shot(page, name) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  await page.screenshot({ path: join(RESULTS_DIR, `${name}.png`), fullPage: true });
}

/** login signs in through the login form and waits for the app frame. */
export async function login(page, cfg) {
  await page.getByLabel("Email").fill(cfg.email);
  await page.getByLabel("Password").fill(cfg.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** statusOf reads the data-status of the page's operation badge in the header. */
export async function statusOf(page) {
  return page.getByTestId("page-status").getByTestId("operation-status").getAttribute("data-status");
}

/** waitForStatus polls the detail page's status badge until it is one of `wanted`. */
export async function waitForStatus(page, wanted, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await statusOf(page);
    if (wanted.includes(last)) return last;
    if (last === "failed" && !wanted.includes("failed")) {
      const why = await page.getByTestId("operation-error").textContent().catch(() => "");
      throw new Error(`operation failed: ${why}`);
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`status stayed ${last}; wanted one of ${wanted.join(", ")} within ${timeoutMs} ms`);
}

/** filesUnder lists regular files below dir, recursively (relative paths). */
export function filesUnder(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, r);
      else out.push(r);
    }
  };
  walk(dir, "");
  return out;
}

// ---- Minimal S3 client (AWS Signature V4, path-style) ----

function sha256hex(data) {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key, data) {
  return createHmac("sha256", key).update(data).digest();
}

function rfc3986(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** s3Request sends one signed path-style request and returns { status, body }. */
export async function s3Request(s3, method, path, query = {}, body = "") {
  const url = new URL(s3.endpoint + path);
  const params = Object.entries(query).map(([k, v]) => [rfc3986(k), rfc3986(String(v))]);
  params.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  const canonicalQuery = params.map(([k, v]) => `${k}=${v}`).join("&");
  const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256hex(body);
  const headers = { host: url.host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
  const names = Object.keys(headers).sort();
  const canonicalUri = url.pathname
    .split("/")
    .map((seg) => rfc3986(decodeURIComponent(seg)))
    .join("/");
  const canonicalRequest = [
    method,
    canonicalUri,
    canonicalQuery,
    names.map((n) => `${n}:${headers[n]}\n`).join(""),
    names.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${day}/${s3.region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${s3.secretKey}`, day);
  key = hmac(key, s3.region);
  key = hmac(key, "s3");
  key = hmac(key, "aws4_request");
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const res = await fetch(`${s3.endpoint}${canonicalUri}${canonicalQuery ? `?${canonicalQuery}` : ""}`, {
    method,
    headers: {
      "x-amz-content-sha256": payloadHash,
      "x-amz-date": amzDate,
      Authorization: `AWS4-HMAC-SHA256 Credential=${s3.accessKey}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
    },
    body: method === "GET" || method === "HEAD" ? undefined : body,
  });
  return { status: res.status, body: await res.text() };
}

/** createBucket makes a bucket; an existing one owned by us is fine. */
export async function createBucket(s3, bucket) {
  const r = await s3Request(s3, "PUT", `/${bucket}`);
  if (r.status !== 200 && !/BucketAlreadyOwnedByYou/.test(r.body)) {
    throw new Error(`create bucket ${bucket}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  }
}

/** putObject stores a small object. */
export async function putObject(s3, bucket, key, body) {
  const r = await s3Request(s3, "PUT", `/${bucket}/${key}`, {}, body);
  if (r.status !== 200) throw new Error(`put ${bucket}/${key}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
}

/** listKeys returns the keys of a bucket (every page). */
export async function listKeys(s3, bucket) {
  const keys = [];
  let token = "";
  for (;;) {
    const q = { "list-type": "2", ...(token ? { "continuation-token": token } : {}) };
    const r = await s3Request(s3, "GET", `/${bucket}`, q);
    if (r.status !== 200) throw new Error(`list ${bucket}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
    for (const m of r.body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(decodeXml(m[1]));
    const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(r.body);
    if (!next) return keys;
    token = decodeXml(next[1]);
  }
}

function decodeXml(s) {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}
