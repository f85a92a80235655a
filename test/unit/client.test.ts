// The client's reading of answers: what a success returns, what a failure throws, and what
// it sends. Retries and aborts are in client-attempts.test.ts.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, createClient } from "../../src/client/index.ts";
import { STATUS_OF, envelope, jsonResponse, recordingSleep, scriptedFetch, type Answer } from "./client-fakes.ts";

const KEY = "tg_live_exampleKey";

function clientWith(...answers: Answer[]) {
  const fake = scriptedFetch(...answers);
  const { sleep, waits } = recordingSleep();
  const client = createClient({ baseUrl: "https://api.example.test/", apiKey: KEY, fetch: fake.fetch, sleep, random: () => 0 });
  return { client, calls: fake.calls, waits };
}

async function caught(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("a success", () => {
  it("returns a success envelope's data", async () => {
    const { client } = clientWith(jsonResponse({ success: true, data: { id: "acme", credits: 5 }, meta: { request_id: "req_1", timestamp: "2026-02-01T12:00:00Z" } }));
    expect(await client.request("/_gateway/accounts/acme")).toEqual({ id: "acme", credits: 5 });
  });

  it("returns plain JSON as it is, even with a success field of its own", async () => {
    const { client } = clientWith(jsonResponse({ items: [1, 2] }), jsonResponse({ success: true, count: 2 }), jsonResponse([1, 2]));
    expect(await client.request("/v1/items")).toEqual({ items: [1, 2] });
    expect(await client.request("/v1/items")).toEqual({ success: true, count: 2 });
    expect(await client.request("/v1/items")).toEqual([1, 2]);
  });

  it("returns text for a non-JSON body, and undefined for an empty one", async () => {
    const { client } = clientWith(new Response("hello", { headers: { "Content-Type": "text/plain" } }), new Response(null, { status: 204 }));
    expect(await client.request("/v1/greeting")).toBe("hello");
    expect(await client.request("/v1/nothing", { method: "DELETE" })).toBeUndefined();
  });

  it("reads +json types as JSON", async () => {
    const { client } = clientWith(new Response('{"a":1}', { headers: { "Content-Type": "application/vnd.api+json" } }));
    expect(await client.request("/v1/a")).toEqual({ a: 1 });
  });

  it("gives the status, headers and request id through send()", async () => {
    const { client } = clientWith(jsonResponse({ ok: true }, 201, { "X-Request-Id": "req_fromHeader", "X-Credits-Remaining": "60" }));
    const res = await client.send<{ ok: boolean }>("/v1/things", { json: { name: "x" } });
    expect(res).toMatchObject({ data: { ok: true }, status: 201, requestId: "req_fromHeader" });
    expect(res.headers.get("X-Credits-Remaining")).toBe("60");
  });

  it("takes a success envelope's request id when the header is not readable", async () => {
    const { client } = clientWith(jsonResponse({ success: true, data: 1, meta: { request_id: "req_fromBody" } }));
    expect((await client.send("/_gateway/x")).requestId).toBe("req_fromBody");
  });

  it("throws UNEXPECTED_RESPONSE for a body that claims JSON but is not", async () => {
    const { client } = clientWith(new Response("{oops", { headers: { "Content-Type": "application/json", "X-Request-Id": "req_bad" } }));
    const error = await caught(client.request("/v1/broken"));
    expect(error).toMatchObject({ status: 200, code: "UNEXPECTED_RESPONSE", requestId: "req_bad" });
  });

  it("throws for a 2xx that is nonetheless the error envelope", async () => {
    const answer = new Response(JSON.stringify({ success: false, error: { code: "CONFLICT", message: "Already done." }, meta: { request_id: "req_c" } }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
    const error = await caught(clientWith(answer).client.request("/v1/x"));
    expect(error).toMatchObject({ status: 200, code: "CONFLICT", message: "Already done.", requestId: "req_c" });
  });
});

describe("a failure", () => {
  it.each(Object.entries(STATUS_OF).filter(([, status]) => status !== 429 && status !== 500))("throws %s (%i) from the envelope, at once", async (code, status) => {
    const { client, calls, waits } = clientWith(envelope(code as keyof typeof STATUS_OF, `Message for ${code}.`, { requestId: `req_${code}` }));
    const error = await caught(client.request("/v1/x"));
    expect(error).toMatchObject({ name: "ApiError", status, code, message: `Message for ${code}.`, requestId: `req_${code}`, retryAfter: null, limit: null });
    expect(calls).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("carries the balance message of a 402", async () => {
    const { client } = clientWith(envelope("INSUFFICIENT_CREDITS", "This operation requires 40 credits but your balance is 12"));
    const error = await caught(client.request("/v1/generate", { method: "POST", json: {} }));
    expect(error.message).toBe("This operation requires 40 credits but your balance is 12");
  });

  it("takes the request id from the X-Request-Id header first, else from meta", async () => {
    const headerOnly = new Response("not json", { status: 404, headers: { "X-Request-Id": "req_headerOnly" } });
    expect((await caught(clientWith(headerOnly).client.request("/v1/x"))).requestId).toBe("req_headerOnly");
    const bodyOnly = envelope("NOT_FOUND", "No.", { requestId: "req_bodyOnly", noHeaderId: true });
    expect((await caught(clientWith(bodyOnly).client.request("/v1/x"))).requestId).toBe("req_bodyOnly");
    const neither = envelope("NOT_FOUND", "No.", { requestId: null });
    expect((await caught(clientWith(neither).client.request("/v1/x"))).requestId).toBeNull();
  });

  it("takes retryAfter from the Retry-After header first, else meta.retry_after, and the limit from meta", async () => {
    // A cap of 0 turns the retry off, so the first 429 is thrown as read.
    const noWait = (answer: Response) => createClient({ baseUrl: "https://api.example.test", apiKey: KEY, fetch: scriptedFetch(answer).fetch, maxTotalWaitMs: 0 });
    const both = envelope("RATE_LIMIT_EXCEEDED", "Slow down.", { retryAfterHeader: "3", retryAfterMeta: 9, limit: "day" });
    expect(await caught(noWait(both).request("/v1/x"))).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 3, limit: "day" });
    const metaOnly = envelope("RATE_LIMIT_EXCEEDED", "Slow down.", { retryAfterMeta: 9, limit: "minute" });
    expect(await caught(noWait(metaOnly).request("/v1/x"))).toMatchObject({ retryAfter: 9, limit: "minute" });
  });

  it("describes a non-envelope error body without repeating it", async () => {
    const html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    const { client } = clientWith(new Response(html, { status: 404, headers: { "Content-Type": "text/html" } }));
    const error = await caught(client.request("/v1/x"));
    expect(error).toMatchObject({ status: 404, code: "UNEXPECTED_RESPONSE", requestId: null });
    expect(error.message).toBe("Unexpected 404 response: not a Tollgate error envelope.");
  });

  it("treats an envelope with a code outside the closed set as unexpected", async () => {
    const odd = jsonResponse({ success: false, error: { code: "TEAPOT", message: "I'm a teapot." } }, 418);
    expect(await caught(clientWith(odd).client.request("/v1/x"))).toMatchObject({ status: 418, code: "UNEXPECTED_RESPONSE" });
  });
});

describe("what it sends", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("joins the base URL and path, sends the key, Accept and a JSON body", async () => {
    const { client, calls } = clientWith(jsonResponse({ ok: true }));
    await client.request("v1/posts", { json: { title: "Hi" }, headers: { "X-Trace": "t1" } });
    const [sent] = calls;
    expect(sent?.url).toBe("https://api.example.test/v1/posts");
    expect(sent?.init.method).toBe("POST");
    expect(sent?.init.body).toBe('{"title":"Hi"}');
    expect(Object.fromEntries(sent?.headers ?? [])).toEqual({
      accept: "application/json",
      authorization: `Bearer ${KEY}`,
      "content-type": "application/json",
      "x-trace": "t1",
    });
  });

  it("sends no Authorization without an apiKey (public routes)", async () => {
    const fake = scriptedFetch(jsonResponse({ up: true }));
    await createClient({ baseUrl: "https://api.example.test/base", fetch: fake.fetch }).request("/v1/status");
    expect(fake.calls[0]?.url).toBe("https://api.example.test/base/v1/status");
    expect(fake.calls[0]?.headers.has("Authorization")).toBe(false);
  });

  it("uses the global fetch by default, called as a plain function", async () => {
    const globalFetch = vi.fn(function (this: unknown, _url: string) {
      // A browser's fetch throws "Illegal invocation" when `this` is some other object.
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return Promise.resolve(jsonResponse({ via: "global" }));
    });
    vi.stubGlobal("fetch", globalFetch);
    expect(await createClient({ baseUrl: "https://api.example.test", apiKey: KEY }).request("/v1/x")).toEqual({ via: "global" });
    expect(globalFetch).toHaveBeenCalledOnce();
  });
});
