// SPEC section 6, the normalization table, row by row: the real gateway in front of a real
// origin that answers each way an origin can fail. Every answer is checked as a whole
// envelope (SPEC 1), together with what the origin received.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GENERIC_MESSAGE } from "../../src/envelope.ts";
import { expectEnvelope, receivedFor, type ExpectedEnvelope } from "../support/envelope.ts";
import { accountWithKey, startGateway, type Gateway } from "../support/gateway.ts";
import { send } from "../support/http.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

let origin: Origin;
let gateway: Gateway;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 1000, per_day: 100000 } },
      ROUTES: [
        { path: "/n/*", public: true },
        { path: "/slow/*", public: true, timeout_ms: 500 },
        { path: "/paid/*", credits: 5 },
      ],
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** /n/status/<code> with the origin told what to answer. */
function status(code: number, params: { body?: unknown; type?: string; retry_after?: string } = {}): string {
  const query = new URLSearchParams();
  if (params.body !== undefined) query.set("body", typeof params.body === "string" ? params.body : JSON.stringify(params.body));
  if (params.type !== undefined) query.set("type", params.type);
  if (params.retry_after !== undefined) query.set("retry_after", params.retry_after);
  const search = query.toString();
  return `/n/status/${code}${search === "" ? "" : `?${search}`}`;
}

function envelope(code: string, originStatus: number, params: Record<string, string> = {}): string {
  const search = new URLSearchParams(params).toString();
  return `/n/envelope/${code}/${originStatus}${search === "" ? "" : `?${search}`}`;
}

interface Row extends ExpectedEnvelope {
  name: string;
  path: string;
  /** Text of the origin's answer that must not reach the client. */
  hidden?: string[];
  /** How many times the origin may see it (the runtime resends an idempotent request on a reset). */
  deliveries?: number;
  /** The instant an HTTP-date Retry-After names (ms since the epoch); see secondsUntil. */
  retryAt?: number;
}

/** An HTTP date `ms` from now, and the instant it names (whole seconds: the date drops the rest). */
function httpDateIn(ms: number): { header: string; at: number } {
  const header = new Date(Date.now() + ms).toUTCString();
  return { header, at: Date.parse(header) };
}

/**
 * The Retry-After the gateway may derive from an HTTP date naming `at`: it counts from its
 * own clock, read at some moment between our sending the request and receiving the answer,
 * so the wait lies between the seconds left at those two moments — however long they took.
 */
function secondsUntil(at: number, sentAt: number, answeredAt: number): [number, number] {
  const left = (now: number) => Math.max(1, Math.ceil((at - now) / 1000));
  return [left(answeredAt), left(sentAt)];
}

/** Asks the gateway for `path`, checks the envelope and that the origin got exactly that request. */
async function check(row: Row, method = "GET") {
  const sentAt = Date.now();
  const reply = await send(gateway.url, row.path, { method });
  const answeredAt = Date.now();
  const retryAfter = row.retryAt === undefined ? row.retryAfter : secondsUntil(row.retryAt, sentAt, answeredAt);
  const body = expectEnvelope(reply, { ...row, retryAfter, head: method === "HEAD" });
  const received = receivedFor(origin.received, reply, row.deliveries);
  expect(received.method).toBe(method);
  expect(received.path).toBe(row.path);
  for (const text of row.hidden ?? []) expect(reply.text).not.toContain(text);
  return { reply, body };
}

const LONG = "x".repeat(450) + "y".repeat(150);
const REFUSED_GATEWAY = /key is not at fault/;
const UPSTREAM_FAILED = /upstream service failed/i;

describe("an origin 4xx that is already the envelope", () => {
  const passthrough: Row[] = [
    { name: "VALIDATION_ERROR", path: envelope("VALIDATION_ERROR", 422, { message: "Name is required." }), status: 400, code: "VALIDATION_ERROR", message: "Name is required." },
    { name: "INSUFFICIENT_CREDITS", path: envelope("INSUFFICIENT_CREDITS", 402), status: 402, code: "INSUFFICIENT_CREDITS", message: "Origin says INSUFFICIENT_CREDITS" },
    { name: "FORBIDDEN", path: envelope("FORBIDDEN", 403), status: 403, code: "FORBIDDEN", message: "Origin says FORBIDDEN" },
    { name: "NOT_FOUND", path: envelope("NOT_FOUND", 404), status: 404, code: "NOT_FOUND", message: "Origin says NOT_FOUND" },
    { name: "CONFLICT", path: envelope("CONFLICT", 409), status: 409, code: "CONFLICT", message: "Origin says CONFLICT" },
    { name: "PRECONDITION_FAILED", path: envelope("PRECONDITION_FAILED", 412), status: 412, code: "PRECONDITION_FAILED", message: "Origin says PRECONDITION_FAILED" },
    { name: "RATE_LIMIT_EXCEEDED with Retry-After", path: envelope("RATE_LIMIT_EXCEEDED", 429, { retry_after: "30" }), status: 429, code: "RATE_LIMIT_EXCEEDED", message: "Origin says RATE_LIMIT_EXCEEDED", retryAfter: 30 },
    { name: "RATE_LIMIT_EXCEEDED without Retry-After (1 s)", path: envelope("RATE_LIMIT_EXCEEDED", 429), status: 429, code: "RATE_LIMIT_EXCEEDED", message: "Origin says RATE_LIMIT_EXCEEDED", retryAfter: 1 },
    { name: "a code that disagrees with the status: the code decides", path: envelope("CONFLICT", 400), status: 409, code: "CONFLICT", message: "Origin says CONFLICT" },
    { name: "NOT_FOUND sent with a 410", path: envelope("NOT_FOUND", 410), status: 404, code: "NOT_FOUND", message: "Origin says NOT_FOUND" },
    { name: "a long message with control characters, cleaned and cut", path: envelope("CONFLICT", 409, { message: `\u0007${LONG}` }), status: 409, code: "CONFLICT", message: LONG.slice(0, 500) },
    { name: "an empty message, replaced by the generic sentence", path: envelope("FORBIDDEN", 403, { message: "" }), status: 403, code: "FORBIDDEN", message: GENERIC_MESSAGE.FORBIDDEN },
  ];

  it.each(passthrough)("passes through $name with the gateway's request id", async (row) => {
    const { body } = await check(row);
    expect(body.meta.request_id).not.toBe("req_origin_own_id");
    expect(body.meta.timestamp).not.toBe("2026-01-01T00:00:00Z");
  });

  const refused: Row[] = [
    { name: "UNAUTHORIZED with a 401 (the origin refused the gateway)", path: envelope("UNAUTHORIZED", 401), status: 500, code: "INTERNAL_ERROR", message: REFUSED_GATEWAY, hidden: ["Origin says"] },
    { name: "UNAUTHORIZED with a 400 (just a 400)", path: envelope("UNAUTHORIZED", 400), status: 400, code: "VALIDATION_ERROR", message: "Origin says UNAUTHORIZED" },
    { name: "INTERNAL_ERROR with a 409 (just a 409)", path: envelope("INTERNAL_ERROR", 409), status: 409, code: "CONFLICT", message: "Origin says INTERNAL_ERROR" },
    { name: "INTERNAL_ERROR with a 500", path: envelope("INTERNAL_ERROR", 500), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, hidden: ["Origin says"] },
    { name: "a passthrough code with a 5xx status", path: envelope("CONFLICT", 503), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, hidden: ["Origin says"] },
    { name: "a code outside the closed set", path: envelope("TEAPOT", 418), status: 400, code: "VALIDATION_ERROR", message: "Origin says TEAPOT" },
  ];

  it.each(refused)("does not pass through $name", async (row) => {
    await check(row);
  });
});

describe("400, 413, 414, 422 and other 4xx: VALIDATION_ERROR with the extracted message", () => {
  const rows: Row[] = [
    { name: "400 error.message", path: status(400, { body: { error: { message: "Field 'email' is invalid." } } }), status: 400, code: "VALIDATION_ERROR", message: "Field 'email' is invalid." },
    { name: "413 message", path: status(413, { body: { message: "Payload too large: at most 1 MB." } }), status: 400, code: "VALIDATION_ERROR", message: "Payload too large: at most 1 MB." },
    { name: "414 error as a string", path: status(414, { body: { error: "URI too long." } }), status: 400, code: "VALIDATION_ERROR", message: "URI too long." },
    { name: "422 RFC 9457 detail", path: "/n/problem", status: 400, code: "VALIDATION_ERROR", message: "Field 'quantity' must be at most 10." },
    { name: "422 RFC 9457 title when detail is empty", path: status(422, { body: { type: "about:blank", title: "Unprocessable order", detail: "" }, type: "application/problem+json" }), status: 400, code: "VALIDATION_ERROR", message: "Unprocessable order" },
    { name: "418 errors[0].message", path: status(418, { body: { errors: [{ message: "Teapots cannot brew coffee." }, { message: "second" }] } }), status: 400, code: "VALIDATION_ERROR", message: "Teapots cannot brew coffee." },
    { name: "451 with no body: the generic sentence", path: status(451), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR },
    { name: "error.message before message before detail", path: status(400, { body: { error: { message: "from error.message" }, message: "from message", detail: "from detail" } }), status: 400, code: "VALIDATION_ERROR", message: "from error.message" },
    { name: "an empty error.message falls to message", path: status(400, { body: { error: { message: "" }, message: "from message" } }), status: 400, code: "VALIDATION_ERROR", message: "from message" },
    { name: "a blank message falls to error as a string", path: status(400, { body: { message: "   ", error: "from error string" } }), status: 400, code: "VALIDATION_ERROR", message: "from error string" },
    { name: "detail before title", path: status(400, { body: { title: "from title", detail: "from detail" } }), status: 400, code: "VALIDATION_ERROR", message: "from detail" },
    { name: "no string in any shape", path: status(400, { body: { message: 42, error: { code: 7 }, errors: "nope" } }), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR },
    { name: "a body that is not JSON", path: status(400, { body: "{not json", type: "application/json" }), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR },
    { name: "plain text", path: status(400, { body: "Bad request, friend", type: "text/plain" }), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR },
    { name: "a message over 500 characters, cut to 500", path: status(400, { body: { message: LONG } }), status: 400, code: "VALIDATION_ERROR", message: LONG.slice(0, 500) },
    { name: "control characters removed", path: status(400, { body: { message: "Line one.\u0000\u0007\u001b Line two.\u007f\u0085\n" } }), status: 400, code: "VALIDATION_ERROR", message: "Line one. Line two." },
    { name: "angle brackets in a sentence are kept", path: status(400, { body: { message: "expected <string>, got number" } }), status: 400, code: "VALIDATION_ERROR", message: "expected <string>, got number" },
    { name: "an HTML page as the message", path: status(400, { body: { message: "<html><body><h1>Bad</h1></body></html>" } }), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR },
    { name: "a stack trace as the message", path: status(400, { body: { message: "TypeError: x is undefined\n    at handler (/srv/app/handler.js:42:7)" } }), status: 400, code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR, hidden: ["/srv/app"] },
  ];

  it.each(rows)("$name", async (row) => {
    await check(row);
  });
});

describe("the other 4xx rows", () => {
  const rows: Row[] = [
    { name: "401 → 500: the origin refused the gateway itself", path: status(401, { body: { message: "upstream token expired" } }), status: 500, code: "INTERNAL_ERROR", message: REFUSED_GATEWAY, hidden: ["upstream token expired"] },
    { name: "402 extracted", path: status(402, { body: { message: "Top up your account." } }), status: 402, code: "INSUFFICIENT_CREDITS", message: "Top up your account." },
    { name: "402 generic", path: status(402), status: 402, code: "INSUFFICIENT_CREDITS", message: GENERIC_MESSAGE.INSUFFICIENT_CREDITS },
    { name: "403 extracted", path: status(403, { body: { error: { message: "Admins only." } } }), status: 403, code: "FORBIDDEN", message: "Admins only." },
    { name: "404 extracted", path: status(404, { body: { message: "No such widget." } }), status: 404, code: "NOT_FOUND", message: "No such widget." },
    { name: "405 generic", path: status(405), status: 404, code: "NOT_FOUND", message: GENERIC_MESSAGE.NOT_FOUND },
    { name: "410 extracted", path: status(410, { body: { detail: "Widget 7 was deleted." } }), status: 404, code: "NOT_FOUND", message: "Widget 7 was deleted." },
    { name: "409 extracted", path: status(409, { body: { message: "Version mismatch." } }), status: 409, code: "CONFLICT", message: "Version mismatch." },
    { name: "412 extracted", path: status(412, { body: { message: "If-Match failed." } }), status: 412, code: "PRECONDITION_FAILED", message: "If-Match failed." },
    { name: "428 generic", path: status(428), status: 412, code: "PRECONDITION_FAILED", message: GENERIC_MESSAGE.PRECONDITION_FAILED },
  ];

  it.each(rows)("$name", async (row) => {
    await check(row);
  });
});

describe("429 from the origin", () => {
  const rows: (() => Row)[] = [
    () => ({ name: "Retry-After in seconds", path: status(429, { retry_after: "7" }), status: 429, code: "RATE_LIMIT_EXCEEDED", message: "Rate limit exceeded. Retry after 7 seconds.", retryAfter: 7 }),
    () => {
      const date = httpDateIn(120_000);
      return { name: "Retry-After as an HTTP date", path: status(429, { retry_after: date.header }), status: 429, code: "RATE_LIMIT_EXCEEDED", retryAt: date.at };
    },
    () => ({ name: "no Retry-After: 1 s", path: status(429), status: 429, code: "RATE_LIMIT_EXCEEDED", message: "Rate limit exceeded. Retry after 1 seconds.", retryAfter: 1 }),
    () => ({ name: "Retry-After 0: at least 1 s", path: status(429, { retry_after: "0" }), status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 1 }),
    () => ({ name: "a date in the past: 1 s", path: status(429, { retry_after: "Wed, 21 Oct 2015 07:28:00 GMT" }), status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 1 }),
    () => ({ name: "an unreadable Retry-After: 1 s", path: status(429, { retry_after: "soon" }), status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 1 }),
  ];

  it.each(rows.map((row) => [row().name, row] as const))("%s, said in the message, with no meta.limit", async (_name, row) => {
    const { body } = await check(row());
    expect(body.error.message).toBe(`Rate limit exceeded. Retry after ${body.meta.retry_after} seconds.`);
    expect(body.meta.limit).toBeUndefined();
  });
});

describe("5xx and failures: 500 INTERNAL_ERROR, never the origin's body", () => {
  const rows: Row[] = [
    { name: "500 with a JSON message", path: status(500, { body: { message: "db password is hunter2" } }), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, hidden: ["hunter2"] },
    { name: "501", path: status(501, { body: "Not Implemented", type: "text/plain" }), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, hidden: ["Not Implemented"] },
    { name: "504", path: status(504), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED },
    { name: "a 502 with Retry-After (only a 503's is carried over)", path: status(502, { retry_after: "30" }), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED },
    { name: "503 with Retry-After carried over", path: status(503, { retry_after: "30", body: { message: "maintenance" } }), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, retryAfter: 30, hidden: ["maintenance"] },
    { name: "503 without Retry-After", path: status(503), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED },
    { name: "invalid JSON with a stack trace", path: "/n/bad-json-500", status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, hidden: ["handler.js", "/srv/app", "stack", "Internal failure"] },
    { name: "an answer that is not HTTP", path: "/n/garbage", status: 500, code: "INTERNAL_ERROR", message: /upstream service/i, hidden: ["SMTP", "not HTTP"] },
    { name: "a reset socket", path: "/n/reset", status: 500, code: "INTERNAL_ERROR", message: /could not be reached/, deliveries: 2 },
  ];

  it.each(rows)("$name", async (row) => {
    await check(row);
  });

  it("an nginx HTML 502 page: no HTML, no nginx", async () => {
    const { body, reply } = await check({ name: "nginx", path: "/n/html502", status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED });
    expect(body.error.message).not.toContain("<");
    expect(body.error.message.toLowerCase()).not.toContain("nginx");
    expect(reply.text).not.toContain("nginx");
    expect(reply.headers.get("server") ?? "").not.toContain("nginx");
  });

  it("a 503 whose Retry-After is an HTTP date", async () => {
    const date = httpDateIn(90_000);
    await check({ name: "503 date", path: status(503, { retry_after: date.header }), status: 500, code: "INTERNAL_ERROR", message: UPSTREAM_FAILED, retryAt: date.at });
  });

  it("an origin that hangs past the route's timeout_ms", async () => {
    await check({ name: "hang", path: "/slow/hang", status: 500, code: "INTERNAL_ERROR", message: /did not respond in time/ });
  });
});

describe("HEAD requests get the envelope's headers and no body", () => {
  it.each<Row>([
    { name: "404", path: status(404, { body: { message: "No such widget." } }), status: 404, code: "NOT_FOUND" },
    { name: "429 with Retry-After", path: status(429, { retry_after: "5" }), status: 429, code: "RATE_LIMIT_EXCEEDED", retryAfter: 5 },
    { name: "503 with Retry-After", path: status(503, { retry_after: "9" }), status: 500, code: "INTERNAL_ERROR", retryAfter: 9 },
    { name: "a reset socket", path: "/n/reset", status: 500, code: "INTERNAL_ERROR", deliveries: 2 },
  ])("$name", async (row) => {
    await check(row, "HEAD");
  });
});

describe("through an authenticated route with a cost", () => {
  it("normalizes the origin's 409, refunds the debit and tells the balance", async () => {
    const key = await accountWithKey(gateway, { id: "normalize-paid", credits: 20 });
    const path = "/paid/status/409?body=" + encodeURIComponent(JSON.stringify({ message: "Version mismatch." }));
    const reply = await send(gateway.url, path, { headers: { Authorization: `Bearer ${key}` } });
    expectEnvelope(reply, { status: 409, code: "CONFLICT", message: "Version mismatch." });
    expect(reply.headers.get("x-credits-remaining")).toBe("20");
    expect(reply.headers.get("ratelimit-policy")).toBe('"minute";q=1000;w=60, "day";q=100000;w=86400');
    const received = receivedFor(origin.received, reply);
    expect(received.path).toBe(path);
    expect(received.headers["x-account-id"]).toBe("normalize-paid");
    expect(received.headers.authorization).toBeUndefined();

    const ok = await send(gateway.url, "/paid/echo", { headers: { Authorization: `Bearer ${key}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-credits-remaining")).toBe("15");
  });
});
