// Rolling-minute and UTC-day windows (SPEC section 4). Pure: the caller passes `now`.
//
// The minute window is exact: it keeps the admission times of the last 60 seconds (never
// more than the limit of them), and admits at `now` only when fewer than `limit` of those
// times are later than `now - 60 s`. So no 60-second span ever holds more than `limit`
// admissions, and the wait until the next admission is known to the millisecond.
import type { PlanLimits } from "../config.ts";

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

export type WindowName = "minute" | "day";

/** One window's state as the RateLimit headers and the account view describe it. */
export interface WindowState {
  name: WindowName;
  limit: number;
  /** Window length in seconds (the `w` of RateLimit-Policy). */
  windowSeconds: number;
  remaining: number;
  /** Whole seconds until the window next frees quota (the `t` of RateLimit). */
  resetSeconds: number;
}

/** What the limiter needs to know about an account's recent admissions. */
export interface UsageSnapshot {
  /** Admission times within the rolling minute, ascending. Empty when not tracked. */
  minuteAdmissions: readonly number[];
  /** Admissions on the UTC day `dayNumber`. */
  dayNumber: number;
  dayUsed: number;
}

export type LimitDecision =
  | { admitted: true; windows: WindowState[] }
  | { admitted: false; deniedBy: WindowName; retryAfterSeconds: number; windows: WindowState[] };

export function dayNumberOf(now: number): number {
  return Math.floor(now / DAY_MS);
}

export function msUntilNextDay(now: number): number {
  return (dayNumberOf(now) + 1) * DAY_MS - now;
}

/** Whole seconds, at least 1: a client that waits this long is past `ms`. */
export function ceilSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Index of the first admission still inside the rolling minute at `now`. */
export function firstInMinute(times: readonly number[], now: number): number {
  // Binary search: times are ascending.
  let lo = 0;
  let hi = times.length;
  const cutoff = now - MINUTE_MS;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! <= cutoff) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Admissions of `snapshot` that count on the UTC day of `now`. */
export function dayUsedAt(snapshot: UsageSnapshot, now: number): number {
  return snapshot.dayNumber === dayNumberOf(now) ? snapshot.dayUsed : 0;
}

/**
 * Admissions decided but not yet committed (the object's pending batch, see batch.ts):
 * their times, ascending and never earlier than the committed ones (the object's clock
 * never runs backwards). They count exactly like committed admissions.
 */
export type PendingAdmissions = readonly number[];

/**
 * Decides one request at `now`, counting the committed `snapshot` and the `pending`
 * admissions alike. On admission, `windows` describe the state after it; on denial, the
 * state that denied (remaining 0, reset = the wait).
 */
export function decide(limits: PlanLimits, snapshot: UsageSnapshot, pending: PendingAdmissions, now: number): LimitDecision {
  const waits: { name: WindowName; ms: number }[] = [];
  const minute = new RollingMinute(snapshot.minuteAdmissions, pending, now);
  const dayUsed = dayUsedAt(snapshot, now) + pending.length - firstOnDayOf(pending, now);

  if (limits.perMinute !== null && minute.count >= limits.perMinute) {
    // The admission that must leave the window before one more fits: with n inside and
    // limit L, the (n - L)-th oldest. n > L only after a plan was lowered.
    const blocker = minute.at(minute.count - limits.perMinute);
    waits.push({ name: "minute", ms: blocker + MINUTE_MS - now });
  }
  if (limits.perDay !== null && dayUsed >= limits.perDay) {
    waits.push({ name: "day", ms: msUntilNextDay(now) });
  }

  if (waits.length > 0) {
    // When both deny, the longer wait is the one that matters.
    const denial = waits.reduce((a, b) => (b.ms > a.ms ? b : a));
    const retryAfterSeconds = ceilSeconds(denial.ms);
    const oldest = minute.count === 0 ? undefined : minute.at(0);
    const windows = windowStates(limits, { oldest, count: minute.count }, dayUsed, now);
    for (const w of windows) {
      const wait = waits.find((x) => x.name === w.name);
      if (wait) {
        w.remaining = 0;
        w.resetSeconds = ceilSeconds(wait.ms);
      }
    }
    return { admitted: false, deniedBy: denial.name, retryAfterSeconds, windows };
  }

  const after = { oldest: minute.count === 0 ? now : minute.at(0), count: minute.count + 1 };
  return { admitted: true, windows: windowStates(limits, after, dayUsed + 1, now) };
}

/**
 * The admissions inside the rolling minute at `now`: the committed log's tail followed by
 * the pending batch's, read in place (no copy: the committed log can hold a whole minute of
 * a busy account's admissions).
 */
class RollingMinute {
  readonly count: number;
  private readonly committed: readonly number[];
  private readonly pending: readonly number[];
  private readonly committedStart: number;
  private readonly pendingStart: number;
  private readonly committedCount: number;

  constructor(committed: readonly number[], pending: readonly number[], now: number) {
    this.committed = committed;
    this.pending = pending;
    this.committedStart = firstInMinute(committed, now);
    this.pendingStart = firstInMinute(pending, now);
    this.committedCount = committed.length - this.committedStart;
    this.count = this.committedCount + pending.length - this.pendingStart;
  }

  /** The i-th oldest admission inside the minute, 0 ≤ i < count. */
  at(i: number): number {
    return i < this.committedCount ? this.committed[this.committedStart + i]! : this.pending[this.pendingStart + i - this.committedCount]!;
  }
}

/** Index of the first of ascending `times` on the UTC day of `now`. */
function firstOnDayOf(times: readonly number[], now: number): number {
  const dayStart = dayNumberOf(now) * DAY_MS;
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < dayStart) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rolling minute as the headers need it: how many admissions, and the oldest. */
export interface MinuteSummary {
  oldest: number | undefined;
  count: number;
}

/** The windows the plan sets, minute first, at `now`. */
export function windowStates(limits: PlanLimits, minute: MinuteSummary, dayUsed: number, now: number): WindowState[] {
  const windows: WindowState[] = [];
  if (limits.perMinute !== null) {
    const oldest = minute.oldest;
    windows.push({
      name: "minute",
      limit: limits.perMinute,
      windowSeconds: 60,
      remaining: Math.max(0, limits.perMinute - minute.count),
      // An empty window frees nothing; 0 says "now", as the draft allows.
      resetSeconds: oldest === undefined ? 0 : ceilSeconds(oldest + MINUTE_MS - now),
    });
  }
  if (limits.perDay !== null) {
    windows.push({
      name: "day",
      limit: limits.perDay,
      windowSeconds: 86_400,
      remaining: Math.max(0, limits.perDay - dayUsed),
      resetSeconds: ceilSeconds(msUntilNextDay(now)),
    });
  }
  return windows;
}
