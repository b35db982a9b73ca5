// Typed functions, one per API route used by the UI.
import { query, request } from "./client";
import type {
  AdminUser,
  AuthProviders,
  AuditEvent,
  AuditFilters,
  BackupFilters,
  BackupInput,
  BackupOperation,
  Connection,
  ConnectionInput,
  ConnectionTestResult,
  Dashboard,
  ListPage,
  LogEntry,
  OperationKind,
  PasswordChange,
  RestoreInput,
  RestoreOperation,
  User,
  UserInput,
  UserUpdate,
} from "./types";

/** api groups every call the UI makes to the server. */
export const api = {
  login: (email: string, password: string) =>
    request<User>("/auth/login", { method: "POST", body: { email, password } }),
  logout: () => request<void>("/auth/logout", { method: "POST" }),
  me: () => request<User>("/auth/me"),
  providers: () => request<AuthProviders>("/auth/providers"),

  dashboard: () => request<Dashboard>("/dashboard"),

  listConnections: () => request<Connection[] | ListPage<Connection>>("/connections").then(unwrapList),
  getConnection: (id: number) => request<Connection>(`/connections/${id}`),
  createConnection: (input: ConnectionInput) =>
    request<Connection>("/connections", { method: "POST", body: input }),
  updateConnection: (id: number, input: ConnectionInput) =>
    request<Connection>(`/connections/${id}`, { method: "PUT", body: input }),
  deleteConnection: (id: number) => request<void>(`/connections/${id}`, { method: "DELETE" }),
  testConnection: (id: number) =>
    request<ConnectionTestResult>(`/connections/${id}/test`, { method: "POST" }),

  listBackups: (f: BackupFilters) =>
    request<ListPage<BackupOperation>>(
      `/backups${query({
        status: f.status,
        source_id: f.source_id,
        destination_id: f.destination_id,
        page: f.page,
        per_page: f.per_page,
      })}`,
    ),
  getBackup: (id: number) => request<BackupOperation>(`/backups/${id}`),
  createBackup: (input: BackupInput) => request<BackupOperation>("/backups", { method: "POST", body: input }),
  backupAction: (id: number, action: "pause" | "resume" | "cancel") =>
    request<BackupOperation | undefined>(`/backups/${id}/${action}`, { method: "POST" }),

  listRestores: (page: number, perPage: number) =>
    request<ListPage<RestoreOperation>>(`/restores${query({ page, per_page: perPage })}`),
  getRestore: (id: number) => request<RestoreOperation>(`/restores/${id}`),
  createRestore: (input: RestoreInput) =>
    request<RestoreOperation>("/restores", { method: "POST", body: input }),
  cancelRestore: (id: number) =>
    request<RestoreOperation | undefined>(`/restores/${id}/cancel`, { method: "POST" }),

  logs: (kind: OperationKind, id: number, after: number, limit: number, signal?: AbortSignal) =>
    request<ListPage<LogEntry> | LogEntry[]>(
      `/${kind}/${id}/logs${query({ after, limit })}`,
      signal ? { signal } : {},
    ).then(unwrapList),

  changeOwnPassword: (input: PasswordChange) => request<void>("/auth/password", { method: "POST", body: input }),

  listUsers: () => request<AdminUser[] | ListPage<AdminUser>>("/users").then(unwrapList),
  createUser: (input: UserInput) => request<AdminUser>("/users", { method: "POST", body: input }),
  updateUser: (id: number, change: UserUpdate) => request<AdminUser>(`/users/${id}`, { method: "PUT", body: change }),
  resetUserPassword: (id: number, password: string) =>
    request<void>(`/users/${id}/password`, { method: "POST", body: { password } }),

  listAudit: (f: AuditFilters) => request<ListPage<AuditEvent>>(`/audit${auditQuery(f)}`),
};

/** auditQuery builds the query string of GET /audit from its filters. */
export function auditQuery(f: AuditFilters): string {
  return query({
    actor_id: f.actor_id,
    action: f.action,
    target_type: f.target_type,
    since: f.since,
    page: f.page,
    per_page: f.per_page,
  });
}

/** Which Drive connection a Google sign-in is for: an existing one, or a new one to create. */
export type DriveConnectTarget = { connectionId: number } | { name: string; folderId: string };

/**
 * googleDriveConnectUrl is where the browser goes (a full-page navigation,
 * never fetch) to grant Drive access: the server answers with a redirect to
 * Google's consent page, and Google's answer comes back to the UI at
 * /connections/<id>/edit?connected=1 or ?oauth_error=<sentence>.
 */
export function googleDriveConnectUrl(target: DriveConnectTarget): string {
  const q =
    "connectionId" in target
      ? query({ connection_id: target.connectionId })
      : query({ name: target.name, folder_id: target.folderId });
  return `/api/v1/oauth/google/start${q}`;
}

/**
 * oidcStartUrl is where the browser goes (a full-page navigation, never
 * fetch) to sign in with the identity provider; after it, the server sends
 * the browser to `next` (signed in), /no-access, or /login?sso_error=<code>.
 */
export function oidcStartUrl(next: string): string {
  return `/api/v1/auth/oidc/start${next === "/" ? "" : query({ next })}`;
}

/** logStreamUrl is the SSE stream of an operation's log, starting after a log id. */
export function logStreamUrl(kind: OperationKind, id: number, after: number): string {
  return `/api/v1/${kind}/${id}/logs/stream${after > 0 ? `?after=${after}` : ""}`;
}

// Lists come as {items,...}; a bare array is accepted too so a server that
// returns one for small collections does not break the UI.
function unwrapList<T>(v: T[] | ListPage<T>): T[] {
  return Array.isArray(v) ? v : (v?.items ?? []);
}
