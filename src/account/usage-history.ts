// An account's usage history (SPEC 13) as AccountDO writes and reads it: a batch's counts,
// a refund counted against its debit, the hourly prune, and what a read may still answer.
// The counting rules are usage.ts's (pure), the SQL store.ts's; every write here runs inside
// the object's transactionSync, in commits the object makes anyway.
import type { AccountStore } from "./store.ts";
import { USAGE_RETENTION_HOURS, hourOf, zeroCounts, type UsageHour, type UsageTally } from "./usage.ts";

export class UsageHistory {
  private readonly store: AccountStore;
  private lastPruneHour = 0;

  constructor(store: AccountStore) {
    this.store = store;
  }

  /** A batch's counts: one row per key and hour. */
  record(tally: UsageTally): void {
    if (!tally.isEmpty) this.store.addUsage(tally.rows());
  }

  /**
   * A refund is counted in the hour of the debit it gives back, against its key, so one
   * request's story stays in one row. A debit the ledger no longer holds (a body that
   * streamed for over the ledger's retention, then broke) or one written before the usage
   * history existed names no key: that refund is given but not counted.
   */
  countRefund(requestId: string, amount: number): void {
    const debit = this.store.debitOf(requestId);
    if (debit === null || debit.key_id === null) return;
    this.store.addUsage([{ ...zeroCounts(), hour: hourOf(debit.at), key_id: debit.key_id, origin_failed: 1, credits_spent: -amount }]);
  }

  /**
   * Drops the rows past the retention, in the first commit of each hour: one cheap range
   * delete an hour. An account with no commit keeps its old rows stored, never answered.
   */
  pruneHourly(now: number): void {
    const hour = hourOf(now);
    if (hour === this.lastPruneHour) return;
    this.lastPruneHour = hour;
    this.store.pruneUsage(oldestKeptHour(hour));
  }

  /** Hours `fromHour` (inclusive) to `toHour` (exclusive); rows past the retention are not answered even before a commit has pruned them. */
  read(fromHour: number, toHour: number, now: number): UsageHour[] {
    return this.store.usageHours(Math.max(fromHour, oldestKeptHour(hourOf(now))), toHour);
  }
}

/** The first hour the usage history still holds, in the hour `hour`: 35 days back. */
function oldestKeptHour(hour: number): number {
  return hour - USAGE_RETENTION_HOURS;
}
