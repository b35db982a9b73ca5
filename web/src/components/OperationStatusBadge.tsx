import { Ban, CheckCircle2, CircleDashed, Loader2, PauseCircle, XCircle } from "lucide-react";
import type { ComponentType } from "react";
import type { OperationStatus } from "@/api/types";
import { Badge } from "@/components/ui/badge";

type Variant = "neutral" | "info" | "success" | "warning" | "danger";

const looks: Record<OperationStatus, { label: string; variant: Variant; Icon: ComponentType<{ className?: string }> }> = {
  pending: { label: "Pending", variant: "neutral", Icon: CircleDashed },
  running: { label: "Running", variant: "info", Icon: Loader2 },
  paused: { label: "Paused", variant: "warning", Icon: PauseCircle },
  completed: { label: "Completed", variant: "success", Icon: CheckCircle2 },
  failed: { label: "Failed", variant: "danger", Icon: XCircle },
  cancelled: { label: "Cancelled", variant: "neutral", Icon: Ban },
};

/** Props of OperationStatusBadge. */
export interface OperationStatusBadgeProps {
  status: OperationStatus;
  className?: string;
}

/** OperationStatusBadge shows an operation's status as a colour-coded badge. */
export function OperationStatusBadge({ status, className }: OperationStatusBadgeProps) {
  const look = looks[status] ?? { label: String(status), variant: "neutral" as const, Icon: CircleDashed };
  const { Icon } = look;
  return (
    <Badge variant={look.variant} className={className} data-testid="operation-status" data-status={status}>
      <Icon className={status === "running" ? "size-3 animate-spin" : "size-3"} aria-hidden="true" />
      {look.label}
    </Badge>
  );
}
