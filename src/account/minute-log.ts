// The rolling minute's admission times, in memory and in SQLite. Memory is bounded by the
// plan's per-minute limit (times older than a minute are dropped), never by traffic.
import { firstInMinute } from "./limiter.ts";

export class MinuteLog {
  /** Ascending admission times; a prefix may already be outside the minute. */
  times: number[];
  /** seq of times[0] in the minute_admissions table; seqs are consecutive. */
  private firstSeq: number;

  constructor(rows: readonly { seq: number; at: number }[]) {
    this.times = rows.map((r) => r.at);
    this.firstSeq = rows[0]?.seq ?? 1;
  }

  /** Appends one admission, returning its seq for the table. */
  append(at: number): number {
    this.times.push(at);
    return this.firstSeq + this.times.length - 1;
  }

  /**
   * Drops times that left the minute once they make up half of the log (amortised O(1)),
   * returning the seq below which rows may be deleted, or null when nothing was dropped.
   */
  compact(now: number): number | null {
    const dead = firstInMinute(this.times, now);
    if (dead === 0 || dead * 2 < this.times.length) return null;
    this.times = this.times.slice(dead);
    this.firstSeq += dead;
    return this.firstSeq;
  }

  /** Forgets everything, e.g. when the plan no longer limits the minute. */
  clear(): number {
    this.firstSeq += this.times.length;
    this.times = [];
    return this.firstSeq;
  }
}
