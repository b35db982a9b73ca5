// Types mirroring the JSON shapes of the coffer HTTP API (DESIGN.md §5).
// Field names are part of the contract with the Go server.

/** Role a user holds; decides what the UI lets them do. */
export type UserRole = "admin" | "operator" | "viewer";

/** The signed-in user, from POST /auth/login and GET /auth/me. */
export interface User {
  id: number;
  email: string;
  role: UserRole;
}

/** How users may sign in, from GET /auth/providers. */
export interface AuthProviders {
  /** Sign-in with e-mail and password is on. */
  local: boolean;
  /** Single sign-on with an OpenID Connect provider, or null when it is not set up. */
  oidc: { name: string } | null;
}

/** Kind of external system a connection points at. */
export type ConnectionType = "s3" | "mongodb" | "google_drive" | "local";

/** What a connection may be used for. */
export type ConnectionRole = "source" | "destination" | "restore_target";

/** Credentials of an s3 connection; secrets come back masked ("****abcd"). */
export interface S3Credentials {
  access_key: string;
  secret_key: string;
  region: string;
  bucket: string;
  prefix?: string;
  endpoint?: string;
  force_path_style?: boolean;
}

/** Credentials of a mongodb connection. */
export interface MongoCredentials {
  uri: string;
  database?: string;
  auth_database?: string;
}

/** Credentials of a google_drive connection. */
export interface GoogleDriveCredentials {
  access_token?: string;
  refresh_token?: string;
  folder_id: string;
  service_account_json?: string;
}

/** Credentials of a local directory destination. */
export interface LocalCredentials {
  path: string;
}

/** Credentials of any connection type, as a loose JSON object. */
export type Credentials = Record<string, string | boolean | undefined>;

/** A connection as the API shows it (credentials masked). */
export interface Connection {
  id: number;
  name: string;
  type: ConnectionType;
  credentials: Credentials;
  is_active: boolean;
  last_validated_at: string | null;
  last_validation_error: string | null;
  needs_reauth: boolean;
  roles: ConnectionRole[];
  created_at: string;
  updated_at: string;
}

/** Body of POST /connections and PUT /connections/{id}. */
export interface ConnectionInput {
  name: string;
  type: ConnectionType;
  credentials: Credentials;
}

/** Result of POST /connections/{id}/test. */
export interface ConnectionTestResult {
  ok: boolean;
  message: string;
  free_bytes: number | null;
  checked_at: string;
}

/** Backup operation states. */
export type BackupStatus = "pending" | "running" | "paused" | "completed" | "failed" | "cancelled";

/** Restore operation states (a restore cannot be paused). */
export type RestoreStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** Any operation state. */
export type OperationStatus = BackupStatus | RestoreStatus;

/** Progress counters of a running or finished operation. */
export interface Progress {
  items_done: number;
  items_total?: number | null;
  bytes_read: number;
  bytes_written: number;
}

/** Compression codec of a backup archive. */
export type Compression = "gzip" | "zstd";

/** Options of a backup. */
export interface BackupOptions {
  compression?: Compression;
}

/** A backup operation. */
export interface BackupOperation {
  id: number;
  status: BackupStatus;
  source_connection_id: number;
  destination_connection_id: number;
  options: BackupOptions | null;
  archive_path: string | null;
  archive_size: number | null;
  sha256: string | null;
  progress: Progress | null;
  error_message: string | null;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
}

/** Restore settings for an s3 target. */
export interface S3RestoreConfig {
  bucket?: string;
  prefix?: string;
  include_prefix?: string;
  overwrite?: boolean;
}

/** Restore settings for a mongodb target. */
export interface MongoRestoreConfig {
  database?: string;
  collections?: string[];
  drop?: boolean;
}

/** Restore settings for any target type. */
export type RestoreConfig = S3RestoreConfig | MongoRestoreConfig;

/** A restore operation. */
export interface RestoreOperation {
  id: number;
  status: RestoreStatus;
  backup_operation_id: number;
  destination_connection_id: number;
  destination_config: RestoreConfig | null;
  progress: Progress | null;
  error_message: string | null;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
}

/** Severity of a log line. */
export type LogLevel = "info" | "warning" | "error";

/** One line of an operation's log. */
export interface LogEntry {
  id: number;
  level: LogLevel;
  message: string;
  context: Record<string, unknown> | null;
  created_at: string;
}

/** A page of a list endpoint. */
export interface ListPage<T> {
  items: T[];
  page: number;
  per_page: number;
  total: number;
}

/** Connection health summary shown on the dashboard. */
export interface DashboardConnections {
  healthy: number;
  failing: number;
  unchecked: number;
  items: Connection[];
}

/** A backup as listed on the dashboard, tagged with its kind. */
export type DashboardBackup = BackupOperation & { kind: "backup" };

/** A restore as listed on the dashboard, tagged with its kind. */
export type DashboardRestore = RestoreOperation & { kind: "restore" };

/** An operation of either kind in the dashboard's running and failure lists. */
export type DashboardOperation = DashboardBackup | DashboardRestore;

/** Body of GET /dashboard. */
export interface Dashboard {
  backups_by_status: Partial<Record<BackupStatus, number>>;
  restores_by_status: Partial<Record<RestoreStatus, number>>;
  running: DashboardOperation[];
  recent_failures: DashboardOperation[];
  connections: DashboardConnections;
}

/** Filters of GET /backups. */
export interface BackupFilters {
  status?: BackupStatus | "";
  source_id?: number | "";
  destination_id?: number | "";
  page?: number;
  per_page?: number;
}

/** Body of POST /backups. */
export interface BackupInput {
  source_connection_id: number;
  destination_connection_id: number;
  options: BackupOptions;
}

/** Body of POST /restores. */
export interface RestoreInput {
  backup_operation_id: number;
  destination_connection_id: number;
  config: RestoreConfig;
}

/** Which operation collection a log belongs to. */
export type OperationKind = "backups" | "restores";

/** A user as the users API (admins only) shows it. */
export interface AdminUser {
  id: number;
  email: string;
  role: UserRole;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

/** Body of POST /users. */
export interface UserInput {
  email: string;
  role: UserRole;
  password: string;
}

/** Body of PUT /users/{id}: only the fields to change. */
export interface UserUpdate {
  role?: UserRole;
  disabled?: boolean;
}

/** Body of POST /auth/password (a user changing their own password). */
export interface PasswordChange {
  current_password: string;
  new_password: string;
}

/** One event of the audit log. */
export interface AuditEvent {
  id: number;
  /** The acting user; null for events without one (e.g. a failed login for an unknown email). */
  actor_id: number | null;
  actor_email: string;
  action: string;
  target_type: string;
  target_id: string;
  ip: string;
  details: Record<string, unknown> | null;
  created_at: string;
}

/** Filters of GET /audit; since is an RFC 3339 time. */
export interface AuditFilters {
  actor_id?: number | "";
  action?: string;
  target_type?: string;
  since?: string;
  page?: number;
  per_page?: number;
}
