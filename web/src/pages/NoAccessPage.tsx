import { HardDriveDownload, ShieldX } from "lucide-react";
import { useProviders } from "@/api/auth";
import { ThemeToggle } from "@/components/ThemeToggle";
import { buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader } from "@/components/ui/card";
import { ssoErrorMessage } from "@/lib/sso";

/**
 * NoAccessPage is where single sign-on sends a user whom the identity
 * provider knows but none of whose groups maps to a coffer role
 * (COFFER_OIDC_ROLE_MAP without "*"). Nobody is signed in here.
 */
export default function NoAccessPage() {
  const providers = useProviders();
  const name = providers.data?.oidc?.name ?? "identity provider";
  return (
    <div className="flex min-h-screen items-center justify-center p-4">
      <div className="absolute right-4 top-4">
        <ThemeToggle />
      </div>
      <Card className="w-full max-w-md">
        <CardHeader>
          <div className="mb-2 flex items-center gap-2 text-lg font-semibold">
            <HardDriveDownload className="size-5" aria-hidden="true" />
            coffer
          </div>
          <h1 className="flex items-center gap-2 font-semibold leading-none">
            <ShieldX className="size-5 text-destructive" aria-hidden="true" />
            No access to coffer
          </h1>
          <CardDescription>You signed in, but your account does not have a role in coffer.</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-4">
          <p className="text-sm" data-testid="no-access-reason">
            {ssoErrorMessage("no_access", name)}
          </p>
          {/* A full page load: the sign-in page asks the server for the sign-in options again. */}
          <a href="/login" className={buttonVariants({ variant: "outline" })}>
            Back to sign-in
          </a>
        </CardContent>
      </Card>
    </div>
  );
}
