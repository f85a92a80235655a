// Test doubles for the client: a fetch that answers from a script and records each call,
// a sleep that records the waits asked for and returns at once, and envelope builders.
import type { FetchLike } from "../../src/client/index.ts";

export type Answer = Response | Error | ((init: RequestInit) => Promise<Response>);

export interface ScriptedFetch {
  fetch: FetchLike;
  calls: { url: string; init: RequestInit; headers: Headers }[];
  /** Settles when the first call arrives: a test can act then, instead of polling. */
  firstCall: Promise<void>;
}

/** Answers the calls in order; past the end of the script, the last answer repeats. */
export function scriptedFetch(...answers: Answer[]): ScriptedFetch {
  const calls: ScriptedFetch["calls"] = [];
  const { promise: firstCall, resolve: called } = Promise.withResolvers<void>();
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init, headers: new Headers(init.headers) });
    called();
    const answer = answers[Math.min(calls.length, answers.length) - 1];
    if (answer === undefined) throw new Error("scriptedFetch: empty script");
    if (answer instanceof Error) throw answer;
    if (typeof answer === "function") return answer(init);
    return answer.clone();
  };
  return { fetch, calls, firstCall };
}

export function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

export interface EnvelopeOptions {
  requestId?: string | null;
  retryAfterHeader?: string;
  retryAfterMeta?: number;
  limit?: string;
  /** Leave the X-Request-Id header out (as a browser does when CORS does not expose it). */
  noHeaderId?: boolean;
}

export const STATUS_OF = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
} as const;

export function envelope(code: keyof typeof STATUS_OF, message: string, options: EnvelopeOptions = {}): Response {
  const requestId = options.requestId === undefined ? "req_envelopeId0000000000" : options.requestId;
  const meta: Record<string, unknown> = { timestamp: "2026-02-01T12:00:00Z" };
  if (requestId !== null) meta.request_id = requestId;
  if (options.retryAfterMeta !== undefined) meta.retry_after = options.retryAfterMeta;
  if (options.limit !== undefined) meta.limit = options.limit;
  const headers = new Headers({ "Content-Type": "application/json; charset=utf-8" });
  if (requestId !== null && !options.noHeaderId) headers.set("X-Request-Id", requestId);
  if (options.retryAfterHeader !== undefined) headers.set("Retry-After", options.retryAfterHeader);
  return new Response(JSON.stringify({ success: false, error: { code, message }, meta }), { status: STATUS_OF[code], headers });
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

export const internalError = (requestId = "req_internal00000000000") => envelope("INTERNAL_ERROR", "The upstream service failed to handle the request.", { requestId });

/** A fetch that never answers until the signal aborts it, as a real fetch does. */
export function hangingFetch(): ScriptedFetch {
  return scriptedFetch(
    (init) =>
      new Promise<Response>((_, reject) => {
        const signal = init.signal;
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
  );
}
