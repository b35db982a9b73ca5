import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { toast } from "sonner";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections, useEncryptionKeys } from "@/api/queries";
import type { BackupMode, Compression, CompressionLevel, Plan, PlanInput, RetentionDecision, RetentionPolicy } from "@/api/types";
import { CompressionLevelSelect, ModeSelect, modeOptions } from "@/components/BackupMode";
import { TYPE_LABELS } from "@/components/connectionFields";
import { EncryptionSelect } from "@/components/EncryptionSelect";
import { describedBy, FormField } from "@/components/FormField";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { formatDate } from "@/lib/utils";

const COUNTS = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"] as const;
type CountKey = (typeof COUNTS)[number];
const COUNT_LABELS: Record<CountKey, string> = {
  keep_last: "Keep last",
  keep_hourly: "Hourly",
  keep_daily: "Daily",
  keep_weekly: "Weekly",
  keep_monthly: "Monthly",
  keep_yearly: "Yearly",
};

/** Form is the plan form's state: text inputs as typed. */
interface Form {
  name: string;
  source: string;
  destination: string;
  mode: BackupMode;
  compression: Compression;
  compressionLevel: CompressionLevel;
  /** When an incremental plan makes a full backup: a count or a cron expression ("" for the default). */
  fullEvery: string;
  encryptionKey: string;
  bandwidth: string;
  schedule: string;
  timezone: string;
  catchUp: boolean;
  counts: Record<CountKey, string>;
  keepWithin: string;
  alertAfter: string;
  verify: VerifyMode;
  /** The verify schedule, when verify is "schedule". */
  verifySchedule: string;
  enabled: boolean;
}

/** full_every when a plan does not say: a full backup after 7 incrementals. */
const DEFAULT_FULL_EVERY = "7";

const FULL_EVERY_HELP =
  'How many incrementals run before the next full backup ("7", the default), or a cron expression ("0 3 * * 0": a full backup at the first run after each of its times).';

const VERIFY_HELP = "A verification reads a backup's archive where it is stored and checks it; a failure sends verify.failed.";

/** When a plan verifies its backups: never, after each backup, or on a schedule of its own. */
export type VerifyMode = "none" | "after_each" | "schedule";

/** verifyModeOf splits a plan's verify setting into the form's choice and schedule. */
export function verifyModeOf(verify: string | undefined): { mode: VerifyMode; schedule: string } {
  const v = (verify ?? "").trim();
  if (v === "" || v === "none") return { mode: "none", schedule: "" };
  if (v === "after_each") return { mode: "after_each", schedule: "" };
  return { mode: "schedule", schedule: v };
}

function formOf(p: Plan | undefined): Form {
  const r = p?.retention ?? {};
  const counts = Object.fromEntries(COUNTS.map((k) => [k, r[k] ? String(r[k]) : ""])) as Record<CountKey, string>;
  return {
    name: p?.name ?? "",
    source: p ? String(p.source_connection_id) : "",
    destination: p ? String(p.destination_connection_id) : "",
    mode: p?.options.mode ?? "full",
    compression: p?.options.compression ?? "gzip",
    compressionLevel: p?.options.compression_level ?? "default",
    fullEvery: p?.full_every ?? "",
    encryptionKey: p?.options.encryption_key_id ? String(p.options.encryption_key_id) : "",
    bandwidth: p?.options.bandwidth_limit ? String(p.options.bandwidth_limit) : "",
    schedule: p?.schedule ?? "@daily",
    timezone: p?.timezone ?? "UTC",
    catchUp: p?.catch_up ?? true,
    counts,
    keepWithin: r.keep_within ?? "",
    alertAfter: p?.alert_after ?? "",
    verify: verifyModeOf(p?.verify).mode,
    verifySchedule: verifyModeOf(p?.verify).schedule,
    enabled: p?.enabled ?? true,
  };
}

/** retentionOf is the policy the form's fields describe. */
export function retentionOf(f: Pick<Form, "counts" | "keepWithin">): RetentionPolicy {
  const r: RetentionPolicy = {};
  for (const k of COUNTS) {
    const v = f.counts[k].trim();
    if (v !== "") r[k] = Number(v);
  }
  if (f.keepWithin.trim() !== "") r.keep_within = f.keepWithin.trim();
  return r;
}

/**
 * inputOf is the plan the form describes. mode is what the form can offer
 * for the chosen source (full for anything but S3). full_every goes with an
 * incremental plan; a full plan keeps one that is not the default, so that
 * going back to incremental finds it again.
 */
function inputOf(f: Form, mode: BackupMode): PlanInput {
  const fullEvery = f.fullEvery.trim();
  const sendFullEvery = fullEvery !== "" && (mode === "incremental" || fullEvery !== DEFAULT_FULL_EVERY);
  return {
    name: f.name.trim(),
    source_connection_id: Number(f.source),
    destination_connection_id: Number(f.destination),
    options: {
      ...modeOptions(mode, f.compressionLevel),
      compression: f.compression,
      ...(f.bandwidth.trim() ? { bandwidth_limit: Number(f.bandwidth.trim()) } : {}),
      ...(f.encryptionKey ? { encryption_key_id: Number(f.encryptionKey) } : {}),
    },
    schedule: f.schedule.trim(),
    timezone: f.timezone.trim() || "UTC",
    catch_up: f.catchUp,
    retention: retentionOf(f),
    verify: f.verify === "schedule" ? f.verifySchedule.trim() : f.verify,
    enabled: f.enabled,
    ...(f.alertAfter.trim() ? { alert_after: f.alertAfter.trim() } : {}),
    ...(sendFullEvery ? { full_every: fullEvery } : {}),
  };
}

/** useDebounced is value once it has stopped changing for ms. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

/** SchedulePreview shows the next five due times of the schedule being typed, or why it is refused. */
export function SchedulePreview({
  schedule,
  timezone,
  title = "Next runs",
  testId = "schedule-preview",
}: {
  schedule: string;
  timezone: string;
  /** What the times are, e.g. "Next verifications". */
  title?: string;
  /** The preview's data-testid; its error's is the same with "-error". */
  testId?: string;
}) {
  const s = useDebounced(schedule.trim(), 300);
  const tz = useDebounced(timezone.trim() || "UTC", 300);
  const preview = useQuery({
    queryKey: ["schedule-preview", s, tz],
    queryFn: ({ signal }) => api.schedulePreview(s, tz, signal),
    enabled: s !== "",
    retry: false,
  });
  if (s === "") return null;
  if (preview.isError) {
    const fields = isApiError(preview.error) ? preview.error.fields : {};
    const why = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join("; ");
    return (
      <p className="text-sm text-destructive" data-testid={`${testId}-error`}>
        {why || errorMessage(preview.error)}
      </p>
    );
  }
  if (!preview.data) return <p className="text-sm text-muted-foreground">Working out the next runs…</p>;
  return (
    <div data-testid={testId}>
      <p className="text-sm text-muted-foreground">
        {title} ({tz}):
      </p>
      <ol className="ml-5 list-decimal text-sm">
        {preview.data.times.map((t) => (
          <li key={t}>{new Date(t).toLocaleString(undefined, { timeZone: tz, dateStyle: "medium", timeStyle: "short" })}</li>
        ))}
      </ol>
    </div>
  );
}

const BASE_OF = /^base of #(\d+)$/;

/**
 * RetentionReasons lists why the policy keeps a backup. "base of #N" (an
 * incremental that stays is built on it) links to backup N and says so.
 */
export function RetentionReasons({ decision: d }: { decision: RetentionDecision }) {
  return (
    <>
      {d.reasons.map((r, i) => {
        const base = BASE_OF.exec(r);
        return (
          <span key={`${i}-${r}`}>
            {i > 0 && ", "}
            {base ? (
              <span data-testid="retention-base-of" title={`Kept because backup #${base[1]} is built on it.`}>
                base of{" "}
                <Link to={`/backups/${base[1]}`} className="underline underline-offset-4">
                  #{base[1]}
                </Link>
              </span>
            ) : (
              r
            )}
          </span>
        );
      })}
    </>
  );
}

/** RetentionPreview shows, live, what the policy being edited keeps of an existing plan's backups. */
function RetentionPreview({ planId, policy }: { planId: number; policy: RetentionPolicy }) {
  const draft = useDebounced(policy, 300);
  const preview = useQuery({
    queryKey: ["retention-preview", planId, JSON.stringify(draft)],
    queryFn: () => api.planRetention(planId, draft),
    retry: false,
  });
  if (preview.isError) return <p className="text-sm text-destructive">{errorMessage(preview.error)}</p>;
  if (!preview.data) return null;
  if (preview.data.items.length === 0) return <p className="text-sm text-muted-foreground">No completed backups yet.</p>;
  const removed = preview.data.items.filter((d) => !d.keep).length;
  return (
    <div data-testid="retention-preview" className="grid gap-1 text-sm">
      <p className="text-muted-foreground">
        Of {preview.data.items.length} completed backups, this policy keeps {preview.data.items.length - removed} and removes {removed}.
      </p>
      <ul className="grid gap-0.5">
        {preview.data.items.map((d) => (
          <li key={d.backup_id} data-testid="retention-item" data-keep={d.keep}>
            #{d.backup_id} · {formatDate(d.completed_at)} · {d.keep ? <>keep (<RetentionReasons decision={d} />)</> : "remove"}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** PlanEditPage creates a plan (/plans/new) or changes one (/plans/:id/edit). */
export default function PlanEditPage() {
  const { id } = useParams();
  const planId = id ? Number(id) : undefined;
  const existing = useQuery({ queryKey: keys.plan(planId ?? 0), queryFn: () => api.getPlan(planId ?? 0), enabled: planId !== undefined });
  if (planId !== undefined && existing.isPending) return <Loading />;
  if (existing.isError) return <LoadError error={existing.error} onRetry={() => void existing.refetch()} />;
  return <PlanForm key={planId ?? "new"} plan={existing.data} />;
}

function PlanForm({ plan }: { plan: Plan | undefined }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const connections = useConnections();
  const encKeys = useEncryptionKeys();
  const [f, setF] = useState<Form>(() => formOf(plan));
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setF((old) => ({ ...old, [k]: v }));

  // Incremental backups are for S3 sources: for another, the plan is full.
  const incrementalAllowed = connections.data?.find((c) => String(c.id) === f.source)?.type === "s3";
  const mode: BackupMode = incrementalAllowed ? f.mode : "full";
  const save = useMutation({
    mutationFn: () => (plan ? api.updatePlan(plan.id, inputOf(f, mode)) : api.createPlan(inputOf(f, mode))),
    meta: { skipToast: true },
    onSuccess: (p) => {
      toast.success(plan ? `Plan ${p.name} saved.` : `Plan ${p.name} created.`);
      void qc.invalidateQueries({ queryKey: keys.plans });
      void navigate(`/plans/${p.id}`);
    },
  });

  if (connections.isPending) return <Loading />;
  if (connections.isError) return <LoadError error={connections.error} onRetry={() => void connections.refetch()} />;
  const sources = connections.data.filter((c) => c.roles.includes("source"));
  const destinations = connections.data.filter((c) => c.roles.includes("destination"));
  const fields = { ...(isApiError(save.error) ? save.error.fields : {}), ...localErrors };
  const text = (id: string, label: string, key: keyof Form, field: string, help?: string, required = false) => (
    <FormField id={id} label={label} error={fields[field]} help={help} required={required}>
      <Input
        id={id}
        value={String(f[key])}
        aria-required={required || undefined}
        aria-invalid={fields[field] ? true : undefined}
        aria-describedby={describedBy(id, fields[field], help)}
        onChange={(e) => set(key, e.target.value as never)}
      />
    </FormField>
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (f.verify === "schedule" && f.verifySchedule.trim() === "") {
      setLocalErrors({ verify: "Enter when to verify, or choose another option." });
      return;
    }
    setLocalErrors({});
    save.mutate();
  };

  return (
    <div className="mx-auto max-w-2xl">
      <PageHeader title={plan ? `Edit ${plan.name}` : "New plan"} description="A plan runs backups on a schedule and prunes old ones." />
      <Card>
        <CardContent className="pt-5">
          <form onSubmit={submit} noValidate className="grid gap-5" aria-label={plan ? "Edit plan" : "New plan"}>
            {save.isError && <Alert variant="destructive">{errorMessage(save.error)}</Alert>}
            {text("plan-name", "Name", "name", "name", undefined, true)}
            <FormField id="plan-source" label="Source" error={fields.source_connection_id} required>
              <NativeSelect id="plan-source" aria-required value={f.source} onChange={(e) => set("source", e.target.value)}
                aria-invalid={fields.source_connection_id ? true : undefined}
                aria-describedby={describedBy("plan-source", fields.source_connection_id, undefined)}>
                <option value="">Choose a source…</option>
                {sources.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({TYPE_LABELS[c.type]})
                  </option>
                ))}
              </NativeSelect>
            </FormField>
            <FormField id="plan-destination" label="Destination" error={fields.destination_connection_id} required>
              <NativeSelect id="plan-destination" aria-required value={f.destination} onChange={(e) => set("destination", e.target.value)}
                aria-invalid={fields.destination_connection_id ? true : undefined}
                aria-describedby={describedBy("plan-destination", fields.destination_connection_id, undefined)}>
                <option value="">Choose a destination…</option>
                {destinations.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({TYPE_LABELS[c.type]})
                  </option>
                ))}
              </NativeSelect>
            </FormField>
            <ModeSelect
              id="plan-mode"
              value={mode}
              onChange={(v) => set("mode", v)}
              incrementalAllowed={incrementalAllowed}
              error={fields["options.mode"]}
            />
            {(mode === "incremental" || fields.full_every) && (
              <FormField id="plan-full-every" label="Full backup every" error={fields.full_every} help={FULL_EVERY_HELP}>
                <Input
                  id="plan-full-every"
                  value={f.fullEvery}
                  placeholder="7, or a cron such as 0 3 * * 0"
                  aria-invalid={fields.full_every ? true : undefined}
                  aria-describedby={describedBy("plan-full-every", fields.full_every, FULL_EVERY_HELP)}
                  onChange={(e) => set("fullEvery", e.target.value)}
                />
              </FormField>
            )}
            <FormField id="plan-compression" label="Compression" error={fields["options.compression"]}>
              <NativeSelect id="plan-compression" value={f.compression} onChange={(e) => set("compression", e.target.value as Compression)}>
                <option value="gzip">gzip (parallel)</option>
                <option value="zstd">zstd</option>
              </NativeSelect>
            </FormField>
            <CompressionLevelSelect
              id="plan-level"
              value={f.compressionLevel}
              onChange={(v) => set("compressionLevel", v)}
              error={fields["options.compression_level"]}
            />
            <EncryptionSelect
              id="plan-encryption"
              value={f.encryptionKey}
              onChange={(v) => set("encryptionKey", v)}
              keys={encKeys.data ?? []}
              error={fields["options.encryption_key_id"]}
            />
            {text("plan-bandwidth", "Bandwidth limit (bytes/s)", "bandwidth", "options.bandwidth_limit", "For the source reads and the destination writes of each run; empty for no limit.")}
            {text("plan-schedule", "Schedule", "schedule", "schedule", 'A cron expression ("30 2 * * *"), @hourly, @daily, @weekly, @monthly or "@every 6h".', true)}
            {text("plan-timezone", "Time zone", "timezone", "timezone", "An IANA time zone such as Europe/Berlin; the schedule is read in it.")}
            <SchedulePreview schedule={f.schedule} timezone={f.timezone} />
            <fieldset className="grid gap-3">
              <legend className="mb-1 text-sm font-medium">Retention (empty keeps everything)</legend>
              <div className="grid grid-cols-3 gap-3">
                {COUNTS.map((k) => (
                  <FormField key={k} id={`plan-${k}`} label={COUNT_LABELS[k]} error={fields[`retention.${k}`]}>
                    <Input id={`plan-${k}`} inputMode="numeric" value={f.counts[k]}
                      aria-invalid={fields[`retention.${k}`] ? true : undefined}
                      onChange={(e) => set("counts", { ...f.counts, [k]: e.target.value })} />
                  </FormField>
                ))}
              </div>
              {text("plan-keep-within", "Keep within", "keepWithin", "retention.keep_within", 'Every backup within this span of the newest: "7d", "1y6m", "36h".')}
              {plan ? (
                <RetentionPreview planId={plan.id} policy={retentionOf(f)} />
              ) : (
                <p className="text-sm text-muted-foreground">The policy applies after each successful run; the plan's page previews it.</p>
              )}
            </fieldset>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.catchUp} onChange={(e) => set("catchUp", e.target.checked)} />
              Catch up: after downtime, run once for the due times missed
            </label>
            {text("plan-alert-after", "Alert after", "alertAfter", "alert_after", 'Overdue when no run succeeded for this long, e.g. "26h".')}
            <FormField
              id="plan-verify"
              label="Verify"
              error={f.verify === "schedule" ? undefined : fields.verify}
              help={VERIFY_HELP}
            >
              <NativeSelect
                id="plan-verify"
                value={f.verify}
                aria-invalid={f.verify !== "schedule" && fields.verify ? true : undefined}
                aria-describedby={describedBy(
                  "plan-verify",
                  f.verify === "schedule" ? undefined : fields.verify,
                  VERIFY_HELP,
                )}
                onChange={(e) => set("verify", e.target.value as VerifyMode)}
              >
                <option value="none">Never</option>
                <option value="after_each">After each backup</option>
                <option value="schedule">On a schedule</option>
              </NativeSelect>
            </FormField>
            {f.verify === "schedule" && (
              <>
                {text(
                  "plan-verify-schedule",
                  "Verify at",
                  "verifySchedule",
                  "verify",
                  'When to verify the latest kept backup: a cron expression ("0 4 * * 0"), @daily, @weekly or "@every 24h", in the plan\'s time zone.',
                  true,
                )}
                <SchedulePreview
                  schedule={f.verifySchedule}
                  timezone={f.timezone}
                  title="Next verifications"
                  testId="verify-schedule-preview"
                />
              </>
            )}
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} />
              Enabled
            </label>
            <div className="flex gap-2">
              <Button type="submit" disabled={save.isPending}>
                {plan ? "Save plan" : "Create plan"}
              </Button>
              <Link to={plan ? `/plans/${plan.id}` : "/plans"} className={buttonVariants({ variant: "outline" })}>
                Cancel
              </Link>
            </div>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}
