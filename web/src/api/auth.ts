import { useQuery } from "@tanstack/react-query";
import { api } from "./endpoints";
import { keys } from "./queries";
import type { User } from "./types";

/** useMe reads the signed-in user (GET /auth/me); a 401 means signed out. */
export function useMe() {
  return useQuery({ queryKey: keys.me, queryFn: api.me, retry: false, staleTime: 60_000 });
}

/** useProviders reads how users may sign in (GET /auth/providers, no login needed). */
export function useProviders() {
  return useQuery({ queryKey: keys.providers, queryFn: api.providers, staleTime: 60_000 });
}

/** canWrite reports whether a user may change things (viewers may only look). */
export function canWrite(user: User | undefined): boolean {
  return user !== undefined && user.role !== "viewer";
}

/** isAdmin reports whether a user may manage users and read the audit log. */
export function isAdmin(user: User | undefined): boolean {
  return user?.role === "admin";
}

/**
 * safeNext returns the in-app path to go back to after login, refusing
 * anything that could leave the site or loop back to the login page.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next === "/login" || next.startsWith("/login?")) return "/";
  if (next === "/no-access" || next.startsWith("/no-access?")) return "/";
  return next;
}

/** loginPath builds /login?next=<path> for a page the user should return to. */
export function loginPath(current: string): string {
  const next = safeNext(current);
  return next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`;
}
