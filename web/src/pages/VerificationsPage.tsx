import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api } from "@/api/endpoints";
import { keys, refreshWhileRunning } from "@/api/queries";
import type { VerificationFilters, VerificationStatus } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { OperationList } from "@/components/OperationList";
import { PageHeader } from "@/components/PageHeader";
import { Button, buttonVariants } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { VerifyBadge, verdictOf } from "@/components/VerificationResult";

const PER_PAGE = 20;
const statuses: VerificationStatus[] = ["pending", "running", "completed", "failed", "cancelled"];

function intParam(v: string | null): number | "" {
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 ? n : "";
}

/** VerificationsPage lists verifications of backups' archives, newest first, filtered by status or backup (in the URL). */
export default function VerificationsPage() {
  const [params, setParams] = useSearchParams();
  const status = statuses.includes(params.get("status") as VerificationStatus) ? (params.get("status") as VerificationStatus) : "";
  const filters: VerificationFilters = {
    status,
    backup_operation_id: intParam(params.get("backup_operation_id")),
    page: intParam(params.get("page")) || 1,
    per_page: PER_PAGE,
  };
  const list = useQuery({
    queryKey: keys.verifications(filters),
    queryFn: () => api.listVerifications(filters),
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
  const filtered = Boolean(filters.status || filters.backup_operation_id);

  return (
    <div>
      <PageHeader
        title="Verifications"
        description="Checks of backups' archives where they are stored. Start one from a completed backup's page, or let a plan verify."
      />
      <div className="mb-4 flex flex-wrap items-end gap-3" role="search" aria-label="Filter verifications">
        <div className="grid gap-1">
          <Label htmlFor="filter-status">Status</Label>
          <NativeSelect id="filter-status" value={filters.status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">Any status</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s === "completed" ? "completed (passed)" : s === "failed" ? "failed (problems found)" : s}
              </option>
            ))}
          </NativeSelect>
        </div>
        {filters.backup_operation_id !== "" && (
          <p className="text-sm">
            Of backup #{filters.backup_operation_id}{" "}
            <Button variant="ghost" size="sm" onClick={() => setFilter("backup_operation_id", "")}>
              Any backup
            </Button>
          </p>
        )}
        {filtered && (
          <Button variant="ghost" size="sm" onClick={() => setParams(new URLSearchParams())}>
            Clear filters
          </Button>
        )}
      </div>
      <OperationList
        kind="verifications"
        list={list}
        page={filters.page ?? 1}
        perPage={PER_PAGE}
        onPage={(p) => setFilter("page", String(p))}
        columns={[
          {
            header: "Backup",
            cell: (v) => (
              <Link to={`/backups/${v.backup_operation_id}`} className="underline-offset-4 hover:underline">
                Backup #{v.backup_operation_id}
              </Link>
            ),
          },
          {
            header: "Result",
            cell: (v) => {
              const verdict = verdictOf(v);
              if (!verdict) return <span className="text-muted-foreground">—</span>;
              return (
                <span className="flex flex-wrap items-center gap-1.5">
                  <VerifyBadge verdict={verdict} />
                  {v.result && v.result.problem_count > 0 && (
                    <span className="text-xs text-muted-foreground">
                      {v.result.problem_count} {v.result.problem_count === 1 ? "problem" : "problems"}
                    </span>
                  )}
                  {v.result && !v.result.contents_checked && (
                    <span className="text-xs text-muted-foreground">checksum only</span>
                  )}
                </span>
              );
            },
          },
        ]}
        trailing={[{ header: "Asked by", cell: (v) => (v.plan_id ? <Link to={`/plans/${v.plan_id}`}>plan #{v.plan_id}</Link> : "a user") }]}
        empty={
          <EmptyState
            title={filtered ? "No verifications match these filters" : "No verifications yet"}
            action={
              filtered ? (
                <Button variant="outline" onClick={() => setParams(new URLSearchParams())}>
                  Clear filters
                </Button>
              ) : (
                <Link to="/backups?status=completed" className={buttonVariants()}>
                  Find a completed backup
                </Link>
              )
            }
          >
            {filtered
              ? "Try another status."
              : "Open a completed backup and choose “Verify” to read its archive where it is stored and check it."}
          </EmptyState>
        }
      />
    </div>
  );
}
