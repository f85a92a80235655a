// SPEC section 4 inside workerd: exact limits under concurrency, honest headers and
// Retry-After, nothing counted for rejected requests, the UTC day, durability.
// Time is moved by replacing the account object's clock, never by sleeping.
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import { accountWithKey, admin, call, createKey, expectEnvelope, expectSuccess, getAccount, originUrl, revokeKey, type OriginRecord } from "./helpers.ts";

/** Pins the account object's clock to `at` (ms since the epoch) until moved again. */
async function setClock(accountId: string, at: number): Promise<void> {
  await runInDurableObject(env.ACCOUNTS.getByName(accountId), (instance: AccountDO) => {
    (instance as unknown as { now: () => number }).now = () => at;
  });
}

const DAY_MS = 86_400_000;
/**
 * A time on a future UTC day (`daysAhead` days after tomorrow), `hh:mm:ss` into it. The
 * object's clock never runs backwards, so pinned times must lie after the real now.
 */
function futureTime(daysAhead: number, hours: number, minutes = 0, seconds = 0): number {
  const tomorrow = (Math.floor(Date.now() / DAY_MS) + 1) * DAY_MS;
  return tomorrow + daysAhead * DAY_MS + ((hours * 60 + minutes) * 60 + seconds) * 1000;
}

async function originRequestsFor(accountId: string): Promise<OriginRecord[]> {
  const records = await (await fetch(`${originUrl()}/__origin/requests`)).json<OriginRecord[]>();
  return records.filter((r) => r.headers["x-account-id"] === accountId);
}

describe("exact under concurrency", () => {
  it("200 simultaneous requests at limit 50: exactly 50 admitted, 150 × 429, 50 at the origin", async () => {
    const { accountId, key } = await accountWithKey({ plan: "pro" }); // 50 per minute
    const responses = await Promise.all(Array.from({ length: 200 }, () => call("/v1/echo", { key })));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(150);
    const denied = responses.find((r) => r.status === 429)!;
    await expectEnvelope(denied, "RATE_LIMIT_EXCEEDED", /^Rate limit exceeded\. Retry after \d+ seconds\.$/, { retryAfter: true, limit: "minute" });
    await Promise.all(responses.filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()));
    expect(await originRequestsFor(accountId)).toHaveLength(50);
    const view = await getAccount(accountId);
    expect(view.usage.minute).toMatchObject({ used: 50, limit: 50 });
    expect(view.usage.day.used).toBe(50);
  });
});

describe("headers and Retry-After", () => {
  it("X-RateLimit-Remaining falls by exactly one per admitted request; RateLimit fields in draft -10 form", async () => {
    const { accountId, key } = await accountWithKey(); // default: 5 per minute, 8 per day
    const t0 = futureTime(0, 12);
    await setClock(accountId, t0);
    for (let i = 1; i <= 5; i++) {
      const res = await call("/v1/echo", { key });
      expect(res.status).toBe(200);
      expect(res.headers.get("X-RateLimit-Limit")).toBe("5");
      expect(res.headers.get("X-RateLimit-Remaining")).toBe(String(5 - i));
      expect(res.headers.get("X-RateLimit-Reset")).toBe("60");
      expect(res.headers.get("RateLimit-Policy")).toBe('"minute";q=5;w=60, "day";q=8;w=86400');
      expect(res.headers.get("RateLimit")).toBe(`"minute";r=${5 - i};t=60, "day";r=${8 - i};t=43200`);
      await res.body?.cancel();
    }
    const denied = await call("/v1/echo", { key });
    await expectEnvelope(denied, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Retry after 60 seconds.", { retryAfter: 60, limit: "minute" });
    expect(denied.headers.get("X-RateLimit-Limit")).toBe("5");
    expect(denied.headers.get("X-RateLimit-Remaining")).toBe("0");
    expect(denied.headers.get("X-RateLimit-Reset")).toBe("60");
  });

  it("a client that waits Retry-After is admitted, and not a second earlier", async () => {
    const { accountId, key } = await accountWithKey();
    const t0 = futureTime(1, 9);
    for (let i = 0; i < 5; i++) {
      await setClock(accountId, t0 + i * 7_250); // 0, 7.25 s, 14.5 s, 21.75 s, 29 s
      expect((await call("/v1/echo", { key })).status).toBe(200);
    }
    await setClock(accountId, t0 + 30_000);
    const denied = await call("/v1/echo", { key });
    // The oldest admission (t0) leaves at t0 + 60 s: 30 s from now.
    const envelope = await expectEnvelope(denied, "RATE_LIMIT_EXCEEDED", undefined, { retryAfter: 30, limit: "minute" });
    expect(envelope.meta.retry_after).toBe(30);
    await setClock(accountId, t0 + 59_999);
    expect((await call("/v1/echo", { key })).status).toBe(429);
    await setClock(accountId, t0 + 60_000);
    const admitted = await call("/v1/echo", { key });
    expect(admitted.status).toBe(200);
    // The next slot frees when the admission at 7.25 s leaves: 7.25 s → t = 8.
    expect(admitted.headers.get("X-RateLimit-Remaining")).toBe("0");
    expect(admitted.headers.get("X-RateLimit-Reset")).toBe("8");
  });

  it("the day window: resets at 00:00:00 UTC, and the 429 names it", async () => {
    const { accountId, key } = await accountWithKey(); // 8 per day
    const evening = futureTime(2, 23, 58);
    await setClock(accountId, evening);
    for (let i = 0; i < 5; i++) expect((await call("/v1/echo", { key })).status).toBe(200);
    await setClock(accountId, evening + 61_000);
    for (let i = 0; i < 3; i++) expect((await call("/v1/echo", { key })).status).toBe(200);
    const denied = await call("/v1/echo", { key });
    // 23:59:01 → midnight is 59 s away; the minute window has room, the day has none.
    await expectEnvelope(denied, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Retry after 59 seconds.", { retryAfter: 59, limit: "day" });
    expect(denied.headers.get("X-RateLimit-Limit")).toBe("8");
    expect(denied.headers.get("X-RateLimit-Remaining")).toBe("0");
    const midnight = futureTime(3, 0);
    await setClock(accountId, midnight - 1);
    expect((await call("/v1/echo", { key })).status).toBe(429);
    await setClock(accountId, midnight);
    const fresh = await call("/v1/echo", { key });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("RateLimit")).toMatch(/"day";r=7;t=86400$/);
  });

  it("when both windows deny, the longer wait is Retry-After and the X- headers describe it", async () => {
    const { accountId, key } = await accountWithKey(); // 5 per minute, 8 per day
    const late = futureTime(4, 23);
    await setClock(accountId, late);
    for (let i = 0; i < 3; i++) expect((await call("/v1/echo", { key })).status).toBe(200);
    await setClock(accountId, late + 61_000);
    for (let i = 0; i < 5; i++) expect((await call("/v1/echo", { key })).status).toBe(200);
    // 23:01:02: the minute frees a slot in 59 s, the day at midnight, 3538 s away.
    await setClock(accountId, late + 62_000);
    const denied = await call("/v1/echo", { key });
    expect(denied.headers.get("RateLimit")).toBe('"minute";r=0;t=59, "day";r=0;t=3538');
    expect(denied.headers.get("X-RateLimit-Limit")).toBe("8");
    expect(denied.headers.get("X-RateLimit-Reset")).toBe("3538");
    await expectEnvelope(denied, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Retry after 3538 seconds.", { retryAfter: 3_538, limit: "day" });
  });
});

describe("what counts", () => {
  it("rejected requests (401, 403, 404, 402, 429) count nothing; admitted ones count whatever the origin answers", async () => {
    const { accountId, key, keyId } = await accountWithKey({ plan: "pro", credits: 10 }, { scopes: ["read"] });
    const other = await createKey(accountId, { scopes: ["read", "write"] });
    await revokeKey(accountId, other.id);

    expect((await call("/v1/echo", { key: other.key })).status).toBe(401); // revoked
    expect((await call("/v1/echo", { key, method: "DELETE" })).status).toBe(403); // lacks write
    expect((await call("/nowhere", { key })).status).toBe(404); // no route
    const readWrite = await createKey(accountId, { scopes: ["*"] });
    expect((await call("/v1/generate/echo", { key: readWrite.key, method: "POST", body: "{}" })).status).toBe(402);
    let view = await getAccount(accountId);
    expect(view.usage.day.used).toBe(0);
    expect(view.usage.minute.used).toBe(0);
    expect(view.credits).toBe(10);

    // Admitted: the origin's 404 and 500 count too.
    expect((await call("/v1/status/404", { key })).status).toBe(404);
    expect((await call("/v1/status/500", { key })).status).toBe(500);
    view = await getAccount(accountId);
    expect(view.usage.day.used).toBe(2);
    expect(view.keys.map((k) => k.id)).toContain(keyId);
  });

  it("a 429 counts nothing: the window does not grow while a client hammers it", async () => {
    const { accountId, key } = await accountWithKey();
    const t0 = futureTime(5, 10);
    await setClock(accountId, t0);
    for (let i = 0; i < 5; i++) await call("/v1/echo", { key });
    for (let i = 0; i < 20; i++) expect((await call("/v1/echo", { key })).status).toBe(429);
    await setClock(accountId, t0 + 60_000);
    expect((await call("/v1/echo", { key })).status).toBe(200);
    expect((await getAccount(accountId)).usage.day.used).toBe(6);
  });
});

describe("plans and durability", () => {
  it("a plan change applies to the very next request", async () => {
    const { accountId, key } = await accountWithKey();
    for (let i = 0; i < 5; i++) await call("/v1/echo", { key });
    expect((await call("/v1/echo", { key })).status).toBe(429);
    await expectSuccess(await admin("PATCH", `/accounts/${accountId}`, { body: { plan: "pro" } }), 200);
    const res = await call("/v1/echo", { key });
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit-Policy")).toBe('"minute";q=50;w=60, "day";q=100000;w=86400');
    expect(res.headers.get("X-RateLimit-Remaining")).toBe("44");
  });

  it("a plan without limits sends no limit headers and reports null limits", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const res = await call("/v1/echo", { key });
    expect(res.status).toBe(200);
    for (const name of ["RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]) expect(res.headers.get(name)).toBeNull();
    const view = await getAccount(accountId);
    expect(view.limits).toEqual({ per_minute: null, per_day: null });
    expect(view.usage.minute).toEqual({ used: null, limit: null, reset: null });
    expect(view.usage.day).toMatchObject({ used: 1, limit: null });
  });

  it("the minute window and the day count survive the object being evicted", async () => {
    const { accountId, key } = await accountWithKey();
    for (let i = 0; i < 5; i++) expect((await call("/v1/echo", { key })).status).toBe(200);
    await evictDurableObject(env.ACCOUNTS.getByName(accountId));
    expect((await call("/v1/echo", { key })).status).toBe(429);
    const view = await getAccount(accountId);
    expect(view.usage.minute.used).toBe(5);
    expect(view.usage.day.used).toBe(5);
  });
});
