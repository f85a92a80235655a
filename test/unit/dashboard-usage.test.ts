// The dashboard's usage arithmetic (src/dashboard/usage-data.ts): the windows it asks for, and
// the API's sparse series filled out to one value per bucket. The page itself is
// test/e2e/dashboard.test.ts, in Chromium.
import { describe, expect, it } from "vitest";
import type { UsageBucket } from "../../src/client/admin.ts";
import { DAY_MS, HOUR_MS, columns, totals, totalsByKey, usageWindows } from "../../src/dashboard/usage-data.ts";

const T = Date.UTC(2026, 1, 10, 14, 25); // 2026-02-10T14:25:00Z

function bucket(start: string, key_id: string, counts: Partial<UsageBucket>): UsageBucket {
  return { start, key_id, admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 0, rate_limited: 0, credits_spent: 0, ...counts };
}

describe("the dashboard's usage windows and columns", () => {
  it("asks for 48 whole hours and 30 whole days, each ending with the current one, within the API's 31 days", () => {
    const { hours, days } = usageWindows(T);
    expect(hours).toEqual({ from: Date.UTC(2026, 1, 8, 15), to: T });
    expect(days).toEqual({ from: Date.UTC(2026, 0, 12), to: T });
    expect(days.to - days.from).toBeLessThanOrEqual(31 * DAY_MS);
  });

  it("fills every bucket, summing the keys, and drops what lies outside", () => {
    const from = Date.UTC(2026, 1, 10, 12);
    const series = [
      bucket("2026-02-10T12:00:00Z", "a", { admitted: 2, rate_limited: 1 }),
      bucket("2026-02-10T12:00:00Z", "b", { admitted: 3 }),
      bucket("2026-02-10T14:00:00Z", "a", { forbidden: 4 }),
      bucket("2026-02-10T15:00:00Z", "a", { admitted: 99 }), // after the window
    ];
    const filled = columns(series, from, HOUR_MS, 3, [(b) => b.admitted, (b) => b.rate_limited, (b) => b.forbidden]);
    expect(filled).toEqual({ x: [from / 1000, from / 1000 + 3600, from / 1000 + 7200], y: [[5, 0, 0], [1, 0, 0], [0, 0, 4]] });
  });

  it("totals, overall and by key, the busiest key first", () => {
    const series = [
      bucket("2026-02-10T12:00:00Z", "a", { admitted: 2, credits_spent: 40 }),
      bucket("2026-02-10T13:00:00Z", "b", { origin_failed: 1, admitted: 1, rate_limited: 3 }),
      bucket("2026-02-10T14:00:00Z", "a", { admitted: 1 }),
      bucket("2026-02-10T14:00:00Z", "c", { forbidden: 3 }),
    ];
    expect(totals(series)).toEqual({ admitted: 4, origin_failed: 1, insufficient_credits: 0, forbidden: 3, rate_limited: 3, credits_spent: 40 });
    expect([...totalsByKey(series)].map(([key, sums]) => [key, sums.admitted])).toEqual([
      ["b", 1], // 4 answered
      ["a", 3], // 3, before c by id
      ["c", 0],
    ]);
  });
});
