import { describe, expect, it } from "vitest";
import { auditQuery } from "@/api/endpoints";
import { auditApiFilters, auditDetails, auditTargetPath, auditUrlFilters, sinceToRFC3339 } from "./audit";

describe("audit filters", () => {
  it("turns a picked date into the RFC 3339 instant of local midnight", () => {
    const got = sinceToRFC3339("2026-03-05");
    expect(got).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(new Date(got!).getTime()).toBe(new Date(2026, 2, 5).getTime());
    expect(sinceToRFC3339("2026-02-30")).toBeUndefined();
    expect(sinceToRFC3339("yesterday")).toBeUndefined();
    expect(sinceToRFC3339("")).toBeUndefined();
  });

  it("reads the URL, dropping values that cannot be valid", () => {
    expect(auditUrlFilters(new URLSearchParams("action=%20user.create%20&target_type=user&since=2026-01-02&page=3&actor_id=7"))).toEqual({
      action: "user.create",
      target_type: "user",
      since: "2026-01-02",
      actor_id: 7,
      page: 3,
    });
    expect(auditUrlFilters(new URLSearchParams("target_type=planet&since=2026-13-01&page=-1&actor_id=x"))).toEqual({
      action: "",
      target_type: "",
      since: "",
      actor_id: "",
      page: 1,
    });
  });

  it("builds the API query string from the URL filters, leaving out empty ones", () => {
    const f = auditApiFilters(auditUrlFilters(new URLSearchParams("action=auth.login&target_type=user&page=2")), 50);
    expect(auditQuery(f)).toBe("?action=auth.login&target_type=user&page=2&per_page=50");
    const since = auditApiFilters(auditUrlFilters(new URLSearchParams("since=2026-01-02")), 50);
    expect(auditQuery(since)).toBe(
      `?since=${encodeURIComponent(sinceToRFC3339("2026-01-02")!)}&page=1&per_page=50`,
    );
  });

  it("links targets that have a page and renders details", () => {
    expect(auditTargetPath("backup", "12")).toBe("/backups/12");
    expect(auditTargetPath("restore", "3")).toBe("/restores/3");
    expect(auditTargetPath("connection", "4")).toBe("/connections/4/edit");
    expect(auditTargetPath("user", "4")).toBeUndefined();
    expect(auditTargetPath("backup", "")).toBeUndefined();
    expect(auditDetails({ email: "a@b.c", role: { from: "viewer", to: "admin" }, ok: true })).toEqual([
      "email: a@b.c",
      'role: {"from":"viewer","to":"admin"}',
      "ok: true",
    ]);
    expect(auditDetails(null)).toEqual([]);
  });
});
