// Idempotency keys (SPEC 11) end to end: the real gateway (wrangler dev) in front of a real
// origin process that acts on orders and records every call.
//
// - The client SDK against an origin that acts on the first POST and then fails with a 500.
//   SPEC 11 releases a key when the first answer is a 5xx, so the SDK's retry IS forwarded
//   again, with the same Idempotency-Key: the gateway's part of "at most once" is that key on
//   every attempt, the debit taken once, and no further call once the origin has answered.
//   The origin's part, after a 5xx, is to honour the key it was sent: this one does, and acts
//   once; one that ignores the key acts twice, as SPEC allows; without a key it cannot tell.
// - Hostile spellings of the header, written raw on the wire.
// - Records that outlive a restart of wrangler dev on the same storage.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type ClientOptions } from "../../src/client/index.ts";
import { expectEnvelope } from "../support/envelope.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { parseRawReply, rawExchange, type Reply } from "../support/http.ts";
import { repeatPastInProgress } from "../support/idempotency.ts";

const ORDER_COST = 5;

/** One call as the origin saw it. */
interface Call {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let origin: Server;
let originUrl: string;
const calls: Call[] = [];
/** What the origin did: one entry per order it placed. */
const effects: { order: string; idempotencyKey: string | null }[] = [];
/** Answers given per Idempotency-Key, by an origin that honours the key. */
const answered = new Map<string, string>();
/** Orders whose first call has come (and failed). */
const failedOnce = new Set<string>();

/**
 * POST /v1/orders/<id>: places the order (an effect), then fails the first call for <id> with
 * a 500 — it acted and then broke. With ?honour=1 it keeps its answer per Idempotency-Key and
 * gives it again for a repeated key without acting. …/gone: 404. Anything else: 200, an echo.
 */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const url = new URL(req.url ?? "/", "http://origin.test");
  const call: Call = { method: req.method ?? "", path: `${url.pathname}${url.search}`, headers: req.headers, body: Buffer.concat(chunks).toString() };
  calls.push(call);
  const idempotencyKey = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : null;

  if (url.pathname.endsWith("/gone")) {
    res.writeHead(404, { "Content-Type": "application/json" });
    return void res.end(JSON.stringify({ message: "No such widget" }));
  }
  const order = /^\/v1\/orders\/([\w-]+)$/.exec(url.pathname)?.[1];
  if (order === undefined || req.method !== "POST") {
    res.writeHead(200, { "Content-Type": "application/json", "X-Origin": "echo" });
    return void res.end(JSON.stringify({ path: call.path, body: call.body, calls: calls.length }));
  }
  const honours = url.searchParams.get("honour") === "1";
  if (honours && idempotencyKey !== null && answered.has(idempotencyKey)) {
    res.writeHead(201, { "Content-Type": "application/json" });
    return void res.end(answered.get(idempotencyKey));
  }
  effects.push({ order, idempotencyKey });
  const body = JSON.stringify({ order, placed: effects.filter((e) => e.order === order).length });
  if (honours && idempotencyKey !== null) answered.set(idempotencyKey, body);
  if (!failedOnce.has(order)) {
    failedOnce.add(order);
    res.writeHead(500, { "Content-Type": "application/json" });
    return void res.end(JSON.stringify({ error: "the database connection dropped after the insert" }));
  }
  res.writeHead(201, { "Content-Type": "application/json" });
  res.end(body);
}

let gateway: Gateway;
let persistTo: string;
let key: string;
const ACCOUNT = "idem-e2e";
const vars = () => ({
  UPSTREAM_URL: originUrl,
  PLANS: { default: { per_minute: 1000 } },
  ROUTES: [{ method: "POST", path: "/v1/orders/*", credits: ORDER_COST }, { path: "/v1/*" }],
});

beforeAll(async () => {
  origin = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  persistTo = mkdtempSync(join(tmpdir(), "tollgate-idem-"));
  gateway = await startGateway({ vars: vars(), persistTo });
  key = await accountWithKey(gateway, { id: ACCOUNT, credits: 1_000 });
});
afterAll(async () => {
  await gateway?.stop();
  origin?.closeAllConnections();
  await new Promise<void>((resolve) => (origin ? origin.close(() => resolve()) : resolve()));
  if (persistTo !== undefined) rmSync(persistTo, { recursive: true, force: true });
});

const credits = async (): Promise<number> => (await admin(gateway, "GET", `/accounts/${ACCOUNT}`)).body.data.credits;

/** The SDK on the real gateway; it never waits for real, and records the waits it asked for. */
function client(options: Partial<ClientOptions> = {}) {
  const waits: number[] = [];
  const api = createClient({ baseUrl: gateway.url, apiKey: key, sleep: async (ms) => void waits.push(ms), random: () => 0, ...options });
  return { api, waits };
}

const callsTo = (path: string) => calls.filter((c) => c.path === path);

describe("the client SDK retrying a POST whose first attempt acted and then failed with a 500", () => {
  it("idempotencyKey: true — the retry carries the same key, the origin that honours it acts once, the debit is taken once, and later repeats never reach it", async () => {
    const before = await credits();
    const path = "/v1/orders/o-honoured?honour=1";
    const { api, waits } = client();
    const placed = await api.request(path, { json: { item: "lamp" }, idempotencyKey: true });
    expect(placed).toEqual({ order: "o-honoured", placed: 1 });
    expect(waits).toEqual([1_000]);

    const [first, retry] = callsTo(path);
    expect(callsTo(path)).toHaveLength(2); // SPEC 11: a 5xx released the key, so the retry was forwarded
    const sentKey = first!.headers["idempotency-key"];
    expect(sentKey).toMatch(/^[\x21-\x7e]{1,255}$/);
    expect(retry!.headers["idempotency-key"]).toBe(sentKey);
    expect(effects.filter((e) => e.order === "o-honoured")).toHaveLength(1);
    expect(await credits()).toBe(before - ORDER_COST);

    // The same operation again, by its key: the gateway answers it, the origin rests.
    const again = await api.send(path, { json: { item: "lamp" }, idempotencyKey: String(sentKey) });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.data).toEqual(placed);
    expect(callsTo(path)).toHaveLength(2);
    expect(await credits()).toBe(before - ORDER_COST);
  });

  it("without a key the origin cannot tell a retry from a new order, and places two", async () => {
    const path = "/v1/orders/o-unkeyed?honour=1";
    const { api } = client();
    await api.request(path, { json: { item: "lamp" }, retryNonIdempotent: true });
    expect(callsTo(path).map((c) => c.headers["idempotency-key"])).toEqual([undefined, undefined]);
    expect(effects.filter((e) => e.order === "o-unkeyed")).toHaveLength(2);
  });

  it("an origin that ignores the key acts again on the retry (SPEC 11 forwards a retry after a 5xx); the debit is still taken once", async () => {
    const before = await credits();
    const path = "/v1/orders/o-ignored";
    const { api } = client();
    expect(await api.request(path, { json: { item: "lamp" }, idempotencyKey: true })).toEqual({ order: "o-ignored", placed: 2 });
    expect(effects.filter((e) => e.order === "o-ignored")).toHaveLength(2);
    expect(await credits()).toBe(before - ORDER_COST);
  });
});

/** A POST written byte for byte (latin1) on a fresh connection; `headerLines` as given. */
async function rawPost(path: string, headerLines: string[], body = "{}"): Promise<Reply> {
  const head = [`POST ${path} HTTP/1.1`, "Host: gw.test", `Authorization: Bearer ${key}`, ...headerLines, `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close", "", ""];
  return parseRawReply(await rawExchange(gateway.port, Buffer.from(head.join("\r\n") + body, "latin1")));
}

describe("hostile spellings of the header, raw on the wire", () => {
  const BAD = { status: 400, code: "VALIDATION_ERROR", message: "Idempotency-Key must be 1 to 255 visible ASCII characters" };

  it("non-ASCII bytes, a control character, or two headers: 400 naming the header, and the origin never sees the request", async () => {
    const spellings = [
      ["utf-8", "Idempotency-Key: \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"],
      ["latin-1", "Idempotency-Key: caf\xe9"],
      ["delete", "Idempotency-Key: a\x7fb"],
      ["two", "Idempotency-Key: one\r\nIdempotency-Key: two"],
    ] as const;
    for (const [name, line] of spellings) {
      const path = `/v1/hostile/${name}`;
      const reply = await rawPost(path, [line]);
      expectEnvelope(reply, BAD);
      expect(callsTo(path), name).toHaveLength(0);
    }
  });

  it("a look-alike name (Idempotency_Key) is not the header: it guards nothing and never reaches the origin", async () => {
    const path = "/v1/hostile/look-alike";
    for (let i = 0; i < 2; i++) {
      const reply = await rawPost(path, ["Idempotency_Key: lookalike-1"]);
      expect(reply.status).toBe(200);
      expect(reply.headers.get("idempotent-replayed")).toBeNull();
    }
    expect(callsTo(path)).toHaveLength(2);
    for (const call of callsTo(path)) {
      expect(Object.keys(call.headers).filter((name) => name.replace(/_/g, "-") === "idempotency-key")).toEqual([]);
    }
  });

  it("the header's name in any case, and its value between spaces, is the same key", async () => {
    const path = "/v1/hostile/spelled";
    const first = await rawPost(path, ["idempotency-key:   spelled-1  "]);
    expect(first.status).toBe(200);
    const again = await repeatPastInProgress(() => rawPost(path, ["IDEMPOTENCY-KEY: spelled-1"]));
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.text).toBe(first.text);
    expect(callsTo(path).map((c) => c.headers["idempotency-key"])).toEqual(["spelled-1"]);
  });
});

describe("records outlive a restart of the gateway on the same storage", () => {
  it("a 2xx and a 4xx are replayed, and a mismatch still refused, after wrangler dev restarts", async () => {
    const created = await rawPost("/v1/kept/created", ["Idempotency-Key: survives-2xx"], '{"n":1}');
    expect(created.status).toBe(200);
    const [createdCall] = callsTo("/v1/kept/created");
    const gone = await rawPost("/v1/kept/gone", ["Idempotency-Key: survives-4xx"]);
    expectEnvelope(gone, { status: 404, code: "NOT_FOUND", message: "No such widget" });
    // The 2xx's answer is kept just after it was sent: once a repeat replays it, it is stored.
    const kept = await repeatPastInProgress(() => rawPost("/v1/kept/created", ["Idempotency-Key: survives-2xx"], '{"n":1}'));
    expect(kept.headers.get("idempotent-replayed")).toBe("true");
    const before = await credits();
    const callCount = calls.length;

    await gateway.stop();
    gateway = await startGateway({ vars: vars(), persistTo });

    const replay = await rawPost("/v1/kept/created", ["Idempotency-Key: survives-2xx"], '{"n":1}');
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("x-origin")).toBe("echo");
    expect(replay.headers.get("content-type")).toBe("application/json");
    expect(replay.text).toBe(created.text);
    expect(replay.headers.get("x-request-id")).not.toBe(created.headers.get("x-request-id"));
    const goneAgain = await rawPost("/v1/kept/gone", ["Idempotency-Key: survives-4xx"]);
    const envelope = expectEnvelope(goneAgain, { status: 404, code: "NOT_FOUND", message: "No such widget" });
    expect(goneAgain.headers.get("idempotent-replayed")).toBe("true");
    expect(envelope.meta.request_id).not.toBe(gone.headers.get("x-request-id"));
    const mismatch = await rawPost("/v1/kept/created", ["Idempotency-Key: survives-2xx"], '{"n":2}');
    expectEnvelope(mismatch, { status: 400, code: "VALIDATION_ERROR", message: "Idempotency-Key was already used for a different request" });
    expect(calls.length).toBe(callCount);
    expect(createdCall!.body).toBe('{"n":1}');
    expect(await credits()).toBe(before);
  });
});
