import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { FolderSearch, RotateCcw, ShieldCheck } from "lucide-react";
import { useEffect, useRef } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { api } from "@/api/endpoints";
import { keys, LIVE_REFRESH_MS, useConnections, useEncryptionKeys } from "@/api/queries";
import type { BackupOperation } from "@/api/types";
import { BackupModeLabel, compressionText } from "@/components/BackupMode";
import { DeleteArchiveButton } from "@/components/DeleteArchiveButton";
import { MetaItem } from "@/components/Meta";
import { OperationDetail } from "@/components/OperationDetail";
import { Badge } from "@/components/ui/badge";
import { Button, buttonVariants } from "@/components/ui/button";
import { VerifyBadge } from "@/components/VerificationResult";
import { connectionNames, nameOf, sourceName } from "@/lib/connections";
import { isLive } from "@/lib/status";
import { formatBytes, formatDate } from "@/lib/utils";

/** LastVerified says how the backup's last verification ended, when, and links to the latest one. */
function LastVerified({ backup: b }: { backup: BackupOperation }) {
  const latest = useQuery({
    queryKey: keys.verifications({ backup_operation_id: b.id, per_page: 1 }),
    queryFn: () => api.listVerifications({ backup_operation_id: b.id, per_page: 1 }),
    refetchInterval: (q) => (q.state.data?.items.some((v) => isLive(v.status)) ? LIVE_REFRESH_MS : false),
  });
  const v = latest.data?.items[0];
  // The backup's verdict changes when a verification ends: read it again then.
  const qc = useQueryClient();
  const live = v !== undefined && isLive(v.status);
  const wasLive = useRef(live);
  useEffect(() => {
    if (wasLive.current && !live) void qc.invalidateQueries({ queryKey: keys.operation("backups", b.id) });
    wasLive.current = live;
  }, [live, qc, b.id]);
  return (
    <span className="flex flex-wrap items-center gap-2" data-testid="last-verified">
      <VerifyBadge verdict={b.last_verify_status} />
      {b.last_verified_at && <span>{formatDate(b.last_verified_at)}</span>}
      {v && (
        <Link className="underline-offset-4 hover:underline" to={`/verifications/${v.id}`} data-testid="latest-verification">
          {isLive(v.status) ? `verification #${v.id} ${v.status}…` : `verification #${v.id}`}
        </Link>
      )}
    </span>
  );
}

/** VerifyButton queues a verification of the backup and opens its page. */
function VerifyButton({ backup }: { backup: BackupOperation }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const verify = useMutation({
    mutationFn: () => api.verifyBackup(backup.id),
    onSuccess: (v) => {
      toast.success(
        v.status === "pending"
          ? `Verification #${v.id} of backup #${backup.id} queued.`
          : `Verification #${v.id} of backup #${backup.id} is already ${v.status}.`,
      );
      void qc.invalidateQueries({ queryKey: keys.verificationsAll });
      void navigate(`/verifications/${v.id}`);
    },
  });
  return (
    <Button size="sm" variant="outline" disabled={verify.isPending} onClick={() => verify.mutate()}>
      <ShieldCheck aria-hidden="true" />
      {verify.isPending ? "Verifying…" : "Verify"}
    </Button>
  );
}

/** BackupDetailPage shows one backup: metadata, live progress, controls and its log. */
export default function BackupDetailPage() {
  const me = useMe();
  const names = connectionNames(useConnections().data);
  const encKeys = useEncryptionKeys();
  return (
    <OperationDetail
      kind="backups"
      id={Number(useParams().id)}
      parts={(b) => ({
        summary: (
          <>
            {sourceName(names, b)} → {nameOf(names, b.destination_connection_id)}
          </>
        ),
        actions: b.status === "completed" && (
          <>
            {!b.pruned_at && canWrite(me.data) && (
              <>
                <Link to={`/backups/${b.id}/restore`} className={buttonVariants({ size: "sm" })}>
                  <RotateCcw aria-hidden="true" />
                  Restore…
                </Link>
                <VerifyButton backup={b} />
              </>
            )}
            <Link to={`/backups/${b.id}/browse`} className={buttonVariants({ size: "sm", variant: "outline" })}>
              <FolderSearch aria-hidden="true" />
              Browse…
            </Link>
            {!b.pruned_at && canWrite(me.data) && <DeleteArchiveButton backup={b} />}
          </>
        ),
        errorHint: b.status === "failed" && <p className="mt-1 text-xs">Resume continues from the last checkpoint.</p>,
        details: (
          <>
            <MetaItem label="Source">
              {b.imported ? (
                <span className="flex flex-wrap items-center gap-2" data-testid="backup-source">
                  <Badge variant="info">Imported</Badge>
                  {b.source ? `${b.source.name} (${b.source.type})` : "unknown source"}
                </span>
              ) : (
                <span data-testid="backup-source">{nameOf(names, b.source_connection_id)}</span>
              )}
            </MetaItem>
            <MetaItem label="Destination">{nameOf(names, b.destination_connection_id)}</MetaItem>
            <MetaItem label="Plan">
              {b.plan_id ? <Link to={`/plans/${b.plan_id}`}>plan #{b.plan_id}</Link> : b.imported ? "imported by a scan" : "ad hoc"}
            </MetaItem>
            {b.status === "completed" && (
              <MetaItem label="Last verified">
                <LastVerified backup={b} />
              </MetaItem>
            )}
            {b.pruned_at && (
              <MetaItem label="Archive">
                <span data-testid="pruned">
                  deleted ({b.prune_reason === "retention" ? "by the plan's retention" : "by a user"}) on {formatDate(b.pruned_at)}
                </span>
              </MetaItem>
            )}
            <MetaItem label="Mode">
              <BackupModeLabel backup={b} />
            </MetaItem>
            <MetaItem label="Compression">{compressionText(b.options)}</MetaItem>
            <MetaItem label="Encryption">
              {b.options?.encryption_key_id
                ? `age, key ${encKeys.data?.find((k) => k.id === b.options?.encryption_key_id)?.name ?? `#${b.options.encryption_key_id}`}`
                : "none"}
            </MetaItem>
            <MetaItem label="Archive size">{formatBytes(b.archive_size)}</MetaItem>
            <MetaItem label="Archive path" mono>
              {b.archive_path || "—"}
            </MetaItem>
            <MetaItem label="SHA-256" mono>
              {b.sha256 || "—"}
            </MetaItem>
          </>
        ),
      })}
    />
  );
}
