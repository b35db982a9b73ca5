import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LogEntry, LogLevel } from "@/api/types";
import { LEVEL_CLASSES, TerminalLog, TerminalView } from "./TerminalLog";

function entry(id: number, level: LogLevel = "info", message = `line ${id}`): LogEntry {
  return { id, level, message, context: {}, created_at: "2026-01-01T10:00:00Z" };
}

// A browser EventSource stand-in: jsdom has none. Tests push events through it.
class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readonly url: string;
  closed = false;
  onerror: ((ev: Event) => void) | null = null;
  private listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (ev: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close() {
    this.closed = true;
  }
  emit(type: string, data: string) {
    for (const fn of this.listeners.get(type) ?? []) fn(new MessageEvent(type, { data }));
  }
  fail() {
    this.onerror?.(new Event("error"));
  }
}

// Emulates the logs endpoint: ?after= and ?limit= over a server-side list.
function logsServer(all: LogEntry[]) {
  const calls: string[] = [];
  const fetchFn = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), "http://coffer.test");
    calls.push(url.pathname + url.search);
    const after = Number(url.searchParams.get("after") ?? 0);
    const limit = Number(url.searchParams.get("limit") ?? 100);
    const items = all.filter((e) => e.id > after).slice(0, limit);
    return new Response(JSON.stringify({ items, page: 1, per_page: limit, total: items.length }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  return { fetchFn, calls };
}

beforeEach(() => {
  FakeEventSource.instances = [];
  vi.stubGlobal("EventSource", FakeEventSource);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

// jsdom has no layout: give the scroll box a fixed geometry.
function layout(el: HTMLElement, scrollHeight: number, clientHeight = 200) {
  Object.defineProperty(el, "scrollHeight", { configurable: true, get: () => scrollHeight });
  Object.defineProperty(el, "clientHeight", { configurable: true, get: () => clientHeight });
}

describe("TerminalView", () => {
  it("colours lines by level", () => {
    render(<TerminalView lines={[entry(1, "info"), entry(2, "warning"), entry(3, "error")]} mode="idle" />);
    const lines = screen.getAllByTestId("log-line");
    expect(lines.map((l) => l.dataset.level)).toEqual(["info", "warning", "error"]);
    expect(lines[0]!.className).toContain(LEVEL_CLASSES.info);
    expect(lines[1]!.className).toContain("text-amber-400");
    expect(lines[2]!.className).toContain("text-red-400");
    expect(lines[2]).toHaveTextContent("ERROR line 3");
    expect(screen.getByTestId("terminal-log").className).toContain("font-mono");
  });

  it("follows new lines, stops when scrolled up, and jumps back on request", () => {
    const { rerender } = render(<TerminalView lines={[entry(1)]} mode="stream" />);
    const box = screen.getByTestId("terminal-log");
    layout(box, 1000);
    rerender(<TerminalView lines={[entry(1), entry(2)]} mode="stream" />);
    expect(box.scrollTop).toBe(1000);
    expect(screen.queryByRole("button", { name: /Jump to latest/ })).toBeNull();

    // The user scrolls up to read: auto-scroll stops.
    box.scrollTop = 300;
    fireEvent.scroll(box);
    layout(box, 1200);
    rerender(<TerminalView lines={[entry(1), entry(2), entry(3)]} mode="stream" />);
    expect(box.scrollTop).toBe(300);
    const jump = screen.getByRole("button", { name: /Jump to latest \(1 new\)/ });

    fireEvent.click(jump);
    expect(box.scrollTop).toBe(1200);
    expect(screen.queryByRole("button", { name: /Jump to latest/ })).toBeNull();
    layout(box, 1400);
    rerender(<TerminalView lines={[entry(1), entry(2), entry(3), entry(4)]} mode="stream" />);
    expect(box.scrollTop).toBe(1400);
  });

  it("scrolling back to the bottom resumes following", () => {
    const { rerender } = render(<TerminalView lines={[entry(1)]} mode="stream" />);
    const box = screen.getByTestId("terminal-log");
    layout(box, 1000);
    box.scrollTop = 100;
    fireEvent.scroll(box);
    expect(screen.getByRole("button", { name: /Jump to latest/ })).toBeInTheDocument();
    box.scrollTop = 800; // 1000 - 800 - 200 = 0: at the bottom
    fireEvent.scroll(box);
    expect(screen.queryByRole("button", { name: /Jump to latest/ })).toBeNull();
    layout(box, 1100);
    rerender(<TerminalView lines={[entry(1), entry(2)]} mode="stream" />);
    expect(box.scrollTop).toBe(1100);
  });
});

describe("TerminalLog", () => {
  it("loads history, follows the SSE stream from the last id and de-duplicates", async () => {
    const { fetchFn, calls } = logsServer([entry(1), entry(2, "warning")]);
    vi.stubGlobal("fetch", fetchFn);
    const onEnd = vi.fn();
    render(<TerminalLog kind="backups" id={5} live onEnd={onEnd} />);
    await waitFor(() => expect(screen.getAllByTestId("log-line")).toHaveLength(2));
    expect(calls[0]).toBe("/api/v1/backups/5/logs?after=0&limit=500");
    await waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    const es = FakeEventSource.instances[0]!;
    expect(es.url).toBe("/api/v1/backups/5/logs/stream?after=2");
    expect(screen.getByTestId("log-mode")).toHaveTextContent("live");

    act(() => {
      es.emit("log", JSON.stringify(entry(2, "warning"))); // replayed: ignored
      es.emit("log", JSON.stringify(entry(3, "error", "disk full")));
    });
    const lines = screen.getAllByTestId("log-line");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toHaveTextContent("disk full");
    expect(lines[2]!.dataset.level).toBe("error");

    act(() => es.emit("end", ""));
    expect(es.closed).toBe(true);
    expect(onEnd).toHaveBeenCalledOnce();
  });

  it("falls back to polling when the stream errors", async () => {
    const all = [entry(1)];
    const { fetchFn, calls } = logsServer(all);
    vi.stubGlobal("fetch", fetchFn);
    render(<TerminalLog kind="restores" id={9} live pollIntervalMs={30} />);
    await waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    const es = FakeEventSource.instances[0]!;
    act(() => es.fail());
    expect(es.closed).toBe(true);
    expect(screen.getByTestId("log-mode")).toHaveTextContent("polling");
    all.push(entry(2), entry(3));
    await waitFor(() => expect(screen.getAllByTestId("log-line")).toHaveLength(3));
    expect(calls).toContain("/api/v1/restores/9/logs?after=1&limit=500");
    expect(FakeEventSource.instances).toHaveLength(1); // no new stream while polling
  });

  it("a finished operation loads its log once and opens no stream", async () => {
    const { fetchFn } = logsServer([entry(1), entry(2)]);
    vi.stubGlobal("fetch", fetchFn);
    render(<TerminalLog kind="backups" id={1} live={false} />);
    await waitFor(() => expect(screen.getAllByTestId("log-line")).toHaveLength(2));
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(fetchFn).toHaveBeenCalledTimes(1);
  });

  it("pages through a long history", async () => {
    const all = Array.from({ length: 1203 }, (_, i) => entry(i + 1));
    const { fetchFn, calls } = logsServer(all);
    vi.stubGlobal("fetch", fetchFn);
    render(<TerminalLog kind="backups" id={2} live={false} />);
    await waitFor(() => expect(screen.getAllByTestId("log-line")).toHaveLength(1203));
    expect(calls).toEqual([
      "/api/v1/backups/2/logs?after=0&limit=500",
      "/api/v1/backups/2/logs?after=500&limit=500",
      "/api/v1/backups/2/logs?after=1000&limit=500",
    ]);
  });
});
