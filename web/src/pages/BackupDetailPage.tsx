import { RotateCcw } from "lucide-react";
import { Link, useParams } from "react-router";
import { canWrite, useMe } from "@/api/auth";
import { useConnections, useEncryptionKeys } from "@/api/queries";
import { DeleteArchiveButton } from "@/components/DeleteArchiveButton";
import { MetaItem } from "@/components/Meta";
import { OperationDetail } from "@/components/OperationDetail";
import { buttonVariants } from "@/components/ui/button";
import { connectionNames, nameOf } from "@/lib/connections";
import { formatBytes, formatDate } from "@/lib/utils";

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
            {nameOf(names, b.source_connection_id)} → {nameOf(names, b.destination_connection_id)}
          </>
        ),
        actions: b.status === "completed" && !b.pruned_at && canWrite(me.data) && (
          <>
            <Link to={`/backups/${b.id}/restore`} className={buttonVariants({ size: "sm" })}>
              <RotateCcw aria-hidden="true" />
              Restore…
            </Link>
            <DeleteArchiveButton backup={b} />
          </>
        ),
        errorHint: b.status === "failed" && <p className="mt-1 text-xs">Resume continues from the last checkpoint.</p>,
        details: (
          <>
            <MetaItem label="Source">{nameOf(names, b.source_connection_id)}</MetaItem>
            <MetaItem label="Destination">{nameOf(names, b.destination_connection_id)}</MetaItem>
            <MetaItem label="Plan">{b.plan_id ? <Link to={`/plans/${b.plan_id}`}>plan #{b.plan_id}</Link> : "ad hoc"}</MetaItem>
            {b.pruned_at && (
              <MetaItem label="Archive">
                <span data-testid="pruned">
                  deleted ({b.prune_reason === "retention" ? "by the plan's retention" : "by a user"}) on {formatDate(b.pruned_at)}
                </span>
              </MetaItem>
            )}
            <MetaItem label="Compression">{b.options?.compression ?? "gzip"}</MetaItem>
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
