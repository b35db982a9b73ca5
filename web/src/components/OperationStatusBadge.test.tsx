import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { OperationStatus } from "@/api/types";
import { OperationStatusBadge } from "./OperationStatusBadge";

describe("OperationStatusBadge", () => {
  const cases: [OperationStatus, string, RegExp][] = [
    ["pending", "Pending", /bg-secondary/],
    ["running", "Running", /bg-blue-100/],
    ["paused", "Paused", /bg-amber-100/],
    ["completed", "Completed", /bg-emerald-100/],
    ["failed", "Failed", /bg-red-100/],
    ["cancelled", "Cancelled", /bg-secondary/],
  ];

  it.each(cases)("shows %s as %s with its colour", (status, label, colour) => {
    render(<OperationStatusBadge status={status} />);
    const badge = screen.getByTestId("operation-status");
    expect(badge).toHaveTextContent(label);
    expect(badge).toHaveAttribute("data-status", status);
    expect(badge.className).toMatch(colour);
  });

  it("spins the icon only while running", () => {
    const { rerender } = render(<OperationStatusBadge status="running" />);
    expect(screen.getByTestId("operation-status").querySelector("svg")?.getAttribute("class")).toMatch(/animate-spin/);
    rerender(<OperationStatusBadge status="completed" />);
    expect(screen.getByTestId("operation-status").querySelector("svg")?.getAttribute("class")).not.toMatch(/animate-spin/);
  });

  it("shows an unknown status from a newer server as plain text", () => {
    render(<OperationStatusBadge status={"archived" as OperationStatus} />);
    expect(screen.getByTestId("operation-status")).toHaveTextContent("archived");
  });
});
