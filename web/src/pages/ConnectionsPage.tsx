import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { useRef, useState } from "react";
import { Link } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { errorMessage } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections } from "@/api/queries";
import type { Connection, ScanResult } from "@/api/types";
import { ConnectionCard } from "@/components/ConnectionCard";
import { EmptyState } from "@/components/EmptyState";
import { OAuthNotice } from "@/components/OAuthNotice";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";

/** The one dialog of the page: a deletion to confirm, or a scan's progress and summary. */
type DialogState = { kind: "delete"; connection: Connection } | { kind: "scan"; connection: Connection };

/** ScanSummary says what a scan of a destination found and did, with links to the backups it imported. */
export function ScanSummary({ result: r, onNavigate }: { result: ScanResult; onNavigate?: () => void }) {
  return (
    <div className="grid gap-4 text-sm" data-testid="scan-summary">
      <dl className="grid grid-cols-3 gap-3 text-center">
        {(
          [
            ["Found", r.found, "scan-found"],
            ["Imported", r.imported, "scan-imported"],
            ["Already known", r.already_known, "scan-known"],
          ] as const
        ).map(([label, n, testId]) => (
          <div key={label} className="rounded-lg border p-2">
            <dt className="text-xs text-muted-foreground">{label}</dt>
            <dd className="text-xl font-semibold tabular-nums" data-testid={testId}>
              {n.toLocaleString()}
            </dd>
          </div>
        ))}
      </dl>
      {r.found === 0 && r.problems.length === 0 && (
        <p className="text-muted-foreground">No archive written by coffer (with its .sha256 file) is there.</p>
      )}
      {r.backup_ids.length > 0 && (
        <div className="grid gap-1">
          <p className="font-medium">Imported as backups</p>
          <ul className="flex max-h-32 flex-wrap gap-2 overflow-auto">
            {r.backup_ids.map((id) => (
              <li key={id}>
                <Link to={`/backups/${id}`} onClick={onNavigate} className="underline-offset-4 hover:underline" data-testid="scan-backup-link">
                  Backup #{id}
                </Link>
              </li>
            ))}
          </ul>
        </div>
      )}
      {r.problems.length > 0 && (
        <div className="grid gap-1">
          <p className="font-medium text-destructive">
            Not imported ({r.problems.length.toLocaleString()} {r.problems.length === 1 ? "problem" : "problems"})
          </p>
          <ul className="grid max-h-48 gap-1 overflow-auto" data-testid="scan-problems">
            {r.problems.map((p, i) => (
              <li key={i} data-testid="scan-problem" className="break-words">
                <span className="break-all font-mono text-xs">{p.archive}</span>: {p.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/** ConnectionsPage lists connections with health, last validation, test, scan and delete. */
export default function ConnectionsPage() {
  const me = useMe();
  const writable = canWrite(me.data);
  const qc = useQueryClient();
  const list = useConnections();
  const [testingId, setTestingId] = useState<number | null>(null);
  // One modal for the page, its content switching: Radix must never open a
  // second modal while another is closing (pointer events stay blocked).
  const [dialog, setDialogState] = useState<DialogState | null>(null);
  const dialogRef = useRef<DialogState | null>(null);
  const setDialog = (d: DialogState | null) => {
    dialogRef.current = d;
    setDialogState(d);
  };

  const test = useMutation({
    mutationFn: (c: Connection) => api.testConnection(c.id),
    onMutate: (c) => setTestingId(c.id),
    onSettled: () => {
      setTestingId(null);
      void qc.invalidateQueries({ queryKey: keys.connections });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
    onSuccess: (r, c) => {
      if (r.ok) toast.success(`${c.name}: ${r.message || "connection works."}`);
      else toast.error(`${c.name}: ${r.message || "connection failed."}`);
    },
  });

  const del = useMutation({
    mutationFn: (c: Connection) => api.deleteConnection(c.id),
    meta: { skipToast: true },
    onSuccess: (_r, c) => {
      toast.success(`Deleted ${c.name}.`);
      setDialog(null);
      void qc.invalidateQueries({ queryKey: keys.connections });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
  });

  // The dialog shows the scan's progress, then its summary; closed, the scan
  // goes on and its outcome comes as a toast.
  const scan = useMutation({
    mutationFn: (c: Connection) => api.scanConnection(c.id),
    meta: { skipToast: true },
    onSuccess: (r, c) => {
      if (r.imported > 0) void qc.invalidateQueries({ queryKey: keys.backupsAll });
      if (dialogRef.current?.kind !== "scan" || dialogRef.current.connection.id !== c.id) {
        toast.success(`Scan of ${c.name}: ${r.found} found, ${r.imported} imported, ${r.already_known} already known${r.problems.length ? `, ${r.problems.length} not imported` : ""}.`);
      }
    },
    onError: (err, c) => {
      if (dialogRef.current?.kind !== "scan" || dialogRef.current.connection.id !== c.id) {
        toast.error(`Scan of ${c.name}: ${errorMessage(err)}`);
      }
    },
  });
  const scanningId = scan.isPending ? (scan.variables?.id ?? null) : null;
  const startScan = (c: Connection) => {
    scan.mutate(c);
    setDialog({ kind: "scan", connection: c });
  };

  return (
    <div>
      <PageHeader
        title="Connections"
        description="Where backups come from and where archives go."
        actions={
          writable && (
            <Link to="/connections/new" className={buttonVariants()}>
              <Plus aria-hidden="true" />
              New connection
            </Link>
          )
        }
      />
      <OAuthNotice />
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <LoadError error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <EmptyState
          title="No connections yet"
          action={
            writable && (
              <Link to="/connections/new" className={buttonVariants()}>
                Add your first connection
              </Link>
            )
          }
        >
          A backup needs a source (S3 bucket or MongoDB) and a destination (S3, Google Drive or a local directory).
        </EmptyState>
      ) : (
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
          {list.data.map((c) => (
            <ConnectionCard
              key={c.id}
              connection={c}
              canEdit={writable}
              testing={testingId === c.id}
              onTest={() => test.mutate(c)}
              scanning={scanningId === c.id}
              scanDisabled={scanningId !== null}
              onScan={() => startScan(c)}
              onDelete={() => {
                del.reset();
                setDialog({ kind: "delete", connection: c });
              }}
            />
          ))}
        </div>
      )}

      <Dialog open={dialog !== null} onOpenChange={(open) => !open && setDialog(null)}>
        <DialogContent>
          {dialog?.kind === "delete" && (
            <>
              <DialogHeader>
                <DialogTitle>Delete {dialog.connection.name}?</DialogTitle>
                <DialogDescription>
                  The connection and its stored credentials are removed. Archives already written stay where they are.
                </DialogDescription>
              </DialogHeader>
              {del.isError && (
                <Alert variant="destructive" data-testid="delete-error">
                  {errorMessage(del.error)}
                </Alert>
              )}
              <DialogFooter>
                <Button variant="outline" onClick={() => setDialog(null)}>
                  Keep it
                </Button>
                <Button variant="destructive" disabled={del.isPending} onClick={() => del.mutate(dialog.connection)}>
                  {del.isPending ? "Deleting…" : "Delete connection"}
                </Button>
              </DialogFooter>
            </>
          )}
          {dialog?.kind === "scan" && (
            <>
              <DialogHeader>
                <DialogTitle>Scan {dialog.connection.name} for archives</DialogTitle>
                <DialogDescription>
                  {scanningId === dialog.connection.id
                    ? "Listing the destination and reading each archive the catalog lacks, whole, to check it. This can take a while; closing this window does not stop the scan."
                    : "Archives coffer wrote there that the catalog lacked are added as imported backups, which can be browsed, verified and restored."}
                </DialogDescription>
              </DialogHeader>
              {scanningId === dialog.connection.id ? (
                <Loading label="Scanning…" />
              ) : scan.variables?.id !== dialog.connection.id ? null : scan.isError ? (
                <Alert variant="destructive" data-testid="scan-error">
                  {errorMessage(scan.error)}
                </Alert>
              ) : (
                scan.data && <ScanSummary result={scan.data} onNavigate={() => setDialog(null)} />
              )}
              <DialogFooter>
                {scan.data && scan.data.imported > 0 && scanningId === null && scan.variables?.id === dialog.connection.id && (
                  <Link to="/backups" className={buttonVariants({ variant: "outline" })} onClick={() => setDialog(null)}>
                    All backups
                  </Link>
                )}
                <Button onClick={() => setDialog(null)}>{scanningId === dialog.connection.id ? "Keep scanning in the background" : "Done"}</Button>
              </DialogFooter>
            </>
          )}
        </DialogContent>
      </Dialog>
    </div>
  );
}
