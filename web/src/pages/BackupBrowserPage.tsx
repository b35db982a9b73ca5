import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ChevronRight, File, Folder, RotateCcw, Search, X } from "lucide-react";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, useBackup, useConnections } from "@/api/queries";
import type { BackupEntry, BackupFolder, EntryQuery } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { PageHeader } from "@/components/PageHeader";
import { Pagination } from "@/components/Pagination";
import { LoadError, Loading } from "@/components/QueryState";
import { Button, buttonVariants } from "@/components/ui/button";
import { Checkbox, Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { connectionNames, nameOf, sourceName, sourceType } from "@/lib/connections";
import { keysFromState, restoreKeysState } from "@/lib/restoreKeys";
import { formatBytes, formatDate } from "@/lib/utils";

const PER_PAGE = 50;

/** The folders of a prefix, from the top: "a/b/" gives [["a", "a/"], ["b", "a/b/"]]. */
export function crumbsOf(prefix: string): [name: string, prefix: string][] {
  const out: [string, string][] = [];
  let at = 0;
  for (;;) {
    const i = prefix.indexOf("/", at);
    if (i < 0) break;
    out.push([prefix.slice(at, i) || "(empty name)", prefix.slice(0, i + 1)]);
    at = i + 1;
  }
  // A prefix that does not end with "/" (typed into the address) is its own last crumb.
  if (at < prefix.length) out.push([prefix.slice(at), prefix]);
  return out;
}

/** browseUrl is the browser's address at a folder (the state stays: it is the same page). */
export function browseUrl(id: number, prefix: string): string {
  return `/backups/${id}/browse${prefix ? `?${new URLSearchParams({ prefix }).toString()}` : ""}`;
}

/** The name of a folder below prefix ("a/b/" under "a/" is "b/"). */
function folderName(f: BackupFolder, prefix: string): string {
  return f.prefix.slice(prefix.length);
}

/** What an entry holds, in words: its content type, or a collection's documents. */
function kindOf(e: BackupEntry): string {
  if (e.documents !== undefined) return `${e.documents.toLocaleString()} ${e.documents === 1 ? "document" : "documents"}`;
  return e.content_type || "—";
}

/** The S3 key a restore of the entry names, when it is an object. */
function keyOf(e: BackupEntry): string | undefined {
  return e.key || undefined;
}

/**
 * BackupBrowserPage browses a completed backup's entries (the catalog's copy
 * of its manifest) folder by folder or by a search, and, for a backup of an
 * S3 bucket, lets an operator choose objects to restore: the choice is kept
 * while folders are opened and searches made, and goes to the restore form.
 */
export default function BackupBrowserPage() {
  const id = Number(useParams().id);
  const me = useMe();
  const navigate = useNavigate();
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const prefix = params.get("prefix") ?? "";
  const q = params.get("q") ?? "";
  const pageNum = Math.max(1, Number(params.get("page")) || 1);
  const backup = useBackup(id);
  const connections = useConnections();
  // Chosen keys and their sizes; a form sent back to change the choice brings it along.
  const [selected, setSelected] = useState<Map<string, number>>(() => new Map(keysFromState(location.state).map((k) => [k, 0])));
  const [search, setSearch] = useState(q);
  useEffect(() => setSearch(q), [q]);

  const query: EntryQuery = { prefix, q, page: pageNum, per_page: PER_PAGE };
  const completed = backup.data?.status === "completed";
  const entries = useQuery({
    queryKey: keys.backupEntries(id, query),
    queryFn: ({ signal }) => api.backupEntries(id, query, signal),
    enabled: completed,
    placeholderData: keepPreviousData,
  });

  if (!Number.isInteger(id) || id <= 0) return <LoadError error={new Error("This backup address is not valid.")} />;
  if (backup.isPending) return <Loading />;
  if (backup.isError) return <LoadError error={backup.error} onRetry={() => void backup.refetch()} />;
  const b = backup.data;
  const names = connectionNames(connections.data);
  const back = (
    <Link to={`/backups/${b.id}`} className={buttonVariants({ variant: "outline", size: "sm" })}>
      Back to backup #{b.id}
    </Link>
  );
  if (!completed) {
    return (
      <EmptyState title="Nothing to browse yet" action={back}>
        Backup #{b.id} is {b.status}; its entries are known once it has completed.
      </EmptyState>
    );
  }

  const isS3 = sourceType(names, b) === "s3";
  const selectable = isS3 && canWrite(me.data) && !b.pruned_at;
  const go = (next: { prefix?: string; q?: string; page?: number }) => {
    const p = new URLSearchParams();
    const nextPrefix = next.prefix ?? prefix;
    const nextQ = next.q ?? q;
    if (nextPrefix) p.set("prefix", nextPrefix);
    if (nextQ) p.set("q", nextQ);
    if (next.page && next.page > 1) p.set("page", String(next.page));
    setParams(p);
  };
  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    go({ q: search.trim(), page: 1 });
  };
  const toggle = (e: BackupEntry, on: boolean) => {
    const k = keyOf(e);
    if (!k) return;
    setSelected((old) => {
      const next = new Map(old);
      if (on) next.set(k, e.size);
      else next.delete(k);
      return next;
    });
  };

  const data = entries.data;
  const items = data?.items ?? [];
  const folders = !q && pageNum === 1 ? (data?.folders ?? []) : [];
  const pageKeys = items.map(keyOf).filter((k): k is string => k !== undefined);
  const allOnPage = pageKeys.length > 0 && pageKeys.every((k) => selected.has(k));
  const selectedBytes = [...selected.values()].reduce((a, n) => a + n, 0);
  const crumbs = crumbsOf(prefix);

  return (
    <div className="grid gap-4">
      <PageHeader
        title={`Browse backup #${b.id}`}
        description={`${sourceName(names, b)} → ${nameOf(names, b.destination_connection_id)}, completed ${formatDate(b.completed_at)}`}
        actions={back}
      />

      <nav aria-label="Folders" data-testid="breadcrumbs">
        <ol className="flex flex-wrap items-center gap-1 text-sm">
          <li>
            {prefix === "" ? (
              <span aria-current="page" className="font-medium">
                All entries
              </span>
            ) : (
              <Link to={browseUrl(b.id, "")} className="underline-offset-4 hover:underline">
                All entries
              </Link>
            )}
          </li>
          {crumbs.map(([name, to], i) => (
            <li key={to} className="flex items-center gap-1">
              <ChevronRight className="size-3 text-muted-foreground" aria-hidden="true" />
              {i === crumbs.length - 1 ? (
                <span aria-current="page" className="font-medium">
                  {name}
                </span>
              ) : (
                <Link to={browseUrl(b.id, to)} className="underline-offset-4 hover:underline">
                  {name}
                </Link>
              )}
            </li>
          ))}
        </ol>
      </nav>

      <form role="search" aria-label="Search entries" onSubmit={submitSearch} className="flex flex-wrap items-end gap-2">
        <div className="grid min-w-64 flex-1 gap-1">
          <Label htmlFor="entry-search">{prefix ? `Search paths under ${prefix}` : "Search paths"}</Label>
          <Input
            id="entry-search"
            type="search"
            value={search}
            placeholder="Part of a key or file name, any case"
            onChange={(e) => setSearch(e.target.value)}
          />
        </div>
        <Button type="submit" variant="outline">
          <Search aria-hidden="true" />
          Search
        </Button>
        {q && (
          <Button type="button" variant="ghost" onClick={() => go({ q: "", page: 1 })}>
            <X aria-hidden="true" />
            Clear search
          </Button>
        )}
      </form>

      {selectable && (
        <div
          className="sticky top-16 z-10 flex flex-wrap items-center gap-3 rounded-lg border bg-background/95 px-4 py-2 text-sm shadow-sm"
          data-testid="selection-bar"
          aria-live="polite"
        >
          <span data-testid="selection-count">
            {selected.size === 0
              ? "Choose objects to restore only those."
              : `${selected.size.toLocaleString()} ${selected.size === 1 ? "object" : "objects"} selected${selectedBytes > 0 ? ` (${formatBytes(selectedBytes)})` : ""}`}
          </span>
          {selected.size > 0 && (
            <details className="text-xs">
              <summary className="cursor-pointer text-muted-foreground">Show them</summary>
              <ul className="mt-1 max-h-40 overflow-auto font-mono" data-testid="selected-keys">
                {[...selected.keys()].sort().map((k) => (
                  <li key={k} className="break-all">
                    {k}
                  </li>
                ))}
              </ul>
            </details>
          )}
          <span className="ml-auto flex gap-2">
            {selected.size > 0 && (
              <Button size="sm" variant="ghost" onClick={() => setSelected(new Map())}>
                Clear selection
              </Button>
            )}
            <Button
              size="sm"
              disabled={selected.size === 0}
              onClick={() => void navigate(`/backups/${b.id}/restore`, { state: restoreKeysState(selected.keys()) })}
            >
              <RotateCcw aria-hidden="true" />
              {`Restore ${selected.size.toLocaleString()} selected…`}
            </Button>
          </span>
        </div>
      )}

      {q && (
        <p className="text-sm text-muted-foreground" data-testid="search-summary">
          Entries {prefix ? `under ${prefix} ` : ""}whose path contains “{q}”
          {data && !entries.isPlaceholderData ? `: ${data.total.toLocaleString()}` : "…"}
        </p>
      )}

      {entries.isPending ? (
        <Loading />
      ) : entries.isError ? (
        <LoadError error={entries.error} onRetry={() => void entries.refetch()} />
      ) : items.length === 0 && folders.length === 0 ? (
        <EmptyState title={q ? "No entries match" : "Nothing here"}>
          {q ? "Try another part of a path, or search from the top." : "This folder holds no entries."}
        </EmptyState>
      ) : (
        <>
          <Table
            aria-label={q ? "Search results" : prefix ? `Entries under ${prefix}` : "Entries"}
            aria-busy={entries.isPlaceholderData}
            className={entries.isPlaceholderData ? "opacity-60" : undefined}
          >
            <TableHeader>
              <TableRow>
                {selectable && (
                  <TableHead className="w-10">
                    <Checkbox
                      aria-label="Select every object on this page"
                      checked={allOnPage}
                      disabled={pageKeys.length === 0}
                      onChange={(ev) => items.forEach((e) => toggle(e, ev.target.checked))}
                    />
                  </TableHead>
                )}
                <TableHead>{q ? "Path" : "Name"}</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>Type</TableHead>
                <TableHead>SHA-256</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {folders.map((f) => (
                <TableRow key={f.prefix} data-testid="folder-row" data-prefix={f.prefix}>
                  {selectable && <TableCell />}
                  <TableCell>
                    <Link
                      to={browseUrl(b.id, f.prefix)}
                      className="inline-flex items-center gap-2 font-medium underline-offset-4 hover:underline"
                      title={`Open ${f.prefix}`}
                    >
                      <Folder className="size-4 text-muted-foreground" aria-hidden="true" />
                      <span className="break-all">{folderName(f, prefix)}</span>
                    </Link>
                  </TableCell>
                  <TableCell className="whitespace-nowrap text-right tabular-nums">{formatBytes(f.bytes)}</TableCell>
                  <TableCell className="text-muted-foreground">
                    {f.entries.toLocaleString()} {f.entries === 1 ? "entry" : "entries"}
                  </TableCell>
                  <TableCell />
                </TableRow>
              ))}
              {items.map((e) => {
                const k = keyOf(e);
                const shown = q ? e.path : e.path.slice(prefix.length);
                return (
                  <TableRow key={e.path} data-testid="entry-row" data-path={e.path}>
                    {selectable && (
                      <TableCell>
                        {k && (
                          <Checkbox
                            aria-label={`Select ${e.path}`}
                            checked={selected.has(k)}
                            onChange={(ev) => toggle(e, ev.target.checked)}
                          />
                        )}
                      </TableCell>
                    )}
                    <TableCell>
                      <span className="inline-flex items-center gap-2">
                        <File className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />
                        <span className="break-all font-mono text-xs" title={e.path}>
                          {shown}
                        </span>
                      </span>
                    </TableCell>
                    <TableCell className="whitespace-nowrap text-right tabular-nums">{formatBytes(e.size)}</TableCell>
                    <TableCell className="text-muted-foreground">{kindOf(e)}</TableCell>
                    <TableCell className="font-mono text-xs text-muted-foreground">
                      <abbr title={e.sha256} className="no-underline">
                        {e.sha256 ? `${e.sha256.slice(0, 12)}…` : "—"}
                      </abbr>
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
          {data && (data.total > PER_PAGE || pageNum > 1) && (
            <Pagination
              page={data.page || pageNum}
              perPage={data.per_page || PER_PAGE}
              total={data.total}
              onPage={(p) => go({ page: p })}
            />
          )}
          {isS3 && !selectable && !b.pruned_at && !canWrite(me.data) && (
            <p className="text-xs text-muted-foreground">Operators can choose objects here to restore only those.</p>
          )}
        </>
      )}
    </div>
  );
}
