import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api } from "@/api/endpoints";
import { keys, refreshWhileRunning, useConnections } from "@/api/queries";
import { EmptyState } from "@/components/EmptyState";
import { OperationProgress } from "@/components/OperationProgress";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { PageHeader } from "@/components/PageHeader";
import { Pagination } from "@/components/Pagination";
import { LoadError, Loading } from "@/components/QueryState";
import { buttonVariants } from "@/components/ui/button";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { connectionNames, nameOf } from "@/lib/connections";
import { formatDate } from "@/lib/utils";

const PER_PAGE = 20;

/** RestoresPage lists restores, newest first, with pagination. */
export default function RestoresPage() {
  const [params, setParams] = useSearchParams();
  const pageNum = Math.max(1, Number(params.get("page")) || 1);
  const connections = useConnections();
  const names = connectionNames(connections.data);
  const list = useQuery({
    queryKey: keys.restores(pageNum),
    queryFn: () => api.listRestores(pageNum, PER_PAGE),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => refreshWhileRunning(q.state.data?.items),
  });

  return (
    <div>
      <PageHeader title="Restores" description="Start a restore from a completed backup's page." />
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <LoadError error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <EmptyState
          title="No restores yet"
          action={
            <Link to="/backups?status=completed" className={buttonVariants()}>
              Find a completed backup
            </Link>
          }
        >
          Open a completed backup and choose “Restore…” to bring its data back.
        </EmptyState>
      ) : (
        <>
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead>#</TableHead>
                <TableHead>Status</TableHead>
                <TableHead>Backup</TableHead>
                <TableHead>Target</TableHead>
                <TableHead className="min-w-40">Progress</TableHead>
                <TableHead>Created</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {list.data.items.map((r) => (
                <TableRow key={r.id} data-testid="restore-row">
                  <TableCell>
                    <Link to={`/restores/${r.id}`} className="font-medium underline-offset-4 hover:underline">
                      #{r.id}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <OperationStatusBadge status={r.status} />
                  </TableCell>
                  <TableCell>
                    <Link to={`/backups/${r.backup_operation_id}`} className="underline-offset-4 hover:underline">
                      Backup #{r.backup_operation_id}
                    </Link>
                  </TableCell>
                  <TableCell>{nameOf(names, r.destination_connection_id)}</TableCell>
                  <TableCell>
                    <OperationProgress
                      progress={r.progress}
                      status={r.status}
                      startedAt={r.started_at}
                      completedAt={r.completed_at}
                      compact
                    />
                  </TableCell>
                  <TableCell className="whitespace-nowrap text-muted-foreground">{formatDate(r.created_at)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          <Pagination
            page={list.data.page || pageNum}
            perPage={list.data.per_page || PER_PAGE}
            total={list.data.total}
            onPage={(p) => setParams({ page: String(p) })}
          />
        </>
      )}
    </div>
  );
}
