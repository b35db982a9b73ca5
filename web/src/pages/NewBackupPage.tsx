import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { toast } from "sonner";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys, useConnections, useEncryptionKeys } from "@/api/queries";
import type { BackupMode, Compression, CompressionLevel } from "@/api/types";
import { CompressionLevelSelect, ModeSelect, modeOptions } from "@/components/BackupMode";
import { TYPE_LABELS } from "@/components/connectionFields";
import { EmptyState } from "@/components/EmptyState";
import { EncryptionSelect } from "@/components/EncryptionSelect";
import { describedBy, FormField } from "@/components/FormField";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Alert } from "@/components/ui/alert";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { NativeSelect } from "@/components/ui/input";

/** NewBackupPage starts a backup: source, destination, mode, compression and encryption. */
export default function NewBackupPage() {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const connections = useConnections();
  const [sourceId, setSourceId] = useState("");
  const [destinationId, setDestinationId] = useState("");
  const [mode, setMode] = useState<BackupMode>("full");
  const [compression, setCompression] = useState<Compression>("gzip");
  const [level, setLevel] = useState<CompressionLevel>("default");
  const [keyId, setKeyId] = useState("");
  const encKeys = useEncryptionKeys();
  const [local, setLocal] = useState<Record<string, string>>({});

  // Incremental backups are for S3 sources: another source is backed up in full.
  const incrementalAllowed = connections.data?.find((c) => String(c.id) === sourceId)?.type === "s3";
  const effectiveMode: BackupMode = incrementalAllowed ? mode : "full";

  const start = useMutation({
    mutationFn: () =>
      api.createBackup({
        source_connection_id: Number(sourceId),
        destination_connection_id: Number(destinationId),
        options: {
          ...modeOptions(effectiveMode, level),
          compression,
          ...(keyId ? { encryption_key_id: Number(keyId) } : {}),
        },
      }),
    meta: { skipToast: true },
    onSuccess: (op) => {
      toast.success(`Backup #${op.id} queued.`);
      void qc.invalidateQueries({ queryKey: keys.backupsAll });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
      void navigate(`/backups/${op.id}`);
    },
  });

  if (connections.isPending) return <Loading />;
  if (connections.isError) return <LoadError error={connections.error} onRetry={() => void connections.refetch()} />;

  const sources = connections.data.filter((c) => c.roles.includes("source") && c.is_active);
  const destinations = connections.data.filter((c) => c.roles.includes("destination") && c.is_active);
  if (sources.length === 0 || destinations.length === 0) {
    return (
      <EmptyState
        title={sources.length === 0 ? "No source to back up" : "No destination for the archive"}
        action={
          <Link to="/connections/new" className={buttonVariants()}>
            Add a connection
          </Link>
        }
      >
        A backup needs an S3 or MongoDB source and an S3, Google Drive or local destination.
      </EmptyState>
    );
  }

  const api_fields = isApiError(start.error) ? start.error.fields : {};
  const err = (k: string) => local[k] ?? api_fields[k];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    if (!sourceId) errors.source_connection_id = "Choose what to back up.";
    if (!destinationId) errors.destination_connection_id = "Choose where the archive goes.";
    setLocal(errors);
    if (Object.keys(errors).length === 0) start.mutate();
  };

  return (
    <div className="mx-auto max-w-2xl">
      <PageHeader title="New backup" description="The archive is streamed straight to the destination." />
      <Card>
        <CardContent className="pt-5">
          <form onSubmit={submit} noValidate className="grid gap-5" aria-label="New backup">
            {start.isError && <Alert variant="destructive">{errorMessage(start.error)}</Alert>}
            <FormField id="backup-source" label="Source" error={err("source_connection_id")} required>
              <NativeSelect
                id="backup-source"
                aria-required
                value={sourceId}
                aria-invalid={err("source_connection_id") ? true : undefined}
                aria-describedby={describedBy("backup-source", err("source_connection_id"), undefined)}
                onChange={(e) => setSourceId(e.target.value)}
              >
                <option value="">Choose a source…</option>
                {sources.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({TYPE_LABELS[c.type]})
                  </option>
                ))}
              </NativeSelect>
            </FormField>
            <FormField id="backup-destination" label="Destination" error={err("destination_connection_id")} required>
              <NativeSelect
                id="backup-destination"
                aria-required
                value={destinationId}
                aria-invalid={err("destination_connection_id") ? true : undefined}
                aria-describedby={describedBy("backup-destination", err("destination_connection_id"), undefined)}
                onChange={(e) => setDestinationId(e.target.value)}
              >
                <option value="">Choose a destination…</option>
                {destinations.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({TYPE_LABELS[c.type]})
                  </option>
                ))}
              </NativeSelect>
            </FormField>
            <ModeSelect
              id="backup-mode"
              value={effectiveMode}
              onChange={setMode}
              incrementalAllowed={incrementalAllowed}
              error={err("options.mode")}
            />
            <FormField
              id="backup-compression"
              label="Compression"
              error={err("options.compression") ?? err("compression")}
              help="gzip opens anywhere; zstd is faster and smaller."
            >
              <NativeSelect
                id="backup-compression"
                value={compression}
                onChange={(e) => setCompression(e.target.value as Compression)}
              >
                <option value="gzip">gzip (.tar.gz)</option>
                <option value="zstd">zstd (.tar.zst)</option>
              </NativeSelect>
            </FormField>
            <CompressionLevelSelect id="backup-level" value={level} onChange={setLevel} error={err("options.compression_level")} />
            <EncryptionSelect id="backup-encryption" value={keyId} onChange={setKeyId} keys={encKeys.data ?? []} error={err("options.encryption_key_id")} />
            <div className="flex gap-2">
              <Button type="submit" disabled={start.isPending}>
                {start.isPending ? "Starting…" : "Start backup"}
              </Button>
              <Button variant="ghost" onClick={() => void navigate(-1)}>
                Cancel
              </Button>
            </div>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}
