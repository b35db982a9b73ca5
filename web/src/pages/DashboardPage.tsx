import { useQuery } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { Link } from "react-router";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, LIVE_REFRESH_MS } from "@/api/queries";
import type { BackupStatus, Connection, RestoreStatus } from "@/api/types";
import { ConnectionHealthBadge, connectionHealth } from "@/components/ConnectionCard";
import { FailedOperation, operationKey, RunningOperation } from "@/components/DashboardOperation";
import { EmptyState } from "@/components/EmptyState";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { connectionNames, nameOf } from "@/lib/connections";
import { formatRelative } from "@/lib/utils";

const backupStatuses: BackupStatus[] = ["running", "pending", "paused", "completed", "failed", "cancelled"];
const restoreStatuses: RestoreStatus[] = ["running", "pending", "completed", "failed", "cancelled"];

/** DashboardPage summarises connections by health, running operations and recent results. */
export default function DashboardPage() {
  const me = useMe();
  const dash = useQuery({
    queryKey: keys.dashboard,
    queryFn: api.dashboard,
    refetchInterval: (q) => ((q.state.data?.running.length ?? 0) > 0 ? LIVE_REFRESH_MS : 15_000),
  });
  const recent = useQuery({
    queryKey: keys.backups({ page: 1, per_page: 5 }),
    queryFn: () => api.listBackups({ page: 1, per_page: 5 }),
    refetchInterval: (q) => (q.state.data?.items.some((b) => b.status === "running") ? LIVE_REFRESH_MS : 15_000),
  });

  const plans = useQuery({ queryKey: keys.plans, queryFn: api.listPlans, refetchInterval: 15_000 });
  const attention = (plans.data ?? []).filter((p) => p.overdue || p.last_run?.status === "failed");

  if (dash.isPending) return <Loading />;
  if (dash.isError) return <LoadError error={dash.error} onRetry={() => void dash.refetch()} />;
  const d = dash.data;
  const names = connectionNames(d.connections.items);
  const writable = canWrite(me.data);

  return (
    <div className="grid gap-6">
      <PageHeader
        title="Dashboard"
        description="Connections, running work and recent results at a glance."
        actions={
          writable && (
            <Link to="/backups/new" className={buttonVariants()}>
              <Plus aria-hidden="true" />
              New backup
            </Link>
          )
        }
      />

      <section aria-labelledby="conn-health" className="grid gap-4 sm:grid-cols-3">
        <h2 id="conn-health" className="sr-only">
          Connection health
        </h2>
        <HealthStat label="Healthy connections" value={d.connections.healthy} tone="text-emerald-600 dark:text-emerald-400" />
        <HealthStat label="Failing connections" value={d.connections.failing} tone="text-red-600 dark:text-red-400" />
        <HealthStat label="Not checked yet" value={d.connections.unchecked} tone="text-muted-foreground" />
      </section>

      {attention.length > 0 && (
        <Card data-testid="plans-attention">
          <CardHeader>
            <CardTitle>Plans that need attention</CardTitle>
            <CardDescription>Their last run failed, or no run succeeded within their alert_after.</CardDescription>
          </CardHeader>
          <CardContent>
            <ul className="grid gap-1 text-sm">
              {attention.map((p) => (
                <li key={p.id} className="flex flex-wrap items-center gap-2">
                  <Link to={`/plans/${p.id}`} className="font-medium">
                    {p.name}
                  </Link>
                  {p.last_run?.status === "failed" && <OperationStatusBadge status="failed" />}
                  {p.overdue && (
                    <span className="text-amber-700 dark:text-amber-400">
                      overdue: no success within {p.alert_after}
                      {p.last_success_at ? ` (last ${formatRelative(p.last_success_at)})` : " (never succeeded)"}
                    </span>
                  )}
                </li>
              ))}
            </ul>
          </CardContent>
        </Card>
      )}

      <div className="grid gap-6 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Running now</CardTitle>
            <CardDescription>Refreshes every 2 seconds while something runs.</CardDescription>
          </CardHeader>
          <CardContent className="grid gap-4" data-testid="running-operations">
            {d.running.length === 0 ? (
              <p className="text-sm text-muted-foreground">
                Nothing is running. {writable && <Link className="underline" to="/backups/new">Start a backup</Link>}
              </p>
            ) : (
              d.running.map((op) => <RunningOperation key={operationKey(op)} op={op} names={names} />)
            )}
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Connections</CardTitle>
            <CardDescription>Failing ones first.</CardDescription>
          </CardHeader>
          <CardContent>
            {d.connections.items.length === 0 ? (
              <EmptyState
                title="No connections yet"
                action={
                  writable && (
                    <Link to="/connections/new" className={buttonVariants({ size: "sm" })}>
                      Add a connection
                    </Link>
                  )
                }
              >
                Add a source (S3 or MongoDB) and a destination (S3, Google Drive or a local directory) to start backing up.
              </EmptyState>
            ) : (
              <ul className="divide-y">
                {sortByHealth(d.connections.items).map((c) => (
                  <li key={c.id} className="flex items-center justify-between gap-2 py-2 text-sm">
                    <Link to={`/connections/${c.id}/edit`} className="truncate font-medium hover:underline">
                      {c.name}
                    </Link>
                    <span className="flex items-center gap-2">
                      <span className="hidden text-xs text-muted-foreground sm:inline">
                        checked {formatRelative(c.last_validated_at)}
                      </span>
                      <ConnectionHealthBadge connection={c} />
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Recent backups</CardTitle>
          </CardHeader>
          <CardContent>
            {recent.isError ? (
              <LoadError error={recent.error} />
            ) : !recent.data || recent.data.items.length === 0 ? (
              <p className="text-sm text-muted-foreground">No backups yet.</p>
            ) : (
              <ul className="divide-y">
                {recent.data.items.map((b) => (
                  <li key={b.id} className="flex items-center justify-between gap-2 py-2 text-sm">
                    <Link to={`/backups/${b.id}`} className="truncate hover:underline">
                      #{b.id} {nameOf(names, b.source_connection_id)} → {nameOf(names, b.destination_connection_id)}
                    </Link>
                    <OperationStatusBadge status={b.status} />
                  </li>
                ))}
              </ul>
            )}
            <div className="mt-3 flex flex-wrap gap-2 text-xs text-muted-foreground">
              {backupStatuses.map((s) =>
                d.backups_by_status[s] ? (
                  <span key={s}>
                    {s}: {d.backups_by_status[s]}
                  </span>
                ) : null,
              )}
            </div>
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Recent failures</CardTitle>
          </CardHeader>
          <CardContent>
            {d.recent_failures.length === 0 ? (
              <p className="text-sm text-muted-foreground">No failures. Good.</p>
            ) : (
              <ul className="divide-y" data-testid="recent-failures">
                {d.recent_failures.map((op) => (
                  <FailedOperation key={operationKey(op)} op={op} names={names} />
                ))}
              </ul>
            )}
            <div className="mt-3 flex flex-wrap gap-2 text-xs text-muted-foreground">
              <span>Restores:</span>
              {restoreStatuses.every((s) => !d.restores_by_status[s]) && <span>none yet</span>}
              {restoreStatuses.map((s) =>
                d.restores_by_status[s] ? (
                  <span key={s}>
                    {s}: {d.restores_by_status[s]}
                  </span>
                ) : null,
              )}
            </div>
          </CardContent>
        </Card>
      </div>
    </div>
  );
}

function HealthStat({ label, value, tone }: { label: string; value: number; tone: string }) {
  return (
    <Card>
      <CardContent className="pt-5">
        <p className="text-sm text-muted-foreground">{label}</p>
        <p className={`text-3xl font-semibold tabular-nums ${tone}`}>{value}</p>
      </CardContent>
    </Card>
  );
}

const healthOrder = { failing: 0, unchecked: 1, healthy: 2 } as const;

function sortByHealth(items: Connection[]): Connection[] {
  return [...items].sort((a, b) => healthOrder[connectionHealth(a)] - healthOrder[connectionHealth(b)] || a.name.localeCompare(b.name));
}
