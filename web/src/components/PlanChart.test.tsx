import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { backupOp } from "@/test/fixtures";
import { chartPoints, PlanChart } from "./PlanChart";

describe("PlanChart", () => {
  const backups = [
    backupOp({ id: 3, status: "completed", archive_size: 4000, started_at: "2026-01-03T00:00:00Z", completed_at: "2026-01-03T00:00:10Z" }),
    backupOp({ id: 2, status: "failed", archive_size: 0, started_at: "2026-01-02T00:00:00Z", completed_at: "2026-01-02T00:00:01Z" }),
    backupOp({ id: 1, status: "completed", archive_size: 1000, started_at: "2026-01-01T00:00:00Z", completed_at: "2026-01-01T00:00:05Z" }),
  ];

  it("charts completed runs oldest first, with their size and duration", () => {
    expect(chartPoints(backups)).toEqual([
      { id: 1, size: 1000, seconds: 5 },
      { id: 3, size: 4000, seconds: 10 },
    ]);
  });

  it("draws a bar per run scaled to the largest archive, and the duration line", () => {
    render(<PlanChart points={chartPoints(backups)} />);
    const bars = screen.getAllByTestId("chart-bar");
    expect(bars).toHaveLength(2);
    const h = bars.map((b) => Number(b.getAttribute("height")));
    expect(h[1]).toBeGreaterThan(h[0] as number);
    expect(Math.round((h[0] as number) / (h[1] as number) * 100)).toBe(25);
    expect(screen.getByTestId("chart-line").getAttribute("points")?.split(" ")).toHaveLength(2);
    expect(screen.getByRole("img")).toHaveAccessibleName("Archive size and duration of the last 2 runs");
  });

  it("says so when there is nothing to chart", () => {
    render(<PlanChart points={[]} />);
    expect(screen.getByText("No completed runs to chart yet.")).toBeInTheDocument();
  });
});
