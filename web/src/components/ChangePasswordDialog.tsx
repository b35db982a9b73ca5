import { useMutation } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import type { PasswordChange } from "@/api/types";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { fieldSentence } from "@/lib/fields";
import { describedBy, FormField } from "./FormField";

/** Shortest password the server accepts. */
export const MIN_PASSWORD_LENGTH = 8;

/** Props of ChangePasswordDialog. */
export interface ChangePasswordDialogProps {
  open: boolean;
  onOpenChange: (open: boolean) => void;
}

/**
 * ChangePasswordDialog lets the signed-in user change their own password
 * (POST /auth/password). The server ends every other session and renews this
 * one, so the user stays signed in here.
 */
export function ChangePasswordDialog({ open, onOpenChange }: ChangePasswordDialogProps) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Change your password</DialogTitle>
          <DialogDescription>Other browsers and devices signed in as you are signed out.</DialogDescription>
        </DialogHeader>
        {open && <ChangePasswordForm onDone={() => onOpenChange(false)} onCancel={() => onOpenChange(false)} />}
      </DialogContent>
    </Dialog>
  );
}

/** Props of ChangePasswordForm. */
export interface ChangePasswordFormProps {
  onDone: () => void;
  onCancel?: () => void;
}

/** ChangePasswordForm is the form inside ChangePasswordDialog. */
export function ChangePasswordForm({ onDone, onCancel }: ChangePasswordFormProps) {
  const uid = useId();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});

  const change = useMutation({
    mutationFn: (input: PasswordChange) => api.changeOwnPassword(input),
    meta: { skipToast: true },
    onSuccess: () => {
      toast.success("Your password was changed.");
      onDone();
    },
  });

  const apiFields = isApiError(change.error) ? change.error.fields : {};
  const errorFor = (key: string, label: string) => local[key] ?? fieldSentence(label, apiFields[key]);
  const formError = change.error && Object.keys(apiFields).length === 0 ? errorMessage(change.error) : null;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    if (current === "") errors.current_password = "Enter your current password.";
    if (next.length < MIN_PASSWORD_LENGTH) errors.new_password = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
    else if (next !== confirm) errors.confirm = "The two new passwords differ; type the same one twice.";
    setLocal(errors);
    if (Object.keys(errors).length > 0) return;
    change.mutate({ current_password: current, new_password: next });
  };

  const ids = { current: `${uid}-current`, next: `${uid}-new`, confirm: `${uid}-confirm` };
  const currentErr = errorFor("current_password", "The current password");
  const nextErr = errorFor("new_password", "The new password");
  const confirmErr = local.confirm;

  return (
    <form onSubmit={submit} noValidate className="grid gap-4" aria-label="Change password">
      {formError && <Alert variant="destructive">{formError}</Alert>}
      <FormField id={ids.current} label="Current password" error={currentErr}>
        <Input
          id={ids.current}
          type="password"
          autoComplete="current-password"
          value={current}
          aria-invalid={currentErr ? true : undefined}
          aria-describedby={describedBy(ids.current, currentErr, undefined)}
          onChange={(e) => setCurrent(e.target.value)}
        />
      </FormField>
      <FormField id={ids.next} label="New password" error={nextErr} help={`At least ${MIN_PASSWORD_LENGTH} characters.`}>
        <Input
          id={ids.next}
          type="password"
          autoComplete="new-password"
          value={next}
          aria-invalid={nextErr ? true : undefined}
          aria-describedby={describedBy(ids.next, nextErr, `At least ${MIN_PASSWORD_LENGTH} characters.`)}
          onChange={(e) => setNext(e.target.value)}
        />
      </FormField>
      <FormField id={ids.confirm} label="New password again" error={confirmErr}>
        <Input
          id={ids.confirm}
          type="password"
          autoComplete="new-password"
          value={confirm}
          aria-invalid={confirmErr ? true : undefined}
          aria-describedby={describedBy(ids.confirm, confirmErr, undefined)}
          onChange={(e) => setConfirm(e.target.value)}
        />
      </FormField>
      <DialogFooter>
        {onCancel && (
          <Button variant="outline" onClick={onCancel}>
            Cancel
          </Button>
        )}
        <Button type="submit" disabled={change.isPending}>
          {change.isPending ? "Changing…" : "Change password"}
        </Button>
      </DialogFooter>
    </form>
  );
}
