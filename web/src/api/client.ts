// The one HTTP client of the UI: JSON in and out, same-origin cookies, and
// API errors turned into ApiError.

/** Base path of every API route. */
export const API_BASE = "/api/v1";

/** Error returned by the API ({error, fields}) or by the network. */
export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** Per-field reasons for a rejected form (field name -> why). */
  readonly fields: Record<string, string>;

  constructor(status: number, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }
}

/** isApiError narrows an unknown thrown value to ApiError. */
export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** errorMessage gives a sentence to show for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  return "Something went wrong. Try again.";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fallbackMessage(status: number): string {
  switch (status) {
    case 401:
      return "Your session has expired. Sign in again.";
    case 403:
      return "You do not have permission to do that.";
    case 404:
      return "Not found. It may have been deleted.";
    case 429:
      return "Too many requests. Wait a moment and try again.";
    default:
      return status >= 500
        ? `The server failed (HTTP ${status}). Try again, and check the server log if it persists.`
        : `The request failed (HTTP ${status}).`;
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  let message = fallbackMessage(res.status);
  let fields: Record<string, string> = {};
  try {
    const body: unknown = await res.json();
    if (isRecord(body)) {
      if (typeof body.error === "string" && body.error !== "") message = body.error;
      if (isRecord(body.fields)) {
        fields = Object.fromEntries(
          Object.entries(body.fields).filter((e): e is [string, string] => typeof e[1] === "string"),
        );
      }
    }
  } catch {
    // Not JSON (a proxy page, an empty body): keep the status-based message.
  }
  return new ApiError(res.status, message, fields);
}

/** Options of one request. */
export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  signal?: AbortSignal;
}

/**
 * request calls an API path (relative to API_BASE) and decodes the JSON
 * answer as T. A 204 or empty body yields undefined. Failures throw ApiError.
 */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = {
    method: opts.method ?? "GET",
    credentials: "same-origin",
    headers,
  };
  if (opts.signal) init.signal = opts.signal;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, init);
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the coffer server. Check your network and that the server is running.");
  }
  if (!res.ok) throw await toApiError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (text === "") return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, "The server sent an answer the UI cannot read. Reload the page.");
  }
}

/** query builds "?a=1&b=2" from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
