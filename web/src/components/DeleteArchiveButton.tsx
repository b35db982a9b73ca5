import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Trash2 } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";
import { errorMessage } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys } from "@/api/queries";
import type { BackupOperation } from "@/api/types";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";

/** DeleteArchiveButton deletes a completed backup's archive and sidecar after a confirmation. */
export function DeleteArchiveButton({ backup }: { backup: BackupOperation }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const del = useMutation({
    mutationFn: () => api.deleteBackup(backup.id),
    meta: { skipToast: true },
    onSuccess: () => {
      toast.success(`The archive of backup #${backup.id} was deleted.`);
      setOpen(false);
      void qc.invalidateQueries({ queryKey: keys.backupsAll });
      void qc.invalidateQueries({ queryKey: keys.plans });
    },
  });
  return (
    <>
      <Button size="sm" variant="outline" onClick={() => setOpen(true)}>
        <Trash2 aria-hidden="true" />
        Delete archive…
      </Button>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Delete the archive of backup #{backup.id}?</DialogTitle>
            <DialogDescription>
              The archive and its checksum file are removed from the destination; the backup stays listed with its log but
              can no longer be restored.
            </DialogDescription>
          </DialogHeader>
          {del.isError && <Alert variant="destructive">{errorMessage(del.error)}</Alert>}
          <DialogFooter>
            <Button variant="outline" onClick={() => setOpen(false)}>
              Keep it
            </Button>
            <Button variant="destructive" onClick={() => del.mutate()} disabled={del.isPending}>
              Delete archive
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </>
  );
}
