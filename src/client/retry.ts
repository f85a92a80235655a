// When to try a failed call again, and how long to wait first. Pure: the caller passes the
// failure, what it has already waited, and a random source for jitter.
//
//   429 with meta.limit  the gateway's own: it did not admit the request, so nothing ran and
//                  nothing was counted. Always retried, after Retry-After (else
//                  meta.retry_after, else 1 s) — no jitter: the gateway's N is already the
//                  ceiling of the exact wait, so waiting N is enough.
//   other 429      the origin's: the request was admitted, forwarded and counted, and the
//                  origin may have acted on it. Retried like a 500 (below), after Retry-After.
//   500 / network  up to `maxServerErrorRetries` times, after 1 s, 2 s, 4 s … plus jitter;
//                  for POST and PATCH only when the caller opted in (an Idempotency-Key
//                  header, or `retryNonIdempotent`), since the origin may have acted.
//   409 with Retry-After, on a call with an Idempotency-Key: the first request with that key
//                  is still in progress (SPEC 11); nothing was consumed, so it is waited for
//                  and retried (it will meet the first answer), bounded by the total wait only.
//   anything else  never (400, 401, 402, 403, 404, 409, 412: retrying cannot change the answer).
// Over all of it, the waits of one call never add up to more than `maxTotalWaitMs`.
import type { LimitName } from "./errors.ts";

export interface RetryOptions {
  /**
   * Retries after a 500 (or any 5xx, or a network error), or an origin's 429, for one call:
   * the failures of a request that may have been forwarded.
   * @default 3
   */
  maxServerErrorRetries?: number;
  /**
   * The first backoff after a server error; it doubles for each further retry.
   * @default 1000
   */
  baseDelayMs?: number;
  /**
   * Jitter added to each backoff, as a fraction of it: the wait is drawn from
   * [delay, delay × (1 + jitterRatio)). Spreads out clients that failed together.
   * @default 0.25
   */
  jitterRatio?: number;
  /**
   * The most one call may spend waiting between attempts. When the next wait would take the
   * total past it (a day limit's Retry-After of hours, say), the last error is thrown instead.
   * @default 60000
   */
  maxTotalWaitMs?: number;
  /**
   * Retry POST and PATCH (and other non-idempotent methods) after a server error or an
   * origin's 429 even without an Idempotency-Key header. The gateway's own 429s are retried
   * regardless.
   * @default false
   */
  retryNonIdempotent?: boolean;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxServerErrorRetries: 3,
  baseDelayMs: 1_000,
  jitterRatio: 0.25,
  maxTotalWaitMs: 60_000,
  retryNonIdempotent: false,
};

export function resolveRetryPolicy(options: RetryOptions): RetryPolicy {
  const defaults = DEFAULT_RETRY_POLICY;
  return {
    maxServerErrorRetries: options.maxServerErrorRetries ?? defaults.maxServerErrorRetries,
    baseDelayMs: options.baseDelayMs ?? defaults.baseDelayMs,
    jitterRatio: options.jitterRatio ?? defaults.jitterRatio,
    maxTotalWaitMs: options.maxTotalWaitMs ?? defaults.maxTotalWaitMs,
    retryNonIdempotent: options.retryNonIdempotent ?? defaults.retryNonIdempotent,
  };
}

/** When a 429 names no wait at all (not the gateway's own answer), as the gateway assumes. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 1_000;

/** RFC 9110 section 9.2.2: repeating these has the effect of doing it once. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

export interface FailedAttempt {
  /** HTTP status; 0 when fetch itself failed. */
  status: number;
  /** Seconds, from Retry-After or meta.retry_after. */
  retryAfterSeconds: number | null;
  /** meta.limit: set only on a 429 the gateway decided itself (nothing was forwarded). */
  limit: LimitName | null;
}

export interface CallState {
  method: string;
  /** The caller sent an Idempotency-Key or set retryNonIdempotent. */
  optedIn: boolean;
  /** The call carries an Idempotency-Key (the same one on every attempt). */
  keyed: boolean;
  /** False when the body is a stream that cannot be sent twice. */
  replayable: boolean;
  serverErrorRetries: number;
  totalWaitMs: number;
}

/**
 * `rate_limited`: the gateway's own 429, free to repeat. `in_progress`: a 409 telling a keyed
 * call that its key's first request is still running, free to repeat too. `origin_rate_limited`
 * and `server_error`: the request may have been forwarded; both count as server-error retries.
 */
export type RetryKind = "rate_limited" | "in_progress" | "origin_rate_limited" | "server_error";

/** Whether a retry of this kind counts against `maxServerErrorRetries`. */
export function countsAsServerError(kind: RetryKind): boolean {
  return kind === "server_error" || kind === "origin_rate_limited";
}

export type RetryDecision =
  | { retry: true; waitMs: number; kind: RetryKind }
  | { retry: false; reason: "not_retryable" | "not_idempotent" | "body_not_replayable" | "retries_exhausted" | "wait_cap" };

export function decideRetry(failure: FailedAttempt, call: CallState, policy: RetryPolicy, random: () => number): RetryDecision {
  const kind = failureKind(failure, call);
  if (kind === null) return { retry: false, reason: "not_retryable" };
  if (!call.replayable) return { retry: false, reason: "body_not_replayable" };

  if (countsAsServerError(kind)) {
    if (!isIdempotent(call.method) && !call.optedIn) return { retry: false, reason: "not_idempotent" };
    if (call.serverErrorRetries >= policy.maxServerErrorRetries) return { retry: false, reason: "retries_exhausted" };
  }
  const waitMs = kind === "server_error" ? backoffMs(call.serverErrorRetries, policy, random) : rateLimitWaitMs(failure.retryAfterSeconds);
  if (call.totalWaitMs + waitMs > policy.maxTotalWaitMs) return { retry: false, reason: "wait_cap" };
  return { retry: true, waitMs, kind };
}

/** A 429's Retry-After; at least 1 s even for "Retry-After: 0", so that the wait cap always ends the loop. */
function rateLimitWaitMs(retryAfterSeconds: number | null): number {
  return retryAfterSeconds === null ? DEFAULT_RATE_LIMIT_WAIT_MS : Math.max(1, Math.ceil(retryAfterSeconds)) * 1_000;
}

/** The wait before server-error retry number `retryIndex` (0-based): base × 2^i, plus jitter. */
export function backoffMs(retryIndex: number, policy: RetryPolicy, random: () => number): number {
  const delay = policy.baseDelayMs * 2 ** retryIndex;
  return Math.round(delay * (1 + policy.jitterRatio * clampUnit(random())));
}

// The gateway only ever answers 500, but a proxy or load balancer in front of it may say
// 502, 503 or 504; all mean "not handled, maybe later". Status 0 is a network failure.
// Every 429 the gateway decides names its window (meta.limit); the origin's do not.
function failureKind({ status, limit, retryAfterSeconds }: FailedAttempt, call: CallState): RetryKind | null {
  if (status === 429) return limit === null ? "origin_rate_limited" : "rate_limited";
  // Other 409s (a key used for another request, an answer too large to keep) carry no Retry-After.
  if (status === 409) return call.keyed && retryAfterSeconds !== null ? "in_progress" : null;
  if (status === 0 || status >= 500) return "server_error";
  return null;
}

/** A random() that misbehaves must not stretch or shrink the wait past its bounds. */
function clampUnit(value: number): number {
  if (!Number.isFinite(value) || value < 0) return 0;
  return value >= 1 ? 1 - Number.EPSILON : value;
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 section 10.2.3), whole seconds ≥ 0. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds : null;
  }
  const date = Date.parse(trimmed);
  if (Number.isNaN(date) || !/[a-z]/i.test(trimmed)) return null;
  return Math.max(0, Math.ceil((date - now) / 1_000));
}
