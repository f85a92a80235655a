// Idempotency keys (SPEC 11): what a request carrying `Idempotency-Key` meets in its account's
// object, decided here without I/O or a clock of its own (`now` is passed in). The object
// reads the key's record — pending in the batch or committed — and asks decideClaim(); the
// claim itself is written with the admission's rows, in the same commit (batch.ts).
//
// A record's life: claimed (in flight) by an admitted request → answered (its answer kept for
// replay, or kept as "too large" / "not kept") or released (deleted: the origin failed, timed
// out or was busy, so a retry is forwarded again). It expires 24 hours after its answer, or
// after its claim when no answer ever came.
import type { ErrorCode } from "../envelope.ts";

/** SPEC 11: records live this long after the first answer. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/** SPEC 11: a request carrying the header may have at most this much body, and an answer kept for replay too. */
export const MAX_IDEMPOTENT_BODY_BYTES = 1_048_576;

/**
 * A claim still in flight after this long never reported its outcome (the Worker that held it
 * was stopped, or could not reach this object): the origin may have acted, so it is never
 * released, but a repeat is told so rather than to retry in a second. A request waits at most
 * MAX_UPSTREAM_TIMEOUT_MS (10 minutes) for the origin and reports within the 30 s of
 * background work the runtime grants, but a kept body may stream for longer; if it then
 * reports, its answer is kept and replayed as usual.
 */
export const IN_FLIGHT_REPORT_MS = 15 * 60_000;

/** The bounds of one account's records (README: "Idempotency keys"). */
export interface IdempotencyBounds {
  /** Live records (claimed or answered); a new key past it is refused with 409, never run unguarded. */
  maxRecords: number;
  /** Bytes of answers kept; an answer that would pass it is kept as "not kept" (a repeat gets 409). */
  maxKeptBytes: number;
}

export const DEFAULT_IDEMPOTENCY_BOUNDS: IdempotencyBounds = {
  maxRecords: 100_000,
  maxKeptBytes: 256 * 1_048_576,
};

/** What a request with the header sends along with its admission. */
export interface IdempotencyClaim {
  /** The header's value: 1–255 visible ASCII characters. */
  key: string;
  /** SHA-256 (hex) over the method, canonical path, query and body (src/idempotency/request.ts). */
  fingerprint: string;
}

/** A claim decided by an admission, written with its batch. */
export interface NewClaim extends IdempotencyClaim {
  requestId: string;
  at: number;
  /** The key's record expired but is not pruned yet: the claim replaces it. */
  replaces: boolean;
}

/** An origin answer (2xx or 3xx) kept for replay, byte for byte. */
export interface KeptResponse {
  kind: "response";
  status: number;
  statusText: string;
  /**
   * The origin's end-to-end headers, in order, each [name, value] (upstream/capture.ts says
   * which). Not typed as tuples: RPC's types turn a tuple into an array.
   */
  headers: string[][];
  /** As the origin encoded it (its Content-Encoding is among the headers). */
  body: ArrayBuffer;
}

/** An origin 4xx (not 429), kept as the envelope it became: a replay gets its own request id and time. */
export interface KeptEnvelope {
  kind: "envelope";
  code: ErrorCode;
  message: string;
}

/** The outcome of a claim, reported by the Worker that holds it. */
export type KeptAnswer =
  | KeptResponse
  | KeptEnvelope
  /** The body passed MAX_IDEMPOTENT_BODY_BYTES (SPEC 11). */
  | { kind: "too_large" }
  /** The origin answered, but the answer could not be kept whole: the client left mid-body, the body broke, the account's byte bound was reached. */
  | { kind: "not_kept" };

export type ReplayableAnswer = KeptResponse | KeptEnvelope;

/** A record as a decision needs it. `answer` null: still in flight. */
export interface ClaimRecord {
  fingerprint: string;
  claimedAt: number;
  expiresAt: number;
  answer: KeptAnswer | null;
}

/** Why a request with the header is refused; nothing of the account is consumed. */
export type IdempotencyRefusal =
  | { reason: "mismatch" }
  | { reason: "in_flight" }
  | { reason: "too_large" }
  | { reason: "not_kept" }
  | { reason: "unreported" }
  /** The account holds maxRecords live records; one expires in `retryAfterSeconds`. */
  | { reason: "full"; retryAfterSeconds: number };

export type ClaimDecision =
  | { kind: "first" }
  | { kind: "replay"; answer: ReplayableAnswer }
  | { kind: "refused"; refusal: IdempotencyRefusal };

/** What a request meets, given its key's record (null when there is none). */
export function decideClaim(record: ClaimRecord | null, fingerprint: string, now: number): ClaimDecision {
  if (record === null || record.expiresAt <= now) return { kind: "first" };
  if (record.fingerprint !== fingerprint) return { kind: "refused", refusal: { reason: "mismatch" } };
  const { answer } = record;
  if (answer === null) {
    const reason = now - record.claimedAt >= IN_FLIGHT_REPORT_MS ? "unreported" : "in_flight";
    return { kind: "refused", refusal: { reason } };
  }
  if (answer.kind === "too_large" || answer.kind === "not_kept") return { kind: "refused", refusal: { reason: answer.kind } };
  return { kind: "replay", answer };
}

/** When a record claimed or answered at `at` expires. */
export function expiryOf(at: number): number {
  return at + IDEMPOTENCY_TTL_MS;
}

/**
 * What an answer is kept as, given the bytes the account already keeps: an answer that would
 * take it past its bound is not kept (a repeat gets 409, never a second action).
 */
export function answerToKeep(answer: KeptAnswer, keptBytes: number, bounds: IdempotencyBounds): KeptAnswer {
  if (answer.kind !== "response") return answer;
  if (answer.body.byteLength > MAX_IDEMPOTENT_BODY_BYTES) return { kind: "too_large" };
  if (keptBytes + answer.body.byteLength > bounds.maxKeptBytes) return { kind: "not_kept" };
  return answer;
}

/** Whole seconds (≥ 1) until `at`. */
export function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}
