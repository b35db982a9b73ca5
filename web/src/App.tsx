import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useState, type ComponentType } from "react";
import { createBrowserRouter, RouterProvider, type RouteObject } from "react-router";
import { toast, Toaster } from "sonner";
import { loginPath } from "@/api/auth";
import { errorMessage, isApiError } from "@/api/client";
import { keys } from "@/api/queries";
import { Layout } from "@/components/Layout";
import { Loading } from "@/components/QueryState";
import { RequireRole } from "@/components/RequireRole";

// Pages are split into their own chunks; only login/layout code loads first.
function page(load: () => Promise<{ default: ComponentType }>) {
  const C = lazy(load);
  return (
    <Suspense fallback={<Loading />}>
      <C />
    </Suspense>
  );
}

// Pages that only change things; viewers get a sentence instead of a form.
function operatorOnly(load: () => Promise<{ default: ComponentType }>) {
  return <RequireRole role="operator">{page(load)}</RequireRole>;
}

// Administrators' pages: users and the audit log.
function adminOnly(load: () => Promise<{ default: ComponentType }>) {
  return <RequireRole role="admin">{page(load)}</RequireRole>;
}

const routes: RouteObject[] = [
  { path: "/login", element: page(() => import("@/pages/LoginPage")) },
  { path: "/no-access", element: page(() => import("@/pages/NoAccessPage")) },
  {
    element: <Layout />,
    children: [
      { index: true, element: page(() => import("@/pages/DashboardPage")) },
      { path: "connections", element: page(() => import("@/pages/ConnectionsPage")) },
      { path: "connections/new", element: operatorOnly(() => import("@/pages/ConnectionEditPage")) },
      { path: "connections/:id/edit", element: page(() => import("@/pages/ConnectionEditPage")) },
      { path: "plans", element: page(() => import("@/pages/PlansPage")) },
      { path: "plans/new", element: operatorOnly(() => import("@/pages/PlanEditPage")) },
      { path: "plans/:id", element: page(() => import("@/pages/PlanDetailPage")) },
      { path: "plans/:id/edit", element: operatorOnly(() => import("@/pages/PlanEditPage")) },
      { path: "backups", element: page(() => import("@/pages/BackupsPage")) },
      { path: "backups/new", element: operatorOnly(() => import("@/pages/NewBackupPage")) },
      { path: "backups/:id", element: page(() => import("@/pages/BackupDetailPage")) },
      { path: "backups/:id/browse", element: page(() => import("@/pages/BackupBrowserPage")) },
      { path: "backups/:id/restore", element: operatorOnly(() => import("@/pages/NewRestorePage")) },
      { path: "restores", element: page(() => import("@/pages/RestoresPage")) },
      { path: "restores/:id", element: page(() => import("@/pages/RestoreDetailPage")) },
      { path: "verifications", element: page(() => import("@/pages/VerificationsPage")) },
      { path: "verifications/:id", element: page(() => import("@/pages/VerificationDetailPage")) },
      { path: "notifications", element: page(() => import("@/pages/NotificationsPage")) },
      { path: "keys", element: page(() => import("@/pages/KeysPage")) },
      { path: "users", element: adminOnly(() => import("@/pages/UsersPage")) },
      { path: "audit", element: adminOnly(() => import("@/pages/AuditPage")) },
      { path: "*", element: page(() => import("@/pages/NotFoundPage")) },
    ],
  },
];

/** Meta a mutation may carry: skipToast when the page shows the error itself. */
export interface MutationMeta extends Record<string, unknown> {
  skipToast?: boolean;
}

function createApp() {
  const router = createBrowserRouter(routes);
  let client: QueryClient | null = null;

  // A 401 anywhere means the session ended: go to login and come back after.
  const onUnauthorized = (err: unknown): boolean => {
    if (!isApiError(err) || err.status !== 401) return false;
    const { pathname, search } = router.state.location;
    if (pathname === "/login") return true;
    client?.removeQueries({ predicate: (q) => q.queryKey[0] !== keys.me[0] });
    client?.setQueryData(keys.me, undefined);
    toast.error("Your session has expired. Sign in again.", { id: "session-expired" });
    void router.navigate(loginPath(pathname + search), { replace: true });
    return true;
  };

  client = new QueryClient({
    defaultOptions: {
      queries: {
        retry: (count, err) => !(isApiError(err) && err.status >= 400 && err.status < 500) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
    queryCache: new QueryCache({
      onError: (err, q) => {
        if (q.queryKey[0] === keys.me[0]) return; // Layout handles a signed-out /auth/me
        onUnauthorized(err);
      },
    }),
    mutationCache: new MutationCache({
      onError: (err, _vars, _ctx, m) => {
        if (onUnauthorized(err)) return;
        const meta = m.meta as MutationMeta | undefined;
        if (!meta?.skipToast) toast.error(errorMessage(err));
      },
    }),
  });
  return { router, client };
}

/** App wires the query client, router and toasts. */
export function App() {
  const [{ router, client }] = useState(createApp);
  return (
    <QueryClientProvider client={client}>
      <RouterProvider router={router} />
      <Toaster richColors closeButton position="bottom-right" theme="system" />
    </QueryClientProvider>
  );
}
