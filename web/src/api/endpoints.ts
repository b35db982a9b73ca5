// Typed functions, one per API route used by the UI.
import { query, request } from "./client";
import type {
  AdminUser,
  AuthProviders,
  AuditFilters,
  AuditList,
  BackupFilters,
  BackupInput,
  BackupEntries,
  BackupList,
  BackupOperation,
  Connection,
  ConnectionInput,
  ConnectionList,
  ConnectionTestResult,
  Dashboard,
  Channel,
  ChannelInput,
  ChannelList,
  ChannelTestResult,
  DeliveryList,
  EncryptionKey,
  EncryptionKeyInput,
  EncryptionKeyList,
  EntryQuery,
  Plan,
  PlanEventList,
  PlanInput,
  PlanList,
  PruneResult,
  RetentionPolicy,
  RetentionPreview,
  SchedulePreview,
  LogEntry,
  LogPage,
  OperationKind,
  PasswordChange,
  RestoreInput,
  RestoreList,
  RestoreOperation,
  ScanResult,
  User,
  UserInput,
  UserList,
  UserUpdate,
  Verification,
  VerificationFilters,
  VerificationList,
} from "./types";

/** OperationOf is the API shape of each operation kind. */
export interface OperationOf {
  backups: BackupOperation;
  restores: RestoreOperation;
  verifications: Verification;
}

/** api groups every call the UI makes to the server. */
export const api = {
  login: (email: string, password: string) =>
    request<User>("/auth/login", { method: "POST", body: { email, password } }),
  logout: () => request<void>("/auth/logout", { method: "POST" }),
  me: () => request<User>("/auth/me"),
  providers: () => request<AuthProviders>("/auth/providers"),

  dashboard: () => request<Dashboard>("/dashboard"),

  listConnections: () => request<Connection[] | ConnectionList>("/connections").then(unwrapList),
  getConnection: (id: number) => request<Connection>(`/connections/${id}`),
  createConnection: (input: ConnectionInput) =>
    request<Connection>("/connections", { method: "POST", body: input }),
  updateConnection: (id: number, input: ConnectionInput) =>
    request<Connection>(`/connections/${id}`, { method: "PUT", body: input }),
  deleteConnection: (id: number) => request<void>(`/connections/${id}`, { method: "DELETE" }),
  testConnection: (id: number) =>
    request<ConnectionTestResult>(`/connections/${id}/test`, { method: "POST" }),
  /** Lists a destination and imports the archives the catalog lacks; it reads them whole, so it can take a while. */
  scanConnection: (id: number) => request<ScanResult>(`/connections/${id}/scan`, { method: "POST" }),

  listBackups: (f: BackupFilters) =>
    request<BackupList>(
      `/backups${query({
        status: f.status,
        source_id: f.source_id,
        destination_id: f.destination_id,
        plan_id: f.plan_id,
        page: f.page,
        per_page: f.per_page,
      })}`,
    ),
  createBackup: (input: BackupInput) => request<BackupOperation>("/backups", { method: "POST", body: input }),
  deleteBackup: (id: number) => request<BackupOperation>(`/backups/${id}`, { method: "DELETE" }),
  /** Queues a verification of a backup (or answers with the one already pending or running). */
  verifyBackup: (id: number) => request<Verification>(`/backups/${id}/verify`, { method: "POST" }),
  backupEntries: (id: number, q: EntryQuery, signal?: AbortSignal) =>
    request<BackupEntries>(
      `/backups/${id}/entries${query({ prefix: q.prefix, q: q.q, page: q.page, per_page: q.per_page })}`,
      signal ? { signal } : {},
    ),

  listVerifications: (f: VerificationFilters) =>
    request<VerificationList>(
      `/verifications${query({
        status: f.status,
        backup_operation_id: f.backup_operation_id,
        page: f.page,
        per_page: f.per_page,
      })}`,
    ),

  listPlans: () => request<PlanList>("/plans").then((l) => l.items),
  getPlan: (id: number) => request<Plan>(`/plans/${id}`),
  createPlan: (input: PlanInput) => request<Plan>("/plans", { method: "POST", body: input }),
  updatePlan: (id: number, input: PlanInput) => request<Plan>(`/plans/${id}`, { method: "PUT", body: input }),
  deletePlan: (id: number) => request<void>(`/plans/${id}`, { method: "DELETE" }),
  runPlan: (id: number) => request<BackupOperation>(`/plans/${id}/run`, { method: "POST" }),
  prunePlan: (id: number) => request<PruneResult>(`/plans/${id}/prune`, { method: "POST" }),
  planEvents: (id: number, page: number) => request<PlanEventList>(`/plans/${id}/events${query({ page, per_page: 20 })}`),
  planRetention: (id: number, draft?: RetentionPolicy) =>
    request<RetentionPreview>(
      `/plans/${id}/retention${query({ retention: draft === undefined ? undefined : JSON.stringify(draft) })}`,
    ),
  schedulePreview: (schedule: string, timezone: string, signal?: AbortSignal) =>
    request<SchedulePreview>(`/schedules/preview${query({ schedule, timezone, count: 5 })}`, signal ? { signal } : {}),

  listChannels: () => request<ChannelList>("/notification-channels").then((l) => l.items),
  createChannel: (input: ChannelInput) => request<Channel>("/notification-channels", { method: "POST", body: input }),
  updateChannel: (id: number, input: ChannelInput) =>
    request<Channel>(`/notification-channels/${id}`, { method: "PUT", body: input }),
  deleteChannel: (id: number) => request<void>(`/notification-channels/${id}`, { method: "DELETE" }),
  testChannel: (id: number) => request<ChannelTestResult>(`/notification-channels/${id}/test`, { method: "POST" }),
  listDeliveries: (page: number, status: string) =>
    request<DeliveryList>(`/notification-deliveries${query({ page, per_page: 20, status: status || undefined })}`),

  listKeys: () => request<EncryptionKeyList>("/encryption-keys").then((l) => l.items),
  createKey: (input: EncryptionKeyInput) => request<EncryptionKey>("/encryption-keys", { method: "POST", body: input }),
  deleteKey: (id: number) => request<void>(`/encryption-keys/${id}`, { method: "DELETE" }),

  listRestores: (page: number, perPage: number) =>
    request<RestoreList>(`/restores${query({ page, per_page: perPage })}`),
  createRestore: (input: RestoreInput) =>
    request<RestoreOperation>("/restores", { method: "POST", body: input }),

  /** One operation of any kind. */
  getOperation: <K extends OperationKind>(kind: K, id: number) => request<OperationOf[K]>(`/${kind}/${id}`),
  /** Steers an operation (pause and resume are for backups); the answer is the operation as it is now. */
  operationAction: <K extends OperationKind>(kind: K, id: number, action: "pause" | "resume" | "cancel") =>
    request<OperationOf[K] | undefined>(`/${kind}/${id}/${action}`, { method: "POST" }),

  logs: (kind: OperationKind, id: number, after: number, limit: number, signal?: AbortSignal) =>
    request<LogPage | LogEntry[]>(
      `/${kind}/${id}/logs${query({ after, limit })}`,
      signal ? { signal } : {},
    ).then(unwrapList),

  changeOwnPassword: (input: PasswordChange) => request<void>("/auth/password", { method: "POST", body: input }),

  listUsers: () => request<AdminUser[] | UserList>("/users").then(unwrapList),
  createUser: (input: UserInput) => request<AdminUser>("/users", { method: "POST", body: input }),
  updateUser: (id: number, change: UserUpdate) => request<AdminUser>(`/users/${id}`, { method: "PUT", body: change }),
  resetUserPassword: (id: number, password: string) =>
    request<void>(`/users/${id}/password`, { method: "POST", body: { password } }),

  listAudit: (f: AuditFilters) => request<AuditList>(`/audit${auditQuery(f)}`),
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
function unwrapList<T>(v: T[] | { items: T[] }): T[] {
  return Array.isArray(v) ? v : (v?.items ?? []);
}
