// The admin client the CLI and the dashboard share (src/client/admin.ts), against a scripted
// fetch: what it sends, what it makes of envelopes, and that anything else is never data.
import { describe, expect, it } from "vitest";
import { createAdminClient } from "../../src/client/admin.ts";
import { ApiError } from "../../src/client/errors.ts";
import { envelope, hangingFetch, jsonResponse, scriptedFetch, type Answer } from "./client-fakes.ts";

const BASE = "https://gw.example.com";
const TOKEN = "admin-secret";

function success(data: unknown, status = 200): Response {
  return jsonResponse({ success: true, data, meta: { request_id: "req_success000000000000", timestamp: "2026-02-01T12:00:00Z" } }, status, { "X-Request-Id": "req_success000000000000" });
}

function clientWith(...answers: Answer[]) {
  const scripted = scriptedFetch(...answers);
  return { client: createAdminClient({ baseUrl: `${BASE}/`, token: TOKEN, fetch: scripted.fetch }), calls: scripted.calls };
}

async function failureOf(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("what the admin client sends", () => {
  it("each call: its method and path under /_gateway, the token, JSON bodies, and never a redirect followed", async () => {
    const { client, calls } = clientWith(success({}));
    await client.createAccount({ id: "acme", plan: "pro", credits: 5 });
    await client.getAccount("acme");
    await client.setPlan("acme", "default");
    await client.adjustCredits("acme", { amount: -3, reason: "refund" });
    await client.createKey("acme", { scopes: ["read"], name: "ci" });
    await client.revokeKey("acme", "k7Qx2mZt0a");
    expect(calls.map((c) => [c.init.method, c.url, c.init.body ?? null])).toEqual([
      ["POST", `${BASE}/_gateway/accounts`, '{"id":"acme","plan":"pro","credits":5}'],
      ["GET", `${BASE}/_gateway/accounts/acme`, null],
      ["PATCH", `${BASE}/_gateway/accounts/acme`, '{"plan":"default"}'],
      ["POST", `${BASE}/_gateway/accounts/acme/credits`, '{"amount":-3,"reason":"refund"}'],
      ["POST", `${BASE}/_gateway/accounts/acme/keys`, '{"scopes":["read"],"name":"ci"}'],
      ["DELETE", `${BASE}/_gateway/accounts/acme/keys/k7Qx2mZt0a`, null],
    ]);
    for (const call of calls) {
      expect(call.headers.get("Authorization")).toBe(`Bearer ${TOKEN}`);
      expect(call.headers.get("Accept")).toBe("application/json");
      expect(call.headers.get("Content-Type")).toBe(call.init.body === undefined ? null : "application/json");
      expect(call.init.redirect).toBe("manual");
    }
  });

  it("puts ids in paths encoded, so no id can reach another endpoint", async () => {
    const { client, calls } = clientWith(success({}));
    await client.getAccount("a/../../health?x");
    await client.revokeKey("acme", "id/../x");
    expect(calls.map((c) => c.url)).toEqual([
      `${BASE}/_gateway/accounts/a%2F..%2F..%2Fhealth%3Fx`,
      `${BASE}/_gateway/accounts/acme/keys/id%2F..%2Fx`,
    ]);
  });

  it("asks for a page with only the parameters given", async () => {
    const page = { accounts: [], next_cursor: null };
    const { client, calls } = clientWith(success(page));
    expect(await client.listAccounts()).toEqual(page);
    await client.listAccounts({ prefix: "", cursor: null });
    await client.listAccounts({ limit: 10, cursor: "acme", prefix: "ac" });
    expect(calls.map((c) => c.url)).toEqual([
      `${BASE}/_gateway/accounts`,
      `${BASE}/_gateway/accounts`,
      `${BASE}/_gateway/accounts?limit=10&cursor=acme&prefix=ac`,
    ]);
  });

  it("asks for usage with only the parameters given, Dates as ISO 8601 UTC", async () => {
    const history = { series: [{ start: "2026-02-01T00:00:00Z", key_id: "k7Qx2mZt0a", admitted: 3, origin_failed: 1, insufficient_credits: 0, forbidden: 0, rate_limited: 2, credits_spent: 40 }] };
    const { client, calls } = clientWith(success(history));
    expect(await client.usage("acme")).toEqual(history);
    await client.usage("acme", { from: new Date(Date.UTC(2026, 1, 1)), to: "2026-02-08T00:00:00Z", granularity: "day" });
    await client.usage("a/b", { granularity: "hour" });
    expect(calls.map((c) => [c.init.method, c.url])).toEqual([
      ["GET", `${BASE}/_gateway/accounts/acme/usage`],
      ["GET", `${BASE}/_gateway/accounts/acme/usage?from=2026-02-01T00%3A00%3A00.000Z&to=2026-02-08T00%3A00%3A00Z&granularity=day`],
      ["GET", `${BASE}/_gateway/accounts/a%2Fb/usage?granularity=hour`],
    ]);
  });

  it("sends no token to health, which needs none", async () => {
    const { client, calls } = clientWith(success({ status: "ok" }));
    expect(await client.health()).toEqual({ status: "ok" });
    expect(calls[0]!.headers.has("Authorization")).toBe(false);
  });
});

describe("what the admin client makes of the answer", () => {
  it("returns the success envelope's data", async () => {
    const view = { id: "acme", plan: "pro", credits: 5 };
    const { client } = clientWith(success(view, 201));
    expect(await client.createAccount({ id: "acme" })).toEqual(view);
  });

  it("throws the envelope as an ApiError: code, status, message, request id, retry-after", async () => {
    const { client } = clientWith(envelope("RATE_LIMIT_EXCEEDED", "Too many failed authentications.", { requestId: "req_limited000000000000", retryAfterHeader: "42", retryAfterMeta: 42, limit: "auth" }));
    const error = await failureOf(client.getAccount("acme"));
    expect({ code: error.code, status: error.status, message: error.message, requestId: error.requestId, retryAfter: error.retryAfter, limit: error.limit }).toEqual({
      code: "RATE_LIMIT_EXCEEDED",
      status: 429,
      message: "Too many failed authentications.",
      requestId: "req_limited000000000000",
      retryAfter: 42,
      limit: "auth",
    });
  });

  const notTollgate: [string, () => Response, number][] = [
    ["a 200 that is not an envelope (an origin's page)", () => jsonResponse({ status: "ok" }), 200],
    ["a 200 in HTML", () => new Response("<html>hi</html>", { status: 200, headers: { "Content-Type": "text/html" } }), 200],
    ["a redirect", () => new Response(null, { status: 302, headers: { Location: "https://elsewhere.example.com/" } }), 302],
    ["a proxy's HTML 502", () => new Response("<h1>Bad gateway</h1>", { status: 502, headers: { "Content-Type": "text/html" } }), 502],
    ["a 2xx with the success flag but no data", () => jsonResponse({ success: true }), 200],
  ];
  for (const [name, answer, status] of notTollgate) {
    it(`reports ${name} as UNEXPECTED_RESPONSE, never as data`, async () => {
      const { client } = clientWith(answer());
      const error = await failureOf(client.getAccount("acme"));
      expect([error.code, error.status]).toEqual(["UNEXPECTED_RESPONSE", status]);
    });
  }

  it("reports a fetch that fails as NETWORK_ERROR, with what fetch threw as the cause", async () => {
    const refused = new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    const { client } = clientWith(refused);
    const error = await failureOf(client.listAccounts());
    expect([error.code, error.status, error.cause]).toEqual(["NETWORK_ERROR", 0, refused]);
  });

  it("gives up after timeoutMs with NETWORK_ERROR caused by a TimeoutError", async () => {
    const hanging = hangingFetch();
    const client = createAdminClient({ baseUrl: BASE, token: TOKEN, fetch: hanging.fetch, timeoutMs: 20 });
    const error = await failureOf(client.listAccounts());
    expect(error.code).toBe("NETWORK_ERROR");
    expect((error.cause as Error).name).toBe("TimeoutError");
  });
});
