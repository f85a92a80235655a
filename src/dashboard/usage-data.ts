// The usage history (GET /_gateway/accounts/:id/usage) as the account page shows it: the
// windows it asks for, the series filled out to one value per bucket (the API lists only
// buckets with requests), and the totals its text and table give. Pure: `now` is passed in.
import type { UsageBucket } from "../client/admin.ts";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** Requests per hour over the last two days, this hour included. */
export const HOURS_SHOWN = 48;
/** Credits spent per day over the last thirty days, today included (the API allows 31). */
export const DAYS_SHOWN = 30;

export type Outcome = "admitted" | "origin_failed" | "insufficient_credits" | "forbidden" | "rate_limited";

/** The requests chart's series, in this order, with their names on the page. */
export const OUTCOMES: readonly { name: Outcome; label: string }[] = [
  { name: "admitted", label: "Admitted" },
  { name: "origin_failed", label: "Origin failed" },
  { name: "insufficient_credits", label: "402 no credits" },
  { name: "forbidden", label: "403 forbidden" },
  { name: "rate_limited", label: "429 rate limited" },
];

export type Totals = Record<Outcome | "credits_spent", number>;

/** The two windows the page asks for: whole buckets ending with the current one. */
export function usageWindows(now: number): { hours: { from: number; to: number }; days: { from: number; to: number } } {
  const thisHour = Math.floor(now / HOUR_MS) * HOUR_MS;
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return {
    hours: { from: thisHour - (HOURS_SHOWN - 1) * HOUR_MS, to: now },
    days: { from: today - (DAYS_SHOWN - 1) * DAY_MS, to: now },
  };
}

export interface Columns {
  /** Bucket starts, in seconds (uPlot's time unit). */
  x: number[];
  /** One column per series, a value per bucket; 0 where the API listed nothing. */
  y: number[][];
}

/** `count` buckets of `bucketMs` from `from`, each the sum over keys of `values`. */
export function columns(series: readonly UsageBucket[], from: number, bucketMs: number, count: number, values: readonly ((bucket: UsageBucket) => number)[]): Columns {
  const x = Array.from({ length: count }, (_, i) => (from + i * bucketMs) / 1000);
  const y = values.map(() => new Array<number>(count).fill(0));
  for (const bucket of series) {
    const i = Math.round((Date.parse(bucket.start) - from) / bucketMs);
    if (i < 0 || i >= count) continue;
    values.forEach((value, v) => (y[v]![i]! += value(bucket)));
  }
  return { x, y };
}

export function totals(series: readonly UsageBucket[]): Totals {
  const sum: Totals = { admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 0, rate_limited: 0, credits_spent: 0 };
  for (const bucket of series) for (const name of Object.keys(sum) as (keyof Totals)[]) sum[name] += bucket[name];
  return sum;
}

/** Requests the gateway answered: admitted or refused (origin failures were admitted). */
export function answered(sums: Totals): number {
  return sums.admitted + sums.insufficient_credits + sums.forbidden + sums.rate_limited;
}

/** Totals per key, the busiest first (then by key id). */
export function totalsByKey(series: readonly UsageBucket[]): Map<string, Totals> {
  const byKey = new Map<string, UsageBucket[]>();
  for (const bucket of series) byKey.set(bucket.key_id, [...(byKey.get(bucket.key_id) ?? []), bucket]);
  const sums = [...byKey].map(([key, buckets]) => [key, totals(buckets)] as const);
  sums.sort(([a, x], [b, y]) => answered(y) - answered(x) || (a < b ? -1 : 1));
  return new Map(sums);
}
