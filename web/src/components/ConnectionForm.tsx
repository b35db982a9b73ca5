import { CheckCircle2, ExternalLink, PlugZap, XCircle } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { googleDriveConnectUrl } from "@/api/endpoints";
import type { Connection, ConnectionInput, ConnectionTestResult, ConnectionType, Credentials } from "@/api/types";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import { Checkbox, Input, NativeSelect, Textarea } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { formatBytes, formatDate } from "@/lib/utils";
import { CREDENTIAL_FIELDS, isSecretField, TYPE_LABELS, type CredentialField } from "./connectionFields";
import { describedBy, FormField } from "./FormField";

/** Props of ConnectionForm. */
export interface ConnectionFormProps {
  /** The connection being edited; absent when creating one. */
  connection?: Connection;
  /**
   * Per-field reasons from the API (keys "name", "type", "secret_key" or
   * "credentials.secret_key"). A "save_unchecked" key means the live check
   * failed (formError says why): the form then offers to save without it.
   */
  fieldErrors?: Record<string, string>;
  /** A form-wide error from the API. */
  formError?: string | null;
  submitting?: boolean;
  onSubmit: (input: ConnectionInput) => void;
  /** Tests the saved connection; offered only when editing. */
  onTest?: () => void;
  testing?: boolean;
  testResult?: ConnectionTestResult | null;
  onCancel?: () => void;
}

type Values = Record<string, string | boolean>;

/** A connection's credentials by field key, as CREDENTIAL_FIELDS names them. */
function credentialsOf(c: Connection | undefined): Readonly<Record<string, unknown>> {
  return c?.credentials ?? {};
}

const connectionTypes = Object.keys(TYPE_LABELS) as ConnectionType[];

function initialValues(c: Connection | undefined): Values {
  const out: Values = {};
  if (!c) return out;
  for (const f of CREDENTIAL_FIELDS[c.type]) {
    const v = credentialsOf(c)[f.key];
    if (f.kind === "checkbox") out[f.key] = v === true || v === "true";
    else if (!isSecretField(f) && typeof v === "string") out[f.key] = v;
  }
  return out;
}

function maskedValue(c: Connection | undefined, key: string): string | undefined {
  const v = credentialsOf(c)[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * ConnectionForm edits a connection: a type picker (when creating) and the
 * credential fields of that type. Secrets are never shown: when editing, a
 * secret field is empty with the masked value as placeholder, and leaving it
 * empty keeps the stored secret (the masked value is sent back unchanged).
 */
export function ConnectionForm({
  connection,
  fieldErrors = {},
  formError,
  submitting = false,
  onSubmit,
  onTest,
  testing = false,
  testResult,
  onCancel,
}: ConnectionFormProps) {
  const uid = useId();
  const editing = connection !== undefined;
  const [name, setName] = useState(connection?.name ?? "");
  const [type, setType] = useState<ConnectionType>(connection?.type ?? "s3");
  const [values, setValues] = useState<Values>(() => initialValues(connection));
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});

  const fields = CREDENTIAL_FIELDS[type];
  const errorFor = (key: string): string | undefined =>
    localErrors[key] ?? fieldErrors[key] ?? fieldErrors[`credentials.${key}`];
  const checkFailed = fieldErrors.save_unchecked !== undefined;
  const shownKeys = new Set(["name", "type", "save_unchecked", ...fields.flatMap((f) => [f.key, `credentials.${f.key}`])]);
  const otherErrors = Object.entries(fieldErrors).filter(([k]) => !shownKeys.has(k));

  const setValue = (key: string, v: string | boolean) => {
    setValues((prev) => ({ ...prev, [key]: v }));
    setLocalErrors((prev) => {
      const { [key]: _removed, ...rest } = prev;
      return rest;
    });
  };

  // submit sends the form; unchecked asks the server to save without its live check.
  const submit = (unchecked: boolean) => {
    const errors: Record<string, string> = {};
    if (name.trim() === "") errors.name = "Enter a name for this connection.";
    const credentials: Record<string, string | boolean | undefined> = {};
    for (const f of fields) {
      const v = values[f.key];
      if (f.kind === "checkbox") {
        credentials[f.key] = v === true;
        continue;
      }
      const s = typeof v === "string" ? (isSecretField(f) ? v : v.trim()) : "";
      if (s !== "") {
        credentials[f.key] = s;
      } else if (isSecretField(f) && maskedValue(connection, f.key) !== undefined && connection?.type === type) {
        // Unchanged secret: send the mask back so the server keeps the stored value.
        credentials[f.key] = maskedValue(connection, f.key);
      } else if (f.required) {
        errors[f.key] = `Enter the ${f.label.toLowerCase()}.`;
      }
    }
    setLocalErrors(errors);
    if (Object.keys(errors).length > 0) return;
    // The keys are those of CREDENTIAL_FIELDS[type], which are checked against the type's credentials.
    onSubmit({ name: name.trim(), type, credentials: credentials as Credentials, ...(unchecked ? { save_unchecked: true } : {}) });
  };

  const handleSubmit = (e: FormEvent) => {
    e.preventDefault();
    submit(false);
  };

  const folderId = typeof values.folder_id === "string" ? values.folder_id.trim() : "";
  const driveUrl = connection
    ? googleDriveConnectUrl({ connectionId: connection.id })
    : googleDriveConnectUrl({ name: name.trim(), folderId });
  // A new Drive connection needs its name and folder before going to Google.
  const checkDriveStart = (): boolean => {
    const errors: Record<string, string> = {};
    if (name.trim() === "") errors.name = "Enter a name for this connection before connecting Google Drive.";
    if (folderId === "") errors.folder_id = "Enter the folder ID before connecting Google Drive.";
    setLocalErrors(errors);
    return Object.keys(errors).length === 0;
  };

  const nameId = `${uid}-name`;
  const typeId = `${uid}-type`;

  return (
    <form onSubmit={handleSubmit} noValidate className="grid gap-5" aria-label="Connection">
      {formError && !checkFailed && <Alert variant="destructive">{formError}</Alert>}
      {checkFailed && (
        <Alert variant="destructive" data-testid="check-failed">
          <div className="grid gap-2">
            <p className="font-medium">The connection check failed, so nothing was saved.</p>
            {formError && <p>{formError}</p>}
            <p>
              Correct the settings and save again, or save them without the check if the server is only down for now (for
              maintenance, say); the connection then shows as unchecked until a test passes.
            </p>
            <div>
              <Button type="button" variant="outline" size="sm" disabled={submitting} onClick={() => submit(true)}>
                Save without checking
              </Button>
            </div>
          </div>
        </Alert>
      )}
      {otherErrors.length > 0 && (
        <Alert variant="destructive">
          <ul className="list-disc pl-4">
            {otherErrors.map(([k, v]) => (
              <li key={k}>
                {k}: {v}
              </li>
            ))}
          </ul>
        </Alert>
      )}
      {connection?.needs_reauth && (
        <Alert variant="destructive" data-testid="needs-reauth">
          Google Drive access has expired or was revoked, so backups to this connection fail. Use “Reconnect Google
          Drive” below to grant it again.
        </Alert>
      )}

      <FormField id={nameId} label="Name" error={errorFor("name")} required>
        <Input
          id={nameId}
          name="name"
          value={name}
          autoComplete="off"
          aria-required
          aria-invalid={errorFor("name") ? true : undefined}
          aria-describedby={describedBy(nameId, errorFor("name"), undefined)}
          onChange={(e) => {
            setName(e.target.value);
            setLocalErrors(({ name: _n, ...rest }) => rest);
          }}
        />
      </FormField>

      <FormField
        id={typeId}
        label="Type"
        error={errorFor("type")}
        help={editing ? "The type of a saved connection cannot change." : undefined}
      >
        <NativeSelect
          id={typeId}
          name="type"
          value={type}
          disabled={editing}
          aria-invalid={errorFor("type") ? true : undefined}
          aria-describedby={describedBy(
            typeId,
            errorFor("type"),
            editing ? "The type of a saved connection cannot change." : undefined,
          )}
          onChange={(e) => setType(e.target.value as ConnectionType)}
        >
          {connectionTypes.map((t) => (
            <option key={t} value={t}>
              {TYPE_LABELS[t]}
            </option>
          ))}
        </NativeSelect>
      </FormField>

      {type === "google_drive" && (
        <div className="flex flex-wrap items-center gap-3 rounded-lg border border-dashed p-3 text-sm" data-testid="drive-connect">
          {/* A full-page navigation: the server redirects to Google, and Google back to this page. */}
          <a
            className={buttonVariants({ variant: connection?.needs_reauth ? "default" : "secondary", size: "sm" })}
            href={driveUrl}
            onClick={(e) => {
              if (!editing && !checkDriveStart()) e.preventDefault();
            }}
          >
            <ExternalLink aria-hidden="true" />
            {connection?.needs_reauth ? "Reconnect Google Drive" : "Connect Google Drive"}
          </a>
          <span className="text-muted-foreground">
            {editing
              ? "Grant coffer access to your Drive; the tokens are stored for this saved connection (save other changes first)."
              : "Enter a name and the folder ID, then sign in with Google: the connection is created when you come back. Or fill in a service-account key below."}
          </span>
        </div>
      )}

      <fieldset className="grid gap-4">
        <legend className="mb-2 text-sm font-semibold">Credentials</legend>
        {fields.map((f) => (
          <CredentialInput
            key={`${type}-${f.key}`}
            id={`${uid}-${type}-${f.key}`}
            field={f}
            value={values[f.key]}
            masked={connection?.type === type ? maskedValue(connection, f.key) : undefined}
            error={errorFor(f.key)}
            onChange={(v) => setValue(f.key, v)}
          />
        ))}
      </fieldset>

      {testResult && (
        <Alert variant={testResult.ok ? "success" : "destructive"} data-testid="connection-test-result">
          <div className="flex items-start gap-2">
            {testResult.ok ? <CheckCircle2 className="size-4" /> : <XCircle className="size-4" />}
            <div>
              <p className="font-medium">{testResult.ok ? "Connection works." : "Connection failed."}</p>
              <p>{testResult.message}</p>
              {testResult.free_bytes !== null && <p>Free space: {formatBytes(testResult.free_bytes)}</p>}
              <p className="text-xs opacity-80">Checked {formatDate(testResult.checked_at)}</p>
            </div>
          </div>
        </Alert>
      )}

      <div className="flex flex-wrap items-center gap-2">
        <Button type="submit" disabled={submitting}>
          {submitting ? "Saving…" : editing ? "Save changes" : "Create connection"}
        </Button>
        {editing && onTest && (
          <Button variant="outline" disabled={testing} onClick={onTest}>
            <PlugZap aria-hidden="true" />
            {testing ? "Testing…" : "Test connection"}
          </Button>
        )}
        {onCancel && (
          <Button variant="ghost" onClick={onCancel}>
            Cancel
          </Button>
        )}
        <span className="text-xs text-muted-foreground">
          {editing
            ? "Changed credentials are checked before they are saved."
            : "The server checks the connection before saving it."}
        </span>
      </div>
    </form>
  );
}

interface CredentialInputProps {
  id: string;
  field: CredentialField;
  value: string | boolean | undefined;
  masked: string | undefined;
  error: string | undefined;
  onChange: (v: string | boolean) => void;
}

function CredentialInput({ id, field, value, masked, error, onChange }: CredentialInputProps) {
  if (field.kind === "checkbox") {
    return (
      <div className="grid gap-1">
        <div className="flex items-center gap-2">
          <Checkbox id={id} checked={value === true} onChange={(e) => onChange(e.target.checked)} />
          <Label htmlFor={id}>{field.label}</Label>
        </div>
        {error && (
          <p id={`${id}-error`} className="text-xs font-medium text-destructive">
            {error}
          </p>
        )}
      </div>
    );
  }
  const secret = isSecretField(field);
  const help = secret && masked ? `Stored value ${masked}. Leave empty to keep it, or type a new one.` : field.help;
  const common = {
    id,
    name: field.key,
    value: typeof value === "string" ? value : "",
    placeholder: secret && masked ? masked : field.placeholder,
    autoComplete: "off",
    spellCheck: false,
    "aria-invalid": error ? true : undefined,
    "aria-required": field.required && !masked ? true : undefined,
    "aria-describedby": describedBy(id, error, help),
  } as const;
  return (
    <FormField id={id} label={field.label} error={error} help={help} required={field.required && !masked}>
      {field.kind === "textarea" ? (
        <Textarea {...common} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <Input
          {...common}
          type={secret ? "password" : "text"}
          {...(secret ? { autoComplete: "new-password" } : {})}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </FormField>
  );
}
