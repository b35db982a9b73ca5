import { ArrowDownToLine } from "lucide-react";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import type { LogEntry, LogLevel, OperationKind } from "@/api/types";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";
import { useLogStream, type LogMode } from "./useLogStream";

/** Text colour of each log level on the terminal's dark background. */
export const LEVEL_CLASSES: Record<LogLevel, string> = {
  info: "text-zinc-200",
  warning: "text-amber-400",
  error: "text-red-400",
};

const LEVEL_TAGS: Record<LogLevel, string> = { info: "INFO", warning: "WARN", error: "ERROR" };

// Within this many pixels of the bottom counts as "at the bottom".
const STICKY_SLACK = 24;

/** Props of TerminalLog. */
export interface TerminalLogProps {
  kind: OperationKind;
  id: number;
  /** True while the operation may still log (pending/running/paused): follow the stream. */
  live: boolean;
  /** Polling period after a stream error (10 s by default). */
  pollIntervalMs?: number;
  /** Called when the stream reports the end of the operation. */
  onEnd?: () => void;
  className?: string;
}

/**
 * TerminalLog shows an operation's log like a terminal: monospace, coloured
 * by level, following the live SSE stream (polling every 10 s if the stream
 * fails). It keeps to the bottom until the user scrolls up, then offers a
 * "Jump to latest" button.
 */
export function TerminalLog({ kind, id, live, pollIntervalMs, onEnd, className }: TerminalLogProps) {
  const { lines, mode, error } = useLogStream({
    kind,
    id,
    live,
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
    ...(onEnd === undefined ? {} : { onEnd }),
  });
  return <TerminalView lines={lines} mode={mode} error={error} className={className} />;
}

/** Props of TerminalView. */
export interface TerminalViewProps {
  lines: LogEntry[];
  mode: LogMode;
  error?: string | null;
  className?: string | undefined;
}

/** TerminalView renders log lines with the auto-scroll behaviour of TerminalLog. */
export function TerminalView({ lines, mode, error, className }: TerminalViewProps) {
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);

  const scrollToEnd = useCallback(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  useLayoutEffect(() => {
    if (follow) scrollToEnd();
  }, [lines, follow, scrollToEnd]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= STICKY_SLACK;
    setFollow(atBottom);
  };

  // Lines arriving while the user reads older ones are counted for the button.
  const [unseen, setUnseen] = useState(0);
  const seenCount = useRef(lines.length);
  useEffect(() => {
    if (follow) {
      seenCount.current = lines.length;
      setUnseen(0);
    } else {
      setUnseen(Math.max(0, lines.length - seenCount.current));
    }
  }, [lines.length, follow]);

  return (
    <div className={cn("relative overflow-hidden rounded-xl border border-zinc-800 bg-zinc-950", className)}>
      <div className="flex items-center justify-between border-b border-zinc-800 px-3 py-1.5 text-xs text-zinc-400">
        <span>Log</span>
        <span data-testid="log-mode">{modeLabel(mode)}</span>
      </div>
      <div
        ref={box}
        onScroll={onScroll}
        role="log"
        aria-label="Operation log"
        data-testid="terminal-log"
        tabIndex={0}
        className="h-80 overflow-y-auto p-3 font-mono text-xs leading-5 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
      >
        {lines.length === 0 && (
          <p className="text-zinc-500">{mode === "loading" ? "Loading log…" : "No log lines yet."}</p>
        )}
        {lines.map((l) => (
          <div
            key={l.id}
            data-testid="log-line"
            data-level={l.level}
            className={cn("whitespace-pre-wrap break-all", LEVEL_CLASSES[l.level] ?? LEVEL_CLASSES.info)}
          >
            <span className="text-zinc-500">{timeOf(l.created_at)} </span>
            <span className="font-semibold">{(LEVEL_TAGS[l.level] ?? String(l.level).toUpperCase()).padEnd(5)} </span>
            {l.message}
            {contextText(l.context)}
          </div>
        ))}
        {error && <p className="mt-2 text-red-400">Log unavailable: {error}</p>}
      </div>
      {!follow && (
        <Button
          size="sm"
          variant="secondary"
          className="absolute bottom-3 right-3 shadow-md"
          onClick={() => {
            setFollow(true);
            scrollToEnd();
          }}
        >
          <ArrowDownToLine aria-hidden="true" />
          Jump to latest{unseen > 0 ? ` (${unseen} new)` : ""}
        </Button>
      )}
    </div>
  );
}

function modeLabel(mode: LogMode): string {
  switch (mode) {
    case "stream":
      return "● live";
    case "polling":
      return "polling";
    case "loading":
      return "loading";
    default:
      return "";
  }
}

function timeOf(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "--:--:--" : d.toLocaleTimeString([], { hour12: false });
}

function contextText(ctx: Record<string, unknown> | null): string {
  if (!ctx || typeof ctx !== "object") return "";
  const parts = Object.entries(ctx).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.length ? `  ${parts.join(" ")}` : "";
}
