// The client's retries end to end with a scripted fetch: the waits it asks for, when it
// gives up, what it reports per attempt, and how an AbortSignal stops it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, createClient, type AttemptInfo, type ClientOptions } from "../../src/client/index.ts";
import { envelope, hangingFetch, internalError, jsonResponse, recordingSleep, scriptedFetch, type Answer } from "./client-fakes.ts";

const OK = () => jsonResponse({ ok: true }, 200, { "X-Request-Id": "req_ok" });
const rateLimited = (seconds: number, where: "header" | "meta" | "both" = "both") =>
  envelope("RATE_LIMIT_EXCEEDED", `Rate limit exceeded. Retry after ${seconds} seconds.`, {
    retryAfterHeader: where === "meta" ? undefined : String(seconds),
    retryAfterMeta: where === "header" ? undefined : seconds,
    limit: "minute",
  });

function setup(answers: Answer[], options: Partial<ClientOptions> = {}) {
  const fake = scriptedFetch(...answers);
  const { sleep, waits } = recordingSleep();
  const attempts: AttemptInfo[] = [];
  const client = createClient({
    baseUrl: "https://api.example.test",
    apiKey: "tg_key",
    fetch: fake.fetch,
    sleep,
    random: () => 0,
    onAttempt: (info) => attempts.push(info),
    ...options,
  });
  return { client, calls: fake.calls, waits, attempts };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("the call should have failed"),
    (e: unknown) => e,
  );
}

describe("429", () => {
  it("waits the Retry-After header, then succeeds", async () => {
    const { client, waits, calls } = setup([rateLimited(7, "header"), OK()]);
    expect(await client.request("/v1/x")).toEqual({ ok: true });
    expect(waits).toEqual([7_000]);
    expect(calls).toHaveLength(2);
  });

  it("waits meta.retry_after when the header is not readable", async () => {
    const { client, waits } = setup([rateLimited(9, "meta"), OK()]);
    await client.request("/v1/x");
    expect(waits).toEqual([9_000]);
  });

  it("prefers the header to meta.retry_after", async () => {
    const mismatched = envelope("RATE_LIMIT_EXCEEDED", "Slow down.", { retryAfterHeader: "2", retryAfterMeta: 30 });
    const { client, waits } = setup([mismatched, OK()]);
    await client.request("/v1/x");
    expect(waits).toEqual([2_000]);
  });

  it("retries a POST too: the gateway did not admit it", async () => {
    const { client, calls } = setup([rateLimited(1), OK()]);
    await client.request("/v1/generate", { method: "POST", json: { n: 1 } });
    expect(calls.map((c) => c.init.body)).toEqual(['{"n":1}', '{"n":1}']);
  });

  it("keeps retrying 429s past the server-error count, within the wait cap", async () => {
    const { client, waits } = setup([rateLimited(1), rateLimited(1), rateLimited(1), rateLimited(1), rateLimited(1), OK()]);
    await client.request("/v1/x");
    expect(waits).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
  });
});

describe("an origin's 429 (no meta.limit: the request was admitted and forwarded)", () => {
  const originRateLimited = (seconds: number) => envelope("RATE_LIMIT_EXCEEDED", `Rate limit exceeded. Retry after ${seconds} seconds.`, { retryAfterHeader: String(seconds), retryAfterMeta: seconds });

  it("is not repeated for a POST: the origin may have acted, and the account was counted", async () => {
    const { client, calls, waits } = setup([originRateLimited(2), OK()]);
    const error = await rejection(client.request("/v1/generate", { method: "POST", json: { n: 1 } }));
    expect(error).toMatchObject({ status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 2, limit: null });
    expect(calls).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("is repeated for a POST that carries an Idempotency-Key, after its Retry-After", async () => {
    const { client, calls, waits } = setup([originRateLimited(2), OK()]);
    await client.request("/v1/generate", { method: "POST", json: {}, headers: { "Idempotency-Key": "k-9" } });
    expect(calls).toHaveLength(2);
    expect(waits).toEqual([2_000]);
  });

  it("is repeated for a GET after its Retry-After, as many times as a 500 would be", async () => {
    const { client, calls, waits } = setup([originRateLimited(2), originRateLimited(3), internalError(), originRateLimited(1)]);
    const error = await rejection(client.request("/v1/x"));
    expect(error).toMatchObject({ status: 429, limit: null });
    expect(calls).toHaveLength(4);
    expect(waits).toEqual([2_000, 3_000, 4_000]);
  });

  it("leaves the gateway's own 429s free to repeat, even for a POST", async () => {
    const { client, calls } = setup([rateLimited(1), rateLimited(1), rateLimited(1), rateLimited(1), OK()]);
    await client.request("/v1/generate", { method: "POST", json: {} });
    expect(calls).toHaveLength(5);
  });
});

describe("500", () => {
  it("backs off 1 s, 2 s, 4 s and succeeds on the fourth attempt", async () => {
    const { client, waits, calls } = setup([internalError(), internalError(), internalError(), OK()]);
    expect(await client.request("/v1/x")).toEqual({ ok: true });
    expect(waits).toEqual([1_000, 2_000, 4_000]);
    expect(calls).toHaveLength(4);
  });

  it("adds the jitter random() asks for", async () => {
    const { client, waits } = setup([internalError(), internalError(), OK()], { random: () => 0.5 });
    await client.request("/v1/x");
    expect(waits).toEqual([1_125, 2_250]);
  });

  it("throws the last ApiError after 4 attempts", async () => {
    const { client, waits, calls } = setup([internalError("req_a"), internalError("req_b"), internalError("req_c"), internalError("req_d")]);
    const error = await rejection(client.request("/v1/x"));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 500, code: "INTERNAL_ERROR", requestId: "req_d" });
    expect(calls).toHaveLength(4);
    expect(waits).toEqual([1_000, 2_000, 4_000]);
  });

  it("retries an HTML 502 from something in front of the gateway, then reports it as unexpected", async () => {
    const html = () => new Response("<html><h1>502 Bad Gateway</h1></html>", { status: 502, headers: { "Content-Type": "text/html" } });
    const { client, calls } = setup([html()]);
    const error = await rejection(client.request("/v1/x"));
    expect(error).toMatchObject({ status: 502, code: "UNEXPECTED_RESPONSE" });
    expect((error as Error).message).not.toContain("<html");
    expect(calls).toHaveLength(4);
  });

  it("does not retry a POST or a PATCH", async () => {
    for (const method of ["POST", "PATCH"]) {
      const { client, calls, waits } = setup([internalError(), OK()]);
      expect(await rejection(client.request("/v1/x", { method, body: "{}" }))).toMatchObject({ code: "INTERNAL_ERROR" });
      expect(calls).toHaveLength(1);
      expect(waits).toEqual([]);
    }
  });

  it("retries a POST that carries an Idempotency-Key", async () => {
    const { client, calls } = setup([internalError(), OK()]);
    await client.request("/v1/x", { method: "POST", json: {}, headers: { "Idempotency-Key": "k-1" } });
    expect(calls.map((c) => c.headers.get("Idempotency-Key"))).toEqual(["k-1", "k-1"]);
  });

  it("retries a POST when the client or the call opts in, and not when the call opts out", async () => {
    const optedIn = setup([internalError(), OK()], { retryNonIdempotent: true });
    await optedIn.client.request("/v1/x", { method: "POST" });
    expect(optedIn.calls).toHaveLength(2);

    const perCall = setup([internalError(), OK()]);
    await perCall.client.request("/v1/x", { method: "PATCH", retryNonIdempotent: true });
    expect(perCall.calls).toHaveLength(2);

    const optedOut = setup([internalError(), OK()], { retryNonIdempotent: true });
    await rejection(optedOut.client.request("/v1/x", { method: "POST", retryNonIdempotent: false }));
    expect(optedOut.calls).toHaveLength(1);
  });

  it("does not retry a streamed body, which cannot be sent twice", async () => {
    const { client, calls } = setup([internalError(), OK()]);
    const body = new ReadableStream({ start: (c) => c.close() });
    await rejection(client.request("/v1/x", { method: "PUT", body }));
    expect(calls).toHaveLength(1);
  });
});

describe("idempotencyKey", () => {
  const inProgress = (retryAfter: string | undefined) =>
    envelope("CONFLICT", "A request with this Idempotency-Key is still in progress", retryAfter === undefined ? {} : { retryAfterHeader: retryAfter, retryAfterMeta: Number(retryAfter) });

  it("true: one key for the call, the same on every retry of a POST after a 500 and a network failure; a new one for the next call", async () => {
    const { client, calls, waits } = setup([internalError(), new TypeError("fetch failed"), OK(), OK()]);
    expect(await client.request("/v1/orders", { json: { n: 1 }, idempotencyKey: true })).toEqual({ ok: true });
    const sent = calls.map((c) => c.headers.get("Idempotency-Key"));
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^[\x21-\x7e]{1,255}$/);
    expect(new Set(sent).size).toBe(1);
    expect(waits).toEqual([1_000, 2_000]);

    await client.request("/v1/orders", { json: { n: 1 }, idempotencyKey: true });
    expect(calls[3]!.headers.get("Idempotency-Key")).not.toBe(sent[0]);
  });

  it("a string is sent as it is, and overrides a header of the same name", async () => {
    const { client, calls } = setup([OK()]);
    await client.request("/v1/orders", { method: "PATCH", json: {}, headers: { "Idempotency-Key": "from-header" }, idempotencyKey: "order-42" });
    expect(calls[0]!.headers.get("Idempotency-Key")).toBe("order-42");
  });

  it("without it a POST is not retried after a 500", async () => {
    const { client, calls } = setup([internalError(), OK()]);
    expect(await rejection(client.request("/v1/orders", { json: {} }))).toMatchObject({ status: 500 });
    expect(calls).toHaveLength(1);
  });

  it("a 409 with Retry-After (the first attempt still in progress) is waited for and retried, without counting as a server error", async () => {
    const { client, calls, waits } = setup([internalError(), inProgress("1"), inProgress("1"), inProgress("2"), internalError(), internalError(), OK()]);
    expect(await client.request("/v1/orders", { json: {}, idempotencyKey: true })).toEqual({ ok: true });
    expect(waits).toEqual([1_000, 1_000, 1_000, 2_000, 2_000, 4_000]);
    expect(calls).toHaveLength(7);
  });

  it("a 409 without Retry-After (another request's key, an answer not kept) is thrown at once, and so is a 409 on a call without a key", async () => {
    const refused = envelope("CONFLICT", "The original answer to this Idempotency-Key was too large to keep");
    const keyed = setup([refused, OK()]);
    expect(await rejection(keyed.client.request("/v1/orders", { json: {}, idempotencyKey: true }))).toMatchObject({ status: 409, code: "CONFLICT" });
    expect(keyed.calls).toHaveLength(1);
    const unkeyed = setup([inProgress("1"), OK()]);
    expect(await rejection(unkeyed.client.request("/v1/orders", { json: {}, retryNonIdempotent: true }))).toMatchObject({ status: 409 });
    expect(unkeyed.calls).toHaveLength(1);
  });

  it("waits for a 409 only as long as the total-wait cap allows", async () => {
    const { client, waits } = setup([inProgress("1")], { maxTotalWaitMs: 3_000 });
    expect(await rejection(client.request("/v1/orders", { json: {}, idempotencyKey: "k" }))).toMatchObject({ status: 409 });
    expect(waits).toEqual([1_000, 1_000, 1_000]);
  });
});

describe("network errors", () => {
  it("count like a 500: retried with backoff, then NETWORK_ERROR with the cause", async () => {
    const refused = new TypeError("fetch failed");
    const { client, waits } = setup([refused]);
    const error = await rejection(client.request("/v1/x"));
    expect(error).toMatchObject({ status: 0, code: "NETWORK_ERROR", requestId: null, cause: refused });
    expect(waits).toEqual([1_000, 2_000, 4_000]);
  });

  it("are survived when the network comes back", async () => {
    const { client } = setup([new TypeError("fetch failed"), OK()]);
    expect(await client.request("/v1/x")).toEqual({ ok: true });
  });

  it("are not retried for a POST", async () => {
    const { client, calls } = setup([new TypeError("fetch failed"), OK()]);
    await rejection(client.request("/v1/x", { method: "POST" }));
    expect(calls).toHaveLength(1);
  });
});

describe("the total-wait cap", () => {
  it("throws the last 429 instead of waiting past 60 s", async () => {
    const { client, waits, calls } = setup([rateLimited(45), rateLimited(45), OK()]);
    const error = await rejection(client.request("/v1/x"));
    expect(error).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", retryAfter: 45 });
    expect(waits).toEqual([45_000]);
    expect(calls).toHaveLength(2);
  });

  it("throws a day limit's 429 at once", async () => {
    const { client, waits } = setup([rateLimited(7_200), OK()]);
    expect(await rejection(client.request("/v1/x"))).toMatchObject({ retryAfter: 7_200 });
    expect(waits).toEqual([]);
  });

  it("counts server-error backoffs too, and follows the option", async () => {
    const { client, waits } = setup([internalError(), internalError(), OK()], { maxTotalWaitMs: 2_500 });
    await rejection(client.request("/v1/x"));
    expect(waits).toEqual([1_000]); // 1 s + 2 s would pass 2.5 s
  });
});

describe("onAttempt", () => {
  it("reports every attempt with its status, request id and the wait that follows", async () => {
    const { client, attempts } = setup([internalError("req_first"), rateLimited(3), OK()]);
    await client.request("/v1/x");
    expect(attempts.map(({ attempt, status, requestId, code, waitMs }) => ({ attempt, status, requestId, code, waitMs }))).toEqual([
      { attempt: 1, status: 500, requestId: "req_first", code: "INTERNAL_ERROR", waitMs: 1_000 },
      { attempt: 2, status: 429, requestId: "req_envelopeId0000000000", code: "RATE_LIMIT_EXCEEDED", waitMs: 3_000 },
      { attempt: 3, status: 200, requestId: "req_ok", code: null, waitMs: null },
    ]);
    expect(attempts[0]).toMatchObject({ method: "GET", url: "https://api.example.test/v1/x" });
  });

  it("reports the last failure with no wait", async () => {
    const { client, attempts } = setup([envelope("FORBIDDEN", "No.")]);
    await rejection(client.request("/v1/x"));
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, status: 403, waitMs: null })]);
  });
});

describe("AbortSignal", () => {
  afterEach(() => vi.useRealTimers());

  it("stops a sleep that ignores the signal, with the signal's reason", async () => {
    const controller = new AbortController();
    const fake = scriptedFetch(internalError(), OK());
    let sleeping!: () => void;
    const started = new Promise<void>((resolve) => (sleeping = resolve));
    const client = createClient({ baseUrl: "https://api.example.test", fetch: fake.fetch, sleep: () => (sleeping(), new Promise<void>(() => {})) });
    const call = rejection(client.request("/v1/x", { signal: controller.signal }));
    await started;
    const reason = new Error("user navigated away");
    controller.abort(reason);
    expect(await call).toBe(reason);
    expect(fake.calls).toHaveLength(1);
  });

  it("waits with the default timer sleep, which an abort cuts short", async () => {
    vi.useFakeTimers();
    const fake = scriptedFetch(internalError(), OK());
    const client = createClient({ baseUrl: "https://api.example.test", fetch: fake.fetch, random: () => 0 });
    const done = client.request("/v1/x");
    await vi.advanceTimersByTimeAsync(999);
    expect(fake.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await done).toEqual({ ok: true });
    expect(fake.calls).toHaveLength(2);

    const controller = new AbortController();
    const failing = createClient({ baseUrl: "https://api.example.test", fetch: scriptedFetch(internalError()).fetch });
    const stopped = rejection(failing.request("/v1/x", { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(10);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    expect(await stopped).toMatchObject({ name: "AbortError" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops a fetch in flight, without retrying", async () => {
    const controller = new AbortController();
    const fake = hangingFetch();
    const client = createClient({ baseUrl: "https://api.example.test", fetch: fake.fetch, sleep: recordingSleep().sleep });
    const call = rejection(client.request("/v1/x", { signal: controller.signal }));
    await fake.firstCall;
    controller.abort();
    expect(await call).toMatchObject({ name: "AbortError" });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]?.init.signal).toBe(controller.signal);
  });

  it("stops a fetch that ignores the signal", async () => {
    const controller = new AbortController();
    const fake = scriptedFetch(() => new Promise<Response>(() => {}));
    const client = createClient({ baseUrl: "https://api.example.test", fetch: fake.fetch });
    const call = rejection(client.request("/v1/x", { signal: controller.signal }));
    await fake.firstCall;
    controller.abort(new Error("timeout"));
    expect(await call).toMatchObject({ message: "timeout" });
  });

  it("sends nothing when the signal is already aborted", async () => {
    const { client, calls } = setup([OK()]);
    expect(await rejection(client.request("/v1/x", { signal: AbortSignal.abort() }))).toMatchObject({ name: "AbortError" });
    expect(calls).toHaveLength(0);
  });
});
