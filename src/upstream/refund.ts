// Giving a debit back when the origin did not succeed (SPEC 5). settle() is idempotent per
// request id, so a retry is always safe. A refund that cannot be made now is retried in the
// background, inside the time the runtime grants background work, and if it still fails it
// is logged with console.error — request id, account and amount — for an operator to give
// back by hand (the ledger holds the debit).
import { accountStub, isRetryable } from "../account/stub.ts";
import type { ClaimOutcome } from "../account/types.ts";
import type { RequestContext } from "../context.ts";

export interface Debit {
  accountId: string;
  /** The credits this request was (or may have been) charged: the route's cost. */
  amount: number;
  /**
   * true when admission said it debited `amount`. false when its answer was lost: the debit
   * may or may not have been made, and settle() gives back only what the ledger shows.
   */
  certain: boolean;
  /** The request's Idempotency-Key claim, released or answered in the same call (SPEC 11). */
  claim?: ClaimOutcome | null;
}

/** How long waitUntil() work may run after the response has gone (Cloudflare's limit). */
export const WAIT_UNTIL_BUDGET_MS = 30_000;

/**
 * The background retries: the wait before each attempt, and the most one attempt may take.
 * At worst 1 + 3 + 8 s of waiting and 3 × 5 s of attempts: 27 s, so the last log line is
 * written inside the budget rather than cut off with the work.
 */
export const BACKGROUND_REFUND = { delaysMs: [1_000, 3_000, 8_000], attemptTimeoutMs: 5_000 } as const;

/** The fields of the line an operator sees when a refund is given up. */
export interface LostRefund {
  request_id: string;
  account: string;
  amount: number;
}

/** Gives back this request's debit (and settles its Idempotency-Key claim); the balance after, or null if the account's object could not be reached. */
export async function refund(ctx: RequestContext, debit: Debit): Promise<number | null> {
  const attempt = () => accountStub(ctx.env, debit.accountId).settle(ctx.requestId, debit.certain ? debit.amount : 0, debit.claim ?? null);
  try {
    return await attempt();
  } catch (first) {
    if (isRetryable(first)) {
      try {
        return await attempt();
      } catch {
        // fall through to the background retries
      }
    }
    const pending = `refund pending: ${describe(first)}`;
    ctx.log.error = ctx.log.error === undefined ? pending : `${ctx.log.error}; ${pending}`;
    const lost: LostRefund = { request_id: ctx.requestId, account: debit.accountId, amount: debit.amount };
    ctx.exec.waitUntil(retryInBackground(attempt, lost));
    return null;
  }
}

/**
 * Retries `attempt` on BACKGROUND_REFUND's schedule; true once it succeeds. After the last
 * failure, logs `lost` as one JSON line on console.error and returns false. `wait` is the
 * pause between attempts (a timer; tests pass their own).
 */
export async function retryInBackground(
  attempt: () => Promise<unknown>,
  lost: LostRefund,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<boolean> {
  let lastError: unknown;
  for (const delay of BACKGROUND_REFUND.delaysMs) {
    await wait(delay);
    try {
      await withinMs(attempt(), BACKGROUND_REFUND.attemptTimeoutMs);
      return true;
    } catch (error) {
      lastError = error;
    }
  }
  const retries = BACKGROUND_REFUND.delaysMs.length;
  console.error(JSON.stringify({ ...lost, error: `refund failed after ${retries} background retries (${describe(lastError)}); the ledger holds the debit` }));
  return false;
}

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
