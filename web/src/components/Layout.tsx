import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Archive, Bell, CalendarClock, HardDriveDownload, KeyRound, LayoutDashboard, LockKeyhole, LogOut, Plug, RotateCcw, ScrollText, ShieldCheck, Users } from "lucide-react";
import { useState } from "react";
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { isAdmin, loginPath, useMe } from "@/api/auth";
import { isApiError } from "@/api/client";
import { api } from "@/api/endpoints";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";
import { ChangePasswordDialog } from "./ChangePasswordDialog";
import { LoadError, Loading } from "./QueryState";
import { ThemeToggle } from "./ThemeToggle";

const nav = [
  { to: "/", label: "Dashboard", Icon: LayoutDashboard, end: true },
  { to: "/connections", label: "Connections", Icon: Plug, end: false },
  { to: "/plans", label: "Plans", Icon: CalendarClock, end: false },
  { to: "/backups", label: "Backups", Icon: Archive, end: false },
  { to: "/restores", label: "Restores", Icon: RotateCcw, end: false },
  { to: "/verifications", label: "Verifications", Icon: ShieldCheck, end: false },
  { to: "/notifications", label: "Notifications", Icon: Bell, end: false },
  { to: "/keys", label: "Keys", Icon: LockKeyhole, end: false },
];

// Shown to administrators only; the server refuses these routes to others.
const adminNav = [
  { to: "/users", label: "Users", Icon: Users, end: false },
  { to: "/audit", label: "Audit", Icon: ScrollText, end: false },
];

/** Layout is the signed-in frame: navigation, theme toggle, sign out. It sends signed-out users to /login. */
export function Layout() {
  const me = useMe();
  const location = useLocation();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [passwordOpen, setPasswordOpen] = useState(false);
  const logout = useMutation({
    mutationFn: api.logout,
    onSettled: () => {
      qc.clear();
      void navigate("/login", { replace: true });
    },
  });

  if (me.isPending) return <Loading label="Checking your session…" />;
  if (me.isError) {
    if (isApiError(me.error) && me.error.status === 401) {
      return <Navigate to={loginPath(location.pathname + location.search)} replace />;
    }
    return (
      <div className="mx-auto max-w-xl p-8">
        <LoadError error={me.error} onRetry={() => void me.refetch()} />
      </div>
    );
  }

  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-background focus:p-2">
        Skip to content
      </a>
      <header className="sticky top-0 z-40 border-b bg-background/90 backdrop-blur">
        {/* Wider than the page so that an administrator's ten links and the buttons fit one row at 1280 px; the email shows from 1536 px (and in the sign-out button's tooltip). */}
        <div className="mx-auto flex h-14 max-w-7xl items-center gap-3 px-4">
          <NavLink to="/" className="flex items-center gap-2 font-semibold">
            <HardDriveDownload className="size-5" aria-hidden="true" />
            coffer
          </NavLink>
          <nav aria-label="Main" className="flex flex-1 items-center gap-1 overflow-x-auto">
            {(isAdmin(me.data) ? [...nav, ...adminNav] : nav).map(({ to, label, Icon, end }) => (
              <NavLink
                key={to}
                to={to}
                end={end}
                className={({ isActive }) =>
                  cn(
                    "flex shrink-0 items-center gap-1 rounded-md px-2 py-1.5 text-sm text-muted-foreground transition-colors hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
                    isActive && "bg-secondary font-medium text-foreground",
                  )
                }
              >
                <Icon className="size-4" aria-hidden="true" />
                <span className="hidden sm:inline">{label}</span>
                <span className="sr-only sm:hidden">{label}</span>
              </NavLink>
            ))}
          </nav>
          <span className="hidden max-w-48 truncate text-sm text-muted-foreground 2xl:inline" title={me.data.email} data-testid="current-user">
            {me.data.email}
          </span>
          <ThemeToggle />
          <Button
            variant="ghost"
            size="icon"
            aria-label="Change password"
            title="Change password"
            onClick={() => setPasswordOpen(true)}
          >
            <KeyRound aria-hidden="true" />
          </Button>
          <Button variant="ghost" size="icon" aria-label="Sign out" title={`Sign out ${me.data.email}`} onClick={() => logout.mutate()}>
            <LogOut aria-hidden="true" />
          </Button>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-8">
        <Outlet />
      </main>
      <ChangePasswordDialog open={passwordOpen} onOpenChange={setPasswordOpen} />
    </div>
  );
}
