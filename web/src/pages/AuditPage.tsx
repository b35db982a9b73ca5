import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "@/api/endpoints";
import { keys } from "@/api/queries";
import { EmptyState } from "@/components/EmptyState";
import { PageHeader } from "@/components/PageHeader";
import { Pagination } from "@/components/Pagination";
import { LoadError, Loading } from "@/components/QueryState";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import {
  AUDIT_ACTIONS,
  AUDIT_TARGET_TYPES,
  auditApiFilters,
  auditDetails,
  auditTargetPath,
  auditUrlFilters,
} from "@/lib/audit";
import { formatDate, formatRelative } from "@/lib/utils";

const PER_PAGE = 50;

/** AuditPage lists who did what, newest first, with filters and pages kept in the URL (administrators only). */
export default function AuditPage() {
  const [params, setParams] = useSearchParams();
  const url = auditUrlFilters(params);
  const filters = auditApiFilters(url, PER_PAGE);
  const list = useQuery({
    queryKey: keys.audit(filters),
    queryFn: () => api.listAudit(filters),
    placeholderData: keepPreviousData,
  });
  // The action box applies on Enter or "Apply"; it follows the URL (back/forward, "Clear").
  const [action, setAction] = useState(url.action);
  const [shownAction, setShownAction] = useState(url.action);
  if (shownAction !== url.action) {
    setShownAction(url.action);
    setAction(url.action);
  }

  const setFilters = (change: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(change)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("page" in change)) next.delete("page");
    setParams(next);
  };
  const applyAction = (e: FormEvent) => {
    e.preventDefault();
    setFilters({ action: action.trim() });
  };
  const filtered = Boolean(url.action || url.target_type || url.since || url.actor_id);

  return (
    <div>
      <PageHeader title="Audit log" description="Who did what, newest first. Times are in your browser's time zone." />
      <form
        className="mb-4 flex flex-wrap items-end gap-3"
        role="search"
        aria-label="Filter audit events"
        onSubmit={applyAction}
      >
        <div className="grid gap-1">
          <Label htmlFor="audit-action">Action</Label>
          <Input
            id="audit-action"
            className="w-56"
            list="audit-actions"
            placeholder="e.g. auth.login"
            value={action}
            onChange={(e) => setAction(e.target.value)}
          />
          <datalist id="audit-actions">
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-target">Target type</Label>
          <NativeSelect
            id="audit-target"
            className="w-48"
            value={url.target_type}
            onChange={(e) => setFilters({ target_type: e.target.value, action: action.trim() })}
          >
            <option value="">Any target</option>
            {AUDIT_TARGET_TYPES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-since">Since</Label>
          <Input
            id="audit-since"
            type="date"
            className="w-44"
            value={url.since}
            onChange={(e) => setFilters({ since: e.target.value, action: action.trim() })}
          />
        </div>
        <Button type="submit" variant="secondary">
          Apply
        </Button>
        {filtered && (
          <Button variant="ghost" onClick={() => setParams(new URLSearchParams())}>
            Clear filters
          </Button>
        )}
      </form>
      {url.actor_id !== "" && (
        <p className="mb-3 text-sm text-muted-foreground">Only events by user #{url.actor_id}.</p>
      )}

      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <LoadError error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <EmptyState
          title={filtered ? "No events match these filters" : "No audit events yet"}
          action={
            filtered && (
              <Button variant="outline" size="sm" onClick={() => setParams(new URLSearchParams())}>
                Clear filters
              </Button>
            )
          }
        >
          {filtered
            ? "Try another action, target type or an earlier date. The action filter matches whole names such as user.create."
            : "Sign-ins, changes to connections and users, and started operations are recorded here."}
        </EmptyState>
      ) : (
        <>
          <div className="overflow-x-auto rounded-xl border">
            <Table aria-label="Audit events">
              <TableHeader>
                <TableRow>
                  <TableHead>When</TableHead>
                  <TableHead>Who</TableHead>
                  <TableHead>Action</TableHead>
                  <TableHead>Target</TableHead>
                  <TableHead>IP</TableHead>
                  <TableHead>Details</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {list.data.items.map((e) => {
                  const path = auditTargetPath(e.target_type, e.target_id);
                  const target = e.target_id ? `${e.target_type} #${e.target_id}` : e.target_type;
                  return (
                    <TableRow key={e.id} data-testid="audit-row" data-action={e.action}>
                      <TableCell className="whitespace-nowrap" title={formatDate(e.created_at)}>
                        {formatRelative(e.created_at)}
                      </TableCell>
                      <TableCell className="max-w-56 truncate" title={e.actor_email}>
                        {e.actor_email || <span className="text-muted-foreground">—</span>}
                      </TableCell>
                      <TableCell>
                        <Badge variant={e.action.endsWith("_failed") ? "danger" : "outline"} className="font-mono">
                          {e.action}
                        </Badge>
                      </TableCell>
                      <TableCell className="whitespace-nowrap">
                        {path ? (
                          <Link className="underline-offset-4 hover:underline" to={path}>
                            {target}
                          </Link>
                        ) : (
                          target
                        )}
                      </TableCell>
                      <TableCell className="font-mono text-xs">{e.ip || "—"}</TableCell>
                      <TableCell className="max-w-80 text-xs text-muted-foreground">
                        {auditDetails(e.details).map((d) => (
                          <div key={d} className="break-words">
                            {d}
                          </div>
                        ))}
                      </TableCell>
                    </TableRow>
                  );
                })}
              </TableBody>
            </Table>
          </div>
          <Pagination
            page={url.page}
            perPage={PER_PAGE}
            total={list.data.total}
            onPage={(p) => setFilters({ page: p > 1 ? String(p) : "" })}
          />
        </>
      )}
    </div>
  );
}
