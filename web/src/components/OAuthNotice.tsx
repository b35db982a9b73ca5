import { useEffect } from "react";
import { useSearchParams } from "react-router";
import { toast } from "sonner";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";

/**
 * OAuthNotice shows how a Google Drive sign-in ended, from the query the
 * server's OAuth callback redirected to: `connected=1` becomes a success
 * toast (and leaves the URL), `oauth_error=<sentence>` an error shown until
 * dismissed.
 */
export function OAuthNotice() {
  const [params, setParams] = useSearchParams();
  const connected = params.get("connected") === "1";
  const error = params.get("oauth_error");

  useEffect(() => {
    if (!connected) return;
    toast.success("Google Drive is connected. Backups can now write to this folder.", { id: "drive-connected" });
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        next.delete("connected");
        return next;
      },
      { replace: true },
    );
  }, [connected, setParams]);

  if (!error) return null;
  return (
    <Alert variant="destructive" className="mb-4 flex items-start justify-between gap-2" data-testid="oauth-error">
      <span>
        <span className="font-medium">Google Drive was not connected. </span>
        {error}
      </span>
      <Button
        size="sm"
        variant="ghost"
        onClick={() =>
          setParams(
            (prev) => {
              const next = new URLSearchParams(prev);
              next.delete("oauth_error");
              return next;
            },
            { replace: true },
          )
        }
      >
        Dismiss
      </Button>
    </Alert>
  );
}
