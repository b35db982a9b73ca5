import { ShieldAlert } from "lucide-react";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { useMe } from "@/api/auth";
import type { User, UserRole } from "@/api/types";
import { buttonVariants } from "@/components/ui/button";
import { Loading } from "./QueryState";

const rank: Record<UserRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** hasRole reports whether a user holds at least the given role. */
export function hasRole(user: User | undefined, least: UserRole): boolean {
  return user !== undefined && rank[user.role] >= rank[least];
}

/** Props of RequireRole. */
export interface RequireRoleProps {
  /** The least role that may see the page. */
  role: Exclude<UserRole, "viewer">;
  children: ReactNode;
}

/**
 * RequireRole shows its children only to users holding at least `role`;
 * others get a sentence saying why, instead of a form the server would
 * refuse with 403 anyway.
 */
export function RequireRole({ role, children }: RequireRoleProps) {
  const me = useMe();
  if (me.isPending) return <Loading />;
  if (hasRole(me.data, role)) return <>{children}</>;
  return (
    <div className="flex flex-col items-center gap-2 rounded-xl border border-dashed p-10 text-center" data-testid="forbidden">
      <ShieldAlert className="size-8 text-muted-foreground" aria-hidden="true" />
      <h1 className="font-medium">You do not have permission to open this page.</h1>
      <p className="max-w-md text-sm text-muted-foreground">
        {role === "admin"
          ? "Only administrators can manage users and read the audit log. Ask an administrator if you need this."
          : "Your account can look at connections and operations but not change them. Ask an administrator for the operator role if you need to."}
      </p>
      <Link to="/" className={buttonVariants({ variant: "outline", size: "sm" })}>
        Back to the dashboard
      </Link>
    </div>
  );
}
