// Headers that speak for the gateway, sent raw on the wire in hostile spellings (SPEC 6 and
// 10): a client's look-alikes of the gateway's identity, forwarding and client-address
// headers, and its method overrides, never reach the origin; an origin's own limit and
// credit headers never reach the client. One gateway (wrangler dev) in front of the test origin.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { receivedFor } from "../support/envelope.ts";
import { accountWithKey, startGateway, type Gateway } from "../support/gateway.ts";
import { rawExchange, rawStatus, send, type Reply } from "../support/http.ts";
import { startOrigin, type Origin, type ReceivedRequest } from "../support/origin.ts";

let origin: Origin;
let gateway: Gateway;
let limitedKey: string;
let unlimitedKey: string;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 }, unlimited: {} },
      ROUTES: [{ path: "/v1/open/*", public: true }, { path: "/v1/paid/*", credits: 3 }, { path: "/v1/*" }],
    },
  });
  limitedKey = await accountWithKey(gateway, { id: "spoof-limited", credits: 100 });
  unlimitedKey = await accountWithKey(gateway, { id: "spoof-unlimited", plan: "unlimited" });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** Every spelling a folding server (lower case, `_` as `-`) would read as a header the gateway speaks for. */
const LOOK_ALIKES: readonly [string, string][] = [
  ["x-account_id", "victim"],
  ["X_Account_Id", "victim"],
  ["X-ACCOUNT-PLAN", "enterprise"],
  ["x_account_plan", "enterprise"],
  ["x-key_id", "k_forged"],
  ["X_KEY_SCOPES", "*"],
  ["x-forwarded_for", "198.51.100.1"],
  ["X_Forwarded_Host", "forged.example"],
  ["x_forwarded_proto", "gopher"],
  ["Forwarded", "for=198.51.100.2"],
  ["FORWARDED", "for=198.51.100.3"],
  ["X-Real-IP", "198.51.100.4"],
  ["x_real_ip", "198.51.100.5"],
  ["True-Client-IP", "198.51.100.6"],
  ["true_client_ip", "198.51.100.7"],
  ["X-Client-IP", "198.51.100.8"],
  ["x_client_ip", "198.51.100.9"],
  ["cf_connecting_ip", "198.51.100.10"],
  ["x_request_id", "req_forged"],
  ["x_client_request_id", "forged"],
  ["X-HTTP-Method-Override", "DELETE"],
  ["x_http_method_override", "DELETE"],
  ["X-HTTP-Method", "DELETE"],
  ["X-Method-Override", "DELETE"],
  ["x_method_override", "DELETE"],
];

/** A request written byte for byte, so no library normalises a name on the way. */
async function rawGet(path: string, extraHeaders: readonly [string, string][]): Promise<string> {
  const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${gateway.port}`, "Connection: close", "CF-Connecting-IP: 203.0.113.50", ...extraHeaders.map(([n, v]) => `${n}: ${v}`)];
  return rawExchange(gateway.port, `${lines.join("\r\n")}\r\n\r\n`);
}

function requestIdOf(answer: string): string {
  const id = /\r\nx-request-id: (req_\w+)\r\n/i.exec(answer)?.[1];
  expect(id, answer.slice(0, 400)).toBeDefined();
  return id!;
}

function receivedWithId(id: string): ReceivedRequest {
  const matches = origin.received.filter((r) => r.headers["x-request-id"] === id);
  expect(matches).toHaveLength(1);
  return matches[0]!;
}

const fold = (name: string) => name.toLowerCase().replaceAll("_", "-");
const FORBIDDEN_AT_ORIGIN = /^(forwarded|x-real-ip|true-client-ip|x-client-ip|x-client-request-id|x-http-method-override|x-http-method|x-method-override)$/;

/** The origin's headers whose folded name is one the gateway speaks for, with their values. */
function gatewayLike(headers: ReceivedRequest["headers"]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => /^(x-account-|x-key-|x-forwarded-)/.test(fold(name)) || FORBIDDEN_AT_ORIGIN.test(fold(name)) || (name.includes("_") && /^(cf-connecting-ip|x-request-id)$/.test(fold(name)))));
}

describe("look-alike request headers never reach the origin", () => {
  it("on a public route: only the gateway's own forwarding headers arrive", async () => {
    const answer = await rawGet("/v1/open/echo", LOOK_ALIKES);
    expect(rawStatus(answer), answer.slice(0, 300)).toBe(200);
    const received = receivedWithId(requestIdOf(answer));
    expect(received.method).toBe("GET");
    expect(gatewayLike(received.headers)).toEqual({
      "x-forwarded-for": "203.0.113.50",
      "x-forwarded-proto": "http",
      "x-forwarded-host": `127.0.0.1:${gateway.port}`,
    });
    expect(JSON.stringify(received.headers)).not.toMatch(/victim|forged|198\.51\.100|enterprise|gopher|DELETE/);
  });

  it("on a key-protected route: the account and key are the gateway's, whatever the client spelled", async () => {
    const answer = await rawGet("/v1/echo", [["Authorization", `Bearer ${limitedKey}`], ...LOOK_ALIKES]);
    expect(rawStatus(answer), answer.slice(0, 300)).toBe(200);
    const received = receivedWithId(requestIdOf(answer));
    const headers = gatewayLike(received.headers);
    expect(Object.keys(headers).sort()).toEqual(["x-account-id", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-key-id"]);
    expect(headers["x-account-id"]).toBe("spoof-limited");
    expect(headers["x-key-id"]).toMatch(/^\w{10}$/);
    expect(JSON.stringify(received.headers)).not.toMatch(/victim|forged|198\.51\.100|enterprise|gopher|DELETE/);
  });

  it("the method the gateway authorized is the method the origin sees: no override header arrives (SPEC 10)", async () => {
    const overrides: [string, string][] = [
      ["X-HTTP-Method-Override", "DELETE"],
      ["x-http-method", "DELETE"],
      ["X-Method-Override", "DELETE"],
      ["X_HTTP_Method_Override", "DELETE"],
    ];
    const answer = await rawGet("/v1/open/echo", overrides);
    expect(rawStatus(answer), answer.slice(0, 300)).toBe(200);
    const received = receivedWithId(requestIdOf(answer));
    expect(received.method).toBe("GET");
    expect(Object.keys(received.headers).filter((name) => fold(name).includes("method"))).toEqual([]);
  });

  it("keeps the client's other underscore headers and the real CF-Connecting-IP's meaning", async () => {
    const answer = await rawGet("/v1/open/echo", [["x_custom_note", "kept"], ["X-Custom", "kept too"]]);
    const received = receivedWithId(requestIdOf(answer));
    expect(received.headers["x_custom_note"]).toBe("kept");
    expect(received.headers["x-custom"]).toBe("kept too");
    expect(received.headers["x-forwarded-for"]).toBe("203.0.113.50");
  });
});

/** Headers an origin may send that speak for the gateway alone, as /status/:code adds them. */
const ORIGIN_LIMIT_HEADERS = [
  "X-Credits-Remaining:999999",
  "RateLimit:%22origin%22;r=5;t=1",
  "RateLimit-Policy:%22origin%22;q=5;w=1",
  "X-RateLimit-Limit:5",
  "X-RateLimit-Remaining:4",
  "X-RateLimit-Reset:1",
  "X-RateLimit-Used:1",
  "X_RateLimit_Remaining:4",
  "X-Origin-Note:kept",
];
const originHeaderQuery = ORIGIN_LIMIT_HEADERS.map((h) => `header=${h}`).join("&");

function limitHeaders(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  reply.headers.forEach((value, name) => {
    if (/^(x-credits-remaining|ratelimit|ratelimit-policy|x-ratelimit-.*)$/.test(fold(name))) out[name] = value;
  });
  return out;
}

describe("the origin's own limit and credit headers never reach the client", () => {
  it("on a public route: none at all, the origin's other headers kept", async () => {
    const reply = await send(gateway.url, `/v1/open/status/200?body=ok&${originHeaderQuery}`);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe("ok");
    expect(limitHeaders(reply)).toEqual({});
    expect(reply.headers.get("x-origin-note")).toBe("kept");
  });

  it("on a plan without limits and a route without a cost: none at all", async () => {
    const reply = await send(gateway.url, `/v1/status/200?body=ok&${originHeaderQuery}`, { headers: { Authorization: `Bearer ${unlimitedKey}` } });
    expect(reply.status).toBe(200);
    expect(limitHeaders(reply)).toEqual({});
    expect(receivedFor(origin.received, reply).headers["x-account-id"]).toBe("spoof-unlimited");
  });

  it("on a limited plan and a charged route: only the gateway's values", async () => {
    const reply = await send(gateway.url, `/v1/paid/status/200?body=ok&${originHeaderQuery}`, { headers: { Authorization: `Bearer ${limitedKey}` } });
    expect(reply.status).toBe(200);
    const headers = limitHeaders(reply);
    expect(Object.keys(headers).sort()).toEqual(["ratelimit", "ratelimit-policy", "x-credits-remaining", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]);
    expect(headers["ratelimit-policy"]).toBe('"minute";q=100;w=60, "day";q=1000;w=86400');
    expect(headers["x-ratelimit-limit"]).toBe("100");
    expect(Number(headers["x-credits-remaining"])).toBeLessThan(100);
    expect(headers.ratelimit).not.toContain("origin");
  });
});
