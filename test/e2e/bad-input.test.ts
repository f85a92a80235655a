// Requests a careless or hostile client sends: unknown routes, very long and odd paths,
// unusual methods, huge headers. The client gets the origin's answer or a clear envelope;
// where workerd refuses a request before the Worker runs, it gets the runtime's short
// plain-text refusal — never a stack trace — and the origin is not called.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectEnvelope, logLineFor, receivedFor, waitForLog } from "../support/envelope.ts";
import { accountWithKey, startGateway, type Gateway } from "../support/gateway.ts";
import { fromFetch, rawExchange, rawStatus, send } from "../support/http.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

const MISSING_KEY = "Missing API key: send 'Authorization: Bearer <key>'";

let origin: Origin;
let gateway: Gateway;

beforeAll(async () => {
  // Node refuses request heads over 16 KiB; this origin takes what the gateway forwards.
  origin = await startOrigin(0, { maxHeaderSize: 1024 * 1024 });
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      ROUTES: [{ path: "/p/*", public: true }, { path: "/k/*" }],
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

async function withOriginUntouched<T>(action: () => Promise<T>): Promise<T> {
  const before = origin.received.length;
  const result = await action();
  expect(origin.received.length).toBe(before);
  return result;
}

/** A runtime refusal: short, plain, no stack trace, no file path. */
function expectPlainRefusal(answer: string, status: number): void {
  expect(rawStatus(answer), answer.slice(0, 300)).toBe(status);
  const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  expect(body.length).toBeLessThan(200);
  expect(body).not.toMatch(/\bat\s+\S+\s+\(?[^()\s]+:\d+:\d+\)?/);
  expect(body).not.toMatch(/file:\/\/|node_modules|\.c\+\+|\.js:/);
}

/** The gateway still answers normally after whatever came before. */
async function expectGatewayServing(): Promise<void> {
  const reply = await send(gateway.url, "/p/echo");
  expect(reply.status).toBe(200);
}

describe("without UPSTREAM_TOKEN", () => {
  it("the client's Authorization does not reach the origin", async () => {
    const reply = await send(gateway.url, "/p/echo", { headers: { Authorization: "Bearer client-secret" } });
    expect(reply.status).toBe(200);
    const received = receivedFor(origin.received, reply);
    expect(received.headers.authorization).toBeUndefined();
    expect(JSON.stringify(received.headers)).not.toContain("client-secret");
  });
});

describe("unknown routes", () => {
  it.each(["GET", "POST", "DELETE", "PATCH", "OPTIONS"])("%s on an unknown path is 404 and the origin is not called", async (method) => {
    await withOriginUntouched(async () => {
      const reply = await send(gateway.url, "/nope/thing?x=1", { method, body: method === "POST" ? '{"a":1}' : undefined });
      expectEnvelope(reply, { status: 404, code: "NOT_FOUND", message: `No route matches ${method} /nope/thing` });
    });
  });
});

describe("long, encoded and unicode paths", () => {
  const eightKb = "x".repeat(8 * 1024);

  it("an 8 KB path on a route reaches the origin whole", async () => {
    const reply = await send(gateway.url, `/p/${eightKb}?q=1`);
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).path).toBe(`/p/${eightKb}?q=1`);
  });

  it("an 8 KB path on no route: 404, echoed only in part, logged only in part", async () => {
    const reply = await withOriginUntouched(() => send(gateway.url, `/nope/${eightKb}`));
    const body = expectEnvelope(reply, { status: 404, code: "NOT_FOUND", message: /^No route matches GET \/nope\/x+…$/ });
    expect(body.error.message.length).toBeLessThan(200);
    const id = reply.headers.get("x-request-id")!;
    const line = logLineFor(await waitForLog(gateway.output, id), id);
    expect(String(line?.path).length).toBeLessThanOrEqual(200);
  });

  it("escapes reach the origin in their one spelling (SPEC 10); the query exactly as sent", async () => {
    const reply = await send(gateway.url, "/p/a%20c%3f%23/%7e%41?q=%26%3D&r=%zz&s=%00");
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).path).toBe("/p/a%20c%3F%23/~A?q=%26%3D&r=%zz&s=%00");
  });

  it("an encoded slash, an invalid escape or a lone % in the path: 400, and the origin is not called", async () => {
    await withOriginUntouched(async () => {
      for (const path of ["/p/a%2Fb", "/p/%zz", "/p/%", "/p/a%5Cb", "/p/a;b"]) {
        expectEnvelope(await send(gateway.url, path), { status: 400, code: "VALIDATION_ERROR", message: "Malformed request path" });
      }
    });
  });

  it("encoded dot segments are resolved before routing, so they cannot escape a public route", async () => {
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/p/%2e%2e/k/echo"), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
      expectEnvelope(await send(gateway.url, "/p/../k/echo"), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
    });
  });

  it("unicode paths arrive percent-encoded as UTF-8", async () => {
    const reply = await fromFetch(await fetch(`${gateway.url}/p/café/ü/🚀?q=ñ`));
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).path).toBe("/p/caf%C3%A9/%C3%BC/%F0%9F%9A%80?q=%C3%B1");

    // Raw UTF-8 bytes in the request line, as no well-behaved client sends them.
    const before = origin.received.length;
    const answer = await rawExchange(gateway.port, Buffer.from("GET /p/raw-café HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", "utf8"));
    expect(rawStatus(answer)).toBe(200);
    expect(origin.received.slice(before).map((r) => r.path)).toEqual(["/p/raw-caf%C3%A9"]);

    const missing = await withOriginUntouched(async () => fromFetch(await fetch(`${gateway.url}/café`)));
    expectEnvelope(missing, { status: 404, code: "NOT_FOUND", message: "No route matches GET /caf%C3%A9" });
  });
});

describe("unusual methods", () => {
  it("PROPFIND with a body is forwarded, and the origin answers", async () => {
    const xml = '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>';
    const reply = await send(gateway.url, "/p/echo", { method: "PROPFIND", headers: { Depth: "1", "Content-Type": "application/xml" }, body: xml });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ method: "PROPFIND", path: "/p/echo", body: xml });
    const received = receivedFor(origin.received, reply);
    expect(received.method).toBe("PROPFIND");
    expect(received.headers.depth).toBe("1");
    expect(received.body).toBe(xml);
  });

  it.each(["MKCOL", "PURGE", "QUERY", "REPORT"])("%s is forwarded and the origin's answer passes through", async (method) => {
    const reply = await send(gateway.url, "/p/echo", { method });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ method, path: "/p/echo" });
    expect(receivedFor(origin.received, reply).method).toBe(method);
  });

  it("TRACE is never forwarded, even on a public route: the origin would echo the gateway's credentials", async () => {
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/p/echo", { method: "TRACE" }), { status: 404, code: "NOT_FOUND", message: "No route matches TRACE /p/echo" });
    });
  });

  it("an unusual method on a key route or no route gets the envelope", async () => {
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/k/echo", { method: "PROPFIND" }), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
      expectEnvelope(await send(gateway.url, "/nope", { method: "TRACE" }), { status: 404, code: "NOT_FOUND", message: "No route matches TRACE /nope" });
    });
  });

  it("an unusual method with a key needs the write scope (the default for methods other than GET, HEAD, OPTIONS)", async () => {
    const writer = await accountWithKey(gateway, { id: "bad-input-writer" }, ["read", "write"]);
    const reader = await accountWithKey(gateway, { id: "bad-input-reader" }, ["read"]);
    const ok = await send(gateway.url, "/k/echo", { method: "PROPFIND", headers: { Authorization: `Bearer ${writer}` } });
    expect(ok.status).toBe(200);
    const received = receivedFor(origin.received, ok);
    expect(received.method).toBe("PROPFIND");
    expect(received.headers["x-account-id"]).toBe("bad-input-writer");
    await withOriginUntouched(async () => {
      const denied = await send(gateway.url, "/k/echo", { method: "PROPFIND", headers: { Authorization: `Bearer ${reader}` } });
      expectEnvelope(denied, { status: 403, code: "FORBIDDEN", message: "API key lacks 'write' permission required for this endpoint" });
    });
  });

  // workerd's HTTP parser knows a fixed list of methods; any other token, or a lower-case
  // one, is refused with 501 before the Worker is invoked, so no envelope is possible here.
  it.each(["FOOBAR", "get"])("the method token %s is refused by the runtime, plainly, and the origin is not called", async (method) => {
    const answer = await withOriginUntouched(() => rawExchange(gateway.port, `${method} /p/echo HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`));
    expectPlainRefusal(answer, 501);
    await expectGatewayServing();
  });

  // workerd hands CONNECT to a connect() handler, which a Worker without one answers with a
  // bare 500 (and an "uncaught exception" line in the log); nothing is forwarded.
  it("CONNECT is refused by the runtime, plainly, and the origin is not called", async () => {
    const answer = await withOriginUntouched(() => rawExchange(gateway.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`));
    expectPlainRefusal(answer, 500);
    await expectGatewayServing();
  });
});

describe("huge headers", () => {
  it("a 60 KB header reaches the origin whole", async () => {
    const big = "b".repeat(60 * 1024);
    const reply = await send(gateway.url, "/p/echo", { headers: { "X-Big": big } });
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).headers["x-big"]).toBe(big);
  });

  it("200 headers reach the origin, every one", async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 200; i++) headers[`X-Many-${i}`] = `value-${i}`;
    const reply = await send(gateway.url, "/p/echo", { headers });
    expect(reply.status).toBe(200);
    const received = receivedFor(origin.received, reply).headers;
    for (let i = 0; i < 200; i++) expect(received[`x-many-${i}`]).toBe(`value-${i}`);
  });

  it("a 60 KB header on no route or a key route gets the envelope", async () => {
    const big = "b".repeat(60 * 1024);
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/nope", { headers: { "X-Big": big } }), { status: 404, code: "NOT_FOUND" });
      expectEnvelope(await send(gateway.url, "/k/echo", { headers: { "X-Big": big } }), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
      expectEnvelope(await send(gateway.url, "/k/echo", { headers: { Authorization: `Bearer ${big}` } }), { status: 401, code: "UNAUTHORIZED", message: "Malformed API key" });
    });
  });

  // workerd caps a request head somewhere between 400 KB and 512 KB and answers 431 itself.
  it("a 1 MB header is refused by the runtime with 431, plainly, and the origin is not called", async () => {
    const answer = await withOriginUntouched(() =>
      rawExchange(gateway.port, `GET /p/echo HTTP/1.1\r\nHost: gw\r\nX-Huge: ${"h".repeat(1024 * 1024)}\r\nConnection: close\r\n\r\n`),
    );
    expectPlainRefusal(answer, 431);
    await expectGatewayServing();
  });
});
