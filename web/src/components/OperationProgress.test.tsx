import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { OperationProgress, progressFigures } from "./OperationProgress";

const start = "2026-01-01T10:00:00Z";
const t = (s: number) => new Date(Date.parse(start) + s * 1000).getTime();

describe("progressFigures", () => {
  it("computes percent, rate and ETA of a running operation", () => {
    const f = progressFigures({ items_done: 25, items_total: 100, bytes_read: 50 * 1024 * 1024, bytes_written: 1 }, "running", start, null, t(50));
    expect(f.percent).toBe(25);
    expect(f.bytesPerSecond).toBe(1024 * 1024);
    expect(f.etaSeconds).toBe(150);
  });

  it("has no percent or ETA without a total", () => {
    const f = progressFigures({ items_done: 25, bytes_read: 100, bytes_written: 1 }, "running", start, null, t(10));
    expect(f.percent).toBeNull();
    expect(f.etaSeconds).toBeNull();
    expect(f.bytesPerSecond).toBe(10);
  });

  it("a completed operation is 100% whatever the counters say", () => {
    expect(progressFigures(null, "completed", start, start).percent).toBe(100);
  });
});

describe("OperationProgress", () => {
  it("renders the bar and the figures", () => {
    render(
      <OperationProgress
        progress={{ items_done: 3, items_total: 4, bytes_read: 2048, bytes_written: 1024 }}
        status="paused"
        startedAt={start}
        completedAt={null}
      />,
    );
    expect(screen.getByRole("progressbar", { name: "Progress" })).toHaveAttribute("aria-valuenow", "75");
    expect(screen.getByTestId("progress-percent")).toHaveTextContent("75%");
    expect(screen.getByTestId("progress-items")).toHaveTextContent("3 / 4");
    expect(screen.getByText("2.0 KB")).toBeInTheDocument();
    expect(screen.getByText("1.0 KB")).toBeInTheDocument();
  });
});
