import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { toast } from "sonner";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useBackup, useConnections, useEncryptionKeys } from "@/api/queries";
import type { Connection, RestoreConfig } from "@/api/types";
import { TYPE_LABELS } from "@/components/connectionFields";
import { EmptyState } from "@/components/EmptyState";
import { describedBy, FormField } from "@/components/FormField";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { Checkbox, Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { connectionNames, sourceName, sourceType as sourceTypeOf } from "@/lib/connections";
import { keysFromState, restoreKeysState } from "@/lib/restoreKeys";

/** NewRestorePage restores a completed backup into a target connection. */
export default function NewRestorePage() {
  const backupId = Number(useParams().id);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const backup = useBackup(backupId);
  const connections = useConnections();
  const [targetId, setTargetId] = useState("");
  const [bucket, setBucket] = useState("");
  const [prefix, setPrefix] = useState("");
  const [includePrefix, setIncludePrefix] = useState("");
  const [overwrite, setOverwrite] = useState(false);
  const [database, setDatabase] = useState("");
  const [collections, setCollections] = useState("");
  const [drop, setDrop] = useState(false);
  const [unlockWith, setUnlockWith] = useState<"identity" | "passphrase">("identity");
  const [secret, setSecret] = useState("");
  const encKeys = useEncryptionKeys();
  const [local, setLocal] = useState<Record<string, string>>({});
  // Keys chosen in the entry browser: only those objects are restored.
  const location = useLocation();
  const [chosenKeys, setChosenKeys] = useState<string[]>(() => keysFromState(location.state));

  const target: Connection | undefined = connections.data?.find((c) => String(c.id) === targetId);

  const configFor = (t: Connection): RestoreConfig => {
    if (t.type === "mongodb") {
      const cols = collections
        .split(/[,\n]/)
        .map((s) => s.trim())
        .filter(Boolean);
      return {
        ...(database.trim() ? { database: database.trim() } : {}),
        ...(cols.length ? { collections: cols } : {}),
        drop,
      };
    }
    return {
      ...(bucket.trim() ? { bucket: bucket.trim() } : {}),
      ...(prefix.trim() ? { prefix: prefix.trim() } : {}),
      ...(chosenKeys.length > 0 ? { keys: chosenKeys } : includePrefix.trim() ? { include_prefix: includePrefix.trim() } : {}),
      overwrite,
    };
  };

  const start = useMutation({
    mutationFn: (t: Connection) =>
      api.createRestore({
        backup_operation_id: backupId,
        destination_connection_id: t.id,
        config: configFor(t),
        ...(secret.trim() ? (unlockWith === "identity" ? { identity: secret.trim() } : { passphrase: secret }) : {}),
      }),
    meta: { skipToast: true },
    onSuccess: (r) => {
      toast.success(`Restore #${r.id} queued.`);
      void qc.invalidateQueries({ queryKey: keys.restoresAll });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
      void navigate(`/restores/${r.id}`);
    },
  });

  if (backup.isPending || connections.isPending) return <Loading />;
  if (backup.isError) return <LoadError error={backup.error} onRetry={() => void backup.refetch()} />;
  if (connections.isError) return <LoadError error={connections.error} onRetry={() => void connections.refetch()} />;

  const b = backup.data;
  const names = connectionNames(connections.data);
  if (b.status !== "completed") {
    return (
      <EmptyState
        title="Only a completed backup can be restored"
        action={
          <Link to={`/backups/${b.id}`} className={buttonVariants({ variant: "outline" })}>
            Back to backup #{b.id}
          </Link>
        }
      >
        Backup #{b.id} is {b.status}. Wait for it to complete, or pick another backup.
      </EmptyState>
    );
  }

  const sourceType = sourceTypeOf(names, b);
  const targets = connections.data.filter(
    (c) => c.roles.includes("restore_target") && (sourceType === undefined || c.type === sourceType),
  );
  if (targets.length === 0) {
    return (
      <EmptyState
        title="No connection can receive this restore"
        action={
          <Link to="/connections/new" className={buttonVariants()}>
            Add a connection
          </Link>
        }
      >
        Add {sourceType && sourceType in TYPE_LABELS ? `a ${TYPE_LABELS[sourceType as Connection["type"]]}` : "an S3 or MongoDB"} connection to
        restore into.
      </EmptyState>
    );
  }

  const apiFields = isApiError(start.error) ? start.error.fields : {};
  const err = (k: string) => local[k] ?? apiFields[k] ?? apiFields[`config.${k}`];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target) {
      setLocal({ destination_connection_id: "Choose where to restore to." });
      return;
    }
    setLocal({});
    start.mutate(target);
  };

  const targetBucket = target && "bucket" in target.credentials ? target.credentials.bucket : "";
  const keyId = b.options?.encryption_key_id ?? 0;
  const encKey = encKeys.data?.find((k) => k.id === keyId);
  const needsKey = keyId > 0 && (encKey === undefined || (encKey.type === "x25519" && !encKey.keeps_identity));

  return (
    <div className="mx-auto max-w-2xl">
      <PageHeader
        title={`Restore backup #${b.id}`}
        description={`From ${sourceName(names, b)}${b.imported ? " (imported)" : ""}, archived ${b.archive_path ?? ""}`}
      />
      <Card>
        <CardContent className="pt-5">
          <form onSubmit={submit} noValidate className="grid gap-5" aria-label="New restore">
            {start.isError && <Alert variant="destructive">{errorMessage(start.error)}</Alert>}
            {chosenKeys.length > 0 && (
              <section
                className="grid gap-2 rounded-lg border bg-muted/30 p-3 text-sm"
                aria-labelledby="chosen-keys-title"
                data-testid="chosen-keys"
              >
                <p id="chosen-keys-title" className="font-medium">
                  Only these {chosenKeys.length.toLocaleString()} {chosenKeys.length === 1 ? "key" : "keys"} will be restored
                </p>
                <ul className="max-h-48 overflow-auto font-mono text-xs" aria-label="Keys to restore">
                  {chosenKeys.map((k) => (
                    <li key={k} className="break-all" data-testid="chosen-key">
                      {k}
                    </li>
                  ))}
                </ul>
                {err("keys") && (
                  <p className="text-xs font-medium text-destructive" data-testid="chosen-keys-error">
                    {err("keys")}
                  </p>
                )}
                <div className="flex flex-wrap gap-2">
                  <Link
                    to={`/backups/${b.id}/browse`}
                    state={restoreKeysState(chosenKeys)}
                    className={buttonVariants({ size: "sm", variant: "outline" })}
                  >
                    Change the selection
                  </Link>
                  <Button type="button" size="sm" variant="ghost" onClick={() => setChosenKeys([])}>
                    Restore everything instead
                  </Button>
                </div>
              </section>
            )}
            <FormField id="restore-target" label="Restore into" error={err("destination_connection_id")} required>
              <NativeSelect
                id="restore-target"
                aria-required
                value={targetId}
                aria-invalid={err("destination_connection_id") ? true : undefined}
                aria-describedby={describedBy("restore-target", err("destination_connection_id"), undefined)}
                onChange={(e) => setTargetId(e.target.value)}
              >
                <option value="">Choose a target connection…</option>
                {targets.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({TYPE_LABELS[c.type]})
                  </option>
                ))}
              </NativeSelect>
            </FormField>

            {target?.type === "s3" && (
              <fieldset className="grid gap-4">
                <legend className="mb-2 text-sm font-semibold">S3 target</legend>
                <FormField
                  id="restore-bucket"
                  label="Bucket"
                  error={err("bucket")}
                  help={`Optional. Empty restores into the connection's bucket${targetBucket ? ` (${targetBucket})` : ""}.`}
                >
                  <Input id="restore-bucket" value={bucket} placeholder={targetBucket} onChange={(e) => setBucket(e.target.value)} />
                </FormField>
                <FormField id="restore-prefix" label="Key prefix" error={err("prefix")} help="Optional. Put restored keys under this prefix.">
                  <Input id="restore-prefix" value={prefix} onChange={(e) => setPrefix(e.target.value)} />
                </FormField>
                {chosenKeys.length === 0 && (
                  <FormField
                    id="restore-include-prefix"
                    label="Only keys starting with"
                    error={err("include_prefix")}
                    help="Optional. Restore a subset of the archive, or choose objects in the backup's entry browser."
                  >
                    <Input id="restore-include-prefix" value={includePrefix} onChange={(e) => setIncludePrefix(e.target.value)} />
                  </FormField>
                )}
                <div className="flex items-center gap-2">
                  <Checkbox id="restore-overwrite" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} />
                  <Label htmlFor="restore-overwrite">Overwrite objects that already exist</Label>
                </div>
              </fieldset>
            )}

            {target?.type === "mongodb" && (
              <fieldset className="grid gap-4">
                <legend className="mb-2 text-sm font-semibold">MongoDB target</legend>
                <FormField
                  id="restore-database"
                  label="Database"
                  error={err("database")}
                  help="Optional. Empty restores into the databases named in the archive."
                >
                  <Input id="restore-database" value={database} onChange={(e) => setDatabase(e.target.value)} />
                </FormField>
                <FormField
                  id="restore-collections"
                  label="Collections"
                  error={err("collections")}
                  help="Optional. Comma-separated; empty restores every collection."
                >
                  <Input id="restore-collections" value={collections} onChange={(e) => setCollections(e.target.value)} />
                </FormField>
                <div className="flex items-center gap-2">
                  <Checkbox id="restore-drop" checked={drop} onChange={(e) => setDrop(e.target.checked)} />
                  <Label htmlFor="restore-drop">Drop each collection before restoring it</Label>
                </div>
              </fieldset>
            )}

            {keyId > 0 && (
              <fieldset className="grid gap-4" data-testid="restore-unlock">
                <legend className="mb-2 text-sm font-semibold">Encrypted archive</legend>
                <p className="text-sm text-muted-foreground">
                  {encKey
                    ? needsKey
                      ? `Encrypted with key ${encKey.name}, whose identity coffer does not keep: paste it to restore.`
                      : `Encrypted with key ${encKey.name}, which coffer keeps: nothing more is needed.`
                    : `Encrypted with key #${keyId}, which coffer no longer has: paste its identity or passphrase.`}{" "}
                  It is kept sealed only until the restore ends, and never logged.
                </p>
                <FormField id="restore-unlock-with" label="Open it with">
                  <NativeSelect id="restore-unlock-with" value={unlockWith} onChange={(e) => setUnlockWith(e.target.value as "identity" | "passphrase")}>
                    <option value="identity">An age identity (AGE-SECRET-KEY-1…)</option>
                    <option value="passphrase">A passphrase</option>
                  </NativeSelect>
                </FormField>
                {unlockWith === "identity" ? (
                  <FormField id="restore-identity" label="Identity" error={err("identity")} required={needsKey} help="One AGE-SECRET-KEY-1… line, or the whole key file.">
                    <textarea
                      id="restore-identity"
                      className="min-h-20 rounded-md border bg-transparent p-2 font-mono text-xs"
                      autoComplete="off"
                      spellCheck={false}
                      value={secret}
                      onChange={(e) => setSecret(e.target.value)}
                    />
                  </FormField>
                ) : (
                  <FormField id="restore-passphrase" label="Passphrase" error={err("passphrase")}>
                    <Input id="restore-passphrase" type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />
                  </FormField>
                )}
              </fieldset>
            )}

            <div className="flex gap-2">
              <Button type="submit" disabled={start.isPending}>
                {start.isPending ? "Starting…" : "Start restore"}
              </Button>
              <Link to={`/backups/${b.id}`} className={buttonVariants({ variant: "ghost" })}>
                Cancel
              </Link>
            </div>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}
