import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, useConnections, useRestore } from "@/api/queries";
import { BackupControls } from "@/components/BackupControls";
import { MetaItem, MetaList } from "@/components/Meta";
import { OperationProgress } from "@/components/OperationProgress";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { TerminalLog } from "@/components/TerminalLog";
import { Alert } from "@/components/ui/alert";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { connectionNames, nameOf } from "@/lib/connections";
import { isTerminal, type OperationAction } from "@/lib/status";
import { formatDate } from "@/lib/utils";

const CONFIG_LABELS: Record<string, string> = {
  bucket: "Bucket",
  prefix: "Key prefix",
  include_prefix: "Only keys starting with",
  overwrite: "Overwrite existing objects",
  database: "Database",
  collections: "Collections",
  drop: "Drop collections first",
};

/** RestoreDetailPage shows one restore: metadata, live progress, cancel and its log. */
export default function RestoreDetailPage() {
  const id = Number(useParams().id);
  const me = useMe();
  const qc = useQueryClient();
  const restore = useRestore(id);
  const connections = useConnections();
  const [busy, setBusy] = useState<OperationAction | null>(null);

  const cancel = useMutation({
    mutationFn: () => api.cancelRestore(id),
    onMutate: () => setBusy("cancel"),
    onSuccess: (op) => {
      if (op && typeof op === "object" && "status" in op) qc.setQueryData(keys.restore(id), op);
      toast.success(`Cancel requested for restore #${id}.`);
    },
    onSettled: () => {
      setBusy(null);
      void qc.invalidateQueries({ queryKey: keys.restore(id) });
    },
  });

  if (!Number.isInteger(id) || id <= 0) return <LoadError error={new Error("This restore address is not valid.")} />;
  if (restore.isPending) return <Loading />;
  if (restore.isError) return <LoadError error={restore.error} onRetry={() => void restore.refetch()} />;
  const r = restore.data;
  const names = connectionNames(connections.data);
  const cfg = (r.destination_config ?? {}) as Record<string, unknown>;

  return (
    <div className="grid gap-6">
      <PageHeader
        title={`Restore #${r.id}`}
        description={
          <span className="flex items-center gap-2" data-testid="page-status">
            <OperationStatusBadge status={r.status} />
            Backup #{r.backup_operation_id} → {nameOf(names, r.destination_connection_id)}
          </span>
        }
        actions={
          <BackupControls
            kind="restores"
            status={r.status}
            busy={busy}
            canControl={canWrite(me.data)}
            onAction={(a) => a === "cancel" && cancel.mutate()}
          />
        }
      />
      {r.error_message && (
        <Alert variant="destructive" data-testid="operation-error">
          <p className="font-medium">The restore failed.</p>
          <p className="break-words">{r.error_message}</p>
        </Alert>
      )}
      <Card>
        <CardHeader>
          <CardTitle>Progress</CardTitle>
        </CardHeader>
        <CardContent>
          <OperationProgress progress={r.progress} status={r.status} startedAt={r.started_at} completedAt={r.completed_at} />
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Details</CardTitle>
        </CardHeader>
        <CardContent>
          <MetaList>
            <MetaItem label="Backup">
              <Link className="underline-offset-4 hover:underline" to={`/backups/${r.backup_operation_id}`}>
                #{r.backup_operation_id}
              </Link>
            </MetaItem>
            <MetaItem label="Target">{nameOf(names, r.destination_connection_id)}</MetaItem>
            {Object.entries(cfg).map(([k, v]) => (
              <MetaItem key={k} label={CONFIG_LABELS[k] ?? k}>
                {Array.isArray(v) ? v.join(", ") || "—" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v ?? "—")}
              </MetaItem>
            ))}
            <MetaItem label="Created">{formatDate(r.created_at)}</MetaItem>
            <MetaItem label="Started">{formatDate(r.started_at)}</MetaItem>
            <MetaItem label="Finished">{formatDate(r.completed_at)}</MetaItem>
          </MetaList>
        </CardContent>
      </Card>
      <TerminalLog
        kind="restores"
        id={r.id}
        live={!isTerminal(r.status)}
        onEnd={() => void qc.invalidateQueries({ queryKey: keys.restore(id) })}
      />
    </div>
  );
}
