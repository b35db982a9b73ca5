import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Pencil, Play, Scissors, Trash2 } from "lucide-react";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { errorMessage } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections } from "@/api/queries";
import type { PlanEvent } from "@/api/types";
import { BackupChains } from "@/components/BackupChains";
import { BackupModeLabel, compressionText, fullEveryText } from "@/components/BackupMode";
import { OperationTable } from "@/components/OperationList";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { chartPoints, PlanChart } from "@/components/PlanChart";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { VerifyBadge } from "@/components/VerificationResult";
import { connectionNames, nameOf } from "@/lib/connections";
import { formatBytes, formatDate } from "@/lib/utils";

const EVENT_LABELS: Record<PlanEvent["kind"], string> = {
  run: "run",
  skipped: "skipped",
  missed: "missed",
  pruned: "pruned",
  prune_failed: "prune failed",
};

/** verifyText says in words when a plan verifies its backups. */
export function verifyText(verify: string): string {
  const v = verify.trim();
  if (v === "" || v === "none") return "never";
  if (v === "after_each") return "after each backup";
  return `on the schedule ${v}`;
}

/** How many of a plan's backups its page reads (newest first). */
const BACKUPS_SHOWN = 30;

/** PlanDetailPage shows a plan: its settings, history, backups (and their chains) and a chart of its last runs. */
export default function PlanDetailPage() {
  const id = Number(useParams().id);
  const me = useMe();
  const writable = canWrite(me.data);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const conns = connectionNames(useConnections().data);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const plan = useQuery({ queryKey: keys.plan(id), queryFn: () => api.getPlan(id), refetchInterval: 2000 });
  const events = useQuery({ queryKey: [...keys.plan(id), "events"], queryFn: () => api.planEvents(id, 1), refetchInterval: 5000 });
  const backups = useQuery({
    queryKey: keys.backups({ plan_id: id, per_page: BACKUPS_SHOWN }),
    queryFn: () => api.listBackups({ plan_id: id, per_page: BACKUPS_SHOWN }),
    refetchInterval: 5000,
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.plans });
    void qc.invalidateQueries({ queryKey: keys.backupsAll });
  };
  const run = useMutation({
    mutationFn: () => api.runPlan(id),
    meta: { skipToast: true },
    onSuccess: (op) => {
      toast.success(`Backup #${op.id} queued.`);
      refresh();
    },
    onError: (err) => toast.error(errorMessage(err)),
  });
  const prune = useMutation({
    mutationFn: () => api.prunePlan(id),
    onSuccess: (r) => {
      toast.success(`Pruned ${r.pruned}, kept ${r.kept}${r.failed ? `, ${r.failed} failed (see the history)` : ""}.`);
      refresh();
    },
  });
  const del = useMutation({
    mutationFn: () => api.deletePlan(id),
    meta: { skipToast: true },
    onSuccess: () => {
      toast.success("Plan deleted; its backups are kept.");
      void qc.invalidateQueries({ queryKey: keys.plans });
      void navigate("/plans");
    },
  });

  if (plan.isPending) return <Loading />;
  if (plan.isError) return <LoadError error={plan.error} onRetry={() => void plan.refetch()} />;
  const p = plan.data;
  const r = p.retention;
  const incremental = p.options.mode === "incremental";
  // Chains matter once the plan makes incrementals, or made some before it turned full.
  const chained = incremental || (backups.data?.items.some((b) => b.base_backup_id) ?? false);
  const rules = Object.entries(r)
    .filter(([, v]) => v !== undefined && v !== 0 && v !== "")
    .map(([k, v]) => `${k.replace("keep_", "")} ${String(v)}`);
  return (
    <>
      <PageHeader
        title={p.name}
        description={
          <>
            {nameOf(conns, p.source_connection_id)} → {nameOf(conns, p.destination_connection_id)} ·{" "}
            {p.enabled ? "enabled" : <Badge>disabled</Badge>}
          </>
        }
        actions={
          writable && (
            <>
              <Button onClick={() => run.mutate()} disabled={run.isPending}>
                <Play className="size-4" aria-hidden="true" /> Run now
              </Button>
              <Button variant="outline" onClick={() => prune.mutate()} disabled={prune.isPending}>
                <Scissors className="size-4" aria-hidden="true" /> Prune now
              </Button>
              <Link to={`/plans/${id}/edit`} className={buttonVariants({ variant: "outline" })}>
                <Pencil className="size-4" aria-hidden="true" /> Edit
              </Link>
              <Button variant="outline" onClick={() => setConfirmDelete(true)}>
                <Trash2 className="size-4" aria-hidden="true" /> Delete
              </Button>
            </>
          )
        }
      />
      <div className="grid gap-6">
        <Card>
          <CardContent className="grid gap-2 pt-5 text-sm sm:grid-cols-2">
            <div>
              <span className="text-muted-foreground">Schedule: </span>
              <span data-testid="plan-schedule">{p.schedule_text || `${p.schedule} (${p.timezone})`}</span>
            </div>
            <div>
              <span className="text-muted-foreground">Next run: </span>
              {p.enabled ? formatDate(p.next_run_at) : "—"}
            </div>
            <div>
              <span className="text-muted-foreground">Retention: </span>
              {rules.length ? rules.join(", ") : "keep everything"}
            </div>
            <div>
              <span className="text-muted-foreground">Last run: </span>
              {p.last_run ? <OperationStatusBadge status={p.last_run.status} /> : "never"}
            </div>
            <div>
              <span className="text-muted-foreground">Catch up: </span>
              {p.catch_up ? "yes" : "no"}
            </div>
            <div>
              <span className="text-muted-foreground">Mode: </span>
              <span data-testid="plan-mode">{incremental ? `incremental, ${fullEveryText(p.full_every)}` : "full"}</span>
            </div>
            <div>
              <span className="text-muted-foreground">Compression: </span>
              {compressionText(p.options)}
            </div>
            <div>
              <span className="text-muted-foreground">Verify: </span>
              <span data-testid="plan-verify">{verifyText(p.verify)}</span>
            </div>
            {p.next_verify_at && (
              <div>
                <span className="text-muted-foreground">Next verification: </span>
                <span data-testid="plan-next-verify">{p.enabled ? formatDate(p.next_verify_at) : "—"}</span>
              </div>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Last runs</CardTitle>
          </CardHeader>
          <CardContent>{backups.data && <PlanChart points={chartPoints(backups.data.items)} />}</CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>History</CardTitle>
          </CardHeader>
          <CardContent>
            {events.isError && <Alert variant="destructive">{errorMessage(events.error)}</Alert>}
            {events.data?.items.length === 0 && <p className="text-sm text-muted-foreground">Nothing yet: the first due time is {formatDate(p.next_run_at)}.</p>}
            <ul className="grid gap-1 text-sm">
              {events.data?.items.map((ev) => (
                <li key={ev.id} data-testid="plan-event" data-kind={ev.kind} className="flex flex-wrap gap-2">
                  <span className="text-muted-foreground">{formatDate(ev.created_at)}</span>
                  <Badge variant={ev.kind === "prune_failed" || ev.kind === "missed" ? "warning" : "neutral"}>{EVENT_LABELS[ev.kind]}</Badge>
                  {ev.backup_id && <Link to={`/backups/${ev.backup_id}`}>#{ev.backup_id}</Link>}
                  <span>{ev.message}</span>
                </li>
              ))}
            </ul>
          </CardContent>
        </Card>
        {chained && (
          <Card>
            <CardHeader>
              <CardTitle>Chains</CardTitle>
            </CardHeader>
            <CardContent className="grid gap-2">
              <p className="text-sm text-muted-foreground">
                Each full backup, then the incrementals built on it: an incremental needs the archives before it in its chain. Of the last {BACKUPS_SHOWN} backups.
              </p>
              {backups.data && <BackupChains backups={backups.data.items} />}
            </CardContent>
          </Card>
        )}
        <Card>
          <CardHeader>
            <CardTitle>Backups</CardTitle>
          </CardHeader>
          <CardContent>
            {backups.data && (
              <OperationTable
                kind="backups"
                items={backups.data.items}
                columns={[
                  { header: "Mode", cell: (b) => <BackupModeLabel backup={b} /> },
                  { header: "Archive", cell: (b) => (b.pruned_at ? `pruned (${b.prune_reason})` : formatBytes(b.archive_size)) },
                  { header: "Verified", cell: (b) => (b.status === "completed" ? <VerifyBadge verdict={b.last_verify_status} /> : "—") },
                ]}
              />
            )}
          </CardContent>
        </Card>
      </div>
      <Dialog open={confirmDelete} onOpenChange={setConfirmDelete}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Delete plan {p.name}?</DialogTitle>
            <DialogDescription>Its schedule and history go; its backups are kept, as ad-hoc backups.</DialogDescription>
          </DialogHeader>
          {del.isError && <Alert variant="destructive">{errorMessage(del.error)}</Alert>}
          <DialogFooter>
            <Button variant="outline" onClick={() => setConfirmDelete(false)}>
              Keep it
            </Button>
            <Button variant="destructive" onClick={() => del.mutate()} disabled={del.isPending}>
              Delete plan
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </>
  );
}
