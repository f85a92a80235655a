// The values that cross the Durable Object RPC boundary. Expected outcomes (an unknown key,
// a denied limit, a short balance) are data, never exceptions: exceptions are faults.
import type { IdempotencyClaim, IdempotencyRefusal, KeptAnswer, ReplayableAnswer } from "./idempotency.ts";
import type { WindowName, WindowState } from "./limiter.ts";

export interface AdmitRequest {
  requestId: string;
  keyId: string;
  /** SHA-256 of the presented key, computed by the Worker so admit() stays synchronous. */
  keyHash: ArrayBuffer;
  scope: string;
  /** Credits this operation costs; 0 for none. */
  cost: number;
  /** The request's Idempotency-Key and fingerprint (SPEC 11), when it carries one. */
  idempotency?: IdempotencyClaim;
}

export type Admission =
  | {
      outcome: "admitted";
      windows: WindowState[];
      /** The balance after the debit; null when the route costs nothing. */
      balance: number | null;
    }
  /**
   * The Idempotency-Key's first answer, again (SPEC 11): admitted (a rate-limit slot taken),
   * charged nothing, the origin not called. `balance` is the current one on a route with a cost.
   */
  | { outcome: "replay"; windows: WindowState[]; balance: number | null; answer: ReplayableAnswer }
  /** Refused for its Idempotency-Key (SPEC 11): nothing consumed. */
  | { outcome: "idempotency_refused"; refusal: IdempotencyRefusal }
  | { outcome: "invalid_key" }
  | { outcome: "forbidden"; scope: string }
  | { outcome: "rate_limited"; deniedBy: WindowName; retryAfterSeconds: number; windows: WindowState[] }
  | { outcome: "insufficient_credits"; cost: number; balance: number }
  /**
   * A fault, but a known one: the batch this answer waited for failed to commit and was rolled
   * back, so nothing was taken (no slot, no credit). Answered like an unreachable object (SPEC 6).
   */
  | { outcome: "not_committed"; error: string };

export interface KeyView {
  id: string;
  prefix: string;
  scopes: string[];
  name: string | null;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
}

export interface UsageView {
  used: number | null;
  limit: number | null;
  reset: string | null;
}

export interface LedgerEntryView {
  at: string;
  delta: number;
  balance: number;
  reason: string;
  request_id: string | null;
}

export interface AccountView {
  id: string;
  plan: string;
  credits: number;
  limits: { per_minute: number | null; per_day: number | null };
  usage: { minute: UsageView; day: UsageView };
  keys: KeyView[];
  /** The latest credit movements, newest first. */
  ledger: LedgerEntryView[];
}

/** One row of the account listing (SPEC 13): the account object's current values. */
export interface AccountSummary {
  id: string;
  plan: string;
  credits: number;
  created_at: string;
}

/** GET /_gateway/accounts (SPEC 13): a page of accounts in id order. */
export interface AccountPage {
  accounts: AccountSummary[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export interface NewKey {
  keyId: string;
  hash: ArrayBuffer;
  prefix: string;
  scopes: string[];
  name: string | null;
  /** Epoch ms, or null for a key that does not expire. */
  expiresAt: number | null;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; error: "not_found" | "exists" | "negative_balance" | "balance_overflow"; balance?: number };

/**
 * How a request that claimed an Idempotency-Key ended, told to the object with its refund
 * (settle) so both happen in one call: `answer` kept for replay, or null to release the key
 * (the origin failed, timed out or was busy: SPEC 11 forwards a retry again).
 */
export interface ClaimOutcome {
  key: string;
  answer: KeptAnswer | null;
}
