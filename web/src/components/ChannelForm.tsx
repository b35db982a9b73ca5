import { useId, useState, type FormEvent } from "react";
import type { Channel, ChannelInput, EmailChannelConfig, NotificationEvent, Plan } from "@/api/types";
import { describedBy, FormField } from "@/components/FormField";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { DialogFooter } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { fieldSentence } from "@/lib/fields";

/** The events a channel can subscribe to, in the server's order, with what each means. */
export const NOTIFICATION_EVENTS: { value: NotificationEvent; label: string }[] = [
  { value: "backup.failed", label: "A backup failed" },
  { value: "backup.completed", label: "A backup completed" },
  { value: "restore.failed", label: "A restore failed" },
  { value: "restore.completed", label: "A restore completed" },
  { value: "plan.skipped", label: "A plan's run was skipped" },
  { value: "plan.overdue", label: "A plan is overdue (no success within alert_after)" },
  { value: "plan.recovered", label: "An overdue plan succeeded again" },
  { value: "prune.failed", label: "Removing old backups failed" },
  { value: "verify.failed", label: "Verifying an archive failed" },
  { value: "connection.needs_reauth", label: "A connection must be authorised again" },
  { value: "storage.insufficient", label: "A destination is short of space" },
];

/** What a channel created without a choice subscribes to (the server's default). */
export const DEFAULT_EVENTS: NotificationEvent[] = [
  "backup.failed",
  "restore.failed",
  "prune.failed",
  "verify.failed",
  "storage.insufficient",
  "plan.overdue",
  "plan.recovered",
  "connection.needs_reauth",
];

type ChannelType = ChannelInput["type"];

const TYPES: { value: ChannelType; label: string }[] = [
  { value: "email", label: "E-mail (SMTP)" },
  { value: "webhook", label: "Webhook (signed JSON)" },
  { value: "shoutrrr", label: "Chat service (shoutrrr URL)" },
];

/** Props of ChannelForm. */
export interface ChannelFormProps {
  /** The channel being edited; undefined for a new one. */
  channel?: Channel | undefined;
  plans: Plan[];
  fieldErrors: Record<string, string>;
  formError: string | null;
  submitting: boolean;
  onSubmit: (input: ChannelInput) => void;
  onCancel: () => void;
}

interface Draft {
  name: string;
  type: ChannelType;
  host: string;
  port: string;
  username: string;
  password: string;
  from: string;
  to: string;
  security: NonNullable<EmailChannelConfig["security"]>;
  url: string;
  secret: string;
  headers: string;
  events: NotificationEvent[];
  planIds: number[];
  enabled: boolean;
}

function draftOf(c: Channel | undefined): Draft {
  const cfg = (c?.config ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof cfg[k] === "string" ? (cfg[k] as string) : "");
  const headers = (cfg.headers ?? {}) as Record<string, string>;
  return {
    name: c?.name ?? "",
    type: c?.type ?? "email",
    host: str("host"),
    port: typeof cfg.port === "number" ? String(cfg.port) : "587",
    username: str("username"),
    password: str("password"),
    from: str("from"),
    to: Array.isArray(cfg.to) ? (cfg.to as string[]).join(", ") : "",
    security: (str("security") || "starttls") as Draft["security"],
    url: str("url"),
    secret: str("secret"),
    headers: Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    events: c?.events ?? DEFAULT_EVENTS,
    planIds: c?.plan_ids ?? [],
    enabled: c?.enabled ?? true,
  };
}

/** inputOf turns the form into the API body; secrets left masked keep their stored value on the server. */
function inputOf(d: Draft): ChannelInput {
  const base = { name: d.name.trim(), events: d.events, plan_ids: d.planIds, enabled: d.enabled };
  switch (d.type) {
    case "email":
      return {
        ...base,
        type: "email",
        config: {
          host: d.host.trim(),
          port: Number(d.port),
          from: d.from.trim(),
          to: d.to
            .split(/[,\s]+/)
            .map((s) => s.trim())
            .filter(Boolean),
          security: d.security,
          ...(d.username.trim() ? { username: d.username.trim() } : {}),
          ...(d.password ? { password: d.password } : {}),
        },
      };
    case "webhook": {
      const headers: Record<string, string> = {};
      for (const line of d.headers.split("\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return {
        ...base,
        type: "webhook",
        config: {
          url: d.url.trim(),
          ...(d.secret ? { secret: d.secret } : {}),
          ...(Object.keys(headers).length > 0 ? { headers } : {}),
        },
      };
    }
    case "shoutrrr":
      return { ...base, type: "shoutrrr", config: { url: d.url.trim() } };
  }
}

/** ChannelForm edits a notification channel: its type's settings, the events it takes and the plans it is limited to. */
export function ChannelForm({ channel, plans, fieldErrors, formError, submitting, onSubmit, onCancel }: ChannelFormProps) {
  const uid = useId();
  const [d, setD] = useState<Draft>(() => draftOf(channel));
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((old) => ({ ...old, [k]: v }));
  const err = (field: string, label: string) => fieldSentence(label, fieldErrors[field]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit(inputOf(d));
  };
  const text = (key: keyof Draft, field: string, label: string, opts: { type?: string; help?: string; required?: boolean; placeholder?: string } = {}) => {
    const id = `${uid}-${String(key)}`;
    const error = err(field, label);
    return (
      <FormField id={id} label={label} error={error} help={opts.help} required={opts.required}>
        <Input
          id={id}
          type={opts.type ?? "text"}
          value={d[key] as string}
          placeholder={opts.placeholder}
          aria-required={opts.required || undefined}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(id, error, opts.help)}
          onChange={(e) => set(key, e.target.value as never)}
        />
      </FormField>
    );
  };
  const typeId = `${uid}-type`;
  const secId = `${uid}-security`;
  const headersId = `${uid}-headers`;
  const eventsErr = err("events", "The events");
  const plansErr = err("plan_ids", "The plans");
  return (
    <form onSubmit={submit} noValidate className="grid gap-4" aria-label="Notification channel">
      {formError && <Alert variant="destructive">{formError}</Alert>}
      {text("name", "name", "Name", { required: true, placeholder: "On-call e-mail" })}
      <FormField id={typeId} label="Type" error={err("type", "The type")} required>
        <NativeSelect
          id={typeId}
          value={d.type}
          disabled={channel !== undefined}
          onChange={(e) => set("type", e.target.value as ChannelType)}
        >
          {TYPES.map((t) => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </NativeSelect>
      </FormField>

      {d.type === "email" && (
        <>
          <div className="grid grid-cols-3 gap-3">
            <div className="col-span-2">{text("host", "config.host", "SMTP host", { required: true, placeholder: "smtp.example.com" })}</div>
            {text("port", "config.port", "Port", { type: "number", required: true })}
          </div>
          <FormField id={secId} label="Security" error={err("config.security", "Security")}>
            <NativeSelect id={secId} value={d.security} onChange={(e) => set("security", e.target.value as Draft["security"])}>
              <option value="starttls">STARTTLS (port 587)</option>
              <option value="tls">TLS from the start (port 465)</option>
              <option value="none">None (a relay on a trusted network)</option>
            </NativeSelect>
          </FormField>
          <div className="grid grid-cols-2 gap-3">
            {text("username", "config.username", "Username")}
            {text("password", "config.password", "Password", { type: "password", help: channel ? "Leave the mask to keep the saved password." : undefined })}
          </div>
          {text("from", "config.from", "From", { required: true, placeholder: "coffer@example.com" })}
          {text("to", "config.to", "To", { required: true, help: "One or more addresses, separated by commas.", placeholder: "oncall@example.com" })}
        </>
      )}
      {d.type === "webhook" && (
        <>
          {text("url", "config.url", "URL", { required: true, placeholder: "https://hooks.example.com/coffer" })}
          {text("secret", "config.secret", "Signing secret", {
            type: "password",
            help: "With a secret every request carries X-Coffer-Timestamp and X-Coffer-Signature.",
          })}
          <FormField id={headersId} label="Extra headers" error={err("config.headers", "The headers")} help="One per line: Name: value">
            <textarea
              id={headersId}
              className="min-h-16 rounded-md border bg-transparent px-3 py-2 font-mono text-sm"
              value={d.headers}
              onChange={(e) => set("headers", e.target.value)}
            />
          </FormField>
        </>
      )}
      {d.type === "shoutrrr" && text("url", "config.url", "Service URL", { required: true, placeholder: "slack://token@channel", help: "Slack, Discord, Telegram, Teams, ntfy, Gotify, Pushover, Matrix… as a shoutrrr URL." })}

      <fieldset className="grid gap-1.5" aria-describedby={eventsErr ? `${uid}-events-error` : undefined}>
        <legend className="mb-1 text-sm font-medium">Events</legend>
        {NOTIFICATION_EVENTS.map((ev) => (
          <label key={ev.value} className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              checked={d.events.includes(ev.value)}
              onChange={(e) =>
                set(
                  "events",
                  e.target.checked
                    ? NOTIFICATION_EVENTS.map((x) => x.value).filter((v) => v === ev.value || d.events.includes(v))
                    : d.events.filter((v) => v !== ev.value),
                )
              }
            />
            {ev.label}
          </label>
        ))}
        {eventsErr && (
          <p id={`${uid}-events-error`} className="text-xs font-medium text-destructive">
            {eventsErr}
          </p>
        )}
      </fieldset>

      {plans.length > 0 && (
        <fieldset className="grid gap-1.5">
          <legend className="mb-1 text-sm font-medium">Plans</legend>
          <p className="text-xs text-muted-foreground">None ticked: every plan, and events that belong to no plan.</p>
          {plans.map((p) => (
            <label key={p.id} className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                checked={d.planIds.includes(p.id)}
                onChange={(e) => set("planIds", e.target.checked ? [...d.planIds, p.id] : d.planIds.filter((id) => id !== p.id))}
              />
              {p.name}
            </label>
          ))}
          {plansErr && <p className="text-xs font-medium text-destructive">{plansErr}</p>}
        </fieldset>
      )}

      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={d.enabled} onChange={(e) => set("enabled", e.target.checked)} />
        Enabled
      </label>

      <DialogFooter>
        <Button variant="outline" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" disabled={submitting}>
          {submitting ? "Saving…" : channel ? "Save channel" : "Create channel"}
        </Button>
      </DialogFooter>
    </form>
  );
}
