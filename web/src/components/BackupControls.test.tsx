import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { OperationStatus } from "@/api/types";
import { BackupControls } from "./BackupControls";

function buttons() {
  return {
    pause: screen.queryByRole("button", { name: /pause/i }),
    resume: screen.queryByRole("button", { name: /resume/i }),
    cancel: screen.getByRole("button", { name: /^cancel$/i }),
  };
}

describe("BackupControls (backups)", () => {
  // status -> [pause, resume, cancel] enabled
  const table: [OperationStatus, boolean, boolean, boolean][] = [
    ["pending", true, false, true],
    ["running", true, false, true],
    ["paused", false, true, true],
    ["failed", false, true, false],
    ["completed", false, false, false],
    ["cancelled", false, false, false],
  ];

  it.each(table)("status %s: pause=%s resume=%s cancel=%s", (status, pause, resume, cancel) => {
    render(<BackupControls status={status} onAction={() => {}} />);
    const b = buttons();
    expect(b.pause).not.toBeNull();
    expect(b.resume).not.toBeNull();
    expect(!(b.pause as HTMLButtonElement).disabled).toBe(pause);
    expect(!(b.resume as HTMLButtonElement).disabled).toBe(resume);
    expect(!b.cancel.hasAttribute("disabled")).toBe(cancel);
  });

  it("sends pause and resume at once", async () => {
    const onAction = vi.fn();
    const user = userEvent.setup({ delay: null });
    const { rerender } = render(<BackupControls status="running" onAction={onAction} />);
    await user.click(screen.getByRole("button", { name: /pause/i }));
    expect(onAction).toHaveBeenLastCalledWith("pause");
    rerender(<BackupControls status="paused" onAction={onAction} />);
    await user.click(screen.getByRole("button", { name: /resume/i }));
    expect(onAction).toHaveBeenLastCalledWith("resume");
  });

  it("asks before cancelling", async () => {
    const onAction = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(<BackupControls status="running" onAction={onAction} />);
    await user.click(screen.getByRole("button", { name: /^cancel$/i }));
    expect(onAction).not.toHaveBeenCalled();
    const dialog = await screen.findByRole("dialog");
    expect(dialog).toHaveTextContent("Cancel this backup?");
    await user.click(within(dialog).getByRole("button", { name: "Keep running" }));
    expect(onAction).not.toHaveBeenCalled();
    await user.click(screen.getByRole("button", { name: /^cancel$/i }));
    await user.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Cancel backup" }));
    expect(onAction).toHaveBeenCalledWith("cancel");
  });

  it("disables everything while an action is in flight, and shows nothing to viewers", () => {
    const { rerender } = render(<BackupControls status="running" busy="pause" onAction={() => {}} />);
    expect(screen.getByRole("button", { name: /pausing/i })).toBeDisabled();
    expect(buttons().cancel).toBeDisabled();
    rerender(<BackupControls status="running" canControl={false} onAction={() => {}} />);
    // Viewers see no controls at all.
    expect(screen.queryByRole("group")).toBeNull();
    expect(screen.queryByRole("button")).toBeNull();
  });
});

describe("BackupControls (restores)", () => {
  it.each<[OperationStatus, boolean]>([
    ["pending", true],
    ["running", true],
    ["completed", false],
    ["failed", false],
    ["cancelled", false],
  ])("status %s: cancel enabled=%s, no pause/resume", (status, cancel) => {
    render(<BackupControls kind="restores" status={status} onAction={() => {}} />);
    const b = buttons();
    expect(b.pause).toBeNull();
    expect(b.resume).toBeNull();
    expect(!b.cancel.hasAttribute("disabled")).toBe(cancel);
  });
});
