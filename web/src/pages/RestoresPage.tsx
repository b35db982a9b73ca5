import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api } from "@/api/endpoints";
import { keys, refreshWhileRunning, useConnections } from "@/api/queries";
import { EmptyState } from "@/components/EmptyState";
import { OperationList } from "@/components/OperationList";
import { PageHeader } from "@/components/PageHeader";
import { buttonVariants } from "@/components/ui/button";
import { connectionNames, nameOf } from "@/lib/connections";

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
      <OperationList
        kind="restores"
        list={list}
        page={pageNum}
        perPage={PER_PAGE}
        onPage={(p) => setParams({ page: String(p) })}
        columns={[
          {
            header: "Backup",
            cell: (r) => (
              <Link to={`/backups/${r.backup_operation_id}`} className="underline-offset-4 hover:underline">
                Backup #{r.backup_operation_id}
              </Link>
            ),
          },
          { header: "Target", cell: (r) => nameOf(names, r.destination_connection_id) },
        ]}
        empty={
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
        }
      />
    </div>
  );
}
