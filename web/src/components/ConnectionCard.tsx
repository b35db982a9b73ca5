import { Link } from "react-router";
import { ExternalLink, Pencil, PlugZap, ScanSearch, Trash2 } from "lucide-react";
import { googleDriveConnectUrl } from "@/api/endpoints";
import type { Connection } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardFooter, CardHeader, CardTitle } from "@/components/ui/card";
import { formatDate, formatRelative } from "@/lib/utils";
import { ROLE_LABELS, TYPE_LABELS } from "./connectionFields";

/** Health of a connection, from its last validation. */
export type ConnectionHealth = "healthy" | "failing" | "unchecked";

/** connectionHealth classifies a connection by its last validation. */
export function connectionHealth(c: Connection): ConnectionHealth {
  if (c.needs_reauth || (c.last_validation_error ?? "") !== "") return "failing";
  if (!c.last_validated_at) return "unchecked";
  return "healthy";
}

/** ConnectionHealthBadge shows healthy / failing / not checked. */
export function ConnectionHealthBadge({ connection }: { connection: Connection }) {
  const h = connectionHealth(connection);
  const variant = h === "healthy" ? "success" : h === "failing" ? "danger" : "neutral";
  const label = connection.needs_reauth ? "Needs reauthorization" : h === "healthy" ? "Healthy" : h === "failing" ? "Failing" : "Not checked";
  return (
    <Badge variant={variant} data-testid="connection-health" data-health={h}>
      {label}
    </Badge>
  );
}

/** canScan reports whether a connection holds archives a scan can import: a destination (S3, a local directory, Google Drive). */
export function canScan(c: Connection): boolean {
  return c.roles.includes("destination");
}

/** Props of ConnectionCard. */
export interface ConnectionCardProps {
  connection: Connection;
  onTest?: () => void;
  testing?: boolean;
  onDelete?: () => void;
  /** Scan a destination for archives the catalog lacks (shown for destinations only). */
  onScan?: () => void;
  /** This connection's scan runs. */
  scanning?: boolean;
  /** Another scan runs: one at a time. */
  scanDisabled?: boolean;
  /** False hides editing actions (viewer role). */
  canEdit?: boolean;
}

/** ConnectionCard shows a connection with its health badge, roles and actions. */
export function ConnectionCard({
  connection: c,
  onTest,
  testing = false,
  onDelete,
  onScan,
  scanning = false,
  scanDisabled = false,
  canEdit = true,
}: ConnectionCardProps) {
  return (
    <Card data-testid="connection-card" aria-label={`Connection ${c.name}`} className="flex flex-col">
      <CardHeader>
        <div className="flex items-start justify-between gap-2">
          <CardTitle className="break-all">{c.name}</CardTitle>
          <ConnectionHealthBadge connection={c} />
        </div>
        <CardDescription>{TYPE_LABELS[c.type] ?? c.type}</CardDescription>
      </CardHeader>
      <CardContent className="flex-1 space-y-2 text-sm">
        <div className="flex flex-wrap gap-1">
          {c.roles.map((r) => (
            <Badge key={r} variant="outline">
              {ROLE_LABELS[r] ?? r}
            </Badge>
          ))}
          {!c.is_active && <Badge variant="warning">Inactive</Badge>}
        </div>
        <p className="text-muted-foreground" title={formatDate(c.last_validated_at)}>
          Last checked {formatRelative(c.last_validated_at)}
        </p>
        {c.last_validation_error && <p className="break-words text-destructive">{c.last_validation_error}</p>}
        {c.type === "google_drive" && c.needs_reauth && (
          <div className="grid gap-2 rounded-lg border border-destructive/40 bg-destructive/5 p-3" data-testid="reconnect-drive">
            <p className="text-destructive">Google Drive access expired or was revoked; backups here fail until you reconnect.</p>
            {canEdit && (
              <a className={buttonVariants({ size: "sm" })} href={googleDriveConnectUrl({ connectionId: c.id })}>
                <ExternalLink aria-hidden="true" />
                Reconnect Google Drive
              </a>
            )}
          </div>
        )}
      </CardContent>
      {canEdit && (
        <CardFooter className="flex-wrap">
          {onTest && (
            <Button size="sm" variant="outline" disabled={testing} onClick={onTest}>
              <PlugZap aria-hidden="true" />
              {testing ? "Testing…" : "Test"}
            </Button>
          )}
          {onScan && canScan(c) && (
            <Button size="sm" variant="outline" disabled={scanning || scanDisabled} onClick={onScan} aria-label={`Scan for archives in ${c.name}`}>
              <ScanSearch aria-hidden="true" />
              {scanning ? "Scanning…" : "Scan for archives"}
            </Button>
          )}
          <Link className={buttonVariants({ size: "sm", variant: "outline" })} to={`/connections/${c.id}/edit`}>
            <Pencil aria-hidden="true" />
            Edit
          </Link>
          {onDelete && (
            <Button size="sm" variant="ghost" className="text-destructive" onClick={onDelete} aria-label={`Delete ${c.name}`}>
              <Trash2 aria-hidden="true" />
              Delete
            </Button>
          )}
        </CardFooter>
      )}
    </Card>
  );
}
