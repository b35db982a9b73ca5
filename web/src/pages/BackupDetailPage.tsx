import { useMutation, useQueryClient } from "@tanstack/react-query";
import { RotateCcw } from "lucide-react";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, useBackup, useConnections } from "@/api/queries";
import { BackupControls } from "@/components/BackupControls";
import { MetaItem, MetaList } from "@/components/Meta";
import { OperationProgress } from "@/components/OperationProgress";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { TerminalLog } from "@/components/TerminalLog";
import { Alert } from "@/components/ui/alert";
import { buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { connectionNames, nameOf } from "@/lib/connections";
import { isTerminal, type OperationAction } from "@/lib/status";
import { formatBytes, formatDate } from "@/lib/utils";

const pastTense: Record<OperationAction, string> = {
  pause: "Pause requested",
  resume: "Resumed",
  cancel: "Cancel requested",
};

/** BackupDetailPage shows one backup: metadata, live progress, controls and its log. */
export default function BackupDetailPage() {
  const id = Number(useParams().id);
  const me = useMe();
  const qc = useQueryClient();
  const backup = useBackup(id);
  const connections = useConnections();
  const [busy, setBusy] = useState<OperationAction | null>(null);

  const control = useMutation({
    mutationFn: (action: OperationAction) => api.backupAction(id, action),
    onMutate: (action) => setBusy(action),
    onSuccess: (op, action) => {
      if (op && typeof op === "object" && "status" in op) qc.setQueryData(keys.backup(id), op);
      toast.success(`${pastTense[action]} for backup #${id}.`);
    },
    onSettled: () => {
      setBusy(null);
      void qc.invalidateQueries({ queryKey: keys.backup(id) });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
  });

  if (!Number.isInteger(id) || id <= 0) return <LoadError error={new Error("This backup address is not valid.")} />;
  if (backup.isPending) return <Loading />;
  if (backup.isError) return <LoadError error={backup.error} onRetry={() => void backup.refetch()} />;
  const b = backup.data;
  const names = connectionNames(connections.data);

  return (
    <div className="grid gap-6">
      <PageHeader
        title={`Backup #${b.id}`}
        description={
          <span className="flex items-center gap-2" data-testid="page-status">
            <OperationStatusBadge status={b.status} />
            {nameOf(names, b.source_connection_id)} → {nameOf(names, b.destination_connection_id)}
          </span>
        }
        actions={
          <>
            <BackupControls
              status={b.status}
              busy={busy}
              canControl={canWrite(me.data)}
              onAction={(a) => control.mutate(a)}
            />
            {b.status === "completed" && canWrite(me.data) && (
              <Link to={`/backups/${b.id}/restore`} className={buttonVariants({ size: "sm" })}>
                <RotateCcw aria-hidden="true" />
                Restore…
              </Link>
            )}
          </>
        }
      />

      {b.error_message && (
        <Alert variant="destructive" data-testid="operation-error">
          <p className="font-medium">The backup failed.</p>
          <p className="break-words">{b.error_message}</p>
          {b.status === "failed" && <p className="mt-1 text-xs">Resume continues from the last checkpoint.</p>}
        </Alert>
      )}

      <Card>
        <CardHeader>
          <CardTitle>Progress</CardTitle>
        </CardHeader>
        <CardContent>
          <OperationProgress progress={b.progress} status={b.status} startedAt={b.started_at} completedAt={b.completed_at} />
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Details</CardTitle>
        </CardHeader>
        <CardContent>
          <MetaList>
            <MetaItem label="Source">{nameOf(names, b.source_connection_id)}</MetaItem>
            <MetaItem label="Destination">{nameOf(names, b.destination_connection_id)}</MetaItem>
            <MetaItem label="Compression">{b.options?.compression ?? "gzip"}</MetaItem>
            <MetaItem label="Archive size">{formatBytes(b.archive_size)}</MetaItem>
            <MetaItem label="Archive path" mono>
              {b.archive_path || "—"}
            </MetaItem>
            <MetaItem label="SHA-256" mono>
              {b.sha256 || "—"}
            </MetaItem>
            <MetaItem label="Created">{formatDate(b.created_at)}</MetaItem>
            <MetaItem label="Started">{formatDate(b.started_at)}</MetaItem>
            <MetaItem label="Finished">{formatDate(b.completed_at)}</MetaItem>
          </MetaList>
        </CardContent>
      </Card>

      <TerminalLog
        kind="backups"
        id={b.id}
        live={!isTerminal(b.status)}
        onEnd={() => void qc.invalidateQueries({ queryKey: keys.backup(id) })}
      />
    </div>
  );
}
