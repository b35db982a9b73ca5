import { useMutation, useQueryClient } from "@tanstack/react-query";
import { HardDriveDownload, LogIn } from "lucide-react";
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { safeNext, useProviders } from "@/api/auth";
import { errorMessage } from "@/api/client";
import { api, oidcStartUrl } from "@/api/endpoints";
import { keys } from "@/api/queries";
import { ssoErrorMessage } from "@/lib/sso";
import { ThemeToggle } from "@/components/ThemeToggle";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";

/**
 * LoginPage signs a user in and returns them to the page they came from:
 * with "Sign in with <provider>" when single sign-on is set up, and with
 * e-mail and password unless the server turned that off (then
 * /login?local=1 still shows the form, for break-glass sign-in).
 */
export default function LoginPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const providers = useProviders();
  const oidc = providers.data?.oidc ?? null;
  const breakGlass = params.get("local") === "1";
  // Until the server says otherwise (or when it cannot be asked), the password form shows.
  const local = providers.data === undefined || providers.data.local || breakGlass;
  const ssoError = params.get("sso_error");
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");

  const login = useMutation({
    mutationFn: () => api.login(email.trim(), password),
    meta: { skipToast: true },
    onSuccess: (user) => {
      qc.setQueryData(keys.me, user);
      void navigate(next, { replace: true });
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate();
  };

  return (
    <div className="flex min-h-screen items-center justify-center p-4">
      <div className="absolute right-4 top-4">
        <ThemeToggle />
      </div>
      <Card className="w-full max-w-sm">
        <CardHeader>
          <div className="mb-2 flex items-center gap-2 text-lg font-semibold">
            <HardDriveDownload className="size-5" aria-hidden="true" />
            coffer
          </div>
          <h1 className="font-semibold leading-none">Sign in</h1>
          <CardDescription>
            {oidc && !local
              ? `Use your ${oidc.name} account.`
              : oidc
                ? `Use your ${oidc.name} account, or the account your administrator created for you.`
                : "Use the account your administrator created for you."}
          </CardDescription>
        </CardHeader>
        <CardContent className="grid gap-4">
          {ssoError && (
            <Alert variant="destructive" data-testid="sso-error">
              {ssoErrorMessage(ssoError, oidc?.name ?? "The identity provider")}
            </Alert>
          )}
          {providers.isPending && <p className="text-sm text-muted-foreground">Loading sign-in options…</p>}
          {oidc && (
            <Button asChild variant={local ? "outline" : "default"}>
              <a href={oidcStartUrl(next)}>
                <LogIn aria-hidden="true" />
                Sign in with {oidc.name}
              </a>
            </Button>
          )}
          {oidc && local && (
            <div className="flex items-center gap-2 text-xs text-muted-foreground" aria-hidden="true">
              <span className="h-px flex-1 bg-border" />
              or
              <span className="h-px flex-1 bg-border" />
            </div>
          )}
          {local && !providers.isPending && (
            <form onSubmit={submit} className="grid gap-4" aria-label="Sign in">
              {breakGlass && providers.data?.local === false && (
                <p className="text-sm text-muted-foreground" data-testid="break-glass-note">
                  Password sign-in is turned off on this server. Only a password set with{" "}
                  <code>coffer users reset-password</code> in the last hour works here.
                </p>
              )}
              {login.isError && <Alert variant="destructive">{errorMessage(login.error)}</Alert>}
              <div className="grid gap-1.5">
                <Label htmlFor="login-email">Email</Label>
                <Input
                  id="login-email"
                  type="email"
                  autoComplete="username"
                  required
                  autoFocus
                  value={email}
                  onChange={(e) => setEmail(e.target.value)}
                />
              </div>
              <div className="grid gap-1.5">
                <Label htmlFor="login-password">Password</Label>
                <Input
                  id="login-password"
                  type="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              </div>
              <Button type="submit" disabled={login.isPending || email === "" || password === ""}>
                {login.isPending ? "Signing in…" : "Sign in"}
              </Button>
            </form>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
