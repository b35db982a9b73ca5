import { afterEach, describe, expect, it, vi } from "vitest";
import { loginPath, safeNext } from "./auth";
import { ApiError, request } from "./client";

afterEach(() => vi.unstubAllGlobals());

function respond(status: number, body: string | null, type = "application/json") {
  const fetchFn = vi.fn(async () => new Response(body, { status, headers: { "Content-Type": type } }));
  vi.stubGlobal("fetch", fetchFn);
  return fetchFn;
}

describe("request", () => {
  it("sends JSON with same-origin credentials and decodes the answer", async () => {
    const fetchFn = respond(200, '{"id":1,"email":"a@b.c","role":"admin"}');
    const user = await request<{ email: string }>("/auth/login", { method: "POST", body: { email: "a@b.c", password: "pw" } });
    expect(user.email).toBe("a@b.c");
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/auth/login");
    expect(init.credentials).toBe("same-origin");
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"email":"a@b.c","password":"pw"}');
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("turns {error, fields} into an ApiError with status and fields", async () => {
    respond(422, '{"error":"The connection could not be validated.","fields":{"credentials.bucket":"No such bucket.","n":3}}');
    const err = await request("/connections", { method: "POST", body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(422);
    expect(e.message).toBe("The connection could not be validated.");
    expect(e.fields).toEqual({ "credentials.bucket": "No such bucket." });
  });

  it("gives a sentence for non-JSON errors and for 204", async () => {
    respond(502, "<html>bad gateway</html>", "text/html");
    const e = (await request("/dashboard").catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(502);
    expect(e.message).toMatch(/server failed/);
    respond(204, null);
    await expect(request("/connections/1", { method: "DELETE" })).resolves.toBeUndefined();
  });

  it("reports an unreachable server as status 0", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    const e = (await request("/auth/me").catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.message).toMatch(/Cannot reach/);
  });
});

describe("login redirects", () => {
  it("only returns to in-app paths", () => {
    expect(safeNext("/backups/3?x=1")).toBe("/backups/3?x=1");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("/login?next=/x")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });

  it("builds /login?next= for the current page", () => {
    expect(loginPath("/backups/3")).toBe("/login?next=%2Fbackups%2F3");
    expect(loginPath("/")).toBe("/login");
  });
});
