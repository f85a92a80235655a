// SPEC 13's usage history inside workerd, against the real account object: every outcome
// counted exactly and per key, in the writes the object already makes; a refund in its
// debit's hour; ranges and granularity; bad parameters named; 35 days kept, pruned by moving
// the object's clock; and a failed group commit that leaves the history as it was.
//
// The object's clock is pinned (never slept on) to whole hours two days ahead, so no test
// depends on when it runs: an hour boundary can never fall between two of its requests.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import type { GroupCommitStats } from "../../src/account/batch.ts";
import type { UsageBucket, UsageHour } from "../../src/account/usage.ts";
import { hashKey, mintKey } from "../../src/keys.ts";
import { newIdempotencyKey, sendAndSettle } from "./idempotency-helpers.ts";
import { accountWithKey, admin, call, createKey, expectEnvelope, expectSuccess, getAccount, revokeKey, uniqueAccountId } from "./helpers.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Midnight UTC two days ahead: the object's clock may only move forward from the real one. */
const BASE = (Math.floor(Date.now() / DAY) + 2) * DAY;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function object(accountId: string) {
  return env.ACCOUNTS.getByName(accountId);
}

/** From now on the account's object reads `at` as the time. */
async function pinClock(accountId: string, at: number): Promise<void> {
  await runInDurableObject(object(accountId), (instance: AccountDO) => {
    (instance as unknown as { now: () => number }).now = () => at;
  });
}

async function usage(accountId: string, query: Record<string, string>): Promise<UsageBucket[]> {
  const res = await admin("GET", `/accounts/${accountId}/usage?${new URLSearchParams(query)}`);
  const data = await expectSuccess<{ series: UsageBucket[] }>(res, 200);
  expect(Object.keys(data)).toEqual(["series"]);
  return data.series;
}

/** What storage itself holds, read with SQL inside the object. */
function storedHours(accountId: string): Promise<UsageHour[]> {
  return runInDurableObject(object(accountId), (_instance: AccountDO, state: DurableObjectState) =>
    state.storage.sql.exec<UsageHour & Record<string, SqlStorageValue>>("SELECT * FROM usage_hours ORDER BY hour, key_id").toArray(),
  );
}

function sql(accountId: string, statement: string): Promise<void> {
  return runInDurableObject(object(accountId), (_instance: AccountDO, state: DurableObjectState) => {
    state.storage.sql.exec(statement);
  });
}

function bucket(start: number, keyId: string, counts: Partial<Omit<UsageBucket, "start" | "key_id">>): UsageBucket {
  return { start: iso(start), key_id: keyId, admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 0, rate_limited: 0, credits_spent: 0, ...counts };
}

/** Sends a request and reads its answer through; the status and request id. */
async function send(path: string, key: string, method = "GET"): Promise<{ status: number; requestId: string }> {
  const res = await call(path, { key, method, body: method === "POST" ? "{}" : undefined });
  await res.arrayBuffer();
  return { status: res.status, requestId: res.headers.get("X-Request-Id")! };
}

describe("the usage history counts what the gateway answered", () => {
  it("every outcome, exactly and per key; 401s and a free route's origin failures are not counted", async () => {
    // default: 5 a minute. POST /v1/generate/* costs 40; /v1/admin-only/* needs scope admin.
    const { accountId, key: a, keyId: aId } = await accountWithKey({ credits: 80 });
    const { key: b, id: bId } = await createKey(accountId, { scopes: ["read"] });
    const revoked = await createKey(accountId);
    await revokeKey(accountId, revoked.id);
    const at = BASE + 10 * 60_000;
    await pinClock(accountId, at);

    const answers = [
      await send("/v1/generate/echo", a, "POST"), // 200: 80 → 40
      await send("/v1/generate/status/500", a, "POST"), // the origin fails: refunded
      await send("/v1/generate/status/302", a, "POST"), // a 302 is passed on, and refunded
      await send("/v1/generate/echo", a, "POST"), // 200: 40 → 0
      await send("/v1/generate/echo", a, "POST"), // 402
      await send("/v1/generate/echo", b, "POST"), // 403: b reads only
      await send("/v1/admin-only/x", a), // 403
      await send("/v1/status/500", b), // admitted; a free route's failure refunds nothing
      await send("/v1/echo", b), // 429: five admitted this minute
      await send("/v1/echo", a), // 429
      await send("/v1/echo", revoked.key), // 401
      await send("/v1/echo", mintKey(accountId).key), // 401: no such key
      await send("/v1/echo", `${a.slice(0, -1)}${a.endsWith("0") ? "1" : "0"}`), // 401: malformed
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 500, 302, 200, 402, 403, 403, 500, 429, 429, 401, 401, 401]);

    const expected = [
      bucket(BASE, aId, { admitted: 4, origin_failed: 2, insufficient_credits: 1, forbidden: 1, rate_limited: 1, credits_spent: 80 }),
      bucket(BASE, bId, { admitted: 1, forbidden: 1, rate_limited: 1 }),
    ].sort((x, y) => (x.key_id < y.key_id ? -1 : 1));
    expect(await usage(accountId, { from: iso(BASE), to: iso(BASE + HOUR) })).toEqual(expected);
    expect(await usage(accountId, { from: iso(BASE), to: iso(BASE + HOUR), granularity: "day" })).toEqual(expected);
    // The history agrees with the account's own counters and balance.
    const view = await getAccount(accountId);
    expect([view.credits, view.usage.day.used]).toEqual([0, 5]);
  });

  it("a refund counts in the hour of the debit it gives back, as a failure and credits not spent", async () => {
    const { accountId, key, keyId } = await accountWithKey({ plan: "unlimited", credits: 100 });
    await pinClock(accountId, BASE + HOUR - 1_000); // 00:59:59
    const charged = await send("/v1/generate/echo", key, "POST");
    expect(charged.status).toBe(200);

    // The body breaks two minutes later, in the next hour: the refund joins its debit's row.
    await pinClock(accountId, BASE + HOUR + 60_000);
    expect(await object(accountId).settle(charged.requestId, 40)).toBe(100);
    const series = await usage(accountId, { from: iso(BASE), to: iso(BASE + 2 * HOUR) });
    expect(series).toEqual([bucket(BASE, keyId, { admitted: 1, origin_failed: 1, credits_spent: 0 })]);
    // Settling again gives nothing and counts nothing.
    expect(await object(accountId).settle(charged.requestId, 40)).toBe(100);
    expect(await usage(accountId, { from: iso(BASE), to: iso(BASE + 2 * HOUR) })).toEqual(series);
  });

  it("a refusal is answered before its count is committed, and a read made at once still counts it", async () => {
    const { accountId, key, keyId } = await accountWithKey({}, { scopes: ["read"] });
    const at = BASE + 4 * HOUR;
    await pinClock(accountId, at);
    const keyHash = await hashKey(key);
    // Inside the object, in one turn: the 403 is decided and answered, and no timer has run yet.
    const [answer, pendingBefore, hours] = await runInDurableObject(object(accountId), async (instance: AccountDO) => {
      const admission = instance.admit({ requestId: "req_usage_refused_0001", keyId, keyHash, scope: "write", cost: 0 });
      const pending = !(instance as unknown as { commits: { pending: { isEmpty: boolean } } }).commits.pending.isEmpty;
      const read = instance.usageHours(at / HOUR, at / HOUR + 1);
      return [await admission, pending, read] as const;
    });
    expect(answer).toEqual({ outcome: "forbidden", scope: "write" });
    expect(pendingBefore).toBe(true);
    expect(hours).toEqual([{ hour: at / HOUR, key_id: keyId, admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 1, rate_limited: 0, credits_spent: 0 }]);
  });

  it("an Idempotency-Key's replay is not counted as admitted (nothing was forwarded), and its refusals are not 402/403/429", async () => {
    const { accountId, key, keyId } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const at = BASE + 5 * HOUR;
    await pinClock(accountId, at);
    const idempotencyKey = newIdempotencyKey("usage");
    const keyed = (body: string, path = "/v1/generate/echo") => sendAndSettle(path, { key, idempotencyKey: body === "failing" ? `${idempotencyKey}-failing` : idempotencyKey, body });

    const first = await keyed("{}");
    const replay = await keyed("{}");
    const mismatch = await keyed('{"other":1}');
    const failed = await keyed("failing", "/v1/generate/status/500"); // released with its refund
    const retried = await keyed("failing", "/v1/generate/status/500"); // forwarded again
    expect([first, replay, mismatch, failed, retried].map(({ res }) => res.status)).toEqual([200, 200, 400, 500, 500]);
    expect(replay.res.headers.get("Idempotent-Replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);

    expect(await usage(accountId, { from: iso(at), to: iso(at + HOUR) })).toEqual([bucket(at, keyId, { admitted: 3, origin_failed: 2, credits_spent: 40 })]);
    expect((await getAccount(accountId)).credits).toBe(60);
  });

  it("a batch of many admissions writes one row per key and hour, and counts each exactly", async () => {
    // pro: 50 a minute. 60 simultaneous requests from two keys: 50 admitted, 10 refused.
    const { accountId, key: a, keyId: aId } = await accountWithKey({ plan: "pro", credits: 0 });
    const { key: b, id: bId } = await createKey(accountId);
    await pinClock(accountId, BASE + 3 * HOUR);
    const writes: UsageHour[][] = [];
    await runInDurableObject(object(accountId), (instance: AccountDO) => {
      const store = (instance as unknown as { store: { addUsage(rows: UsageHour[]): void } }).store;
      const real = store.addUsage.bind(store);
      store.addUsage = (rows) => {
        writes.push(rows.map((row) => ({ ...row })));
        real(rows);
      };
    });
    const before: GroupCommitStats = await object(accountId).groupCommitStats();
    const keys = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? b : a));
    const answers = await Promise.all(keys.map((key) => send("/v1/echo", key)));
    const after: GroupCommitStats = await object(accountId).groupCommitStats();

    const outcomes = (key: string) => {
      const mine = answers.filter((_, i) => keys[i] === key);
      return { admitted: mine.filter((x) => x.status === 200).length, rate_limited: mine.filter((x) => x.status === 429).length };
    };
    expect(answers.filter((x) => x.status === 200)).toHaveLength(50);
    expect(await usage(accountId, { from: iso(BASE + 3 * HOUR), to: iso(BASE + 4 * HOUR) })).toEqual(
      [bucket(BASE + 3 * HOUR, aId, outcomes(a)), bucket(BASE + 3 * HOUR, bId, outcomes(b))].sort((x, y) => (x.key_id < y.key_id ? -1 : 1)),
    );
    // One statement per key and hour in each commit, never one per request.
    for (const rows of writes) expect(new Set(rows.map((row) => `${row.hour}/${row.key_id}`)).size).toBe(rows.length);
    expect(writes.flat().reduce((sum, row) => sum + row.admitted + row.rate_limited, 0)).toBe(60);
    expect(writes.flat().length).toBeLessThan(60);
    expect(after.admissions - before.admissions).toBe(50);
    expect(after.batches - before.batches).toBeLessThan(50);
  });
});

describe("GET /_gateway/accounts/:id/usage", () => {
  /** An account with traffic at known times, by two keys, on the plan without limits. */
  async function history(): Promise<{ accountId: string; aId: string; bId: string }> {
    const { accountId, key: a, keyId: aId } = await accountWithKey({ plan: "unlimited" });
    const { key: b, id: bId } = await createKey(accountId);
    const traffic: [number, string, number][] = [
      [BASE + 10 * 60_000, a, 1], // day 0, 00:10
      [BASE + HOUR + 5 * 60_000, a, 2], // day 0, 01:05
      [BASE + DAY - 60_000, b, 1], // day 0, 23:59
      [BASE + DAY, a, 1], // day 1, 00:00
      [BASE + 3 * DAY + 7 * HOUR, a, 1], // day 3, 07:00
    ];
    for (const [at, key, count] of traffic) {
      await pinClock(accountId, at);
      for (let i = 0; i < count; i++) expect((await send("/v1/echo", key)).status).toBe(200);
    }
    return { accountId, aId, bId };
  }

  it("by hour and by UTC day; from's whole bucket included, to excluded; empty buckets left out", async () => {
    const { accountId, aId, bId } = await history();
    expect(await usage(accountId, { from: iso(BASE), to: iso(BASE + 2 * HOUR) })).toEqual([bucket(BASE, aId, { admitted: 1 }), bucket(BASE + HOUR, aId, { admitted: 2 })]);
    expect(await usage(accountId, { from: iso(BASE + 30 * 60_000), to: iso(BASE + HOUR) })).toEqual([bucket(BASE, aId, { admitted: 1 })]);
    expect(await usage(accountId, { from: iso(BASE + HOUR), to: iso(BASE + HOUR + 1_000) })).toEqual([bucket(BASE + HOUR, aId, { admitted: 2 })]);
    expect(await usage(accountId, { from: iso(BASE + 2 * HOUR), to: iso(BASE + 23 * HOUR) })).toEqual([]);

    const days = [bucket(BASE, aId, { admitted: 3 }), bucket(BASE, bId, { admitted: 1 }), bucket(BASE + DAY, aId, { admitted: 1 }), bucket(BASE + 3 * DAY, aId, { admitted: 1 })];
    const byDay = (from: number, to: number) => usage(accountId, { from: iso(from), to: iso(to), granularity: "day" });
    expect(await byDay(BASE, BASE + 4 * DAY)).toEqual(days.sort((x, y) => x.start.localeCompare(y.start) || (x.key_id < y.key_id ? -1 : 1)));
    expect(await byDay(BASE + 12 * HOUR, BASE + DAY)).toEqual(days.filter((d) => d.start === iso(BASE)));
    // The longest range a call may ask for: 31 days.
    expect(await byDay(BASE - 27 * DAY, BASE + 4 * DAY)).toEqual(days);
    expect(await usage(accountId, { from: iso(BASE + 4 * DAY - 31 * DAY), to: iso(BASE + 4 * DAY) })).toHaveLength(5);
    // Without from and to: the last 24 hours up to now, when this account has no traffic yet.
    expect(await usage(accountId, {})).toEqual([]);
    expect(await usage(accountId, { granularity: "day" })).toEqual([]);
  });

  it("refuses bad parameters with 400 naming the parameter; an unknown account is 404", async () => {
    const { accountId } = await history();
    const cases: [string, RegExp][] = [
      ["from=yesterday", /^Invalid query: from: must be an ISO 8601 UTC time/],
      ["to=2026-02-30T00:00:00Z", /^Invalid query: to: must be an ISO 8601 UTC time/],
      ["from=2026-02-01T00:00:00%2B01:00", /^Invalid query: from: must be an ISO 8601 UTC time/],
      ["granularity=minute", /^Invalid query: granularity: must be "hour" or "day"$/],
      [`from=${iso(BASE)}&to=${iso(BASE)}`, /^Invalid query: from: must be earlier than to$/],
      [`from=${iso(BASE)}&to=${iso(BASE + 31 * DAY + 1_000)}`, /^Invalid query: from: must be at most 31 days before to$/],
      [`from=${iso(Date.now() - 40 * DAY)}`, /^Invalid query: from: must be at most 31 days before to \(now, by default\)$/],
      ["granularity=hour&granularity=day", /^Invalid query: granularity: must be given at most once$/],
      ["key=abc", /^Invalid query: "key" is not a parameter of this endpoint \(from, to, granularity\)$/],
    ];
    for (const [query, message] of cases) {
      await expectEnvelope(await admin("GET", `/accounts/${accountId}/usage?${query}`), "VALIDATION_ERROR", message);
    }
    const unknown = uniqueAccountId("nobody");
    await expectEnvelope(await admin("GET", `/accounts/${unknown}/usage`), "NOT_FOUND", `Account '${unknown}' does not exist`);
    await expectEnvelope(await admin("GET", "/accounts/Not_An_Id/usage"), "NOT_FOUND");
    await expectEnvelope(await admin("GET", `/accounts/${accountId}/usage`, { token: null }), "UNAUTHORIZED");
    // Asking changed nothing.
    expect(await usage(accountId, { from: iso(BASE), to: iso(BASE + DAY) })).toHaveLength(3);
  });
});

describe("35 days of history", () => {
  it("keeps 35 days; an older hour is no longer answered, and the next commit deletes it", async () => {
    const { accountId, key, keyId } = await accountWithKey({ plan: "unlimited" });
    await pinClock(accountId, BASE + 30 * 60_000);
    expect((await send("/v1/echo", key)).status).toBe(200);
    const first = { from: iso(BASE), to: iso(BASE + DAY) };

    // 35 days on, the hour is still kept, and a commit in that hour leaves it.
    await pinClock(accountId, BASE + 35 * DAY + 59 * 60_000);
    expect((await send("/v1/echo", key)).status).toBe(200);
    expect(await usage(accountId, first)).toEqual([bucket(BASE, keyId, { admitted: 1 })]);
    expect((await storedHours(accountId)).map((row) => row.hour)).toEqual([BASE / HOUR, BASE / HOUR + 35 * 24]);

    // An hour later it is past the retention: not answered even before anything prunes it...
    await pinClock(accountId, BASE + 35 * DAY + HOUR);
    expect(await usage(accountId, first)).toEqual([]);
    expect(await storedHours(accountId)).toHaveLength(2);
    // ...and the next commit deletes it.
    expect((await send("/v1/echo", key)).status).toBe(200);
    expect((await storedHours(accountId)).map((row) => [row.hour, row.admitted])).toEqual([
      [BASE / HOUR + 35 * 24, 1],
      [BASE / HOUR + 35 * 24 + 1, 1],
    ]);
    expect(await usage(accountId, { from: iso(BASE + 35 * DAY), to: iso(BASE + 36 * DAY) })).toEqual([
      bucket(BASE + 35 * DAY, keyId, { admitted: 1 }),
      bucket(BASE + 35 * DAY + HOUR, keyId, { admitted: 1 }),
    ]);
  });
});

describe("a group commit that fails", () => {
  for (const [where, trigger, refusals] of [
    // The batch's balance, written before its usage rows (a batch of refusals alone writes no balance).
    ["in the debits", "CREATE TRIGGER refuse BEFORE UPDATE OF credits ON account BEGIN SELECT RAISE(ABORT, 'injected failure'); END", 0],
    // The usage rows themselves, written after the batch's admissions, minute log and debits.
    ["in the usage rows", "CREATE TRIGGER refuse BEFORE UPDATE ON usage_hours BEGIN SELECT RAISE(ABORT, 'injected failure'); END", 3],
  ] as const) {
    it(`${where} leaves the history as it was: its admissions are answered 500, and nothing of it is counted`, async () => {
      const { accountId, key: a, keyId: aId } = await accountWithKey({ plan: "pro", credits: 1_000 });
      const { key: b, id: bId } = await createKey(accountId, { scopes: ["read"] });
      await pinClock(accountId, BASE + 5 * HOUR);
      // History first (rows for both keys), so "unchanged" is not "empty".
      expect((await send("/v1/generate/echo", a, "POST")).status).toBe(200);
      expect((await send("/v1/generate/echo", b, "POST")).status).toBe(403);
      const range = { from: iso(BASE + 5 * HOUR), to: iso(BASE + 6 * HOUR) };
      const before = await usage(accountId, range);
      expect(before).toEqual([bucket(BASE + 5 * HOUR, aId, { admitted: 1, credits_spent: 40 }), bucket(BASE + 5 * HOUR, bId, { forbidden: 1 })].sort((x, y) => (x.key_id < y.key_id ? -1 : 1)));

      await sql(accountId, trigger);
      const failed = await Promise.all([...Array.from({ length: 6 }, () => send("/v1/generate/echo", a, "POST")), ...Array.from({ length: refusals }, () => send("/v1/generate/echo", b, "POST"))]);
      // A 403 is answered at once, its count left to the next commit: lost with it when that fails.
      expect(failed.map((x) => x.status)).toEqual([...Array(6).fill(500), ...Array(refusals).fill(403)]);
      expect(await usage(accountId, range)).toEqual(before);
      expect((await getAccount(accountId)).credits).toBe(960);

      await sql(accountId, "DROP TRIGGER refuse");
      expect((await send("/v1/generate/echo", a, "POST")).status).toBe(200);
      expect((await send("/v1/generate/echo", b, "POST")).status).toBe(403);
      expect(await usage(accountId, range)).toEqual(
        [bucket(BASE + 5 * HOUR, aId, { admitted: 2, credits_spent: 80 }), bucket(BASE + 5 * HOUR, bId, { forbidden: 2 })].sort((x, y) => (x.key_id < y.key_id ? -1 : 1)),
      );
    });
  }
});
