import { useEffect, useRef, useState } from "react";
import { errorMessage } from "@/api/client";
import { api, logStreamUrl } from "@/api/endpoints";
import type { LogEntry, OperationKind } from "@/api/types";

/** How the log view is receiving lines now. */
export type LogMode = "loading" | "stream" | "polling" | "idle";

/** Options of useLogStream. */
export interface LogStreamOptions {
  kind: OperationKind;
  id: number;
  /** True while the operation may still write lines (pending/running/paused). */
  live: boolean;
  /** Polling period once the stream failed; 10 s by default. */
  pollIntervalMs?: number;
  /** Called when the stream says the operation finished. */
  onEnd?: () => void;
}

/** What useLogStream returns. */
export interface LogStreamState {
  lines: LogEntry[];
  mode: LogMode;
  error: string | null;
}

const PAGE = 500;
const MAX_LINES = 10_000;

function isLogEntry(v: unknown): v is LogEntry {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.id === "number" && typeof o.message === "string";
}

/**
 * useLogStream loads an operation's log (paged, ascending), then follows the
 * SSE stream while the operation is live. If the stream errors it falls back
 * to polling. Lines are de-duplicated by id, so a stream that replays
 * history is harmless.
 */
export function useLogStream({ kind, id, live, pollIntervalMs = 10_000, onEnd }: LogStreamOptions): LogStreamState {
  const [lines, setLines] = useState<LogEntry[]>([]);
  const [mode, setMode] = useState<LogMode>("loading");
  const [error, setError] = useState<string | null>(null);
  const lastId = useRef(0);
  const onEndRef = useRef(onEnd);
  onEndRef.current = onEnd;

  // A different operation starts from scratch.
  useEffect(() => {
    lastId.current = 0;
    setLines([]);
    setMode("loading");
  }, [kind, id]);

  useEffect(() => {
    let stopped = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const abort = new AbortController();

    const append = (entries: LogEntry[]) => {
      const fresh = entries.filter((e) => e.id > lastId.current).sort((a, b) => a.id - b.id);
      if (fresh.length === 0) return;
      lastId.current = fresh[fresh.length - 1]!.id;
      setLines((prev) => {
        const next = prev.concat(fresh);
        return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
      });
    };

    // fetchNew reads every line after lastId, page by page.
    const fetchNew = async () => {
      for (;;) {
        const page = await api.logs(kind, id, lastId.current, PAGE, abort.signal);
        if (stopped) return;
        append(page);
        if (page.length < PAGE) return;
      }
    };

    const poll = () => {
      if (stopped) return;
      setMode("polling");
      timer = setTimeout(async () => {
        try {
          await fetchNew();
          if (!stopped) setError(null);
        } catch (err) {
          if (!stopped && !abort.signal.aborted) setError(errorMessage(err));
        }
        poll();
      }, pollIntervalMs);
    };

    const stream = () => {
      if (typeof EventSource === "undefined") {
        poll();
        return;
      }
      source = new EventSource(logStreamUrl(kind, id, lastId.current), { withCredentials: true });
      setMode("stream");
      source.addEventListener("log", (ev) => {
        try {
          const data: unknown = JSON.parse((ev as MessageEvent<string>).data);
          if (isLogEntry(data)) append([data]);
        } catch {
          // A malformed event is skipped; the next poll or page load repairs gaps.
        }
      });
      source.addEventListener("end", () => {
        source?.close();
        source = null;
        if (stopped) return;
        setMode("idle");
        onEndRef.current?.();
      });
      source.onerror = () => {
        source?.close();
        source = null;
        poll();
      };
    };

    (async () => {
      try {
        await fetchNew();
        if (stopped) return;
        setError(null);
        if (live) stream();
        else setMode("idle");
      } catch (err) {
        if (stopped || abort.signal.aborted) return;
        setError(errorMessage(err));
        if (live) poll();
        else setMode("idle");
      }
    })();

    return () => {
      stopped = true;
      abort.abort();
      source?.close();
      if (timer !== null) clearTimeout(timer);
    };
  }, [kind, id, live, pollIntervalMs]);

  return { lines, mode, error };
}
