// SPEC 3's failed-authentication throttle, with AUTH_FAILURES_PER_MINUTE = 5 (see
// wrangler.test.toml): once an address has failed 5 times within a minute, every
// key-protected request from it is refused with 429 and meta.limit "auth" — even with a
// valid key — while the accounts it aimed at keep working for everyone else.
// Every test uses addresses of its own (helpers.ts), so no test throttles another.
import { describe, expect, it } from "vitest";
import { mintKey } from "../../src/keys.ts";
import {
  ADMIN_TOKEN,
  accountWithKey,
  admin,
  call,
  expectEnvelope,
  freshIp,
  getAccount,
  originReceived,
  uniqueAccountId,
  type Envelope,
} from "./helpers.ts";

const AUTH_FAILURES_PER_MINUTE = 5;
const RATE_LIMITED = /^Rate limit exceeded\. Retry after ([1-9]\d*) seconds\.$/;

/** Asserts the throttle's 429 and returns it; the wait is at most the one-minute window. */
async function expectThrottled(res: Response): Promise<Envelope> {
  const envelope = await expectEnvelope(res, "RATE_LIMIT_EXCEEDED", RATE_LIMITED, { retryAfter: true, limit: "auth" });
  const seconds = Number(RATE_LIMITED.exec(envelope.error.message)![1]);
  expect(envelope.meta.retry_after).toBe(seconds);
  expect(seconds).toBeLessThanOrEqual(60);
  expect(await originReceived(envelope.meta.request_id), "a throttled request never reaches the origin").toBeUndefined();
  return envelope;
}

async function expectOk(res: Response, what: string): Promise<void> {
  expect(res.status, `${what}: ${await res.clone().text()}`).toBe(200);
  await res.arrayBuffer();
}

describe("the failed-auth throttle", () => {
  it("blocks an address after 5 failures, even with a valid key, and spares the account for others", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const attacker = freshIp();
    const failures: { key?: string; headers?: Record<string, string> }[] = [
      {},
      { headers: { Authorization: "Basic Zm9vOmJhcg==" } },
      { key: `${key}x` },
      { key: mintKey(accountId).key },
      { key: mintKey(uniqueAccountId("ghost")).key },
    ];
    expect(failures).toHaveLength(AUTH_FAILURES_PER_MINUTE);

    for (const [index, failure] of failures.entries()) {
      // Below the limit the address is not blocked: a valid key still gets through.
      if (index === AUTH_FAILURES_PER_MINUTE - 1) await expectOk(await call("/v1/things", { key, ip: attacker }), "before the 5th failure");
      const res = await call("/v1/things", { ...failure, ip: attacker });
      await expectEnvelope(res, "UNAUTHORIZED", undefined, { retryAfter: false });
    }

    await expectThrottled(await call("/v1/things", { key, ip: attacker }));
    await expectThrottled(await call("/v1/things", { ip: attacker }));
    await expectThrottled(await call("/v1/things", { key: "tgk_garbage", ip: attacker }));
    await expectThrottled(await call("/v1/generate/text", { key, ip: attacker, body: {} }));

    // The same valid key from another address is unaffected.
    await expectOk(await call("/v1/things", { key, ip: freshIp() }), "another address");
    // The throttled requests consumed nothing: only the two admitted ones count.
    expect((await getAccount(accountId)).usage.day.used).toBe(2);
  });

  it("does not throttle public routes or the health check", async () => {
    const attacker = freshIp();
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE; i++) await call("/v1/things", { key: "nope", ip: attacker }).then((r) => r.arrayBuffer());
    await expectThrottled(await call("/v1/things", { ip: attacker }));

    await expectOk(await call("/v1/status", { ip: attacker }), "public /v1/status");
    await expectOk(await call("/public/anything", { ip: attacker }), "public /public/*");
    await expectOk(await admin("GET", "/health", { token: null, ip: attacker }), "health");
  });

  it("counts wrong and missing admin tokens, and blocks the admin API of that address too", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const operator = freshIp();
    for (const token of ["wrong", null, `${ADMIN_TOKEN}-`, ADMIN_TOKEN.toUpperCase(), ""]) {
      const res = await admin("GET", "/accounts/anything", { token, ip: operator });
      await expectEnvelope(res, "UNAUTHORIZED");
    }
    await expectThrottled(await call("/v1/things", { key, ip: operator }));
    await expectThrottled(await admin("GET", "/accounts/anything", { ip: operator }));
    // An operator elsewhere is unaffected.
    const elsewhere = await admin("GET", "/accounts/anything", { ip: freshIp() });
    await expectEnvelope(elsewhere, "NOT_FOUND");
  });

  it("counts an IPv6 client by its /64, however it spells or rotates its address", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    // One subscriber's /64 hands its hosts any of 2^64 addresses: five of them fail once each.
    const network = freshIp().split(":").slice(0, 4).join(":");
    const hosts = ["::1", ":0:0:0:2", ":abcd:ef01:2345:6789", "::ffff:192.0.2.1", ":FFFF:0:0:7"].map((host) => `${network}${host}`);
    for (const ip of hosts) await expectEnvelope(await call("/v1/things", { key: `${key}x`, ip }), "UNAUTHORIZED");

    await expectThrottled(await call("/v1/things", { key, ip: `${network}::99` }));
    await expectThrottled(await call("/v1/things", { key, ip: `${network.toUpperCase()}:0000:0000:0000:0099` }));
    // The neighbouring /64 is someone else.
    const [a, b, c, d] = network.split(":") as [string, string, string, string];
    const neighbour = `${a}:${b}:${c}:${(Number.parseInt(d, 16) ^ 1).toString(16)}::1`;
    await expectOk(await call("/v1/things", { key, ip: neighbour }), "the next /64");
  });

  it("does not count a 403: a key lacking a scope authenticated fine", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" }, { scopes: ["read"] });
    const address = freshIp();
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE + 2; i++) {
      await expectEnvelope(await call("/v1/things", { key, method: "POST", body: {}, ip: address }), "FORBIDDEN");
    }
    await expectOk(await call("/v1/things", { key, ip: address }), "after many 403s");
  });

  it("does not count a 404 for an unmatched route", async () => {
    const address = freshIp();
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE + 1; i++) {
      await expectEnvelope(await call("/nowhere", { key: "bad", ip: address }), "NOT_FOUND");
    }
    const { key } = await accountWithKey({ plan: "unlimited" });
    await expectOk(await call("/v1/things", { key, ip: address }), "after 404s");
  });
});
