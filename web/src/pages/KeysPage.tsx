import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Copy, Plus, Trash2 } from "lucide-react";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { isAdmin, useMe } from "@/api/auth";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useEncryptionKeys } from "@/api/queries";
import type { EncryptionKey, EncryptionKeyInput } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { FormField } from "@/components/FormField";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatDate, formatRelative } from "@/lib/utils";

/** How a new key is made: coffer generates the pair, the user pastes a recipient, or a passphrase. */
export type KeyKind = "generate" | "recipient" | "passphrase";

/** keyInput turns the form into the API's body. */
export function keyInput(name: string, kind: KeyKind, recipient: string, keep: boolean, passphrase: string): EncryptionKeyInput {
  switch (kind) {
    case "generate":
      return { name, type: "x25519", generate: true, keep_identity: keep };
    case "recipient":
      return { name, type: "x25519", recipient: recipient.trim() };
    case "passphrase":
      return { name, type: "passphrase", passphrase };
  }
}

/** What a restore of an archive encrypted with k needs. */
export function keyNeeds(k: EncryptionKey): string {
  if (k.type === "passphrase") return "Passphrase kept by coffer";
  return k.keeps_identity ? "Identity kept by coffer" : "Identity kept offline";
}

/**
 * KeysPage lists the age keys archives can be encrypted to. Administrators
 * add keys (a generated identity is shown once, here) and delete unused ones.
 */
export default function KeysPage() {
  const me = useMe();
  const admin = isAdmin(me.data);
  const qc = useQueryClient();
  const list = useEncryptionKeys();
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<EncryptionKey | null>(null);
  const [toDelete, setToDelete] = useState<EncryptionKey | null>(null);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<KeyKind>("generate");
  const [recipient, setRecipient] = useState("");
  const [keep, setKeep] = useState(false);
  const [passphrase, setPassphrase] = useState("");

  const create = useMutation({
    mutationFn: (input: EncryptionKeyInput) => api.createKey(input),
    meta: { skipToast: true },
    onSuccess: (k) => {
      void qc.invalidateQueries({ queryKey: keys.encryptionKeys });
      setCreating(false);
      setName("");
      setRecipient("");
      setPassphrase("");
      if (k.identity) setShown(k);
      else toast.success(`Added key ${k.name}.`);
    },
  });
  const remove = useMutation({
    mutationFn: (k: EncryptionKey) => api.deleteKey(k.id),
    meta: { skipToast: true },
    onSuccess: (_, k) => {
      toast.success(`Deleted key ${k.name}.`);
      setToDelete(null);
      void qc.invalidateQueries({ queryKey: keys.encryptionKeys });
    },
    onError: (err) => toast.error(errorMessage(err)),
  });
  const fields = isApiError(create.error) ? (create.error.fields ?? {}) : {};
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(keyInput(name.trim(), kind, recipient, keep, passphrase));
  };

  return (
    <div>
      <PageHeader
        title="Encryption keys"
        description="Archives encrypted with age: the destination never sees a plaintext byte, and age -d opens them without coffer."
        actions={
          admin && (
            <Button
              onClick={() => {
                create.reset();
                setCreating(true);
              }}
            >
              <Plus aria-hidden="true" />
              New key
            </Button>
          )
        }
      />
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <LoadError error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.length === 0 ? (
        <EmptyState title="No keys">
          {admin ? "Add a key, then choose it in a backup or a plan to encrypt its archives." : "An administrator has not added any key yet."}
        </EmptyState>
      ) : (
        <div className="rounded-xl border">
          <Table aria-label="Encryption keys">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Type</TableHead>
                <TableHead>Recipient</TableHead>
                <TableHead>Restores need</TableHead>
                <TableHead>Added</TableHead>
                {admin && <TableHead className="text-right">Actions</TableHead>}
              </TableRow>
            </TableHeader>
            <TableBody>
              {list.data.map((k) => (
                <TableRow key={k.id} data-testid="key-row" data-name={k.name}>
                  <TableCell className="font-medium">{k.name}</TableCell>
                  <TableCell>{k.type === "x25519" ? "X25519" : "Passphrase"}</TableCell>
                  <TableCell className="max-w-72 truncate font-mono text-xs" title={k.recipient}>
                    {k.recipient ?? "—"}
                  </TableCell>
                  <TableCell>
                    <Badge variant={k.type === "x25519" && !k.keeps_identity ? "warning" : "info"}>{keyNeeds(k)}</Badge>
                  </TableCell>
                  <TableCell title={formatDate(k.created_at)}>{formatRelative(k.created_at)}</TableCell>
                  {admin && (
                    <TableCell className="text-right">
                      <Button size="sm" variant="ghost" className="text-destructive" aria-label={`Delete ${k.name}`} onClick={() => setToDelete(k)}>
                        <Trash2 aria-hidden="true" />
                        Delete
                      </Button>
                    </TableCell>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}

      {/* One dialog: the form, then (for a generated key) its identity, so
          no second modal opens while the first one closes. */}
      <Dialog
        open={creating || shown !== null}
        onOpenChange={(open) => {
          if (!open) {
            setCreating(false);
            setShown(null);
          }
        }}
      >
        <DialogContent>
          {shown !== null ? (
            <>
              <DialogHeader>
                <DialogTitle>Keep this identity safe</DialogTitle>
                <DialogDescription>
                  {shown?.keeps_identity
                    ? "coffer keeps a sealed copy, but keep this one offline too: it opens every archive of this key, with or without coffer."
                    : "This is the only time it is shown. Without it no archive of this key can be restored, by coffer or anyone."}
                </DialogDescription>
              </DialogHeader>
              <pre data-testid="new-identity" className="overflow-x-auto rounded-md bg-muted p-3 font-mono text-xs select-all">
                {shown?.identity}
              </pre>
              <DialogFooter>
                <Button
                  variant="outline"
                  onClick={() => {
                    void navigator.clipboard?.writeText(shown?.identity ?? "");
                    toast.success("Identity copied.");
                  }}
                >
                  <Copy aria-hidden="true" />
                  Copy
                </Button>
                <Button onClick={() => setShown(null)}>I have saved it</Button>
              </DialogFooter>
            </>
          ) : (
            <>
              <DialogHeader>
                <DialogTitle>New encryption key</DialogTitle>
                <DialogDescription>Backups and plans that choose it are encrypted with age before they leave coffer.</DialogDescription>
              </DialogHeader>
              <form onSubmit={submit} noValidate className="grid gap-4" aria-label="New encryption key">
                {create.isError && Object.keys(fields).length === 0 && <Alert variant="destructive">{errorMessage(create.error)}</Alert>}
                <FormField id="key-name" label="Name" error={fields.name} required>
                  <Input id="key-name" value={name} onChange={(e) => setName(e.target.value)} />
                </FormField>
                <FormField id="key-kind" label="Kind" error={fields.type}>
                  <NativeSelect id="key-kind" value={kind} onChange={(e) => setKind(e.target.value as KeyKind)}>
                    <option value="generate">Generate an age key pair</option>
                    <option value="recipient">Paste a recipient (age1…) made with age-keygen</option>
                    <option value="passphrase">Passphrase</option>
                  </NativeSelect>
                </FormField>
                {kind === "generate" && (
                  <FormField
                    id="key-keep"
                    label="Keep the identity in coffer"
                    error={fields.keep_identity}
                    help="Kept: restores need nothing more. Not kept: you hold the only copy, and a stolen coffer server cannot read a single backup."
                  >
                    <label className="flex items-center gap-2 text-sm">
                      <input id="key-keep" type="checkbox" checked={keep} onChange={(e) => setKeep(e.target.checked)} />
                      Keep it, sealed with the server key
                    </label>
                  </FormField>
                )}
                {kind === "recipient" && (
                  <FormField id="key-recipient" label="Recipient" error={fields.recipient} required help="The public key age-keygen prints; its identity stays with you.">
                    <Input id="key-recipient" className="font-mono" value={recipient} onChange={(e) => setRecipient(e.target.value)} placeholder="age1…" />
                  </FormField>
                )}
                {kind === "passphrase" && (
                  <FormField id="key-passphrase" label="Passphrase" error={fields.passphrase} required help="At least 12 characters; age -d asks for it to open an archive by hand.">
                    <Input id="key-passphrase" type="password" autoComplete="new-password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} />
                  </FormField>
                )}
                <DialogFooter>
                  <Button type="button" variant="outline" onClick={() => setCreating(false)}>
                    Cancel
                  </Button>
                  <Button type="submit" disabled={create.isPending}>
                    {create.isPending ? "Adding…" : "Add key"}
                  </Button>
                </DialogFooter>
              </form>
            </>
          )}
        </DialogContent>
      </Dialog>

      <Dialog open={toDelete !== null} onOpenChange={(open) => !open && setToDelete(null)}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Delete key {toDelete?.name}?</DialogTitle>
            <DialogDescription>A key a plan or a kept backup uses cannot be deleted.</DialogDescription>
          </DialogHeader>
          <DialogFooter>
            <Button variant="outline" onClick={() => setToDelete(null)}>
              Keep
            </Button>
            <Button variant="destructive" disabled={remove.isPending} onClick={() => toDelete && remove.mutate(toDelete)}>
              {remove.isPending ? "Deleting…" : "Delete key"}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
