// Giving a debit back when the origin did not succeed (SPEC 5). settle() is idempotent per
// request id, so a retry is always safe: one that cannot be made now is retried in the
// background, and logged with its request id if it still fails (the ledger holds the debit).
import { accountStub, isRetryable } from "../account/stub.ts";
import type { RequestContext } from "../context.ts";

/** Gives back this request's debit; the balance after, or null if the account's object could not be reached. */
export async function refund(ctx: RequestContext, accountId: string): Promise<number | null> {
  const attempt = () => accountStub(ctx.env, accountId).settle(ctx.requestId);
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
    ctx.log.error = `refund pending: ${first instanceof Error ? first.message : String(first)}`;
    ctx.exec.waitUntil(retryInBackground(attempt, ctx.requestId));
    return null;
  }
}

const BACKGROUND_REFUND_DELAYS_MS = [1_000, 5_000, 30_000];

async function retryInBackground(attempt: () => Promise<number | null>, requestId: string): Promise<void> {
  for (const delay of BACKGROUND_REFUND_DELAYS_MS) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      await attempt();
      return;
    } catch {
      // next delay
    }
  }
  console.error(JSON.stringify({ request_id: requestId, error: "refund failed after retries; the ledger holds the debit" }));
}
