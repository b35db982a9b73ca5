import type { BackupOperation } from "@/api/types";
import { formatBytes, formatDuration } from "@/lib/utils";

/** One run in the chart: its archive size and how long it took. */
export interface ChartPoint {
  id: number;
  size: number;
  seconds: number;
}

/** chartPoints are the completed runs of backups, oldest first (the list comes newest first). */
export function chartPoints(backups: BackupOperation[]): ChartPoint[] {
  return backups
    .filter((b) => b.status === "completed" && b.started_at && b.completed_at)
    .map((b) => ({
      id: b.id,
      size: b.archive_size,
      seconds: (Date.parse(b.completed_at as string) - Date.parse(b.started_at as string)) / 1000,
    }))
    .reverse();
}

const W = 600;
const H = 160;
const PAD = 24;

/**
 * PlanChart draws a plan's last runs: archive size as bars (left scale) and
 * duration as a line (right scale), so a trend shows at a glance.
 */
export function PlanChart({ points }: { points: ChartPoint[] }) {
  if (points.length === 0) return <p className="text-sm text-muted-foreground">No completed runs to chart yet.</p>;
  const maxSize = Math.max(...points.map((p) => p.size), 1);
  const maxSec = Math.max(...points.map((p) => p.seconds), 0.001);
  const step = (W - 2 * PAD) / points.length;
  const bar = Math.min(Math.max(step * 0.6, 2), 40);
  const y = (v: number, max: number) => H - PAD - (v / max) * (H - 2 * PAD);
  const line = points.map((p, i) => `${PAD + i * step + step / 2},${y(p.seconds, maxSec)}`).join(" ");
  return (
    <figure className="grid gap-1">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Archive size and duration of the last ${points.length} runs`} className="w-full">
        {points.map((p, i) => (
          <rect
            key={p.id}
            data-testid="chart-bar"
            x={PAD + i * step + (step - bar) / 2}
            y={y(p.size, maxSize)}
            width={bar}
            height={H - PAD - y(p.size, maxSize)}
            className="fill-primary/40"
          >
            <title>{`#${p.id}: ${formatBytes(p.size)}, ${formatDuration(p.seconds)}`}</title>
          </rect>
        ))}
        <polyline data-testid="chart-line" points={line} fill="none" className="stroke-foreground" strokeWidth={2} />
        <text x={PAD} y={12} className="fill-muted-foreground text-[10px]">
          {formatBytes(maxSize)}
        </text>
        <text x={W - PAD} y={12} textAnchor="end" className="fill-muted-foreground text-[10px]">
          {formatDuration(maxSec)}
        </text>
      </svg>
      <figcaption className="text-xs text-muted-foreground">Bars: archive size (left scale). Line: duration (right scale).</figcaption>
    </figure>
  );
}
