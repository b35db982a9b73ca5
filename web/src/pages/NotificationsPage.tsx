import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Pencil, Plus, Send, Trash2 } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";
import { isAdmin, useMe } from "@/api/auth";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys } from "@/api/queries";
import type { Channel, ChannelInput, Delivery } from "@/api/types";
import { ChannelForm, NOTIFICATION_EVENTS } from "@/components/ChannelForm";
import { EmptyState } from "@/components/EmptyState";
import { PageHeader } from "@/components/PageHeader";
import { Pagination } from "@/components/Pagination";
import { LoadError, Loading } from "@/components/QueryState";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { NativeSelect } from "@/components/ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatDate, formatRelative } from "@/lib/utils";

const TYPE_LABEL: Record<Channel["type"], string> = { email: "E-mail", webhook: "Webhook", shoutrrr: "Chat (shoutrrr)" };

function eventLabel(name: string): string {
  return NOTIFICATION_EVENTS.find((e) => e.value === name)?.label ?? name;
}

/** Where a channel sends, without its secrets (the server masks them). */
function target(c: Channel): string {
  const cfg = c.config as Record<string, unknown>;
  if (c.type === "email") return `${Array.isArray(cfg.to) ? (cfg.to as string[]).join(", ") : ""} via ${String(cfg.host)}`;
  return String(cfg.url ?? "");
}

const STATUS_BADGE: Record<Delivery["status"], "info" | "success" | "danger"> = { pending: "info", sent: "success", failed: "danger" };

/**
 * NotificationsPage lists the channels coffer tells people through and the
 * delivery log. Administrators add, edit, test and delete channels; everyone
 * signed in sees the channels (secrets masked) and the deliveries.
 */
export default function NotificationsPage() {
  const me = useMe();
  const admin = isAdmin(me.data);
  const qc = useQueryClient();
  const channels = useQuery({ queryKey: keys.channels, queryFn: api.listChannels });
  const plans = useQuery({ queryKey: keys.plans, queryFn: api.listPlans, enabled: admin });
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState("");
  const deliveries = useQuery({
    queryKey: keys.deliveries(page, status),
    queryFn: () => api.listDeliveries(page, status),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });
  const [editing, setEditing] = useState<Channel | "new" | null>(null);
  const [toDelete, setToDelete] = useState<Channel | null>(null);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: keys.channels });
    void qc.invalidateQueries({ queryKey: keys.deliveriesAll });
  };
  const save = useMutation({
    mutationFn: ({ id, input }: { id?: number; input: ChannelInput }) => (id ? api.updateChannel(id, input) : api.createChannel(input)),
    meta: { skipToast: true },
    onSuccess: (c, { id }) => {
      toast.success(id ? `Saved ${c.name}.` : `Created ${c.name}; send a test message to check it.`);
      setEditing(null);
      refresh();
    },
  });
  const test = useMutation({
    mutationFn: (c: Channel) => api.testChannel(c.id),
    meta: { skipToast: true },
    onSuccess: (r, c) => toast.success(`Test message to ${c.name} delivered: ${r.reply}`),
    onError: (err, c) => toast.error(`Test message to ${c.name} not delivered: ${errorMessage(err)}`),
  });
  const remove = useMutation({
    mutationFn: (c: Channel) => api.deleteChannel(c.id),
    onSuccess: (_, c) => {
      toast.success(`Deleted ${c.name}.`);
      setToDelete(null);
      refresh();
    },
  });

  const saveErr = save.error;
  const saveFields = isApiError(saveErr) ? (saveErr.fields ?? {}) : {};
  const names = new Map((channels.data ?? []).map((c) => [c.id, c.name]));

  return (
    <div>
      <PageHeader
        title="Notifications"
        description="Who hears about failed backups, overdue plans and connections that need a person."
        actions={
          admin && (
            <Button
              onClick={() => {
                save.reset();
                setEditing("new");
              }}
            >
              <Plus aria-hidden="true" />
              New channel
            </Button>
          )
        }
      />

      <h2 className="mb-2 text-lg font-semibold">Channels</h2>
      {channels.isPending ? (
        <Loading />
      ) : channels.isError ? (
        <LoadError error={channels.error} onRetry={() => void channels.refetch()} />
      ) : channels.data.length === 0 ? (
        <EmptyState title="No channels">
          {admin ? "Add an e-mail address, a webhook or a chat service to hear when a backup fails." : "An administrator has not set up any channel yet."}
        </EmptyState>
      ) : (
        <div className="rounded-xl border">
          <Table aria-label="Notification channels">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Type</TableHead>
                <TableHead>Sends to</TableHead>
                <TableHead>Events</TableHead>
                {admin && <TableHead className="text-right">Actions</TableHead>}
              </TableRow>
            </TableHeader>
            <TableBody>
              {channels.data.map((c) => (
                <TableRow key={c.id} data-testid="channel-row" data-name={c.name}>
                  <TableCell className="font-medium">
                    {c.name}
                    {!c.enabled && (
                      <Badge variant="warning" className="ml-2">
                        Disabled
                      </Badge>
                    )}
                  </TableCell>
                  <TableCell>{TYPE_LABEL[c.type]}</TableCell>
                  <TableCell className="max-w-64 truncate font-mono text-xs" title={target(c)}>
                    {target(c)}
                  </TableCell>
                  <TableCell className="text-xs" title={c.events.map(eventLabel).join("\n")}>
                    {c.events.length} event{c.events.length === 1 ? "" : "s"}
                    {c.plan_ids.length > 0 && `, ${c.plan_ids.length} plan${c.plan_ids.length === 1 ? "" : "s"}`}
                  </TableCell>
                  {admin && (
                    <TableCell>
                      <div className="flex flex-wrap justify-end gap-2">
                        <Button size="sm" variant="outline" disabled={test.isPending} onClick={() => test.mutate(c)} aria-label={`Send a test message to ${c.name}`}>
                          <Send aria-hidden="true" />
                          Test
                        </Button>
                        <Button
                          size="sm"
                          variant="outline"
                          aria-label={`Edit ${c.name}`}
                          onClick={() => {
                            save.reset();
                            setEditing(c);
                          }}
                        >
                          <Pencil aria-hidden="true" />
                          Edit
                        </Button>
                        <Button size="sm" variant="ghost" className="text-destructive" aria-label={`Delete ${c.name}`} onClick={() => setToDelete(c)}>
                          <Trash2 aria-hidden="true" />
                          Delete
                        </Button>
                      </div>
                    </TableCell>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}

      <div className="mt-8 mb-2 flex items-center justify-between gap-2">
        <h2 className="text-lg font-semibold">Delivery log</h2>
        <NativeSelect
          aria-label="Delivery status"
          className="h-8 w-40"
          value={status}
          onChange={(e) => {
            setStatus(e.target.value);
            setPage(1);
          }}
        >
          <option value="">Every status</option>
          <option value="pending">Pending</option>
          <option value="sent">Sent</option>
          <option value="failed">Failed</option>
        </NativeSelect>
      </div>
      {deliveries.isPending ? (
        <Loading />
      ) : deliveries.isError ? (
        <LoadError error={deliveries.error} onRetry={() => void deliveries.refetch()} />
      ) : deliveries.data.items.length === 0 ? (
        <EmptyState title="Nothing sent yet">Deliveries appear here when an event a channel takes happens.</EmptyState>
      ) : (
        <>
          <div className="rounded-xl border">
            <Table aria-label="Delivery log">
              <TableHeader>
                <TableRow>
                  <TableHead>When</TableHead>
                  <TableHead>Channel</TableHead>
                  <TableHead>Event</TableHead>
                  <TableHead>Status</TableHead>
                  <TableHead>Attempts</TableHead>
                  <TableHead>Last error</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {deliveries.data.items.map((d) => (
                  <TableRow key={d.id} data-testid="delivery-row" data-event={d.event} data-status={d.status}>
                    <TableCell title={formatDate(d.created_at)}>{formatRelative(d.created_at)}</TableCell>
                    <TableCell>{names.get(d.channel_id) ?? `#${d.channel_id}`}</TableCell>
                    <TableCell title={typeof d.payload.message === "string" ? d.payload.message : undefined}>{eventLabel(d.event)}</TableCell>
                    <TableCell>
                      <Badge variant={STATUS_BADGE[d.status]}>{d.status}</Badge>
                    </TableCell>
                    <TableCell className="tabular-nums">{d.attempts}</TableCell>
                    <TableCell className="max-w-80 text-xs text-muted-foreground">{d.last_error || (d.status === "sent" ? d.reply : "")}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </div>
          <Pagination page={page} perPage={deliveries.data.per_page} total={deliveries.data.total} onPage={setPage} />
        </>
      )}

      <Dialog open={editing !== null} onOpenChange={(open) => !open && setEditing(null)}>
        <DialogContent className="max-h-[90vh] overflow-y-auto">
          <DialogHeader>
            <DialogTitle>{editing === "new" ? "New channel" : `Edit ${editing?.name ?? ""}`}</DialogTitle>
            <DialogDescription>Secrets are stored encrypted and shown masked; leave a mask as it is to keep the saved value.</DialogDescription>
          </DialogHeader>
          {editing !== null && (
            <ChannelForm
              channel={editing === "new" ? undefined : editing}
              plans={plans.data ?? []}
              fieldErrors={saveFields}
              formError={saveErr && Object.keys(saveFields).length === 0 ? errorMessage(saveErr) : saveErr ? "Check the fields marked below." : null}
              submitting={save.isPending}
              onSubmit={(input) => save.mutate({ ...(editing === "new" ? {} : { id: editing.id }), input })}
              onCancel={() => setEditing(null)}
            />
          )}
        </DialogContent>
      </Dialog>

      <Dialog open={toDelete !== null} onOpenChange={(open) => !open && setToDelete(null)}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Delete {toDelete?.name}?</DialogTitle>
            <DialogDescription>Nothing more is sent through it, and its delivery log goes with it.</DialogDescription>
          </DialogHeader>
          <DialogFooter>
            <Button variant="outline" onClick={() => setToDelete(null)}>
              Keep
            </Button>
            <Button variant="destructive" disabled={remove.isPending} onClick={() => toDelete && remove.mutate(toDelete)}>
              {remove.isPending ? "Deleting…" : "Delete channel"}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
