// The admin API's account and key views (SPEC section 7). Pure: `now` is passed in.
import type { PlanLimits } from "../config.ts";
import { isoSeconds } from "../envelope.ts";
import { MINUTE_MS, dayUsedAt, firstInMinute, msUntilNextDay, type UsageSnapshot } from "./limiter.ts";
import type { AccountView, KeyView, LedgerEntryView } from "./types.ts";

export interface StoredKey {
  id: string;
  hash: ArrayBuffer;
  prefix: string;
  scopes: string[];
  name: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export function keyView(key: StoredKey): KeyView {
  return {
    id: key.id,
    prefix: key.prefix,
    scopes: [...key.scopes],
    name: key.name,
    created_at: isoSeconds(key.createdAt),
    expires_at: key.expiresAt === null ? null : isoSeconds(key.expiresAt),
    revoked: key.revokedAt !== null,
  };
}

export interface AccountViewInput {
  account: { id: string; plan: string; credits: number };
  limits: PlanLimits;
  keys: readonly StoredKey[];
  usage: UsageSnapshot;
  ledger: readonly { at: number; delta: number; balance: number; reason: string; request_id: string | null }[];
  now: number;
}

export function accountView(input: AccountViewInput): AccountView {
  const { account, limits, usage, now } = input;
  const start = firstInMinute(usage.minuteAdmissions, now);
  const oldest = usage.minuteAdmissions[start];
  const dayUsed = dayUsedAt(usage, now);
  return {
    id: account.id,
    plan: account.plan,
    credits: account.credits,
    limits: { per_minute: limits.perMinute, per_day: limits.perDay },
    usage: {
      minute: {
        // Admissions are only tracked while the plan limits the minute.
        used: limits.perMinute === null ? null : usage.minuteAdmissions.length - start,
        limit: limits.perMinute,
        reset: oldest === undefined ? null : isoSeconds(Math.ceil((oldest + MINUTE_MS) / 1000) * 1000),
      },
      day: {
        used: dayUsed,
        limit: limits.perDay,
        reset: dayUsed === 0 ? null : isoSeconds(now + msUntilNextDay(now)),
      },
    },
    keys: input.keys.map(keyView),
    ledger: input.ledger.map(
      (row): LedgerEntryView => ({
        at: isoSeconds(row.at),
        delta: row.delta,
        balance: row.balance,
        reason: row.reason,
        request_id: row.request_id,
      }),
    ),
  };
}

