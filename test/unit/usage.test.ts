// The usage history's pure parts: stored hours into the answer's buckets (src/account/usage.ts)
// and the endpoint's query (src/admin/usage-query.ts). The counting itself, inside the account
// object, is test/worker/usage.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DAY_MS, HOUR_MS, usageSeries, zeroCounts, type UsageHour } from "../../src/account/usage.ts";
import { parseUsageQuery, parseUtcTime } from "../../src/admin/usage-query.ts";

const T = Date.UTC(2026, 1, 1); // 2026-02-01T00:00:00Z
const H = T / HOUR_MS;

function row(hour: number, key_id: string, counts: Partial<UsageHour> = {}): UsageHour {
  return { ...zeroCounts(), hour, key_id, ...counts };
}

describe("usageSeries", () => {
  const hours = [
    row(H, "kA", { admitted: 3, credits_spent: 80, origin_failed: 1 }),
    row(H, "kB", { forbidden: 2 }),
    row(H + 5, "kA", { admitted: 1, rate_limited: 4, credits_spent: 40 }),
    row(H + 24, "kA", { insufficient_credits: 1 }),
  ];

  it("by hour: one bucket per stored key and hour, ordered by start then key, nothing for empty hours", () => {
    expect(usageSeries(hours, "hour")).toEqual([
      { ...zeroCounts(), start: "2026-02-01T00:00:00Z", key_id: "kA", admitted: 3, credits_spent: 80, origin_failed: 1 },
      { ...zeroCounts(), start: "2026-02-01T00:00:00Z", key_id: "kB", forbidden: 2 },
      { ...zeroCounts(), start: "2026-02-01T05:00:00Z", key_id: "kA", admitted: 1, rate_limited: 4, credits_spent: 40 },
      { ...zeroCounts(), start: "2026-02-02T00:00:00Z", key_id: "kA", insufficient_credits: 1 },
    ]);
  });

  it("by day: the hours of each UTC day summed per key", () => {
    expect(usageSeries([...hours].reverse(), "day")).toEqual([
      { ...zeroCounts(), start: "2026-02-01T00:00:00Z", key_id: "kA", admitted: 4, credits_spent: 120, origin_failed: 1, rate_limited: 4 },
      { ...zeroCounts(), start: "2026-02-01T00:00:00Z", key_id: "kB", forbidden: 2 },
      { ...zeroCounts(), start: "2026-02-02T00:00:00Z", key_id: "kA", insufficient_credits: 1 },
    ]);
  });

  it("loses and invents nothing: every count's total is the same by hour and by day", () => {
    const counts = fc.record({ admitted: fc.nat(50), origin_failed: fc.nat(5), insufficient_credits: fc.nat(5), forbidden: fc.nat(5), rate_limited: fc.nat(5), credits_spent: fc.integer({ min: -100, max: 1000 }) });
    const rows = fc.uniqueArray(fc.record({ hour: fc.integer({ min: H, max: H + 31 * 24 }), key_id: fc.constantFrom("a", "b", "c"), counts }), { selector: (r) => `${r.hour}/${r.key_id}`, maxLength: 60 });
    fc.assert(
      fc.property(rows, (generated) => {
        const stored = generated.map((r) => row(r.hour, r.key_id, r.counts));
        for (const granularity of ["hour", "day"] as const) {
          const series = usageSeries(stored, granularity);
          for (const name of ["admitted", "origin_failed", "insufficient_credits", "forbidden", "rate_limited", "credits_spent"] as const) {
            expect(series.reduce((sum, b) => sum + b[name], 0)).toBe(stored.reduce((sum, r) => sum + r[name], 0));
          }
          const starts = series.map((b) => Date.parse(b.start));
          expect(starts).toEqual([...starts].sort((a, b) => a - b));
          for (const start of starts) expect(start % (granularity === "hour" ? HOUR_MS : DAY_MS)).toBe(0);
        }
      }),
    );
  });
});

describe("parseUtcTime", () => {
  it("reads the ISO 8601 UTC spellings", () => {
    expect(parseUtcTime("2026-02-01T12:34:56Z")).toBe(Date.UTC(2026, 1, 1, 12, 34, 56));
    expect(parseUtcTime("2026-02-01T12:34:56.789Z")).toBe(Date.UTC(2026, 1, 1, 12, 34, 56, 789));
    expect(parseUtcTime("2026-02-01T12:34:56.7891234Z")).toBe(Date.UTC(2026, 1, 1, 12, 34, 56, 789));
    expect(parseUtcTime("2026-02-01T12:34Z")).toBe(Date.UTC(2026, 1, 1, 12, 34));
    expect(parseUtcTime("2026-02-01")).toBe(T);
    // An offset of zero is UTC too; a raw + in a query string arrives as a space.
    for (const zero of ["+00:00", "+0000", "-00:00", " 00:00"]) expect(parseUtcTime(`2026-02-01T12:34:56${zero}`), zero).toBe(Date.UTC(2026, 1, 1, 12, 34, 56));
  });

  it("refuses everything else: other zones, no zone, impossible dates and times, other shapes", () => {
    for (const text of [
      "2026-02-01T12:00:00+02:00",
      "2026-02-01T12:00:00-05:00",
      "2026-02-01T12:00:00+00:30",
      "2026-02-01T12:00:00+00",
      "2026-02-01T12:00:00",
      "2026-02-01T12:00:00z",
      "2026-02-30T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-02-01T24:00:00Z",
      "2026-02-01T23:60:00Z",
      "2026-02-01T23:59:60Z",
      "0099-01-01T00:00:00Z",
      "1769904000",
      "2026-2-1",
      " 2026-02-01T00:00:00Z",
      "2026-02-01T00:00:00Z\n",
      "",
    ]) {
      expect(parseUtcTime(text), text).toBeNull();
    }
  });

  it("reads back what toISOString writes, to the millisecond", () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }), (ms) => {
        expect(parseUtcTime(new Date(ms).toISOString())).toBe(ms);
      }),
    );
  });
});

describe("parseUsageQuery", () => {
  const now = T + 10 * DAY_MS + 30 * 60_000; // 2026-02-11T00:30:00Z
  const parse = (query: string) => parseUsageQuery(new URLSearchParams(query), now);

  it("defaults: by hour, the last 24 hours up to now, taking in the hours now and then fall in", () => {
    expect(parse("")).toEqual({ ok: true, value: { granularity: "hour", from: now - DAY_MS, to: now, fromHour: now / HOUR_MS - 24.5, toHour: now / HOUR_MS + 0.5 } });
  });

  it("by day, the last 30 days: 31 UTC days, today's included", () => {
    const parsed = parse("granularity=day");
    expect(parsed).toMatchObject({ ok: true, value: { granularity: "day", from: now - 30 * DAY_MS, to: now } });
    if (!parsed.ok) return;
    expect(parsed.value.fromHour * HOUR_MS).toBe(T - 20 * DAY_MS);
    expect(parsed.value.toHour * HOUR_MS).toBe(T + 11 * DAY_MS);
  });

  it("from inclusive, to exclusive, in whole buckets; at most 31 days", () => {
    expect(parse("from=2026-02-01T00:00:00Z&to=2026-02-01T03:00:00Z")).toMatchObject({ ok: true, value: { fromHour: H, toHour: H + 3 } });
    expect(parse("from=2026-02-01T00:59:59Z&to=2026-02-01T03:00:01Z")).toMatchObject({ ok: true, value: { fromHour: H, toHour: H + 4 } });
    expect(parse("from=2026-02-01T05:00:00Z&to=2026-02-02T00:00:01Z&granularity=day")).toMatchObject({ ok: true, value: { fromHour: H, toHour: H + 48 } });
    expect(parse("from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z")).toMatchObject({ ok: true, value: { fromHour: H - 31 * 24, toHour: H } });
    expect(parse("from=2026-02-01T00:00:00Z")).toMatchObject({ ok: true, value: { from: T, to: now } });
  });

  it("refuses bad parameters with a message naming the parameter", () => {
    const cases: [string, string][] = [
      ["from=yesterday", "Invalid query: from: must be an ISO 8601 UTC time, e.g. 2026-02-01T00:00:00Z"],
      ["to=2026-02-01T00:00:00%2B02:00", "Invalid query: to: must be an ISO 8601 UTC time, e.g. 2026-02-01T00:00:00Z"],
      ["granularity=week", 'Invalid query: granularity: must be "hour" or "day"'],
      ["granularity=HOUR", 'Invalid query: granularity: must be "hour" or "day"'],
      ["from=2026-02-02T00:00:00Z&to=2026-02-01T00:00:00Z", "Invalid query: from: must be earlier than to"],
      ["from=2026-02-01T00:00:00Z&to=2026-02-01T00:00:00Z", "Invalid query: from: must be earlier than to"],
      ["from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:01Z", "Invalid query: from: must be at most 31 days before to"],
      ["from=2026-01-01T00:00:00Z", "Invalid query: from: must be at most 31 days before to (now, by default)"],
      ["from=2026-03-01T00:00:00Z", "Invalid query: from: must be earlier than to (now, by default)"],
      ["from=2026-02-01&from=2026-02-02", "Invalid query: from: must be given at most once"],
      ["limit=5", 'Invalid query: "limit" is not a parameter of this endpoint (from, to, granularity)'],
      ["From=2026-02-01", 'Invalid query: "From" is not a parameter of this endpoint (from, to, granularity)'],
    ];
    for (const [query, message] of cases) expect(parse(query), query).toEqual({ ok: false, message });
  });
});
