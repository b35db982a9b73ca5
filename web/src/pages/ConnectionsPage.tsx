import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Plus } from "lucide-react";
import { useState } from "react";
import { Link } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { errorMessage } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections } from "@/api/queries";
import type { Connection } from "@/api/types";
import { ConnectionCard } from "@/components/ConnectionCard";
import { EmptyState } from "@/components/EmptyState";
import { OAuthNotice } from "@/components/OAuthNotice";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";

/** ConnectionsPage lists connections with health, last validation, test and delete. */
export default function ConnectionsPage() {
  const me = useMe();
  const writable = canWrite(me.data);
  const qc = useQueryClient();
  const list = useConnections();
  const [testingId, setTestingId] = useState<number | null>(null);
  const [toDelete, setToDelete] = useState<Connection | null>(null);

  const test = useMutation({
    mutationFn: (c: Connection) => api.testConnection(c.id),
    onMutate: (c) => setTestingId(c.id),
    onSettled: () => {
      setTestingId(null);
      void qc.invalidateQueries({ queryKey: keys.connections });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
    onSuccess: (r, c) => {
      if (r.ok) toast.success(`${c.name}: ${r.message || "connection works."}`);
      else toast.error(`${c.name}: ${r.message || "connection failed."}`);
    },
  });

  const del = useMutation({
    mutationFn: (c: Connection) => api.deleteConnection(c.id),
    meta: { skipToast: true },
    onSuccess: (_r, c) => {
      toast.success(`Deleted ${c.name}.`);
      setToDelete(null);
      void qc.invalidateQueries({ queryKey: keys.connections });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
    },
  });

  return (
    <div>
      <PageHeader
        title="Connections"
        description="Where backups come from and where archives go."
        actions={
          writable && (
            <Link to="/connections/new" className={buttonVariants()}>
              <Plus aria-hidden="true" />
              New connection
            </Link>
          )
        }
      />
      <OAuthNotice />
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <LoadError error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <EmptyState
          title="No connections yet"
          action={
            writable && (
              <Link to="/connections/new" className={buttonVariants()}>
                Add your first connection
              </Link>
            )
          }
        >
          A backup needs a source (S3 bucket or MongoDB) and a destination (S3, Google Drive or a local directory).
        </EmptyState>
      ) : (
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
          {list.data.map((c) => (
            <ConnectionCard
              key={c.id}
              connection={c}
              canEdit={writable}
              testing={testingId === c.id}
              onTest={() => test.mutate(c)}
              onDelete={() => {
                del.reset();
                setToDelete(c);
              }}
            />
          ))}
        </div>
      )}

      <Dialog open={toDelete !== null} onOpenChange={(open) => !open && setToDelete(null)}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Delete {toDelete?.name}?</DialogTitle>
            <DialogDescription>
              The connection and its stored credentials are removed. Archives already written stay where they are.
            </DialogDescription>
          </DialogHeader>
          {del.isError && (
            <Alert variant="destructive" data-testid="delete-error">
              {errorMessage(del.error)}
            </Alert>
          )}
          <DialogFooter>
            <Button variant="outline" onClick={() => setToDelete(null)}>
              Keep it
            </Button>
            <Button variant="destructive" disabled={del.isPending} onClick={() => toDelete && del.mutate(toDelete)}>
              {del.isPending ? "Deleting…" : "Delete connection"}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
