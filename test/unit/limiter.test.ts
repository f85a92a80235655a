// The limit arithmetic, with a fake clock: property tests that no rolling minute ever
// admits more than the limit, that Retry-After is exact, and that the day resets at 00:00 UTC.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PlanLimits } from "../../src/config.ts";
import { DAY_MS, MINUTE_MS, decide, dayNumberOf, firstInMinute, type UsageSnapshot } from "../../src/account/limiter.ts";

/** A minimal account: what AccountDO keeps, driven by the pure decide(). */
class SimulatedAccount {
  minute: number[] = [];
  dayNumber = 0;
  dayUsed = 0;
  admitted: number[] = [];
  readonly limits: PlanLimits;
  constructor(limits: PlanLimits) {
    this.limits = limits;
  }
  snapshot(): UsageSnapshot {
    return { minuteAdmissions: this.minute, dayNumber: this.dayNumber, dayUsed: this.dayUsed };
  }
  request(now: number) {
    const decision = decide(this.limits, this.snapshot(), now);
    if (decision.admitted) {
      this.minute = [...this.minute.slice(firstInMinute(this.minute, now)), now];
      this.dayUsed = this.dayNumber === dayNumberOf(now) ? this.dayUsed + 1 : 1;
      this.dayNumber = dayNumberOf(now);
      this.admitted.push(now);
    }
    return decision;
  }
}

const T0 = Date.UTC(2026, 1, 1, 12, 0, 0);

describe("the rolling minute", () => {
  it("never holds more than the limit in any 60-second span (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 300 }),
        (limit, gaps) => {
          const account = new SimulatedAccount({ perMinute: limit, perDay: null });
          let now = T0;
          for (const gap of gaps) {
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
        fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 60 }),
        (limit, gaps) => {
          const account = new SimulatedAccount({ perMinute: limit, perDay: null });
          let now = T0;
          for (const gap of gaps) account.request((now += gap));
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
    const denial = decide({ perMinute: 2, perDay: null }, { minuteAdmissions: times, dayNumber: dayNumberOf(T0), dayUsed: 5 }, T0 + 5_000);
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
    const denial = decide({ perMinute: 1, perDay: 10 }, snapshot, lateEvening);
    expect(denial).toMatchObject({ admitted: false, deniedBy: "day", retryAfterSeconds: 3_600 });
    expect(denial.windows).toEqual([
      { name: "minute", limit: 1, windowSeconds: 60, remaining: 0, resetSeconds: 59 },
      { name: "day", limit: 10, windowSeconds: 86_400, remaining: 0, resetSeconds: 3_600 },
    ]);
  });

  it("a plan with no limits admits everything and describes no window", () => {
    expect(decide({ perMinute: null, perDay: null }, { minuteAdmissions: [], dayNumber: 0, dayUsed: 1e9 }, T0)).toEqual({ admitted: true, windows: [] });
  });
});
