// SPEC section 12 from the outside, forwarding: two real origins behind one gateway. Each
// route reaches its own origin; strip_prefix is exact (the prefix alone, `/`, queries,
// case variants and hostile spellings sent raw on the wire); each upstream gets its own
// token and never another's; the log line and the health endpoint name the upstreams.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logLineFor, receivedFor, waitForLog } from "../support/envelope.ts";
import { accountWithKey, startGateway, type Gateway } from "../support/gateway.ts";
import { rawGet, send, type Reply } from "../support/http.ts";
import { startOrigin, type Origin, type ReceivedRequest } from "../support/origin.ts";

const DEFAULT_TOKEN = "default-upstream-token-5b1e";
const BILLING_TOKEN = "billing-upstream-token-c94d";
/** Set, but named by no upstream: it must reach no origin. */
const UNUSED_TOKEN = "unused-upstream-token-77aa";

/** The default upstream, UPSTREAM_URL. */
let main: Origin;
/** The second origin: the billing upstream (under /api) and the legacy one (its root, no token). */
let second: Origin;
let gateway: Gateway;
let auth: { Authorization: string };

beforeAll(async () => {
  [main, second] = await Promise.all([startOrigin(), startOrigin()]);
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: main.url,
      UPSTREAMS: {
        billing: { url: `${second.url}/api`, token_secret: "BILLING_TOKEN", timeout_ms: 5000 },
        legacy: { url: second.url },
      },
      ROUTES: [
        { path: "/v1/billing/*", upstream: "billing", strip_prefix: "/v1/billing" },
        { path: "/legacy/*", upstream: "legacy", strip_prefix: "/legacy", public: true },
        { path: "/plain/*", upstream: "billing", public: true },
        { path: "/v1/*" },
      ],
    },
    secrets: { UPSTREAM_TOKEN: DEFAULT_TOKEN, BILLING_TOKEN, UNUSED_TOKEN },
  });
  auth = { Authorization: `Bearer ${await accountWithKey(gateway, { id: "upstreams-acme" })}` };
});
afterAll(async () => {
  await gateway?.stop();
  await Promise.all([main?.close(), second?.close()]);
});

/** The one request `reply` made at `origin`, and that the other origin never saw it. */
function reachedOnly(origin: Origin, other: Origin, reply: Reply): ReceivedRequest {
  const id = reply.headers.get("x-request-id");
  expect(other.received.filter((r) => r.headers["x-request-id"] === id), `${id} reached the other origin`).toEqual([]);
  return receivedFor(origin.received, reply);
}

describe("each route reaches its own origin", () => {
  it("the default upstream's route reaches UPSTREAM_URL, the billing route the second origin, each with the caller's identity", async () => {
    const posts = await send(gateway.url, "/v1/posts?page=2", { headers: auth });
    expect(posts.status).toBe(200);
    expect(reachedOnly(main, second, posts)).toMatchObject({ path: "/v1/posts?page=2", headers: { "x-account-id": "upstreams-acme" } });

    const invoice = await send(gateway.url, "/v1/billing/invoices/7?expand=lines", { headers: auth });
    expect(invoice.status).toBe(200);
    const received = reachedOnly(second, main, invoice);
    expect(received).toMatchObject({ path: "/api/invoices/7?expand=lines", headers: { "x-account-id": "upstreams-acme", "x-request-id": invoice.headers.get("x-request-id") } });
    // The origin's answer comes back untouched: the echo of what it received.
    expect(JSON.parse(invoice.text)).toMatchObject({ path: "/api/invoices/7?expand=lines" });
  });

  it("a route without strip_prefix sends its whole path to its upstream, under the upstream's base path", async () => {
    const reply = await send(gateway.url, "/plain/echo?x=1");
    expect(reply.status).toBe(200);
    expect(reachedOnly(second, main, reply).path).toBe("/api/plain/echo?x=1");
  });
});

describe("strip_prefix, exactly", () => {
  // [as sent on the wire, what the billing origin receives]
  const stripped: [string, string][] = [
    ["/v1/billing/invoices/7", "/api/invoices/7"],
    ["/v1/billing", "/api/"],
    ["/v1/billing/", "/api/"],
    ["/v1/billing?x=1", "/api/?x=1"],
    ["/v1/billing/?x=1&y=%2F&next=/v1/billing/z", "/api/?x=1&y=%2F&next=/v1/billing/z"],
    ["/v1/billing/invoices/?", "/api/invoices/"],
    ["/v1/billing/invoices?a=1&a=2&b", "/api/invoices?a=1&a=2&b"],
    ["/V1/Billing/Invoices/7", "/api/Invoices/7"],
    ["/v1/BILLING", "/api/"],
    ["/v1/%62illing/invoices", "/api/invoices"],
    ["/v1/%42ILLING/x", "/api/x"],
    ["//v1//billing//invoices", "/api/invoices"],
    ["/v1/billing/billing/x", "/api/billing/x"],
    ["/v1/billing/./invoices/../receipts", "/api/receipts"],
    ["/v1/billing/%2e/x", "/api/x"],
    ["/v1/billing/caf%c3%a9", "/api/caf%C3%A9"],
  ];
  it.each(stripped)("GET %s reaches the billing origin as %s", async (target, expected) => {
    const reply = await rawGet(gateway.port, target, auth);
    expect(reply.status, reply.text).toBe(200);
    expect(reachedOnly(second, main, reply).target).toBe(expected);
  });

  // Spellings that leave the prefix, or only look like it, never reach the billing origin.
  const notStripped: [string, string][] = [
    ["/v1/billingx", "/v1/billingx"],
    ["/v1/billing-old/x", "/v1/billing-old/x"],
    ["/v1/bill/ing", "/v1/bill/ing"],
    ["/v1/billing/../admin", "/v1/admin"],
    ["/v1/billing/%2e%2e/admin", "/v1/admin"],
    ["/v1/billing/x/%2E%2E/%2e%2e/../secret", "/secret"],
  ];
  it.each(notStripped)("GET %s reaches the default origin as %s, the billing origin not at all", async (target, expected) => {
    const reply = await rawGet(gateway.port, target, auth);
    // `/secret` matches no route: a 404 from the gateway itself, and no origin is called.
    if (expected === "/secret") {
      expect(reply.status).toBe(404);
      const id = reply.headers.get("x-request-id");
      expect([...main.received, ...second.received].filter((r) => r.headers["x-request-id"] === id)).toEqual([]);
      return;
    }
    expect(reply.status, reply.text).toBe(200);
    expect(reachedOnly(main, second, reply).target).toBe(expected);
  });

  it("strips a public route's prefix for an upstream at the origin's root: /legacy → /", async () => {
    for (const [target, expected] of [
      ["/legacy", "/"],
      ["/legacy/?q=%20", "/?q=%20"],
      ["/LEGACY/echo", "/echo"],
    ] as const) {
      const reply = await rawGet(gateway.port, target);
      expect(reply.status, reply.text).toBe(200);
      expect(reachedOnly(second, main, reply).target).toBe(expected);
    }
  });
});

describe("tokens never cross", () => {
  it("each upstream gets its own token in place of the client's Authorization, the legacy one none", async () => {
    const sent = [
      await send(gateway.url, "/v1/posts", { headers: auth }),
      await send(gateway.url, "/v1/billing/invoices", { headers: auth }),
      await send(gateway.url, "/legacy/echo", { headers: { Authorization: `Bearer ${BILLING_TOKEN}` } }),
      await send(gateway.url, "/plain/echo", { headers: { Authorization: `Bearer ${DEFAULT_TOKEN}`, "X-Upstream-Token": "x" } }),
    ];
    for (const reply of sent) expect(reply.status, reply.text).toBe(200);
    expect(receivedFor(main.received, sent[0]!).headers.authorization).toBe(`Bearer ${DEFAULT_TOKEN}`);
    expect(receivedFor(second.received, sent[1]!).headers.authorization).toBe(`Bearer ${BILLING_TOKEN}`);
    // The client's own Authorization (here a copy of another upstream's token) is dropped, and none replaces it.
    expect(receivedFor(second.received, sent[2]!).headers.authorization).toBeUndefined();
    expect(receivedFor(second.received, sent[3]!).headers.authorization).toBe(`Bearer ${BILLING_TOKEN}`);
  });

  it("over every request either origin received in this file, no token reached an origin it is not for", () => {
    const carried = (received: readonly ReceivedRequest[], token: string) => received.filter((r) => JSON.stringify(r.headers).includes(token)).length;
    expect(main.received.length).toBeGreaterThan(0);
    expect(second.received.length).toBeGreaterThan(0);
    // The default origin: only its own token, on every request.
    expect(carried(main.received, BILLING_TOKEN)).toBe(0);
    expect(carried(main.received, UNUSED_TOKEN)).toBe(0);
    for (const r of main.received) expect(r.headers.authorization, r.target).toBe(`Bearer ${DEFAULT_TOKEN}`);
    // The second origin: the billing token under /api, nothing at its root (legacy).
    expect(carried(second.received, DEFAULT_TOKEN)).toBe(0);
    expect(carried(second.received, UNUSED_TOKEN)).toBe(0);
    for (const r of second.received) expect(r.headers.authorization, r.target).toBe(r.target.startsWith("/api/") ? `Bearer ${BILLING_TOKEN}` : undefined);
  });
});

describe("the operator's view", () => {
  it("the log line names the upstream of every forwarded request", async () => {
    const billing = await send(gateway.url, "/v1/billing/invoices", { headers: auth });
    const posts = await send(gateway.url, "/v1/posts", { headers: auth });
    const output = await waitForLog(gateway.output, posts.headers.get("x-request-id")!);
    expect(logLineFor(output, billing.headers.get("x-request-id")!)).toMatchObject({ route: "/v1/billing/*", upstream: "billing", status: 200 });
    expect(logLineFor(output, posts.headers.get("x-request-id")!)).toMatchObject({ route: "/v1/*", upstream: "default", status: 200 });
  });

  it("GET /_gateway/health lists the upstreams, without their URLs, and says no breaker is configured", async () => {
    const reply = await send(gateway.url, "/_gateway/health");
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text).data).toEqual({
      status: "ok",
      upstreams: [
        { name: "default", breaker: "off" },
        { name: "billing", breaker: "off" },
        { name: "legacy", breaker: "off" },
      ],
    });
    expect(reply.text).not.toContain("127.0.0.1");
  });
});
