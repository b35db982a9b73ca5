import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { api, type OperationOf } from "@/api/endpoints";
import { keys, useOperation } from "@/api/queries";
import type { OperationKind } from "@/api/types";
import { BackupControls } from "@/components/BackupControls";
import { MetaItem, MetaList } from "@/components/Meta";
import { OperationProgress } from "@/components/OperationProgress";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { TerminalLog } from "@/components/TerminalLog";
import { Alert } from "@/components/ui/alert";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { isTerminal, OPERATION_NOUNS, type OperationAction } from "@/lib/status";
import { formatDate } from "@/lib/utils";

const pastTense: Record<OperationAction, string> = {
  pause: "Pause requested",
  resume: "Resumed",
  cancel: "Cancel requested",
};

/** The parts of an operation's page that only its kind knows. */
export interface OperationParts {
  /** Follows the status badge under the title: what runs from where to where. */
  summary: ReactNode;
  /** The kind's own details (MetaItems), listed before the times. */
  details: ReactNode;
  /** Links or buttons beside the controls. */
  actions?: ReactNode;
  /** A sentence under the error message. */
  errorHint?: ReactNode;
  /** Cards of the kind's own (a verification's result), between the details and the log. */
  extra?: ReactNode;
}

/** Props of OperationDetail. */
export interface OperationDetailProps<K extends OperationKind> {
  kind: K;
  /** The id from the page's address (checked here). */
  id: number;
  /** The kind's parts of the page, from the loaded operation. */
  parts: (op: OperationOf[K]) => OperationParts;
}

/**
 * OperationDetail is the page of one operation of any kind: its status and
 * controls (pause/resume/cancel as the kind and status allow), the error
 * when it failed, live progress, its details and its log. The page of a
 * kind gives only what differs (OperationParts).
 */
export function OperationDetail<K extends OperationKind>({ kind, id, parts }: OperationDetailProps<K>) {
  const me = useMe();
  const qc = useQueryClient();
  const query = useOperation(kind, id);
  const [busy, setBusy] = useState<OperationAction | null>(null);
  const noun = OPERATION_NOUNS[kind];
  const key = keys.operation(kind, id);

  const control = useMutation({
    mutationFn: (action: OperationAction) => api.operationAction(kind, id, action),
    onMutate: (action) => setBusy(action),
    onSuccess: (op, action) => {
      if (op && typeof op === "object" && "status" in op) qc.setQueryData(key, op);
      toast.success(`${pastTense[action]} for ${noun} #${id}.`);
    },
    onSettled: () => {
      setBusy(null);
      void qc.invalidateQueries({ queryKey: key });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
  });

  if (!Number.isInteger(id) || id <= 0) return <LoadError error={new Error(`This ${noun} address is not valid.`)} />;
  if (query.isPending) return <Loading />;
  if (query.isError) return <LoadError error={query.error} onRetry={() => void query.refetch()} />;
  const op = query.data;
  const own = parts(op);

  return (
    <div className="grid gap-6">
      <PageHeader
        title={`${noun.charAt(0).toUpperCase()}${noun.slice(1)} #${op.id}`}
        description={
          <span className="flex items-center gap-2" data-testid="page-status">
            <OperationStatusBadge status={op.status} />
            {own.summary}
          </span>
        }
        actions={
          <>
            <BackupControls
              kind={kind}
              status={op.status}
              busy={busy}
              canControl={canWrite(me.data)}
              onAction={(a) => control.mutate(a)}
            />
            {own.actions}
          </>
        }
      />

      {op.error_message && (
        <Alert variant="destructive" data-testid="operation-error">
          <p className="font-medium">The {noun} failed.</p>
          <p className="break-words">{op.error_message}</p>
          {own.errorHint}
        </Alert>
      )}

      <Card>
        <CardHeader>
          <CardTitle>Progress</CardTitle>
        </CardHeader>
        <CardContent>
          <OperationProgress progress={op.progress} status={op.status} startedAt={op.started_at} completedAt={op.completed_at} />
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Details</CardTitle>
        </CardHeader>
        <CardContent>
          <MetaList>
            {own.details}
            <MetaItem label="Created">{formatDate(op.created_at)}</MetaItem>
            <MetaItem label="Started">{formatDate(op.started_at)}</MetaItem>
            <MetaItem label="Finished">{formatDate(op.completed_at)}</MetaItem>
          </MetaList>
        </CardContent>
      </Card>

      {own.extra}

      <TerminalLog kind={kind} id={op.id} live={!isTerminal(op.status)} onEnd={() => void qc.invalidateQueries({ queryKey: key })} />
    </div>
  );
}
