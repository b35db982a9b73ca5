import type {
  ConnectionRole,
  ConnectionType,
  GoogleDriveCredentials,
  LocalCredentials,
  MongoDBCredentials,
  S3Credentials,
} from "@/api/types";

/** The credentials of each connection type, as the API's schemas give them. */
interface CredentialsByType {
  s3: S3Credentials;
  mongodb: MongoDBCredentials;
  google_drive: GoogleDriveCredentials;
  local: LocalCredentials;
}

/** Describes one credential field of a connection type. */
export interface CredentialField<K extends string = string> {
  key: K;
  label: string;
  kind: "text" | "secret" | "checkbox" | "textarea";
  required?: boolean;
  placeholder?: string;
  help?: string;
}

/** Human name of each connection type. */
export const TYPE_LABELS: Record<ConnectionType, string> = {
  s3: "Amazon S3 / S3-compatible",
  mongodb: "MongoDB",
  google_drive: "Google Drive",
  local: "Local directory",
};

/** What each connection type can be used for (mirrors the server). */
export const TYPE_ROLES: Record<ConnectionType, ConnectionRole[]> = {
  s3: ["source", "destination", "restore_target"],
  mongodb: ["source", "restore_target"],
  google_drive: ["destination"],
  local: ["destination"],
};

/** Human name of each role. */
export const ROLE_LABELS: Record<ConnectionRole, string> = {
  source: "Source",
  destination: "Destination",
  restore_target: "Restore target",
};

/** Credential fields of each connection type, in form order; each key must be a field of the type's credentials. */
export const CREDENTIAL_FIELDS: Record<ConnectionType, CredentialField[]> = {
  s3: [
    { key: "access_key", label: "Access key ID", kind: "text", required: true },
    { key: "secret_key", label: "Secret access key", kind: "secret", required: true },
    { key: "region", label: "Region", kind: "text", required: true, placeholder: "us-east-1" },
    { key: "bucket", label: "Bucket", kind: "text", required: true },
    { key: "prefix", label: "Key prefix", kind: "text", help: "Optional. Only keys under this prefix are used." },
    {
      key: "endpoint",
      label: "Endpoint URL",
      kind: "text",
      placeholder: "https://s3.example.com",
      help: "Optional. For S3-compatible services; leave empty for AWS.",
    },
    { key: "force_path_style", label: "Force path-style addressing", kind: "checkbox" },
  ],
  mongodb: [
    {
      key: "uri",
      label: "Connection URI",
      kind: "secret",
      required: true,
      placeholder: "mongodb://user:password@host:27017",
    },
    { key: "database", label: "Database", kind: "text", help: "Optional. Empty backs up every non-system database." },
    { key: "auth_database", label: "Authentication database", kind: "text", placeholder: "admin" },
  ],
  google_drive: [
    { key: "folder_id", label: "Folder ID", kind: "text", required: true, help: "The Drive folder archives go into." },
    { key: "access_token", label: "Access token", kind: "secret", help: "Filled in by “Connect Google Drive”." },
    { key: "refresh_token", label: "Refresh token", kind: "secret", help: "Filled in by “Connect Google Drive”." },
    {
      key: "service_account_json",
      label: "Service account JSON",
      kind: "textarea",
      help: "Optional. Paste a service-account key instead of connecting an account.",
    },
  ],
  local: [
    {
      key: "path",
      label: "Directory path",
      kind: "text",
      required: true,
      placeholder: "/var/backups/coffer",
      help: "A directory on the coffer server.",
    },
  ],
} satisfies { [T in ConnectionType]: CredentialField<keyof CredentialsByType[T] & string>[] };

/** isSecretField reports whether a field's stored value is never shown. */
export function isSecretField(f: CredentialField): boolean {
  return f.kind === "secret" || f.kind === "textarea";
}
