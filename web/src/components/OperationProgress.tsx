import type { OperationStatus, Progress as ProgressData } from "@/api/types";
import { Progress } from "@/components/ui/progress";
import { formatBytes, formatDuration } from "@/lib/utils";

/** Figures derived from an operation's progress counters. */
export interface ProgressFigures {
  percent: number | null;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}

/**
 * progressFigures computes percent done (from items), average read rate and
 * ETA (time so far scaled by items left). Missing inputs give null.
 */
export function progressFigures(
  p: ProgressData | null,
  status: OperationStatus,
  startedAt: string | null,
  completedAt: string | null,
  now: number = Date.now(),
): ProgressFigures {
  if (status === "completed") {
    const elapsed = elapsedSeconds(startedAt, completedAt, now);
    return { percent: 100, bytesPerSecond: p && elapsed ? p.bytes_read / elapsed : null, etaSeconds: 0 };
  }
  if (!p) return { percent: null, bytesPerSecond: null, etaSeconds: null };
  const total = p.items_total ?? null;
  const percent = total && total > 0 ? Math.min(100, (p.items_done / total) * 100) : null;
  const elapsed = elapsedSeconds(startedAt, completedAt, now);
  const bytesPerSecond = elapsed && elapsed > 0 ? p.bytes_read / elapsed : null;
  let etaSeconds: number | null = null;
  if (status === "running" && total && elapsed && p.items_done > 0) {
    etaSeconds = (elapsed * (total - p.items_done)) / p.items_done;
  }
  return { percent, bytesPerSecond, etaSeconds };
}

function elapsedSeconds(start: string | null, end: string | null, now: number): number | null {
  if (!start) return null;
  const s = new Date(start).getTime();
  const e = end ? new Date(end).getTime() : now;
  if (Number.isNaN(s) || Number.isNaN(e)) return null;
  return Math.max(0, (e - s) / 1000);
}

/** Props of OperationProgress. */
export interface OperationProgressProps {
  progress: ProgressData | null;
  status: OperationStatus;
  startedAt: string | null;
  completedAt: string | null;
  /** Compact hides the figures table (for lists and the dashboard). */
  compact?: boolean;
}

/** OperationProgress shows a progress bar with %, items, bytes, rate and ETA. */
export function OperationProgress({ progress, status, startedAt, completedAt, compact = false }: OperationProgressProps) {
  const f = progressFigures(progress, status, startedAt, completedAt);
  const items = progress
    ? `${progress.items_done.toLocaleString()}${progress.items_total ? ` / ${progress.items_total.toLocaleString()}` : ""}`
    : "—";
  const phase = status === "running" ? phaseText(progress) : null;
  return (
    <div className="grid gap-2">
      {phase && (
        <p className="text-sm text-muted-foreground" data-testid="progress-phase">
          {phase}
        </p>
      )}
      <div className="flex items-center gap-3">
        <Progress value={f.percent} label="Progress" className="flex-1" />
        <span className="w-14 text-right text-sm tabular-nums" data-testid="progress-percent">
          {f.percent === null ? "—" : `${Math.floor(f.percent)}%`}
        </span>
      </div>
      {compact ? (
        <p className="text-xs text-muted-foreground">
          {items} items · {formatBytes(progress?.bytes_read)} read
        </p>
      ) : (
        <dl className="grid grid-cols-2 gap-x-6 gap-y-2 text-sm sm:grid-cols-5">
          <Figure label="Items" value={items} testId="progress-items" />
          <Figure label="Read" value={formatBytes(progress?.bytes_read)} />
          <Figure label="Written" value={formatBytes(progress?.bytes_written)} />
          <Figure label="Rate" value={f.bytesPerSecond === null ? "—" : `${formatBytes(f.bytesPerSecond)}/s`} />
          <Figure label="ETA" value={status === "running" ? formatDuration(f.etaSeconds) : "—"} />
        </dl>
      )}
    </div>
  );
}

/**
 * phaseText says what a running operation does now ("Measuring shop.orders:
 * 12,000 documents"), or null when its progress names no phase.
 */
export function phaseText(p: ProgressData | null): string | null {
  if (!p?.phase) return null;
  const words = p.phase.charAt(0).toUpperCase() + p.phase.slice(1);
  if (!p.phase_items || !/^(measuring|copying) /.test(p.phase)) return words;
  return `${words}: ${p.phase_items.toLocaleString()} documents`;
}

function Figure({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div>
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className="tabular-nums" data-testid={testId}>
        {value}
      </dd>
    </div>
  );
}
