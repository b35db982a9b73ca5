import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Plus, UserCheck, UserX } from "lucide-react";
import { useId, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { useMe } from "@/api/auth";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys } from "@/api/queries";
import type { AdminUser, UserInput, UserRole, UserUpdate } from "@/api/types";
import { MIN_PASSWORD_LENGTH } from "@/components/ChangePasswordDialog";
import { EmptyState } from "@/components/EmptyState";
import { describedBy, FormField } from "@/components/FormField";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { roleLabel, USER_ROLES, UserForm } from "@/components/UserForm";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { fieldSentence } from "@/lib/fields";
import { formatDate, formatRelative } from "@/lib/utils";

/** UsersPage lets administrators add users, change roles, disable accounts and reset passwords. */
export default function UsersPage() {
  const me = useMe();
  const qc = useQueryClient();
  const users = useQuery({ queryKey: keys.users, queryFn: api.listUsers });
  const [creating, setCreating] = useState(false);
  const [toDisable, setToDisable] = useState<AdminUser | null>(null);
  const [toReset, setToReset] = useState<AdminUser | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const refresh = (u: AdminUser) => {
    void qc.invalidateQueries({ queryKey: keys.users });
    if (u.id === me.data?.id) void qc.invalidateQueries({ queryKey: keys.me });
  };

  const create = useMutation({
    mutationFn: (input: UserInput) => api.createUser(input),
    meta: { skipToast: true },
    onSuccess: (u) => {
      toast.success(`Created ${u.email} (${roleLabel(u.role)}).`);
      setCreating(false);
      refresh(u);
    },
  });

  const update = useMutation({
    mutationFn: ({ user, change }: { user: AdminUser; change: UserUpdate }) => api.updateUser(user.id, change),
    meta: { skipToast: true },
    onMutate: () => setActionError(null),
    onSuccess: (u, { user, change }) => {
      if (change.disabled === true) toast.success(`Disabled ${u.email}; their sessions have ended.`);
      else if (change.disabled === false) toast.success(`Enabled ${u.email}.`);
      else toast.success(`${u.email} is now ${roleLabel(u.role).toLowerCase()}.`);
      setToDisable(null);
      refresh(user);
    },
    onError: (err) => {
      setToDisable(null);
      setActionError(errorMessage(err));
    },
  });

  const createErr = create.error;
  const createFields = isApiError(createErr) ? createErr.fields : {};

  return (
    <div>
      <PageHeader
        title="Users"
        description="Who can sign in to coffer, and what they may do."
        actions={
          <Button
            onClick={() => {
              create.reset();
              setCreating(true);
            }}
          >
            <Plus aria-hidden="true" />
            New user
          </Button>
        }
      />

      {actionError && (
        <Alert variant="destructive" className="mb-4 flex items-start justify-between gap-2" data-testid="users-error">
          <span>{actionError}</span>
          <Button size="sm" variant="ghost" onClick={() => setActionError(null)}>
            Dismiss
          </Button>
        </Alert>
      )}

      {users.isPending ? (
        <Loading />
      ) : users.isError ? (
        <LoadError error={users.error} onRetry={() => void users.refetch()} />
      ) : users.data.length === 0 ? (
        <EmptyState title="No users">Add a user to let someone sign in.</EmptyState>
      ) : (
        <div className="rounded-xl border">
          <Table aria-label="Users">
            <TableHeader>
              <TableRow>
                <TableHead>Email</TableHead>
                <TableHead>Role</TableHead>
                <TableHead>Status</TableHead>
                <TableHead>Added</TableHead>
                <TableHead className="text-right">Actions</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {users.data.map((u) => (
                <TableRow key={u.id} data-testid="user-row" data-email={u.email}>
                  <TableCell className="font-medium">
                    {u.email}
                    {u.id === me.data?.id && <span className="ml-2 text-xs text-muted-foreground">(you)</span>}
                  </TableCell>
                  <TableCell>
                    <NativeSelect
                      aria-label={`Role of ${u.email}`}
                      className="h-8 w-44"
                      value={u.role}
                      disabled={update.isPending}
                      onChange={(e) => update.mutate({ user: u, change: { role: e.target.value as UserRole } })}
                    >
                      {USER_ROLES.map((r) => (
                        <option key={r.value} value={r.value}>
                          {r.label}
                        </option>
                      ))}
                    </NativeSelect>
                  </TableCell>
                  <TableCell>
                    {u.disabled ? <Badge variant="warning">Disabled</Badge> : <Badge variant="success">Active</Badge>}
                  </TableCell>
                  <TableCell title={formatDate(u.created_at)}>{formatRelative(u.created_at)}</TableCell>
                  <TableCell>
                    <div className="flex flex-wrap justify-end gap-2">
                      <Button size="sm" variant="outline" onClick={() => setToReset(u)} aria-label={`Reset the password of ${u.email}`}>
                        <KeyRound aria-hidden="true" />
                        Reset password
                      </Button>
                      {u.disabled ? (
                        <Button
                          size="sm"
                          variant="outline"
                          disabled={update.isPending}
                          aria-label={`Enable ${u.email}`}
                          onClick={() => update.mutate({ user: u, change: { disabled: false } })}
                        >
                          <UserCheck aria-hidden="true" />
                          Enable
                        </Button>
                      ) : (
                        <Button
                          size="sm"
                          variant="ghost"
                          className="text-destructive"
                          disabled={update.isPending}
                          aria-label={`Disable ${u.email}`}
                          onClick={() => setToDisable(u)}
                        >
                          <UserX aria-hidden="true" />
                          Disable
                        </Button>
                      )}
                    </div>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}

      <Dialog open={creating} onOpenChange={setCreating}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>New user</DialogTitle>
            <DialogDescription>The user signs in with this email and password.</DialogDescription>
          </DialogHeader>
          {creating && (
            <UserForm
              fieldErrors={createFields}
              formError={createErr && Object.keys(createFields).length === 0 ? errorMessage(createErr) : null}
              submitting={create.isPending}
              onSubmit={(input) => create.mutate(input)}
              onCancel={() => setCreating(false)}
            />
          )}
        </DialogContent>
      </Dialog>

      <Dialog open={toDisable !== null} onOpenChange={(open) => !open && setToDisable(null)}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Disable {toDisable?.email}?</DialogTitle>
            <DialogDescription>
              Their sessions end at once and their API tokens stop working until the account is enabled again.
            </DialogDescription>
          </DialogHeader>
          <DialogFooter>
            <Button variant="outline" onClick={() => setToDisable(null)}>
              Keep active
            </Button>
            <Button
              variant="destructive"
              disabled={update.isPending}
              onClick={() => toDisable && update.mutate({ user: toDisable, change: { disabled: true } })}
            >
              {update.isPending ? "Disabling…" : "Disable user"}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>

      <Dialog open={toReset !== null} onOpenChange={(open) => !open && setToReset(null)}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Reset the password of {toReset?.email}</DialogTitle>
            <DialogDescription>Their sessions end; they sign in again with the new password.</DialogDescription>
          </DialogHeader>
          {toReset && <ResetPasswordForm user={toReset} onDone={() => setToReset(null)} />}
        </DialogContent>
      </Dialog>
    </div>
  );
}

function ResetPasswordForm({ user, onDone }: { user: AdminUser; onDone: () => void }) {
  const uid = useId();
  const [password, setPassword] = useState("");
  const [local, setLocal] = useState<string | null>(null);
  const reset = useMutation({
    mutationFn: (pw: string) => api.resetUserPassword(user.id, pw),
    meta: { skipToast: true },
    onSuccess: () => {
      toast.success(`New password set for ${user.email}.`);
      onDone();
    },
  });
  const apiFields = isApiError(reset.error) ? reset.error.fields : {};
  const err = local ?? fieldSentence("The password", apiFields.password) ?? (reset.error ? errorMessage(reset.error) : undefined);
  const id = `${uid}-password`;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (password.length < MIN_PASSWORD_LENGTH) {
      setLocal(`Use at least ${MIN_PASSWORD_LENGTH} characters.`);
      return;
    }
    setLocal(null);
    reset.mutate(password);
  };
  return (
    <form onSubmit={submit} noValidate className="grid gap-4" aria-label="Reset password">
      <FormField id={id} label="New password" error={err} required>
        <Input
          id={id}
          type="password"
          autoComplete="new-password"
          value={password}
          aria-required
          aria-invalid={err ? true : undefined}
          aria-describedby={describedBy(id, err, undefined)}
          onChange={(e) => setPassword(e.target.value)}
        />
      </FormField>
      <DialogFooter>
        <Button variant="outline" onClick={onDone}>
          Cancel
        </Button>
        <Button type="submit" disabled={reset.isPending}>
          {reset.isPending ? "Saving…" : "Set password"}
        </Button>
      </DialogFooter>
    </form>
  );
}
