import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate, useParams } from "react-router";
import { toast } from "sonner";
import { canWrite, useMe } from "@/api/auth";
import { errorMessage, isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { keys } from "@/api/queries";
import type { ConnectionInput } from "@/api/types";
import { ConnectionCard } from "@/components/ConnectionCard";
import { ConnectionForm } from "@/components/ConnectionForm";
import { OAuthNotice } from "@/components/OAuthNotice";
import { PageHeader } from "@/components/PageHeader";
import { LoadError, Loading } from "@/components/QueryState";
import { Card, CardContent } from "@/components/ui/card";

/** ConnectionEditPage creates a connection (/connections/new) or edits one (/connections/:id/edit). */
export default function ConnectionEditPage() {
  const params = useParams();
  const id = params.id === undefined ? undefined : Number(params.id);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const me = useMe();

  const existing = useQuery({
    queryKey: keys.connection(id ?? 0),
    queryFn: () => api.getConnection(id ?? 0),
    enabled: id !== undefined,
  });

  const save = useMutation({
    mutationFn: (input: ConnectionInput) => (id === undefined ? api.createConnection(input) : api.updateConnection(id, input)),
    meta: { skipToast: true },
    onSuccess: (c) => {
      toast.success(id === undefined ? `Created ${c.name}.` : `Saved ${c.name}.`);
      void qc.invalidateQueries({ queryKey: keys.connections });
      void qc.invalidateQueries({ queryKey: keys.dashboard });
      void navigate("/connections");
    },
  });

  const test = useMutation({
    mutationFn: () => api.testConnection(id ?? 0),
    onSettled: () => void qc.invalidateQueries({ queryKey: keys.connections }),
  });

  if (id !== undefined && existing.isPending) return <Loading />;
  if (id !== undefined && existing.isError) return <LoadError error={existing.error} onRetry={() => void existing.refetch()} />;

  if (existing.data && me.data && !canWrite(me.data)) {
    // Viewers may look at a connection but not change it.
    return (
      <div className="mx-auto max-w-2xl">
        <PageHeader title={existing.data.name} description="Your role can look at connections but not change them." />
        <OAuthNotice />
        <ConnectionCard connection={existing.data} canEdit={false} />
      </div>
    );
  }

  const err = save.error;
  const fieldErrors = isApiError(err) ? err.fields : {};
  const formError = err ? errorMessage(err) : null;

  return (
    <div className="mx-auto max-w-2xl">
      <PageHeader
        title={id === undefined ? "New connection" : `Edit ${existing.data?.name ?? "connection"}`}
        description="Credentials are encrypted on the server and never shown again."
      />
      <OAuthNotice />
      <Card>
        <CardContent className="pt-5">
          <ConnectionForm
            key={existing.data?.id ?? "new"}
            {...(existing.data ? { connection: existing.data } : {})}
            fieldErrors={fieldErrors}
            formError={formError}
            submitting={save.isPending}
            onSubmit={(input) => save.mutate(input)}
            {...(id === undefined ? {} : { onTest: () => test.mutate() })}
            testing={test.isPending}
            testResult={test.data ?? null}
            onCancel={() => void navigate("/connections")}
          />
        </CardContent>
      </Card>
    </div>
  );
}
