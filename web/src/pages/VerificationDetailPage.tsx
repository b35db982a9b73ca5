import { Link, useParams } from "react-router";
import { MetaItem } from "@/components/Meta";
import { OperationDetail } from "@/components/OperationDetail";
import { VerificationResult } from "@/components/VerificationResult";

/** VerificationDetailPage shows one verification: its backup, live progress, cancel, the result and its log. */
export default function VerificationDetailPage() {
  return (
    <OperationDetail
      kind="verifications"
      id={Number(useParams().id)}
      parts={(v) => ({
        summary: <>of backup #{v.backup_operation_id}</>,
        details: (
          <>
            <MetaItem label="Backup">
              <Link className="underline-offset-4 hover:underline" to={`/backups/${v.backup_operation_id}`} data-testid="verified-backup">
                Backup #{v.backup_operation_id}
              </Link>
            </MetaItem>
            <MetaItem label="Asked for by">
              {v.plan_id ? (
                <Link className="underline-offset-4 hover:underline" to={`/plans/${v.plan_id}`}>
                  plan #{v.plan_id}
                </Link>
              ) : (
                "a user"
              )}
            </MetaItem>
          </>
        ),
        extra: <VerificationResult verification={v} />,
      })}
    />
  );
}
