import { Link, useParams } from "react-router";
import { useConnections } from "@/api/queries";
import { MetaItem } from "@/components/Meta";
import { OperationDetail } from "@/components/OperationDetail";
import { connectionNames, nameOf } from "@/lib/connections";

const CONFIG_LABELS: Record<string, string> = {
  bucket: "Bucket",
  prefix: "Key prefix",
  include_prefix: "Only keys starting with",
  overwrite: "Overwrite existing objects",
  database: "Database",
  collections: "Collections",
  drop: "Drop collections first",
};

/** RestoreDetailPage shows one restore: metadata, live progress, cancel and its log. */
export default function RestoreDetailPage() {
  const names = connectionNames(useConnections().data);
  return (
    <OperationDetail
      kind="restores"
      id={Number(useParams().id)}
      parts={(r) => ({
        summary: (
          <>
            Backup #{r.backup_operation_id} → {nameOf(names, r.destination_connection_id)}
          </>
        ),
        details: (
          <>
            <MetaItem label="Backup">
              <Link className="underline-offset-4 hover:underline" to={`/backups/${r.backup_operation_id}`}>
                #{r.backup_operation_id}
              </Link>
            </MetaItem>
            <MetaItem label="Target">{nameOf(names, r.destination_connection_id)}</MetaItem>
            {Object.entries((r.destination_config ?? {}) as Record<string, unknown>).map(([k, v]) => (
              <MetaItem key={k} label={CONFIG_LABELS[k] ?? k}>
                {Array.isArray(v) ? v.join(", ") || "—" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v ?? "—")}
              </MetaItem>
            ))}
          </>
        ),
      })}
    />
  );
}
