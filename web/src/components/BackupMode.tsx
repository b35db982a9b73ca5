import { Link } from "react-router";
import type { BackupMode, BackupOperation, CompressionLevel } from "@/api/types";
import { describedBy, FormField } from "@/components/FormField";
import { NativeSelect } from "@/components/ui/input";

/** What an incremental backup does, in one line. */
export const INCREMENTAL_HELP = "Incremental: only new and changed objects are stored; unchanged ones point at earlier archives.";

/** Why a source cannot be backed up incrementally. */
export const INCREMENTAL_S3_ONLY = "Only an S3 source can be backed up incrementally (new and changed objects only).";

/** The compression levels, as the forms offer them. */
export const LEVEL_LABELS: Record<CompressionLevel, string> = {
  fastest: "Fastest",
  default: "Default",
  best: "Best",
};

/**
 * modeOptions are the options a form sends for a mode and a level. Like no
 * encryption and no bandwidth limit, a default (full, default level) is
 * left out: the API assumes it when absent.
 */
export function modeOptions(mode: BackupMode, level: CompressionLevel): { mode?: BackupMode; compression_level?: CompressionLevel } {
  return { ...(mode !== "full" ? { mode } : {}), ...(level !== "default" ? { compression_level: level } : {}) };
}

/**
 * ModeSelect chooses between a full and an incremental backup. Incremental
 * is offered only when the source can do it (an S3 source); otherwise the
 * choice shows Full and says why.
 */
export function ModeSelect({
  id,
  value,
  onChange,
  incrementalAllowed,
  error,
}: {
  id: string;
  value: BackupMode;
  onChange: (v: BackupMode) => void;
  /** The source is an S3 connection. */
  incrementalAllowed: boolean;
  error?: string | undefined;
}) {
  const help = incrementalAllowed ? INCREMENTAL_HELP : INCREMENTAL_S3_ONLY;
  return (
    <FormField id={id} label="Mode" error={error} help={help}>
      <NativeSelect
        id={id}
        value={incrementalAllowed ? value : "full"}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, help)}
        onChange={(e) => onChange(e.target.value as BackupMode)}
      >
        <option value="full">Full</option>
        {incrementalAllowed && <option value="incremental">Incremental</option>}
      </NativeSelect>
    </FormField>
  );
}

/** CompressionLevelSelect chooses how hard the compressor works. */
export function CompressionLevelSelect({
  id,
  value,
  onChange,
  error,
}: {
  id: string;
  value: CompressionLevel;
  onChange: (v: CompressionLevel) => void;
  error?: string | undefined;
}) {
  const help = "Fastest makes larger archives sooner; Best the smallest, at more CPU.";
  return (
    <FormField id={id} label="Compression level" error={error} help={help}>
      <NativeSelect
        id={id}
        value={value}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, help)}
        onChange={(e) => onChange(e.target.value as CompressionLevel)}
      >
        {(Object.keys(LEVEL_LABELS) as CompressionLevel[]).map((l) => (
          <option key={l} value={l}>
            {LEVEL_LABELS[l]}
          </option>
        ))}
      </NativeSelect>
    </FormField>
  );
}

/** compressionText says how a backup's archive is compressed, e.g. "zstd (best)". */
export function compressionText(options: BackupOperation["options"] | undefined): string {
  const c = options?.compression ?? "gzip";
  const level = options?.compression_level ?? "default";
  return level === "default" ? c : `${c} (${level})`;
}

/** The fields of a backup its mode label reads. */
type ModeFields = Pick<BackupOperation, "mode" | "base_backup_id" | "changed_objects" | "progress">;

/** isIncremental is true for a backup built on another. */
export function isIncremental(b: ModeFields): boolean {
  return b.mode === "incremental" && b.base_backup_id !== null && b.base_backup_id !== undefined;
}

/** changedText is "M changed of K", "M changed", or "" while the count is not known. */
export function changedText(b: ModeFields): string {
  if (b.changed_objects === null || b.changed_objects === undefined) return "";
  const total = b.progress.items_total;
  return total !== undefined && total !== null ? `${b.changed_objects} changed of ${total}` : `${b.changed_objects} changed`;
}

/**
 * BackupModeLabel says how a backup's archive was made: "full", or
 * "incremental (base #N, M changed of K)" with #N a link to the base
 * backup. An incremental with no base (nothing earlier to build on) holds
 * every object, so it is labelled full.
 */
export function BackupModeLabel({ backup: b }: { backup: ModeFields }) {
  if (!isIncremental(b)) {
    const askedIncremental = b.mode === "incremental";
    return (
      <span
        data-testid="backup-mode"
        data-mode="full"
        title={askedIncremental ? "Asked for as incremental; with no earlier backup to build on, it holds every object." : undefined}
      >
        full
      </span>
    );
  }
  const changed = changedText(b);
  return (
    <span data-testid="backup-mode" data-mode="incremental" data-base={b.base_backup_id}>
      incremental (base{" "}
      <Link to={`/backups/${b.base_backup_id}`} className="underline-offset-4 hover:underline" data-testid="backup-base">
        #{b.base_backup_id}
      </Link>
      {changed && `, ${changed}`})
    </span>
  );
}

/** fullEveryText says when an incremental plan makes a full backup, from its full_every. */
export function fullEveryText(fullEvery: string | undefined): string {
  const v = (fullEvery ?? "").trim() || "7";
  if (/^\d+$/.test(v)) return `a full backup after ${v} incremental${v === "1" ? "" : "s"}`;
  return `a full backup at the first run after each time of ${v}`;
}
