// Test helpers for pages: a fresh query client, a router at a given URL, and
// a fetch stand-in that answers API routes from a table and records calls.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { createMemoryRouter, RouterProvider, useLocation, type InitialEntry } from "react-router";
import { vi } from "vitest";
import { keys } from "@/api/queries";
import type { User } from "@/api/types";

/** One recorded API call. */
export interface Call {
  method: string;
  /** Path below /api/v1 with its query string, e.g. "/audit?page=1". */
  path: string;
  body: unknown;
}

/** An answer: status and JSON body (undefined for an empty body). */
export interface Answer {
  status: number;
  body?: unknown;
}

/** Handler answers a call; "METHOD /path" keys match the path without query. */
export type Handler = (call: Call) => Answer;

/**
 * apiServer stubs fetch with a table of "METHOD /path" handlers (path below
 * /api/v1, without the query). Unknown routes answer 404 in the API's error
 * shape. The calls made are in `calls`.
 */
export function apiServer(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchFn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://coffer.test");
    const method = init?.method ?? "GET";
    const path = url.pathname.replace(/^\/api\/v1/, "");
    const body: unknown = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const call = { method, path: path + url.search, body };
    calls.push(call);
    const h = routes[`${method} ${path}`];
    const a: Answer = h ? h(call) : { status: 404, body: { error: "There is no API endpoint at this path." } };
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), {
      status: a.status,
      headers: { "Content-Type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchFn);
  return { calls, fetchFn };
}

/** ok is a 200 answer with a JSON body. */
export function ok(body: unknown): Handler {
  return () => ({ status: 200, body });
}

/** A signed-in user of the given role for GET /auth/me. */
export function me(role: User["role"], id = 1): User {
  return { id, email: `${role}@example.com`, role };
}

function LocationProbe() {
  const loc = useLocation();
  return (
    <output data-testid="location" hidden>
      {loc.pathname + loc.search}
    </output>
  );
}

/**
 * renderPage renders a page element at a URL inside a router (route pattern
 * `path`) and a fresh query client. The current location is readable from
 * the hidden element with test id "location". `url` may be a location
 * with state ({ pathname, state }), as a link that passes state leaves it. `signedIn` seeds the
 * signed-in user, as the app's layout has by the time a page renders.
 */
export function renderPage(element: ReactElement, url: InitialEntry, path: string, signedIn?: User) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  // As in the app, where the layout has read /auth/me before a page shows.
  if (signedIn) client.setQueryData(keys.me, signedIn);
  const router = createMemoryRouter(
    [
      {
        path,
        element: (
          <>
            {element}
            <LocationProbe />
          </>
        ),
      },
      { path: "*", element: <LocationProbe /> },
    ],
    { initialEntries: [url] },
  );
  const utils = render(
    <QueryClientProvider client={client}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return { ...utils, client, router };
}
