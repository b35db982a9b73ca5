import type { UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "react-router";
import type { BackupOperation, ListPage, OperationKind, OperationStatus } from "@/api/types";
import { OperationProgress } from "@/components/OperationProgress";
import { OperationStatusBadge } from "@/components/OperationStatusBadge";
import { Pagination } from "@/components/Pagination";
import { LoadError, Loading } from "@/components/QueryState";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { OPERATION_NOUNS } from "@/lib/status";
import { formatDate } from "@/lib/utils";

/** What every operation kind's rows have. */
export type OperationRow = Pick<BackupOperation, "id" | "progress" | "started_at" | "completed_at" | "created_at"> & {
  status: OperationStatus;
};

/** One column a kind adds to the table. */
export interface OperationColumn<T> {
  header: ReactNode;
  cell: (op: T) => ReactNode;
  /** Classes of the cells (the header keeps its own). */
  className?: string;
}

/** Props of OperationTable. */
export interface OperationTableProps<T extends OperationRow> {
  kind: OperationKind;
  items: T[];
  /** The kind's columns between the status and the progress. */
  columns: OperationColumn<T>[];
  /** The kind's columns between the progress and the creation time. */
  trailing?: OperationColumn<T>[];
}

/**
 * OperationTable lists operations of one kind: number (a link to the
 * operation's page), status, the kind's columns, progress, and creation
 * time. Each row is data-testid "<kind>-row".
 */
export function OperationTable<T extends OperationRow>({ kind, items, columns, trailing = [] }: OperationTableProps<T>) {
  const head = (c: OperationColumn<T>, i: number) => <TableHead key={i}>{c.header}</TableHead>;
  const cell = (op: T) => (c: OperationColumn<T>, i: number) => (
    <TableCell key={i} className={c.className}>
      {c.cell(op)}
    </TableCell>
  );
  return (
    <Table>
      <TableHeader>
        <TableRow>
          <TableHead>#</TableHead>
          <TableHead>Status</TableHead>
          {columns.map(head)}
          <TableHead className="min-w-40">Progress</TableHead>
          {trailing.map(head)}
          <TableHead>Created</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {items.map((op) => (
          <TableRow key={op.id} data-testid={`${OPERATION_NOUNS[kind]}-row`}>
            <TableCell>
              <Link to={`/${kind}/${op.id}`} className="font-medium underline-offset-4 hover:underline">
                #{op.id}
              </Link>
            </TableCell>
            <TableCell>
              <OperationStatusBadge status={op.status} />
            </TableCell>
            {columns.map(cell(op))}
            <TableCell>
              <OperationProgress
                progress={op.progress}
                status={op.status}
                startedAt={op.started_at}
                completedAt={op.completed_at}
                compact
              />
            </TableCell>
            {trailing.map(cell(op))}
            <TableCell className="whitespace-nowrap text-muted-foreground">{formatDate(op.created_at)}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

/** Props of OperationList. */
export interface OperationListProps<T extends OperationRow> extends Omit<OperationTableProps<T>, "items"> {
  /** The page of the list being shown. */
  list: UseQueryResult<ListPage<T>>;
  /** What shows when the page holds nothing. */
  empty: ReactNode;
  /** The page asked for and its size, until the server says. */
  page: number;
  perPage: number;
  onPage: (page: number) => void;
}

/** OperationList is one page of a list of operations: loading, error, empty, or the table and pagination. */
export function OperationList<T extends OperationRow>({ list, empty, page, perPage, onPage, ...table }: OperationListProps<T>) {
  if (list.isPending) return <Loading />;
  if (list.isError) return <LoadError error={list.error} onRetry={() => void list.refetch()} />;
  if (list.data.items.length === 0) return <>{empty}</>;
  return (
    <>
      <OperationTable {...table} items={list.data.items} />
      <Pagination
        page={list.data.page || page}
        perPage={list.data.per_page || perPage}
        total={list.data.total}
        onPage={onPage}
      />
    </>
  );
}
