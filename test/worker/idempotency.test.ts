// Idempotency keys (SPEC 11) inside workerd, against the real account object and the real
// test origin: one action for many simultaneous requests, the first answer replayed byte for
// byte, every refusal with nothing consumed, a failed first answer forwarded again.
import { describe, expect, it } from "vitest";
import { accountWithKey, admin, createKey, expectEnvelope, originReceived } from "./helpers.ts";
import { consumed, expectSameAnswer, moveClock, reread, newIdempotencyKey, originCallsWith, send, sendAndSettle, storedRecords } from "./idempotency-helpers.ts";

const IN_PROGRESS = "A request with this Idempotency-Key is still in progress";
const MISMATCH = "Idempotency-Key was already used for a different request";

describe("one key, many simultaneous requests", () => {
  it("the origin acts once, credits are charged once, every other request is told to wait or gets the first answer", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 1000 });
    const idempotencyKey = newIdempotencyKey("burst");
    const body = JSON.stringify({ prompt: "one poem" });

    const sent = await Promise.all(Array.from({ length: 50 }, () => send("/v1/generate/echo", { key, idempotencyKey, body })));
    const answers = await Promise.all(sent.map(async ({ res }) => ({ res, body: new Uint8Array(await res.arrayBuffer()) })));
    await Promise.all(sent.map(({ settled }) => settled()));

    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    const firsts = answers.filter((a) => a.res.status === 200 && a.res.headers.get("Idempotent-Replayed") === null);
    const replays = answers.filter((a) => a.res.status === 200 && a.res.headers.get("Idempotent-Replayed") === "true");
    const waiting = answers.filter((a) => a.res.status === 409);
    expect(firsts).toHaveLength(1);
    expect(firsts.length + replays.length + waiting.length).toBe(50);
    const first = firsts[0]!;
    for (const replay of replays) expectSameAnswer(first, replay);
    for (const answer of waiting) await expectEnvelope(reread(answer), "CONFLICT", IN_PROGRESS, { retryAfter: 1 });

    // Once the first answer is kept, every repeat is that answer again, and the origin rests.
    const later = [];
    for (let i = 0; i < 3; i++) later.push(await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body }));
    for (const replay of later) expectSameAnswer(first, replay);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);

    // Charged once; every answered request took its slot, the 409s none.
    expect(await consumed(accountId)).toEqual({ credits: 960, day: 1 + replays.length + later.length });
    expect(first.res.headers.get("X-Credits-Remaining")).toBe("960");
  });

  it("the origin receives the Idempotency-Key, and the body it was fingerprinted with", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("forwarded");
    const { res } = await sendAndSettle("/v1/items/echo?x=1", { key, idempotencyKey, body: "a=1&b=2", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(200);
    const [call] = await originCallsWith(idempotencyKey);
    expect(call).toMatchObject({ method: "POST", path: "/v1/items/echo?x=1", body: "a=1&b=2" });
    expect(call!.headers["content-length"]).toBe("7");
  });
});

describe("a replay", () => {
  it("of a 4xx is the same envelope with its own request id, Idempotent-Replayed and this admission's limits", async () => {
    const { accountId, key } = await accountWithKey(); // default plan: 5 a minute
    const idempotencyKey = newIdempotencyKey("unprocessable");
    const path = `/v1/orders/problem`;
    const first = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
    const firstEnvelope = JSON.parse(new TextDecoder().decode(first.body));
    expect(firstEnvelope.error).toEqual({ code: "VALIDATION_ERROR", message: "Field 'quantity' must be at most 10." });

    const { res } = await send(path, { key, idempotencyKey, body: "{}" });
    expect(res.headers.get("Idempotent-Replayed")).toBe("true");
    expect(res.headers.get("RateLimit")).toMatch(/^"minute";r=3;t=\d+, "day";r=6;t=\d+$/);
    const replay = await expectEnvelope(res, "VALIDATION_ERROR", "Field 'quantity' must be at most 10.");
    expect(replay.meta.request_id).not.toBe(firstEnvelope.meta.request_id);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    expect((await consumed(accountId)).day).toBe(2);
  });

  it("takes a rate-limit slot like any request: past the limit it is a 429 and the origin is not called", async () => {
    const { key } = await accountWithKey(); // 5 a minute
    const idempotencyKey = newIdempotencyKey("slots");
    const statuses: (string | number)[] = [];
    for (let i = 0; i < 6; i++) {
      const { res } = await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{}" });
      statuses.push(res.headers.get("Idempotent-Replayed") === "true" ? "replay" : res.status);
    }
    expect(statuses).toEqual([200, "replay", "replay", "replay", "replay", 429]);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
  });

  it("is charged nothing: it is answered even when the balance no longer covers the route", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 40 });
    const idempotencyKey = newIdempotencyKey("free-replay");
    const first = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(first.res.headers.get("X-Credits-Remaining")).toBe("0");
    const replay = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expectSameAnswer(first, replay);
    expect(await consumed(accountId)).toEqual({ credits: 0, day: 2 });
    // A new key on the same route is a new operation: 402.
    const other = await send("/v1/generate/echo", { key, idempotencyKey: newIdempotencyKey(), body: "{}" });
    await expectEnvelope(other.res, "INSUFFICIENT_CREDITS", "This operation requires 40 credits but your balance is 0");
  });

  it("of a 201 with headers of its own and a 302 repeats status, headers and body", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    for (const path of ["/v1/things/status/201?body=%7B%22id%22%3A7%7D&header=Location:/v1/things/7&header=ETag:%22v1%22", "/v1/things/redirect"]) {
      const idempotencyKey = newIdempotencyKey("created");
      const first = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
      const replay = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
      expectSameAnswer(first, replay);
      expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    }
  });

  it("belongs to its account: the same key on another account is another operation", async () => {
    const a = await accountWithKey({ plan: "unlimited" });
    const b = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("shared");
    await sendAndSettle("/v1/items/echo", { key: a.key, idempotencyKey, body: "{}" });
    const other = await sendAndSettle("/v1/items/echo", { key: b.key, idempotencyKey, body: "{}" });
    expect(other.res.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await originCallsWith(idempotencyKey)).toHaveLength(2);
  });
});

describe("the same key for a different request", () => {
  it("another body, path, query or method is a 400, and nothing is consumed", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const idempotencyKey = newIdempotencyKey("mismatch");
    await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: '{"n":1}' });
    await sendAndSettle("/v1/items/echo", { key, idempotencyKey: `${idempotencyKey}-free`, body: '{"n":1}' });
    const before = await consumed(accountId);
    expect(before).toEqual({ credits: 60, day: 2 });

    const others: [string, SendArgs][] = [
      ["/v1/generate/echo", { body: '{"n":2}' }],
      ["/v1/generate/echo", { body: '{"n":1} ' }],
      ["/v1/generate/other", { body: '{"n":1}' }],
      ["/v1/generate/echo?n=1", { body: '{"n":1}' }],
      ["/v1/items/echo", { body: '{"n":1}', method: "PUT", free: true }],
      ["/v1/items/echo", { body: '{"n":1}', method: "PATCH", free: true }],
    ];
    for (const [path, args] of others) {
      const { res } = await sendAndSettle(path, { key, idempotencyKey: args.free ? `${idempotencyKey}-free` : idempotencyKey, body: args.body, method: args.method ?? "POST" });
      // sendAndSettle read the body; build the check from a fresh request
      expect(res.status, `${args.method ?? "POST"} ${path}`).toBe(400);
    }
    const { res } = await send("/v1/generate/echo", { key, idempotencyKey, body: '{"n":2}' });
    const envelope = await expectEnvelope(res, "VALIDATION_ERROR", MISMATCH);
    expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
    expect(await consumed(accountId)).toEqual(before);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    expect(await originCallsWith(`${idempotencyKey}-free`)).toHaveLength(1);
  });
});

interface SendArgs {
  body: string;
  method?: string;
  free?: boolean;
}

describe("a first answer that failed", () => {
  it("a 500 and then an origin 429 release the key with the refund: the retry is forwarded, charged once in all", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const idempotencyKey = newIdempotencyKey("flaky");
    const path = `/v1/generate/flaky/${idempotencyKey}?plan=500,429`;

    const failed = await send(path, { key, idempotencyKey, body: "{}" });
    expect(failed.res.headers.get("X-Credits-Remaining")).toBe("100");
    await expectEnvelope(failed.res, "INTERNAL_ERROR");
    const busy = await send(path, { key, idempotencyKey, body: "{}" });
    expect(busy.res.headers.get("X-Credits-Remaining")).toBe("100");
    await expectEnvelope(busy.res, "RATE_LIMIT_EXCEEDED", undefined, { retryAfter: 1 });

    const done = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
    expect(done.res.status).toBe(200);
    expect(done.res.headers.get("X-Credits-Remaining")).toBe("60");
    const replay = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
    expectSameAnswer(done, replay);

    expect(await originCallsWith(idempotencyKey)).toHaveLength(3);
    expect(await consumed(accountId)).toEqual({ credits: 60, day: 4 });
  });

  it("a timeout releases the key too", async () => {
    const { key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const idempotencyKey = newIdempotencyKey("timeout");
    const first = await send("/v1/generate-slow/hang", { key, idempotencyKey, body: "{}" });
    await expectEnvelope(first.res, "INTERNAL_ERROR", "The upstream service did not respond in time.");
    const second = await send("/v1/generate-slow/hang", { key, idempotencyKey, body: "{}" });
    await expectEnvelope(second.res, "INTERNAL_ERROR", "The upstream service did not respond in time.");
    expect(await originCallsWith(idempotencyKey)).toHaveLength(2);
  });
});

describe("the header and the body", () => {
  it("a value that is not 1–255 visible ASCII characters is a 400 naming the header; nothing is consumed, the origin untouched", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    // Non-ASCII bytes are sent raw on the wire in test/e2e/idempotency.test.ts (fetch here would encode them).
    const bad = ["", "two words", "tab\there", "x".repeat(256), "a,b, c"];
    for (const value of bad) {
      const { res } = await send("/v1/generate/echo", { key, idempotencyKey: value, body: "{}" });
      const envelope = await expectEnvelope(res, "VALIDATION_ERROR", "Idempotency-Key must be 1 to 255 visible ASCII characters");
      expect(await originReceived(envelope.meta.request_id), JSON.stringify(value)).toBeUndefined();
    }
    expect(await consumed(accountId)).toEqual({ credits: 100, day: 0 });

    const good = ["x".repeat(255), "!", "~#$%&'*+-.^_`|", '"quoted"', "k:1/2?3=4;5"];
    for (const value of good) {
      const { res } = await sendAndSettle("/v1/items/echo", { key, idempotencyKey: value, body: "{}" });
      expect(res.status, JSON.stringify(value)).toBe(200);
    }
  });

  it("a body over 1 MiB is a 400, with or without a Content-Length; 1 MiB exactly is fingerprinted", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const overLimit = new Uint8Array(1_048_577).fill(0x61);
    const tooLarge = "A request with an Idempotency-Key may have a body of at most 1 MiB (1048576 bytes)";

    const sized = await send("/v1/generate/echo", { key, idempotencyKey: newIdempotencyKey(), body: overLimit });
    await expectEnvelope(sized.res, "VALIDATION_ERROR", tooLarge);
    const streamed = await send("/v1/generate/echo", { key, idempotencyKey: newIdempotencyKey(), body: chunked(overLimit, 64 * 1024) });
    await expectEnvelope(streamed.res, "VALIDATION_ERROR", tooLarge);
    expect(await consumed(accountId)).toEqual({ credits: 100, day: 0 });

    const idempotencyKey = newIdempotencyKey("mebibyte");
    const exact = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: chunked(overLimit.subarray(1), 100_000) });
    expect(exact.res.status).toBe(200);
    const [call] = await originCallsWith(idempotencyKey);
    expect(call!.bodyBytes).toBe(1_048_576);
    // Without the header, the same body streams to the origin as before.
    const plain = await sendAndSettle("/v1/items/echo", { key, body: chunked(overLimit, 64 * 1024) });
    expect(plain.res.status).toBe(200);
  });

  it("is not the gateway's business on GET, or on a public route: forwarded untouched, never replayed", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = "not checked here";
    for (let i = 0; i < 2; i++) {
      const get = await sendAndSettle("/v1/items/echo", { key, idempotencyKey, method: "GET" });
      expect(get.res.status).toBe(200);
      expect(get.res.headers.get("Idempotent-Replayed")).toBeNull();
      const pub = await sendAndSettle("/public/echo", { key, idempotencyKey, body: "{}" });
      expect(pub.res.status).toBe(200);
      expect(pub.res.headers.get("Idempotent-Replayed")).toBeNull();
    }
    const calls = await originCallsWith(idempotencyKey);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /v1/items/echo", "POST /public/echo", "GET /v1/items/echo", "POST /public/echo"]);
  });
});

describe("denials decided by the gateway claim nothing", () => {
  it("after a 402, a 403 and a 429, the same key is a first request", async () => {
    const { accountId, key } = await accountWithKey({ credits: 0 }); // default plan: 5 a minute
    const { key: readOnly } = await createKey(accountId, { scopes: ["read"] });
    const idempotencyKey = newIdempotencyKey("denied");

    const poor = await send("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(poor.res.status).toBe(402);
    const forbidden = await send("/v1/generate/echo", { key: readOnly, idempotencyKey, body: "{}" });
    expect(forbidden.res.status).toBe(403);
    for (let i = 0; i < 5; i++) expect((await sendAndSettle("/v1/items/echo", { key, body: "{}" })).res.status).toBe(200);
    const limited = await send("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(limited.res.status).toBe(429);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(0);
    expect(await storedRecords(accountId)).toEqual([]);

    // With credits and a free slot, the key is new: forwarded, not refused as in flight.
    expect((await admin("POST", `/accounts/${accountId}/credits`, { body: { amount: 40, reason: "top-up" } })).status).toBe(200);
    await moveClock(accountId, 61_000);
    const first = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
  });
});

/** `bytes` as a stream of `size`-byte chunks: sent without a Content-Length. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}
