import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { Link, useSearchParams } from "react-router";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, refreshWhileRunning, useConnections } from "@/api/queries";
import type { BackupFilters, BackupStatus } from "@/api/types";
import { BackupModeLabel } from "@/components/BackupMode";
import { EmptyState } from "@/components/EmptyState";
import { OperationList } from "@/components/OperationList";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button, buttonVariants } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { connectionNames, nameOf, sourceName } from "@/lib/connections";
import { formatBytes } from "@/lib/utils";

const PER_PAGE = 20;
const statuses: BackupStatus[] = ["pending", "running", "paused", "completed", "failed", "cancelled"];

function intParam(v: string | null): number | "" {
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 ? n : "";
}

/** BackupsPage lists backups with status/source/destination filters and pagination (kept in the URL). */
export default function BackupsPage() {
  const me = useMe();
  const [params, setParams] = useSearchParams();
  const status = statuses.includes(params.get("status") as BackupStatus) ? (params.get("status") as BackupStatus) : "";
  const filters: BackupFilters = {
    status,
    source_id: intParam(params.get("source_id")),
    destination_id: intParam(params.get("destination_id")),
    plan_id: intParam(params.get("plan_id")),
    page: intParam(params.get("page")) || 1,
    per_page: PER_PAGE,
  };
  const connections = useConnections();
  const names = connectionNames(connections.data);
  const list = useQuery({
    queryKey: keys.backups(filters),
    queryFn: () => api.listBackups(filters),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => refreshWhileRunning(q.state.data?.items),
  });

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    if (key !== "page") next.delete("page");
    setParams(next);
  };
  const plans = useQuery({ queryKey: keys.plans, queryFn: api.listPlans });
  const filtered = Boolean(filters.status || filters.source_id || filters.destination_id || filters.plan_id);
  const sources = (connections.data ?? []).filter((c) => c.roles.includes("source"));
  const destinations = (connections.data ?? []).filter((c) => c.roles.includes("destination"));

  return (
    <div>
      <PageHeader
        title="Backups"
        actions={
          canWrite(me.data) && (
            <Link to="/backups/new" className={buttonVariants()}>
              <Plus aria-hidden="true" />
              New backup
            </Link>
          )
        }
      />
      <div className="mb-4 flex flex-wrap items-end gap-3" role="search" aria-label="Filter backups">
        <div className="grid gap-1">
          <Label htmlFor="filter-status">Status</Label>
          <NativeSelect id="filter-status" value={filters.status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">Any status</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1">
          <Label htmlFor="filter-source">Source</Label>
          <NativeSelect
            id="filter-source"
            value={String(filters.source_id)}
            onChange={(e) => setFilter("source_id", e.target.value)}
          >
            <option value="">Any source</option>
            {sources.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1">
          <Label htmlFor="filter-destination">Destination</Label>
          <NativeSelect
            id="filter-destination"
            value={String(filters.destination_id)}
            onChange={(e) => setFilter("destination_id", e.target.value)}
          >
            <option value="">Any destination</option>
            {destinations.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1">
          <Label htmlFor="filter-plan">Plan</Label>
          <NativeSelect id="filter-plan" value={String(filters.plan_id)} onChange={(e) => setFilter("plan_id", e.target.value)}>
            <option value="">Any plan or none</option>
            {(plans.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </NativeSelect>
        </div>
        {filtered && (
          <Button variant="ghost" size="sm" onClick={() => setParams(new URLSearchParams())}>
            Clear filters
          </Button>
        )}
      </div>

      <OperationList
        kind="backups"
        list={list}
        page={filters.page ?? 1}
        perPage={PER_PAGE}
        onPage={(p) => setFilter("page", String(p))}
        columns={[
          {
            header: "Source → destination",
            cell: (b) => (
              <span className="inline-flex flex-wrap items-center gap-1.5">
                {b.imported && (
                  <Badge variant="info" title="Found at its destination by a scan and added to the catalog">
                    Imported
                  </Badge>
                )}
                {sourceName(names, b)} → {nameOf(names, b.destination_connection_id)}
              </span>
            ),
          },
          { header: "Mode", cell: (b) => <BackupModeLabel backup={b} /> },
        ]}
        trailing={[{ header: "Size", cell: (b) => formatBytes(b.archive_size), className: "tabular-nums" }]}
        empty={
          <EmptyState
            title={filtered ? "No backups match these filters" : "No backups yet"}
            action={
              filtered ? (
                <Button variant="outline" onClick={() => setParams(new URLSearchParams())}>
                  Clear filters
                </Button>
              ) : (
                canWrite(me.data) && (
                  <Link to="/backups/new" className={buttonVariants()}>
                    Start a backup
                  </Link>
                )
              )
            }
          >
            {filtered ? "Try another status or connection." : "Pick a source and a destination to make the first archive."}
          </EmptyState>
        }
      />
    </div>
  );
}
