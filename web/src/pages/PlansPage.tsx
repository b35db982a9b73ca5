import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Play, Plus } from "lucide-react";
import { Link, useNavigate } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { errorMessage } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections } from "@/api/queries";
import type { Plan } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { connectionNames, nameOf } from "@/lib/connections";
import { formatDate } from "@/lib/utils";

/** PlansPage lists the backup plans: schedule in words, next run, last result, enabled. */
export default function PlansPage() {
  const me = useMe();
  const writable = canWrite(me.data);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const plans = useQuery({ queryKey: keys.plans, queryFn: api.listPlans, refetchInterval: 5000 });
  const conns = connectionNames(useConnections().data);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.plans });
    void qc.invalidateQueries({ queryKey: keys.backupsAll });
  };
  const toggle = useMutation({
    mutationFn: (p: Plan) => api.updatePlan(p.id, { ...planInputOf(p), enabled: !p.enabled }),
    onSuccess: (p) => {
      toast.success(`${p.name} ${p.enabled ? "enabled" : "disabled"}.`);
      refresh();
    },
  });
  const run = useMutation({
    mutationFn: (p: Plan) => api.runPlan(p.id),
    meta: { skipToast: true },
    onSuccess: (op, p) => {
      toast.success(`${p.name}: backup #${op.id} queued.`);
      refresh();
      void navigate(`/backups/${op.id}`);
    },
    onError: (err, p) => toast.error(`${p.name}: ${errorMessage(err)}`),
  });

  if (plans.isPending) return <Loading />;
  if (plans.isError) return <LoadError error={plans.error} onRetry={() => void plans.refetch()} />;
  const add = writable && (
    <Link to="/plans/new" className={buttonVariants()}>
      <Plus className="size-4" aria-hidden="true" /> New plan
    </Link>
  );
  if (plans.data.length === 0) {
    return (
      <>
        <PageHeader title="Plans" />
        <EmptyState title="No backup plans yet" action={add || undefined}>
          A plan backs up a source on a schedule and prunes old archives by a retention policy.
        </EmptyState>
      </>
    );
  }
  return (
    <>
      <PageHeader title="Plans" description="Backups that run on a schedule." actions={add} />
      <Card>
        <Table>
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>What</TableHead>
              <TableHead>Schedule</TableHead>
              <TableHead>Next run</TableHead>
              <TableHead>Last run</TableHead>
              <TableHead>Enabled</TableHead>
              {writable && <TableHead className="sr-only">Actions</TableHead>}
            </TableRow>
          </TableHeader>
          <TableBody>
            {plans.data.map((p) => (
              <TableRow key={p.id} data-testid="plan-row" data-plan={p.name}>
                <TableCell>
                  <Link to={`/plans/${p.id}`} className="font-medium underline-offset-4 hover:underline">
                    {p.name}
                  </Link>
                </TableCell>
                <TableCell className="text-sm text-muted-foreground">
                  {nameOf(conns, p.source_connection_id)} → {nameOf(conns, p.destination_connection_id)}
                </TableCell>
                <TableCell>
                  {p.schedule_text || `${p.schedule} (${p.timezone})`}
                </TableCell>
                <TableCell>{p.enabled ? formatDate(p.next_run_at) : "—"}</TableCell>
                <TableCell>
                  {p.last_run ? (
                    <Link to={`/backups/${p.last_run.backup_id}`} aria-label={`Backup #${p.last_run.backup_id}`}>
                      <OperationStatusBadge status={p.last_run.status} />
                    </Link>
                  ) : (
                    <span className="text-muted-foreground">never</span>
                  )}
                </TableCell>
                <TableCell>
                  <input
                    type="checkbox"
                    aria-label={`Enabled: ${p.name}`}
                    checked={p.enabled}
                    disabled={!writable || toggle.isPending}
                    onChange={() => toggle.mutate(p)}
                  />
                </TableCell>
                {writable && (
                  <TableCell>
                    <Button size="sm" variant="outline" onClick={() => run.mutate(p)} disabled={run.isPending}>
                      <Play className="size-4" aria-hidden="true" /> Run now
                    </Button>
                  </TableCell>
                )}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
    </>
  );
}

/** planInputOf is a plan's settings as PUT /plans/{id} takes them. */
export function planInputOf(p: Plan) {
  return {
    name: p.name,
    source_connection_id: p.source_connection_id,
    destination_connection_id: p.destination_connection_id,
    options: p.options,
    schedule: p.schedule,
    timezone: p.timezone,
    catch_up: p.catch_up,
    retention: p.retention,
    verify: p.verify,
    enabled: p.enabled,
    ...(p.alert_after ? { alert_after: p.alert_after } : {}),
  };
}
