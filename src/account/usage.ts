// Usage history (SPEC 13): per hour and per key, what became of the requests the account's
// object decided. Pure: the object tallies here what a batch decided and writes one row per
// key and hour; the admin API turns stored hours into the answer's buckets.
//
// What is counted, and where:
// - admitted, with the credits debited: at admission, in the admission's own batch;
// - insufficient_credits (402), forbidden (403), rate_limited (429): at the refusal, which
//   joins a batch too, so a refusal is never answered before its count is committed;
// - origin_failed, and the credits given back: at the refund (settle), in the hour of the
//   debit it refunds, so one request's story — admitted, charged, refunded — stays in one
//   row: no hour ever shows more failures than admissions, or a negative spend.
// No other call is made for it: a request on a route without a cost is never refunded, so
// its origin failures are not counted (they would need a call of their own). 401s are not
// counted either: the key id in a refused key is whatever the client spelled, and counting it
// would let anyone write into the history of a key they do not hold.
import { isoSeconds } from "../envelope.ts";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** Hours kept: 35 days. Older rows are pruned and never answered. */
export const USAGE_RETENTION_HOURS = 35 * 24;

/** What one key's requests came to in one bucket. */
export interface UsageCounts {
  admitted: number;
  origin_failed: number;
  insufficient_credits: number;
  forbidden: number;
  rate_limited: number;
  /** Debits less refunds. */
  credits_spent: number;
}

/** The refusals the object decides and counts; each names its count. */
export type Refusal = "insufficient_credits" | "forbidden" | "rate_limited";

/** One stored row: a key's counts in one hour (hours since the epoch, UTC). */
export interface UsageHour extends UsageCounts {
  hour: number;
  key_id: string;
}

/** One bucket of the answer (SPEC 13): `start` is ISO 8601 UTC. */
export interface UsageBucket extends UsageCounts {
  start: string;
  key_id: string;
}

export type Granularity = "hour" | "day";

export const COUNT_NAMES = ["admitted", "origin_failed", "insufficient_credits", "forbidden", "rate_limited", "credits_spent"] as const satisfies readonly (keyof UsageCounts)[];

export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

export function zeroCounts(): UsageCounts {
  return { admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 0, rate_limited: 0, credits_spent: 0 };
}

/**
 * The usage a batch adds, summed by key and hour as it is decided, so a batch of fifty
 * admissions by one key writes one row, not fifty.
 */
export class UsageTally {
  private readonly byHourAndKey = new Map<string, UsageHour>();

  get isEmpty(): boolean {
    return this.byHourAndKey.size === 0;
  }

  admitted(at: number, keyId: string, credits: number): void {
    const row = this.row(at, keyId);
    row.admitted++;
    row.credits_spent += credits;
  }

  refused(at: number, keyId: string, refusal: Refusal): void {
    this.row(at, keyId)[refusal]++;
  }

  rows(): UsageHour[] {
    return [...this.byHourAndKey.values()];
  }

  private row(at: number, keyId: string): UsageHour {
    const hour = hourOf(at);
    const id = `${hour}/${keyId}`;
    let row = this.byHourAndKey.get(id);
    if (row === undefined) {
      row = { hour, key_id: keyId, ...zeroCounts() };
      this.byHourAndKey.set(id, row);
    }
    return row;
  }
}

/**
 * Stored hours as the answer's buckets: by hour, or summed by UTC day. Ordered by start,
 * then key id. Only buckets with something in them are listed: a key and bucket absent from
 * the series had no request.
 */
export function usageSeries(hours: readonly UsageHour[], granularity: Granularity): UsageBucket[] {
  const hoursPerBucket = granularity === "hour" ? 1 : 24;
  const buckets = new Map<string, { start: number; bucket: UsageBucket }>();
  for (const row of hours) {
    const start = Math.floor(row.hour / hoursPerBucket) * hoursPerBucket * HOUR_MS;
    const id = `${start}/${row.key_id}`;
    let entry = buckets.get(id);
    if (entry === undefined) {
      entry = { start, bucket: { start: isoSeconds(start), key_id: row.key_id, ...zeroCounts() } };
      buckets.set(id, entry);
    }
    for (const name of COUNT_NAMES) entry.bucket[name] += row[name];
  }
  return [...buckets.values()]
    .sort((a, b) => a.start - b.start || (a.bucket.key_id < b.bucket.key_id ? -1 : a.bucket.key_id > b.bucket.key_id ? 1 : 0))
    .map((entry) => entry.bucket);
}
