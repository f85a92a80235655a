// The limit arithmetic, with a fake clock: property tests that no rolling minute ever
// admits more than the limit, that Retry-After is exact, and that the day resets at 00:00 UTC.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PlanLimits } from "../../src/config.ts";
import { DAY_MS, MINUTE_MS, decide, dayNumberOf, firstInMinute, type UsageSnapshot } from "../../src/account/limiter.ts";

/**
 * A minimal account: what AccountDO keeps, driven by the pure decide(). Admissions go to a
 * pending batch first, as in the object (batch.ts); commit() folds the batch into the
 * committed state the way the object's commit does.
 */
class SimulatedAccount {
  minute: number[] = [];
  dayNumber = 0;
  dayUsed = 0;
  pending: number[] = [];
  admitted: number[] = [];
  readonly limits: PlanLimits;
  constructor(limits: PlanLimits) {
    this.limits = limits;
  }
  snapshot(): UsageSnapshot {
    return { minuteAdmissions: this.minute, dayNumber: this.dayNumber, dayUsed: this.dayUsed };
  }
  request(now: number) {
    const decision = decide(this.limits, this.snapshot(), this.pending, now);
    if (decision.admitted) {
      this.pending.push(now);
      this.admitted.push(now);
    }
    return decision;
  }
  commit(): void {
    for (const at of this.pending) {
      this.dayUsed = this.dayNumber === dayNumberOf(at) ? this.dayUsed + 1 : 1;
      this.dayNumber = dayNumberOf(at);
      this.minute.push(at);
    }
    const last = this.pending.at(-1);
    if (last !== undefined) this.minute = this.minute.slice(firstInMinute(this.minute, last));
    this.pending = [];
  }
}

/** A request after `gap` ms; `commit`: the pending batch is committed before it. */
const step = fc.record({ gap: fc.integer({ min: 0, max: 5_000 }), commit: fc.boolean() });

const T0 = Date.UTC(2026, 1, 1, 12, 0, 0);

describe("the rolling minute", () => {
  it("never holds more than the limit in any 60-second span (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(step, { minLength: 1, maxLength: 300 }),
        (limit, steps) => {
          const account = new SimulatedAccount({ perMinute: limit, perDay: null });
          let now = T0;
          for (const { gap, commit } of steps) {
            if (commit) account.commit();
            now += gap;
            account.request(now);
          }
          // Any limit+1 consecutive admissions span at least a full minute.
          const times = account.admitted;
          for (let i = limit; i < times.length; i++) expect(times[i]! - times[i - limit]!).toBeGreaterThanOrEqual(MINUTE_MS);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("admits a client that waits exactly Retry-After, and not a millisecond-rounded moment earlier (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), commit: fc.boolean() }), { minLength: 1, maxLength: 60 }),
        fc.boolean(),
        (limit, steps, commitBeforeDenial) => {
          const account = new SimulatedAccount({ perMinute: limit, perDay: null });
          let now = T0;
          for (const { gap, commit } of steps) {
            if (commit) account.commit();
            account.request((now += gap));
          }
          // The promise holds whether the admissions it counted are committed yet or not.
          if (commitBeforeDenial) account.commit();
          // Fill the window, then check the first denial's promise.
          let denial = account.request(now);
          while (denial.admitted) denial = account.request((now += 1));
          if (denial.admitted) throw new Error("unreachable");
          expect(denial.deniedBy).toBe("minute");
          expect(Number.isInteger(denial.retryAfterSeconds)).toBe(true);
          expect(denial.retryAfterSeconds).toBeGreaterThanOrEqual(1);
          // The ceiling of the exact wait: a second less is too early (a denial changes nothing).
          if (denial.retryAfterSeconds > 1) expect(account.request(now + (denial.retryAfterSeconds - 1) * 1000).admitted).toBe(false);
          expect(account.request(now + denial.retryAfterSeconds * 1000).admitted).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports remaining and the seconds until the oldest admission leaves", () => {
    const account = new SimulatedAccount({ perMinute: 3, perDay: null });
    const first = account.request(T0);
    expect(first).toEqual({ admitted: true, windows: [{ name: "minute", limit: 3, windowSeconds: 60, remaining: 2, resetSeconds: 60 }] });
    account.request(T0 + 10_500);
    const third = account.request(T0 + 20_000);
    expect(third.windows[0]).toMatchObject({ remaining: 0, resetSeconds: 40 });
    const denied = account.request(T0 + 30_000);
    expect(denied).toMatchObject({ admitted: false, deniedBy: "minute", retryAfterSeconds: 30 });
    expect(denied.windows[0]).toMatchObject({ remaining: 0, resetSeconds: 30 });
  });

  it("after a plan is lowered, waits until enough admissions have left", () => {
    const times = [T0, T0 + 1_000, T0 + 2_000, T0 + 3_000, T0 + 4_000];
    const denial = decide({ perMinute: 2, perDay: null }, { minuteAdmissions: times, dayNumber: dayNumberOf(T0), dayUsed: 5 }, [], T0 + 5_000);
    // Five inside, limit two: four must leave, the fourth (T0 + 3 s) leaves at T0 + 63 s.
    expect(denial).toMatchObject({ admitted: false, retryAfterSeconds: 58 });
  });
});

describe("the UTC day", () => {
  it("resets exactly at 00:00:00 UTC (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 365 * 50 }), fc.integer({ min: 1, max: DAY_MS - 1 }), (limit, day, offset) => {
        const account = new SimulatedAccount({ perMinute: null, perDay: limit });
        const start = day * DAY_MS + offset;
        for (let i = 0; i < limit; i++) expect(account.request(start).admitted).toBe(true);
        const denial = account.request(start);
        const midnight = (day + 1) * DAY_MS;
        expect(denial).toMatchObject({ admitted: false, deniedBy: "day", retryAfterSeconds: Math.ceil((midnight - start) / 1000) });
        expect(account.request(midnight - 1).admitted).toBe(false);
        expect(account.request(midnight).admitted).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("when both windows deny, answers with the longer wait", () => {
    const lateEvening = Date.UTC(2026, 1, 1, 23, 0, 0);
    const snapshot = { minuteAdmissions: [lateEvening - 1_000], dayNumber: dayNumberOf(lateEvening), dayUsed: 10 };
    const denial = decide({ perMinute: 1, perDay: 10 }, snapshot, [], lateEvening);
    expect(denial).toMatchObject({ admitted: false, deniedBy: "day", retryAfterSeconds: 3_600 });
    expect(denial.windows).toEqual([
      { name: "minute", limit: 1, windowSeconds: 60, remaining: 0, resetSeconds: 59 },
      { name: "day", limit: 10, windowSeconds: 86_400, remaining: 0, resetSeconds: 3_600 },
    ]);
  });

  it("a plan with no limits admits everything and describes no window", () => {
    expect(decide({ perMinute: null, perDay: null }, { minuteAdmissions: [], dayNumber: 0, dayUsed: 1e9 }, [], T0)).toEqual({ admitted: true, windows: [] });
  });
});

describe("the pending batch (group commit)", () => {
  /** Both windows, small enough to be reached; steps long enough to cross minutes and midnights. */
  const plans = fc.record({ perMinute: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }), perDay: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null }) });
  const steps = fc.array(
    fc.record({ gap: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 4 * 3_600_000 })), commit: fc.boolean() }),
    { minLength: 1, maxLength: 200 },
  );

  it("decides exactly as if every admission were committed at once (property)", () => {
    fc.assert(
      fc.property(plans, steps, fc.integer({ min: 0, max: DAY_MS - 1 }), (limits, path, startOffset) => {
        const batched = new SimulatedAccount(limits);
        const immediate = new SimulatedAccount(limits);
        let now = Date.UTC(2026, 1, 1) + startOffset;
        for (const { gap, commit } of path) {
          if (commit) batched.commit();
          now += gap;
          const decision = batched.request(now);
          expect(decision).toEqual(immediate.request(now));
          immediate.commit();
        }
      }),
      { numRuns: 300 },
    );
  });

  it("counts pending admissions in both windows and in the headers", () => {
    const limits = { perMinute: 5, perDay: 6 };
    const committed = { minuteAdmissions: [T0, T0 + 1_000, T0 + 2_000], dayNumber: dayNumberOf(T0), dayUsed: 4 };
    const pending = [T0 + 3_000, T0 + 4_000];
    const denial = decide(limits, committed, pending, T0 + 10_000);
    // Five inside the minute (three committed, two pending): the oldest, T0, leaves at T0 + 60 s.
    // The day holds six (four committed, two pending): full too, until midnight.
    expect(denial).toMatchObject({ admitted: false, deniedBy: "day" });
    expect(denial.windows).toEqual([
      { name: "minute", limit: 5, windowSeconds: 60, remaining: 0, resetSeconds: 50 },
      { name: "day", limit: 6, windowSeconds: 86_400, remaining: 0, resetSeconds: 43_190 },
    ]);
    const admitted = decide({ perMinute: 6, perDay: 7 }, committed, pending, T0 + 10_000);
    expect(admitted).toEqual({
      admitted: true,
      windows: [
        { name: "minute", limit: 6, windowSeconds: 60, remaining: 0, resetSeconds: 50 },
        { name: "day", limit: 7, windowSeconds: 86_400, remaining: 0, resetSeconds: 43_190 },
      ],
    });
  });

  it("does not count pending admissions of an earlier UTC day toward today", () => {
    const beforeMidnight = Date.UTC(2026, 1, 1, 23, 59, 59, 500);
    const snapshot = { minuteAdmissions: [], dayNumber: dayNumberOf(beforeMidnight), dayUsed: 1 };
    const afterMidnight = beforeMidnight + 1_000;
    const decision = decide({ perMinute: null, perDay: 2 }, snapshot, [beforeMidnight], afterMidnight);
    expect(decision).toMatchObject({ admitted: true, windows: [{ name: "day", remaining: 1 }] });
  });
});
