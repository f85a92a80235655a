// Reaching an account's Durable Object: by name, so the account id inside a key is all
// the gateway needs (no lookup table).
import type { AccountDO } from "./account-do.ts";

export function accountStub(env: Env, accountId: string): DurableObjectStub<AccountDO> {
  return env.ACCOUNTS.getByName(accountId);
}

/** Whether the runtime says a failed call may be retried (and so never ran to the end). */
export function isRetryable(error: unknown): boolean {
  const flags = error as { retryable?: unknown; overloaded?: unknown } | null;
  return flags?.retryable === true && flags.overloaded !== true;
}
