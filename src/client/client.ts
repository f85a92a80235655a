// A typed client for APIs behind Tollgate. Only fetch, Headers, AbortSignal and timers:
// it runs on Node ≥ 22, in browsers, Workers, Deno and Bun alike.
//
//   const api = createClient({ baseUrl: "https://api.example.com", apiKey });
//   const post = await api.request<Post>("/v1/posts/42");
import { ApiError, type ClientErrorCode } from "./errors.ts";
import { newIdempotencyKey } from "./idempotency-key.ts";
import { readResponse, type ClientResponse } from "./response.ts";
import { countsAsServerError, decideRetry, resolveRetryPolicy, type CallState, type RetryOptions } from "./retry.ts";
import { raceAbort, timerSleep, type Sleep } from "./sleep.ts";

/** Any fetch: the global one, a wrapper that logs or captures, a test double. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** What `onAttempt` hears after every attempt. */
export interface AttemptInfo {
  /** 1 for the first try. */
  attempt: number;
  method: string;
  url: string;
  /** HTTP status; 0 when fetch itself failed. */
  status: number;
  /** The gateway's id for this attempt (each retry gets a new one). */
  requestId: string | null;
  /** null on success. */
  code: ClientErrorCode | null;
  /** How long the client waits before the next attempt; null when there is none. */
  waitMs: number | null;
}

export interface ClientOptions extends RetryOptions {
  /** Where the gateway is, e.g. `https://api.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. Omit it for public routes only. */
  apiKey?: string;
  /**
   * The fetch to use.
   * @default globalThis.fetch
   */
  fetch?: FetchLike;
  /** Headers sent with every request (a request's own headers win). */
  headers?: HeadersInit;
  /** Called after every attempt: to log each request id, the status and the wait. */
  onAttempt?: (info: AttemptInfo) => void;
  /**
   * How to wait between attempts; must honour the signal (the client also races it).
   * @default a setTimeout-based sleep
   */
  sleep?: Sleep;
  /**
   * The clock, in epoch milliseconds: used to read a Retry-After given as an HTTP date.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Randomness in [0, 1) for the backoff's jitter.
   * @default Math.random
   */
  random?: () => number;
}

export interface RequestOptions extends Omit<RequestInit, "body" | "method"> {
  /** @default "GET", or "POST" when `json` is given */
  method?: string;
  body?: BodyInit | null;
  /** Sent as the JSON body, with `Content-Type: application/json`. */
  json?: unknown;
  /** Overrides the client's `retryNonIdempotent` for this call. */
  retryNonIdempotent?: boolean;
  /**
   * Sends `Idempotency-Key` (SPEC 11): `true` makes one for this call, a string is used as
   * it is; every retry of the call sends the same key. The gateway then lets the origin act
   * on the operation at most once, so a POST or PATCH is retried after a 500 or a network
   * failure, and a 409 saying the first attempt is still in progress is waited for.
   */
  idempotencyKey?: true | string;
}

export interface Client {
  /** The body of a successful answer (see ClientResponse.data); throws ApiError otherwise. */
  request<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  /** Like request(), with the status, headers and request id of the answer. */
  send<T = unknown>(path: string, options?: RequestOptions): Promise<ClientResponse<T>>;
}

export function createClient(options: ClientOptions): Client {
  const policy = resolveRetryPolicy(options);
  // Looked up per call, and never called as a method of `options`: browsers refuse
  // a fetch whose `this` is not the window ("Illegal invocation").
  const doFetch: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const sleep = options.sleep ?? timerSleep;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const baseUrl = options.baseUrl.replace(/\/+$/, "");

  async function send<T>(path: string, requestOptions: RequestOptions = {}): Promise<ClientResponse<T>> {
    const { json, retryNonIdempotent, idempotencyKey, method: askedMethod, headers: ownHeaders, body: ownBody, signal: ownSignal, ...init } = requestOptions;
    const signal = ownSignal ?? undefined;
    const method = (askedMethod ?? (json === undefined ? "GET" : "POST")).toUpperCase();
    const url = `${baseUrl}${path.startsWith("/") ? path : `/${path}`}`;
    const headers = requestHeaders(options, ownHeaders, json !== undefined);
    // Made once, before the first attempt: the same key goes with every retry.
    if (idempotencyKey !== undefined) headers.set("Idempotency-Key", idempotencyKey === true ? newIdempotencyKey() : idempotencyKey);
    const body = json === undefined ? ownBody : JSON.stringify(json);
    const call: CallState = {
      method,
      keyed: headers.has("Idempotency-Key"),
      optedIn: headers.has("Idempotency-Key") || (retryNonIdempotent ?? policy.retryNonIdempotent),
      replayable: !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream),
      serverErrorRetries: 0,
      totalWaitMs: 0,
    };

    // Bounded: server errors and origin 429s by maxServerErrorRetries, the gateway's 429s and
    // a keyed call's 409s by maxTotalWaitMs (each waits ≥ 1 s).
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      const result = await attemptOnce<T>(() => doFetch(url, { ...init, method, headers, body, signal }), signal, now);
      if (result.ok) {
        options.onAttempt?.({ attempt, method, url, status: result.response.status, requestId: result.response.requestId, code: null, waitMs: null });
        return result.response;
      }
      const { error } = result;
      const decision = decideRetry({ status: error.status, retryAfterSeconds: error.retryAfter, limit: error.limit }, call, policy, random);
      const waitMs = decision.retry ? decision.waitMs : null;
      options.onAttempt?.({ attempt, method, url, status: error.status, requestId: error.requestId, code: error.code, waitMs });
      if (!decision.retry) throw error;
      call.totalWaitMs += decision.waitMs;
      if (countsAsServerError(decision.kind)) call.serverErrorRetries += 1;
      await raceAbort(sleep(decision.waitMs, signal), signal);
    }
  }

  return {
    send,
    request: async <T>(path: string, requestOptions?: RequestOptions) => (await send<T>(path, requestOptions)).data,
  };
}

/** One fetch and the reading of its body; an abort rethrows the signal's reason, as fetch does. */
async function attemptOnce<T>(fetchOnce: () => Promise<Response>, signal: AbortSignal | undefined, now: () => number) {
  try {
    const response = await raceAbort(fetchOnce(), signal);
    return await raceAbort(readResponse<T>(response, now()), signal);
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    const detail = cause instanceof Error ? cause.message : String(cause);
    return {
      ok: false as const,
      error: new ApiError({ status: 0, code: "NETWORK_ERROR", message: `The request could not be completed: ${detail}`, requestId: null, retryAfter: null, cause }),
    };
  }
}

function requestHeaders(options: ClientOptions, own: HeadersInit | undefined, isJson: boolean): Headers {
  const headers = new Headers(options.headers);
  if (options.apiKey !== undefined) headers.set("Authorization", `Bearer ${options.apiKey}`);
  // forEach rather than iteration: it is in every runtime's typings (DOM without dom.iterable too).
  new Headers(own).forEach((value, name) => headers.set(name, value));
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (isJson && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  return headers;
}
