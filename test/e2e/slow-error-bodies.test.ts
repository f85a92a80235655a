// An origin error whose body stalls (SPEC 6: the route's timeout bounds the origin call).
// A 5xx body is never shown, so it is not read at all: the answer comes with the 5xx's
// headers. A 4xx body is read for its message only within what is left of the route's
// timeout. The origin reports whether it got to finish writing its body before the gateway
// let go of it. Real wrangler dev in front of a real origin.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectEnvelope } from "../support/envelope.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { send } from "../support/http.ts";

/** How long the origin holds the rest of its error body: past the route's timeout. */
const STALL_MS = 4_000;

let originServer: Server;
let gateway: Gateway;
let key: string;
/** Per request marker: resolves with whether the origin wrote its whole body before the exchange ended. */
const bodyFinished = new Map<string, Promise<boolean>>();

beforeAll(async () => {
  originServer = createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? "/", "http://origin.test");
    bodyFinished.set(url.searchParams.get("n") ?? "", new Promise((resolve) => res.once("close", () => resolve(res.writableFinished))));
    const [head, tail] = url.pathname.endsWith("/stall-503")
      ? [{ status: 503, type: "text/html", retryAfter: "7" }, ["<html><body><h1>Service Unavailable</h1>", "</body></html>"]]
      : [{ status: 404, type: "application/json", retryAfter: null }, ['{"message": "No widget ', 'with that id"}']];
    res.writeHead(head.status, { "Content-Type": head.type, ...(head.retryAfter === null ? {} : { "Retry-After": head.retryAfter }) });
    res.write(tail[0]);
    const timer = setTimeout(() => res.end(tail[1]), STALL_MS);
    res.once("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => originServer.listen(0, "127.0.0.1", resolve));
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: `http://127.0.0.1:${(originServer.address() as AddressInfo).port}`,
      ROUTES: [{ path: "/v1/*", credits: 5, timeout_ms: 1_000 }],
    },
  });
  key = await accountWithKey(gateway, { id: "stall-acct", credits: 100 });
});
afterAll(async () => {
  await gateway?.stop();
  originServer?.closeAllConnections();
  await new Promise<void>((resolve) => (originServer ? originServer.close(() => resolve()) : resolve()));
});

const balance = async () => (await admin(gateway, "GET", "/accounts/stall-acct")).body.data.credits as number;

describe("an origin error whose body stalls", () => {
  it("a 503: answered from its headers, the body never read, the debit refunded", async () => {
    const reply = await send(gateway.url, "/v1/stall-503?n=a", { headers: { Authorization: `Bearer ${key}` } });
    expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: "The upstream service failed to handle the request.", retryAfter: 7 });
    expect(reply.headers.get("x-credits-remaining")).toBe("100");
    expect(await bodyFinished.get("a"), "the origin finished writing its 503 body").toBe(false);
    expect(await balance()).toBe(100);
  });

  it("a 404: its body read only within the route's timeout, then answered without it", async () => {
    const reply = await send(gateway.url, "/v1/stall-404?n=b", { headers: { Authorization: `Bearer ${key}` } });
    // The message sits in the part of the body the origin sends after the route's timeout.
    expectEnvelope(reply, { status: 404, code: "NOT_FOUND", message: "The requested resource was not found." });
    expect(reply.headers.get("x-credits-remaining")).toBe("100");
    expect(await bodyFinished.get("b"), "the origin finished writing its 404 body").toBe(false);
    expect(await balance()).toBe(100);
  });
});
