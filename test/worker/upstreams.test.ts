// SPEC section 12 inside workerd, through the Worker's fetch handler with configurations of
// its own (each env object is its own parsed configuration, with its own breakers): the
// default upstream's breaker (UPSTREAM_BREAKER) on the breaker's own clock, moved by the test
// instead of waited out; nothing consumed while it is open; no breaker, no change; a
// token_secret that is not set refuses every request. The origin is the live test origin, so
// failures here are its 503s (an origin that refuses connections is tested end to end:
// workerd's test runner logs every failed connection, which a green run must not print).
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { loadConfig } from "../../src/config.ts";
import { breakerOf } from "../../src/upstream/upstreams.ts";
import { GATEWAY_URL, accountWithKey, expectEnvelope, getAccount, originReceived, originUrl, testIp } from "./helpers.ts";

const UNAVAILABLE = "The upstream service is temporarily unavailable";
const FAILED = "The upstream service failed to handle the request.";
const COST = 3;

/** The worker test configuration, with these vars on top: a configuration (and breakers) of its own. */
function envWith(vars: Record<string, unknown>): Env {
  return { ...env, UPSTREAM_URL: originUrl(), ROUTES: [{ path: "/c/*", credits: COST }, { path: "/p/*", public: true }], ...vars } as Env;
}

/** One request, answered in full: its body read (a charged body is relayed in the background), then its background work done. */
async function call(target: Env, path: string, key?: string, method = "GET"): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { "CF-Connecting-IP": testIp() };
  if (key !== undefined) headers.Authorization = `Bearer ${key}`;
  const res = await worker.fetch(new Request(`${GATEWAY_URL}${path}`, { method, headers }), target, ctx);
  const body = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(method === "HEAD" ? null : body, res);
}

/** The default upstream's breaker in `target`'s configuration, on a clock the test moves. */
function fakeClock(target: Env): { advance(ms: number): void } {
  const loaded = loadConfig(target);
  if (!loaded.ok) throw new Error(loaded.error);
  const breaker = breakerOf(loaded.config, loaded.config.upstreams.get("default")!);
  if (breaker === null) throw new Error("no breaker configured");
  let now = Date.now();
  breaker.clock = () => now;
  return { advance: (ms) => void (now += ms) };
}

async function healthOf(target: Env): Promise<unknown> {
  const res = await call(target, "/_gateway/health");
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: unknown }).data;
}

describe("UPSTREAM_BREAKER: the default upstream's breaker", () => {
  it("opens after two 503s, then answers before admission — nothing consumed, the origin not called — until one trial closes it", async () => {
    const target = envWith({ UPSTREAM_BREAKER: { failures: 2, open_seconds: 30 } });
    const clock = fakeClock(target);
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });

    for (let i = 0; i < 2; i++) {
      const res = await call(target, "/c/status/503", key);
      expect(res.headers.get("X-Credits-Remaining")).toBe("100");
      await expectEnvelope(res, "INTERNAL_ERROR", FAILED);
    }
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "open", retry_after: 30 }] });
    const before = await getAccount(accountId);

    clock.advance(12_500);
    for (const [path, withKey] of [["/c/echo", true], ["/p/echo", false], ["/c/echo", false]] as const) {
      const res = await call(target, path, withKey ? key : undefined);
      const requestId = res.headers.get("X-Request-Id")!;
      expect(res.headers.get("X-Credits-Remaining")).toBeNull();
      await expectEnvelope(res, "INTERNAL_ERROR", UNAVAILABLE, { retryAfter: 18 });
      expect(await originReceived(requestId)).toBeUndefined();
    }
    const after = await getAccount(accountId);
    expect(after.credits).toBe(before.credits);
    expect(after.usage).toEqual(before.usage);

    clock.advance(17_500);
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "half_open", trial_in_flight: false }] });
    const trial = await call(target, "/c/echo", key);
    expect(trial.status).toBe(200);
    expect(trial.headers.get("X-Credits-Remaining")).toBe("97");
    expect(await originReceived(trial.headers.get("X-Request-Id")!)).toBeDefined();
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "closed", consecutive_failures: 0 }] });
  });

  it("a trial refused for lack of credits hands the trial on; the next one's 502 opens the breaker again", async () => {
    const target = envWith({ UPSTREAM_BREAKER: { failures: 1, open_seconds: 5 } });
    const clock = fakeClock(target);
    const { key: poorKey } = await accountWithKey({ plan: "unlimited", credits: 0 });
    const { key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    await expectEnvelope(await call(target, "/p/status/504"), "INTERNAL_ERROR", FAILED);
    clock.advance(5_000);

    await expectEnvelope(await call(target, "/c/echo", poorKey), "INSUFFICIENT_CREDITS", `This operation requires ${COST} credits but your balance is 0`);
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "half_open", trial_in_flight: false }] });
    const trial = await call(target, "/c/status/502", key);
    expect(trial.headers.get("X-Credits-Remaining")).toBe("100");
    await expectEnvelope(trial, "INTERNAL_ERROR", FAILED);
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "open", retry_after: 5 }] });
  });
});

describe("without a breaker", () => {
  it("every call is forwarded, however many fail in a row (SPEC 6)", async () => {
    const target = envWith({});
    for (let i = 0; i < 12; i++) {
      const res = await call(target, "/p/status/503");
      const requestId = res.headers.get("X-Request-Id")!;
      await expectEnvelope(res, "INTERNAL_ERROR", FAILED);
      expect(await originReceived(requestId), `call ${i + 1} reached the origin`).toBeDefined();
    }
    expect(await healthOf(target)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "off" }] });
  });
});

describe("a token_secret that is not set", () => {
  it("refuses every request, health included, naming the field — never forwarding without the token", async () => {
    const target = envWith({ UPSTREAMS: { billing: { url: originUrl(), token_secret: "BILLING_TOKEN_UNSET" } }, ROUTES: [{ path: "/b/*", upstream: "billing", public: true }] });
    const message = "Gateway configuration is invalid: UPSTREAMS.billing.token_secret: the secret BILLING_TOKEN_UNSET is not set: set it with `wrangler secret put BILLING_TOKEN_UNSET`, or in .dev.vars locally";
    for (const path of ["/b/echo", "/_gateway/health"]) {
      const res = await call(target, path);
      const requestId = res.headers.get("X-Request-Id")!;
      await expectEnvelope(res, "INTERNAL_ERROR", message);
      expect(await originReceived(requestId)).toBeUndefined();
    }
    // Set, the same configuration forwards with it.
    const res = await call({ ...target, BILLING_TOKEN_UNSET: "now-it-is-set" } as Env, "/b/echo");
    expect(res.status).toBe(200);
    expect((await originReceived(res.headers.get("X-Request-Id")!))?.headers.authorization).toBe("Bearer now-it-is-set");
  });
});
