// The retry policy on its own: which failures are retried, the waits, the caps.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, backoffMs, decideRetry, isIdempotent, parseRetryAfter } from "../../src/client/index.ts";
import type { CallState } from "../../src/client/retry.ts";

const policy = DEFAULT_RETRY_POLICY;
const zero = () => 0;
const call = (overrides: Partial<CallState> = {}): CallState => ({
  method: "GET",
  optedIn: false,
  keyed: false,
  replayable: true,
  serverErrorRetries: 0,
  totalWaitMs: 0,
  ...overrides,
});

describe("decideRetry: which failures", () => {
  it.each([400, 401, 402, 403, 404, 409, 412, 405, 422])("never retries %i", (status) => {
    expect(decideRetry({ status, retryAfterSeconds: 5, limit: null }, call(), policy, zero)).toEqual({ retry: false, reason: "not_retryable" });
  });

  it("retries a 429 after its Retry-After, on any method, without jitter", () => {
    for (const method of ["GET", "POST", "PATCH"]) {
      expect(decideRetry({ status: 429, retryAfterSeconds: 7, limit: "minute" }, call({ method }), policy, () => 0.9)).toEqual({ retry: true, waitMs: 7_000, kind: "rate_limited" });
    }
  });

  it("waits 1 s on a 429 that names no wait, and at least 1 s on Retry-After: 0", () => {
    expect(decideRetry({ status: 429, retryAfterSeconds: null, limit: "minute" }, call(), policy, zero)).toMatchObject({ retry: true, waitMs: 1_000 });
    expect(decideRetry({ status: 429, retryAfterSeconds: 0, limit: "minute" }, call(), policy, zero)).toMatchObject({ retry: true, waitMs: 1_000 });
  });

  it("retries 500, other 5xx and network failures (status 0) as server errors", () => {
    for (const status of [500, 502, 503, 504, 0]) {
      expect(decideRetry({ status, retryAfterSeconds: null, limit: null }, call(), policy, zero)).toEqual({ retry: true, waitMs: 1_000, kind: "server_error" });
    }
  });

  it("keeps counting 429s apart from server errors: a 429 after three 500s is still retried", () => {
    expect(decideRetry({ status: 429, retryAfterSeconds: 2, limit: "minute" }, call({ serverErrorRetries: 3 }), policy, zero)).toMatchObject({ retry: true, waitMs: 2_000 });
  });
});

describe("decideRetry: a 409 on a call with an Idempotency-Key", () => {
  it("waits its Retry-After (the key's first request is still in progress) and does not count it as a server error", () => {
    const keyed = call({ method: "POST", optedIn: true, keyed: true, serverErrorRetries: 3 });
    expect(decideRetry({ status: 409, retryAfterSeconds: 1, limit: null }, keyed, policy, () => 0.9)).toEqual({ retry: true, waitMs: 1_000, kind: "in_progress" });
    expect(decideRetry({ status: 409, retryAfterSeconds: null, limit: null }, keyed, policy, zero)).toEqual({ retry: false, reason: "not_retryable" });
    expect(decideRetry({ status: 409, retryAfterSeconds: 1, limit: null }, call({ method: "POST", optedIn: true }), policy, zero)).toEqual({ retry: false, reason: "not_retryable" });
  });
});

describe("decideRetry: backoff after server errors", () => {
  it("waits 1 s, 2 s, 4 s, then gives up", () => {
    const waits = [0, 1, 2].map((n) => decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ serverErrorRetries: n }), policy, zero));
    expect(waits.map((d) => (d.retry ? d.waitMs : null))).toEqual([1_000, 2_000, 4_000]);
    expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ serverErrorRetries: 3 }), policy, zero)).toEqual({ retry: false, reason: "retries_exhausted" });
  });

  it("adds jitter within [delay, delay × 1.25) for any random value", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const delay = 1_000 * 2 ** n;
        const wait = backoffMs(n, policy, () => r);
        return wait >= delay && wait <= delay * 1.25;
      }),
    );
    expect([0, 1, 2].map((n) => backoffMs(n, policy, () => 0.5))).toEqual([1_125, 2_250, 4_500]);
  });

  it("keeps the wait in bounds even when random() misbehaves", () => {
    for (const r of [-1, 1, 7, Number.NaN, Number.POSITIVE_INFINITY]) {
      const wait = backoffMs(0, policy, () => r);
      expect(wait).toBeGreaterThanOrEqual(1_000);
      expect(wait).toBeLessThanOrEqual(1_250);
    }
  });

  it("follows the configured base, ratio and count", () => {
    const custom = { ...policy, baseDelayMs: 100, jitterRatio: 0, maxServerErrorRetries: 1 };
    expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call(), custom, () => 0.9)).toMatchObject({ waitMs: 100 });
    expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ serverErrorRetries: 1 }), custom, zero)).toMatchObject({ retry: false, reason: "retries_exhausted" });
  });
});

describe("decideRetry: non-idempotent methods", () => {
  it("does not retry POST or PATCH after a server error unless the caller opted in", () => {
    for (const method of ["POST", "PATCH", "post"]) {
      expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ method }), policy, zero)).toEqual({ retry: false, reason: "not_idempotent" });
      expect(decideRetry({ status: 0, retryAfterSeconds: null, limit: null }, call({ method }), policy, zero)).toEqual({ retry: false, reason: "not_idempotent" });
      expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ method, optedIn: true }), policy, zero)).toMatchObject({ retry: true, waitMs: 1_000 });
    }
  });

  it("treats GET, HEAD, OPTIONS, PUT and DELETE as idempotent", () => {
    expect(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "delete"].every(isIdempotent)).toBe(true);
    expect(["POST", "PATCH", "CONNECT"].some(isIdempotent)).toBe(false);
  });

  it("never retries a body that cannot be sent twice", () => {
    expect(decideRetry({ status: 429, retryAfterSeconds: 1, limit: "minute" }, call({ replayable: false }), policy, zero)).toEqual({ retry: false, reason: "body_not_replayable" });
  });
});

describe("decideRetry: the total-wait cap", () => {
  it("allows a wait that reaches the cap exactly, refuses one that passes it", () => {
    expect(decideRetry({ status: 429, retryAfterSeconds: 45, limit: "minute" }, call({ totalWaitMs: 15_000 }), policy, zero)).toMatchObject({ retry: true, waitMs: 45_000 });
    expect(decideRetry({ status: 429, retryAfterSeconds: 46, limit: "minute" }, call({ totalWaitMs: 15_000 }), policy, zero)).toEqual({ retry: false, reason: "wait_cap" });
    expect(decideRetry({ status: 500, retryAfterSeconds: null, limit: null }, call({ totalWaitMs: 59_500 }), policy, zero)).toEqual({ retry: false, reason: "wait_cap" });
  });

  it("refuses a day limit's wait of hours at once", () => {
    expect(decideRetry({ status: 429, retryAfterSeconds: 3_600, limit: "minute" }, call(), policy, zero)).toEqual({ retry: false, reason: "wait_cap" });
  });

  it("defaults to 60 s", () => {
    expect(policy.maxTotalWaitMs).toBe(60_000);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-02-01T12:00:00Z");

  it("reads delta-seconds and HTTP dates", () => {
    expect(parseRetryAfter("45", now)).toBe(45);
    expect(parseRetryAfter(" 3 ", now)).toBe(3);
    expect(parseRetryAfter("Sun, 01 Feb 2026 12:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter("Sun, 01 Feb 2026 11:00:00 GMT", now)).toBe(0);
  });

  it("ignores what is neither", () => {
    for (const value of [null, "", "soon", "-5", "1.5", "1e3"]) expect(parseRetryAfter(value, now)).toBeNull();
  });
});
