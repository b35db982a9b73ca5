import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { OperationProgress, phaseText, progressFigures } from "./OperationProgress";

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

describe("phaseText", () => {
  it("names the phase, with the documents counted when measuring or copying", () => {
    const p = { items_done: 0, bytes_read: 0, bytes_written: 0 };
    expect(phaseText(null)).toBeNull();
    expect(phaseText(p)).toBeNull();
    expect(phaseText({ ...p, phase: "listing collections" })).toBe("Listing collections");
    expect(phaseText({ ...p, phase: "measuring shop.orders", phase_items: 12000 })).toBe(`Measuring shop.orders: ${(12000).toLocaleString()} documents`);
    expect(phaseText({ ...p, phase: "finishing", phase_items: 3 })).toBe("Finishing");
  });

  it("is shown while the operation runs, not once it stopped", () => {
    const progress = { items_done: 0, bytes_read: 0, bytes_written: 0, phase: "measuring shop.orders", phase_items: 500 };
    const { rerender } = render(<OperationProgress progress={progress} status="running" startedAt={start} completedAt={null} />);
    expect(screen.getByTestId("progress-phase")).toHaveTextContent("Measuring shop.orders: 500 documents");
    rerender(<OperationProgress progress={progress} status="paused" startedAt={start} completedAt={null} />);
    expect(screen.queryByTestId("progress-phase")).toBeNull();
  });
});
