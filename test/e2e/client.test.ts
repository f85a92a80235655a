// The client SDK through the real gateway (wrangler dev) in front of the real origin: it
// gets through a flaky origin and the gateway's own 429 after exactly the waits the
// gateway asked for, and gives up with the right ApiError when it should. Sleeps are
// injected and recorded; nothing here waits for real.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, createClient, type AttemptInfo, type ClientOptions, type FetchLike } from "../../src/client/index.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

let origin: Origin;
let gateway: Gateway;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 }, tight: { per_minute: 1 }, roomy: { per_minute: 100 } },
      ROUTES: [{ method: "POST", path: "/v1/paid/*", credits: 40 }, { path: "/v1/*" }],
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

interface Seen {
  status: number;
  requestId: string | null;
  retryAfter: string | null;
  body: any;
}

/** A client on the real gateway whose fetch records every answer and whose sleep records every wait. */
function observedClient(apiKey: string, options: Partial<ClientOptions> & { onSleep?: (ms: number) => Promise<void> } = {}) {
  const seen: Seen[] = [];
  const waits: number[] = [];
  const attempts: AttemptInfo[] = [];
  const capturingFetch: FetchLike = async (url, init) => {
    const response = await fetch(url, init);
    const text = await response.clone().text();
    seen.push({
      status: response.status,
      requestId: response.headers.get("X-Request-Id"),
      retryAfter: response.headers.get("Retry-After"),
      body: text === "" ? null : JSON.parse(text),
    });
    return response;
  };
  const { onSleep, ...clientOptions } = options;
  const client = createClient({
    baseUrl: gateway.url,
    apiKey,
    fetch: capturingFetch,
    sleep: async (ms) => {
      waits.push(ms);
      await onSleep?.(ms);
    },
    random: () => 0,
    onAttempt: (info) => attempts.push(info),
    ...clientOptions,
  });
  return { client, seen, waits, attempts };
}

const receivedAt = (prefix: string) => origin.received.filter((r) => r.path.startsWith(prefix));

async function thrown(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => expect.unreachable("the call should have failed"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("the client through the gateway", () => {
  it("gets through an origin's 429 after its Retry-After", async () => {
    const key = await accountWithKey(gateway, { id: "flaky-429" });
    const { client, seen, waits } = observedClient(key);
    const data = await client.request("/v1/flaky/r429?plan=429,200&retry_after=2");
    expect(data).toEqual({ ok: true, attempt: 2 });
    expect(seen.map((s) => [s.status, s.retryAfter])).toEqual([
      [429, "2"],
      [200, null],
    ]);
    expect(seen[0]?.body).toMatchObject({ success: false, error: { code: "RATE_LIMIT_EXCEEDED" }, meta: { retry_after: 2 } });
    expect(waits).toEqual([2_000]);
    expect(receivedAt("/v1/flaky/r429")).toHaveLength(2);
  });

  it("does not repeat a POST after an origin's 429: the origin saw it once, and it was counted once", async () => {
    const key = await accountWithKey(gateway, { id: "origin-429-post" });
    const { client, seen, waits } = observedClient(key);
    const error = await thrown(client.request("/v1/flaky/p429?plan=429,200&retry_after=2", { method: "POST", json: { n: 1 } }));
    expect(error).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 2, limit: null });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body.meta.limit).toBeUndefined();
    expect(waits).toEqual([]);
    expect(receivedAt("/v1/flaky/p429")).toHaveLength(1);
    expect((await admin(gateway, "GET", "/accounts/origin-429-post")).body.data.usage.day.used).toBe(1);
  });

  it("gets through two 500s after backing off 1 s then 2 s", async () => {
    const key = await accountWithKey(gateway, { id: "flaky-500" });
    const { client, seen, waits } = observedClient(key);
    expect(await client.request("/v1/flaky/r500?plan=500,500,200")).toEqual({ ok: true, attempt: 3 });
    expect(seen.map((s) => s.status)).toEqual([500, 500, 200]);
    expect(seen[0]?.body).toMatchObject({ success: false, error: { code: "INTERNAL_ERROR" } });
    expect(waits).toEqual([1_000, 2_000]);
    expect(receivedAt("/v1/flaky/r500")).toHaveLength(3);
  });

  it("gives up on a permanent 500 after 4 attempts, with the last attempt's request id", async () => {
    const key = await accountWithKey(gateway, { id: "always-500" });
    const { client, seen, waits, attempts } = observedClient(key, { random: () => 0.5 });
    const error = await thrown(client.request("/v1/status/500?test=permanent"));
    expect(error).toMatchObject({ status: 500, code: "INTERNAL_ERROR", message: "The upstream service failed to handle the request." });
    expect(waits).toEqual([1_125, 2_250, 4_500]);
    expect(seen).toHaveLength(4);
    // Each attempt is a new request with its own id, which the origin saw as well.
    const ids = seen.map((s) => s.requestId);
    expect(new Set(ids).size).toBe(4);
    expect(receivedAt("/v1/status/500?test=permanent").map((r) => r.headers["x-request-id"])).toEqual(ids);
    expect(attempts.map((a) => a.requestId)).toEqual(ids);
    expect(error.requestId).toBe(ids[3]);
  });

  it("does not retry a POST after a 500 unless it carries an Idempotency-Key", async () => {
    const key = await accountWithKey(gateway, { id: "post-500" });
    const plain = observedClient(key);
    await thrown(plain.client.request("/v1/status/500?test=post", { method: "POST", json: { n: 1 } }));
    expect(plain.seen).toHaveLength(1);
    expect(plain.waits).toEqual([]);

    const keyed = observedClient(key);
    const data = await keyed.client.request("/v1/flaky/post-keyed?plan=500,200", { method: "POST", json: { n: 2 }, headers: { "Idempotency-Key": "order-7" } });
    expect(data).toEqual({ ok: true, attempt: 2 });
    const received = receivedAt("/v1/flaky/post-keyed");
    expect(received.map((r) => [r.method, r.body, r.headers["idempotency-key"]])).toEqual([
      ["POST", '{"n":2}', "order-7"],
      ["POST", '{"n":2}', "order-7"],
    ]);
  });

  it("throws a 402 at once with the balance message, and the origin is not called", async () => {
    const key = await accountWithKey(gateway, { id: "poor", credits: 12 });
    const { client, seen, waits } = observedClient(key);
    const error = await thrown(client.request("/v1/paid/generate", { method: "POST", json: { prompt: "hi" }, headers: { "Idempotency-Key": "gen-1" } }));
    expect(error).toMatchObject({ status: 402, code: "INSUFFICIENT_CREDITS", message: "This operation requires 40 credits but your balance is 12", retryAfter: null });
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(receivedAt("/v1/paid/")).toHaveLength(0);
    expect((await admin(gateway, "GET", "/accounts/poor")).body.data.credits).toBe(12);
  });

  it("puts the response's X-Request-Id in the error", async () => {
    const key = await accountWithKey(gateway, { id: "request-ids" });
    const { client, seen } = observedClient(key);
    const error = await thrown(client.request("/nowhere"));
    expect(error).toMatchObject({ status: 404, code: "NOT_FOUND", message: "No route matches GET /nowhere" });
    expect(seen).toHaveLength(1);
    expect(error.requestId).toMatch(/^req_[0-9A-Za-z]{16,}$/);
    expect(error.requestId).toBe(seen[0]?.requestId);
    expect(error.requestId).toBe(seen[0]?.body.meta.request_id);
  });

  it("is told a wrong key at once", async () => {
    const { client, seen } = observedClient("tg_not_a_real_key");
    const error = await thrown(client.request("/v1/echo"));
    expect(error).toMatchObject({ status: 401, code: "UNAUTHORIZED", requestId: seen[0]?.requestId });
    expect(seen).toHaveLength(1);
  });

  it("gets through the gateway's own 429 (per_minute 1) after its Retry-After", async () => {
    const key = await accountWithKey(gateway, { id: "tight", plan: "tight" });
    // The injected sleep does not wait the minute out: it moves the account to a roomier
    // plan instead, which frees capacity at once, as the end of the wait would.
    const { client, seen, waits, attempts } = observedClient(key, {
      onSleep: async () => {
        const patched = await admin(gateway, "PATCH", "/accounts/tight", { plan: "roomy" });
        expect(patched.status).toBe(200);
      },
    });
    expect(await client.request("/v1/echo?n=1")).toMatchObject({ method: "GET", path: "/v1/echo?n=1" });
    expect(waits).toEqual([]);

    const second = await client.request<{ path: string }>("/v1/echo?n=2");
    expect(second.path).toBe("/v1/echo?n=2");
    expect(seen.map((s) => s.status)).toEqual([200, 429, 200]);
    const denied = seen[1];
    expect(denied?.body).toMatchObject({ error: { code: "RATE_LIMIT_EXCEEDED" }, meta: { limit: "minute" } });
    const retryAfter = Number(denied?.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(denied?.body.meta.retry_after).toBe(retryAfter);
    expect(waits).toEqual([retryAfter * 1_000]);
    expect(attempts.slice(1).map((a) => [a.status, a.requestId, a.waitMs])).toEqual([
      [429, denied?.requestId, retryAfter * 1_000],
      [200, seen[2]?.requestId, null],
    ]);
    // The denied attempt never reached the origin.
    expect(receivedAt("/v1/echo?n=2")).toHaveLength(1);
  });
});
