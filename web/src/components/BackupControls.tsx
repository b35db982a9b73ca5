import { Ban, Pause, Play } from "lucide-react";
import { useState } from "react";
import type { OperationKind, OperationStatus } from "@/api/types";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";
import { allowedActions, OPERATION_NOUNS, type OperationAction } from "@/lib/status";

// What cancelling does, per kind, for the confirmation.
const CANCEL_EFFECTS: Record<OperationKind, string> = {
  backups: "The partial archive is deleted and the backup cannot be resumed afterwards.",
  restores: "The restore stops; data already written to the target stays there.",
  verifications: "The verification stops without a result; the backup and its archive are not changed.",
};

/** Props of BackupControls. */
export interface BackupControlsProps {
  status: OperationStatus;
  /** "backups" shows pause/resume/cancel; "restores" and "verifications" show cancel only. */
  kind?: OperationKind;
  /** The action being sent now; every control is disabled meanwhile. */
  busy?: OperationAction | null;
  /** False hides the controls entirely (viewer role: the server would refuse them). */
  canControl?: boolean;
  onAction: (action: OperationAction) => void;
}

/**
 * BackupControls are the Pause / Resume / Cancel buttons of an operation,
 * each enabled only where the status allows it. Cancel asks first.
 */
export function BackupControls({ status, kind = "backups", busy = null, canControl = true, onAction }: BackupControlsProps) {
  const [confirmCancel, setConfirmCancel] = useState(false);
  const allowed = allowedActions(status, kind);
  const enabled = (a: OperationAction) => busy === null && allowed.has(a);
  const noun = OPERATION_NOUNS[kind];
  if (!canControl) return null;

  return (
    <div className="flex flex-wrap gap-2" role="group" aria-label={`${noun} controls`}>
      {kind === "backups" && (
        <>
          <Button variant="outline" size="sm" disabled={!enabled("pause")} onClick={() => onAction("pause")}>
            <Pause aria-hidden="true" />
            {busy === "pause" ? "Pausing…" : "Pause"}
          </Button>
          <Button variant="outline" size="sm" disabled={!enabled("resume")} onClick={() => onAction("resume")}>
            <Play aria-hidden="true" />
            {busy === "resume" ? "Resuming…" : "Resume"}
          </Button>
        </>
      )}
      <Button variant="outline" size="sm" disabled={!enabled("cancel")} onClick={() => setConfirmCancel(true)}>
        <Ban aria-hidden="true" />
        {busy === "cancel" ? "Cancelling…" : "Cancel"}
      </Button>
      <Dialog open={confirmCancel} onOpenChange={setConfirmCancel}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Cancel this {noun}?</DialogTitle>
            <DialogDescription>
              {CANCEL_EFFECTS[kind]}
            </DialogDescription>
          </DialogHeader>
          <DialogFooter>
            <Button variant="outline" onClick={() => setConfirmCancel(false)}>
              Keep running
            </Button>
            <Button
              variant="destructive"
              onClick={() => {
                setConfirmCancel(false);
                onAction("cancel");
              }}
            >
              Cancel {noun}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
