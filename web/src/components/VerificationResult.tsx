import { CheckCircle2, CircleDashed, ShieldAlert, XCircle } from "lucide-react";
import type { BackupOperation, Verification } from "@/api/types";
import { MetaItem, MetaList } from "@/components/Meta";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { isTerminal } from "@/lib/status";
import { formatBytes } from "@/lib/utils";

/** How a backup's last verification ended, or "never" before the first. */
export type VerifyVerdict = "passed" | "failed" | "never";

/** VerifyBadge shows a backup's verification verdict: passed, failed or never verified. */
export function VerifyBadge({ verdict }: { verdict: BackupOperation["last_verify_status"] | VerifyVerdict }) {
  const v: VerifyVerdict = verdict ?? "never";
  const look =
    v === "passed"
      ? { label: "Passed", variant: "success" as const, Icon: CheckCircle2 }
      : v === "failed"
        ? { label: "Failed", variant: "danger" as const, Icon: XCircle }
        : { label: "Never verified", variant: "neutral" as const, Icon: CircleDashed };
  return (
    <Badge variant={look.variant} data-testid="verify-badge" data-verdict={v}>
      <look.Icon className="size-3" aria-hidden="true" />
      {look.label}
    </Badge>
  );
}

/** verdictOf is what a verification's status says of the archive, once it has ended with a verdict. */
export function verdictOf(v: Pick<Verification, "status">): VerifyVerdict | null {
  if (v.status === "completed") return "passed";
  if (v.status === "failed") return "failed";
  return null;
}

/**
 * VerificationResult is the card of what a verification found: the verdict,
 * the figures of the check, whether the entries' contents were checked at
 * all (an encrypted archive whose identity coffer does not keep is checked
 * only by its stored checksum), and the problems, entry by entry.
 */
export function VerificationResult({ verification: v }: { verification: Verification }) {
  const r = v.result;
  const verdict = verdictOf(v);
  return (
    <Card data-testid="verify-result" data-verdict={verdict ?? v.status}>
      <CardHeader>
        <CardTitle>Result</CardTitle>
      </CardHeader>
      <CardContent className="grid gap-4">
        {!r ? (
          <p className="text-sm text-muted-foreground">
            {isTerminal(v.status)
              ? v.status === "cancelled"
                ? "The verification was cancelled before it had a result."
                : "No result was recorded; the log says why."
              : "The result shows here once the verification ends."}
          </p>
        ) : (
          <>
            <p className="flex flex-wrap items-center gap-2 text-sm" data-testid="verify-verdict">
              {verdict && <VerifyBadge verdict={verdict} />}
              {verdict === "passed"
                ? r.contents_checked
                  ? `The archive passed: ${r.entries_checked.toLocaleString()} entries read and checked, no problem found.`
                  : "The archive passed its checksum check."
                : verdict === "failed"
                  ? `${r.problem_count.toLocaleString()} ${r.problem_count === 1 ? "problem" : "problems"} found.`
                  : null}
            </p>
            {!r.contents_checked && (
              <Alert data-testid="contents-not-checked" className="flex gap-2">
                <ShieldAlert className="mt-0.5 size-4 shrink-0 text-amber-600" aria-hidden="true" />
                <span>
                  <span className="font-medium">Contents not checked.</span> The archive is encrypted with a key whose
                  identity coffer does not keep, so only the stored bytes were checked against the archive's checksum; the
                  entries inside were not read. A restore with the identity checks them.
                </span>
              </Alert>
            )}
            <MetaList>
              <MetaItem label="Entries checked">
                <span data-testid="verify-entries">{r.entries_checked.toLocaleString()}</span>
              </MetaItem>
              <MetaItem label="Bytes read">
                <span data-testid="verify-bytes-read">{formatBytes(r.bytes_read)}</span>
              </MetaItem>
              <MetaItem label="Entries' size">{formatBytes(r.entry_bytes)}</MetaItem>
              <MetaItem label="Documents">{r.documents.toLocaleString()}</MetaItem>
              <MetaItem label="Contents checked">
                <span data-testid="verify-contents-checked">{r.contents_checked ? "yes" : "no (checksum only)"}</span>
              </MetaItem>
              <MetaItem label="SHA-256 of the stored archive" mono>
                {r.sha256 || "—"}
              </MetaItem>
            </MetaList>
            {r.problems.length > 0 && (
              <div className="grid gap-2">
                <h4 className="text-sm font-semibold" id={`problems-${v.id}`}>
                  Problems
                </h4>
                <Table aria-labelledby={`problems-${v.id}`}>
                  <TableHeader>
                    <TableRow>
                      <TableHead>Entry</TableHead>
                      <TableHead>Problem</TableHead>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {r.problems.map((p, i) => (
                      <TableRow key={i} data-testid="verify-problem">
                        <TableCell className="break-all font-mono text-xs">{p.entry || "the whole archive"}</TableCell>
                        <TableCell className="break-words">{p.message}</TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
                {r.problem_count > r.problems.length && (
                  <p className="text-xs text-muted-foreground">
                    Showing the first {r.problems.length.toLocaleString()} of {r.problem_count.toLocaleString()} problems.
                  </p>
                )}
              </div>
            )}
          </>
        )}
      </CardContent>
    </Card>
  );
}
