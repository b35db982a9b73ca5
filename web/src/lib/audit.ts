import type { AuditFilters } from "@/api/types";

/**
 * Target types the server records, for the audit filter. Sign-ins and
 * sign-outs (actions auth.*) are recorded against their user, so they are
 * under "user"; API tokens are "api_token".
 */
export const AUDIT_TARGET_TYPES: { value: string; label: string }[] = [
  { value: "connection", label: "Connection" },
  { value: "backup", label: "Backup" },
  { value: "restore", label: "Restore" },
  { value: "user", label: "User and sign-in" },
  { value: "api_token", label: "API token" },
];

/** Actions the server records, offered as suggestions for the exact-match action filter. */
export const AUDIT_ACTIONS: string[] = [
  "auth.login",
  "auth.login_failed",
  "auth.logout",
  "connection.create",
  "connection.update",
  "connection.delete",
  "connection.test",
  "connection.google_connect",
  "connection.google_reconnect",
  "backup.start",
  "backup.pause",
  "backup.resume",
  "backup.cancel",
  "restore.start",
  "restore.cancel",
  "token.create",
  "token.delete",
  "user.create",
  "user.update",
  "user.disable",
  "user.enable",
  "user.password_reset",
  "user.password_change",
  "user.password_change_failed",
  "user.identity_link",
  "user.role_kept",
];

/** Filters of the audit page as kept in its URL (since is a local date, YYYY-MM-DD). */
export interface AuditUrlFilters {
  action: string;
  target_type: string;
  since: string;
  actor_id: number | "";
  page: number;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function positiveInt(v: string | null): number | "" {
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 ? n : "";
}

/** auditUrlFilters reads the audit page's filters from its URL, dropping values that cannot be valid. */
export function auditUrlFilters(params: URLSearchParams): AuditUrlFilters {
  const target = params.get("target_type") ?? "";
  const since = params.get("since") ?? "";
  return {
    action: (params.get("action") ?? "").trim(),
    target_type: AUDIT_TARGET_TYPES.some((t) => t.value === target) ? target : "",
    since: sinceToRFC3339(since) ? since : "",
    actor_id: positiveInt(params.get("actor_id")),
    page: positiveInt(params.get("page")) || 1,
  };
}

/**
 * sinceToRFC3339 turns a date picked in the browser (YYYY-MM-DD) into the
 * RFC 3339 instant of that day's local midnight, in UTC, as the API wants.
 * It returns undefined for anything that is not a real date.
 */
export function sinceToRFC3339(date: string): string | undefined {
  const m = DATE.exec(date);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(y, mo - 1, d);
  if (t.getFullYear() !== y || t.getMonth() !== mo - 1 || t.getDate() !== d) return undefined;
  return t.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** auditApiFilters turns the URL filters into the API's, one page of perPage events. */
export function auditApiFilters(f: AuditUrlFilters, perPage: number): AuditFilters {
  return {
    actor_id: f.actor_id,
    action: f.action,
    target_type: f.target_type,
    since: sinceToRFC3339(f.since) ?? "",
    page: f.page,
    per_page: perPage,
  };
}

/** auditTargetPath is the UI page of an event's target, when there is one. */
export function auditTargetPath(targetType: string, targetId: string): string | undefined {
  if (!/^[1-9]\d*$/.test(targetId)) return undefined;
  switch (targetType) {
    case "connection":
      return `/connections/${targetId}/edit`;
    case "backup":
      return `/backups/${targetId}`;
    case "restore":
      return `/restores/${targetId}`;
    default:
      return undefined;
  }
}

/** auditDetails renders an event's details as short "key: value" strings. */
export function auditDetails(details: Record<string, unknown> | null): string[] {
  if (!details) return [];
  return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
}
