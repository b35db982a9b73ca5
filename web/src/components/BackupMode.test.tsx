// How a backup's mode reads: full, or incremental with its base (a link),
// how many objects it holds of how many in the bucket.
import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderPage } from "@/test/app";
import { backupOp } from "@/test/fixtures";
import { BackupModeLabel, compressionText, fullEveryText, modeOptions } from "./BackupMode";

describe("BackupModeLabel", () => {
  it("says full for a full backup", () => {
    renderPage(<BackupModeLabel backup={backupOp({ changed_objects: 40, progress: { items_done: 40, items_total: 40, bytes_read: 0, bytes_written: 0 } })} />, "/", "/");
    const label = screen.getByTestId("backup-mode");
    expect(label).toHaveTextContent(/^full$/);
    expect(label).toHaveAttribute("data-mode", "full");
    expect(within(label).queryByRole("link")).toBeNull();
  });

  it("says incremental with its base as a link and the objects it holds of the bucket's", () => {
    renderPage(
      <BackupModeLabel
        backup={backupOp({
          id: 13,
          mode: "incremental",
          base_backup_id: 12,
          changed_objects: 3,
          progress: { items_done: 120, items_total: 120, bytes_read: 0, bytes_written: 0 },
        })}
      />,
      "/",
      "/",
    );
    const label = screen.getByTestId("backup-mode");
    expect(label).toHaveTextContent("incremental (base #12, 3 changed of 120)");
    expect(within(label).getByRole("link", { name: "#12" })).toHaveAttribute("href", "/backups/12");
  });

  it("leaves out what is not known yet, and calls an incremental with nothing to build on full", () => {
    const { unmount } = renderPage(
      <BackupModeLabel backup={backupOp({ status: "running", mode: "incremental", base_backup_id: 12, changed_objects: null })} />,
      "/",
      "/",
    );
    expect(screen.getByTestId("backup-mode")).toHaveTextContent(/^incremental \(base #12\)$/);
    unmount();

    const noTotal = renderPage(<BackupModeLabel backup={backupOp({ mode: "incremental", base_backup_id: 12, changed_objects: 0 })} />, "/", "/");
    expect(screen.getByTestId("backup-mode")).toHaveTextContent(/^incremental \(base #12, 0 changed\)$/);
    noTotal.unmount();

    renderPage(<BackupModeLabel backup={backupOp({ mode: "incremental", base_backup_id: null, changed_objects: 5 })} />, "/", "/");
    const first = screen.getByTestId("backup-mode");
    expect(first).toHaveTextContent(/^full$/);
    expect(first).toHaveAttribute("title", expect.stringContaining("no earlier backup"));
  });
});

describe("mode helpers", () => {
  it("leave the defaults out of the options sent", () => {
    expect(modeOptions("full", "default")).toEqual({});
    expect(modeOptions("incremental", "best")).toEqual({ mode: "incremental", compression_level: "best" });
    expect(modeOptions("full", "fastest")).toEqual({ compression_level: "fastest" });
  });

  it("say the compression with its level, and when a plan makes a full backup", () => {
    expect(compressionText({})).toBe("gzip");
    expect(compressionText({ compression: "zstd", compression_level: "default" })).toBe("zstd");
    expect(compressionText({ compression: "zstd", compression_level: "best" })).toBe("zstd (best)");
    expect(fullEveryText(undefined)).toBe("a full backup after 7 incrementals");
    expect(fullEveryText("1")).toBe("a full backup after 1 incremental");
    expect(fullEveryText("0 3 * * 0")).toBe("a full backup at the first run after each time of 0 3 * * 0");
  });
});
