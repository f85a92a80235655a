// The client SDK in a real browser (Debian's chromium, driven by playwright-core), on a page
// served from an origin other than the gateway's: it reads request ids and Retry-After
// through CORS (SPEC section 9) and gets through the gateway's own 429. Plus the CORS
// contract checked header by header: preflights, envelopes, and a disallowed origin.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as ClientModule from "../../src/client/index.ts";
import { bundleClient, serveClientPage, type ClientPage } from "../support/client-page.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

/** Debian's package (`apt-get install -y chromium`); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

declare global {
  interface Window {
    tollgate: typeof ClientModule;
    /** Exposed by the test: records a wait the client asked for. */
    tollgateWait(ms: number): Promise<void>;
  }
}

let origin: Origin;
let gateway: Gateway;
let allowedPage: ClientPage;
let otherPage: ClientPage;
let browser: Browser | null = null;

const MISSING_CHROMIUM = `The browser tests need Chromium at ${CHROMIUM}, which is missing. Install it with: apt-get update && apt-get install -y chromium`;

/** The browser, or a failure that says what to install: a missing browser fails these tests, never skips them. */
function requireBrowser(): Browser {
  if (browser === null) throw new Error(MISSING_CHROMIUM);
  return browser;
}

beforeAll(async () => {
  const bundle = await bundleClient();
  allowedPage = await serveClientPage(bundle);
  otherPage = await serveClientPage(bundle);
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      CORS_ORIGINS: [allowedPage.origin],
      PLANS: { default: { per_minute: 100, per_day: 1000 }, tight: { per_minute: 1 }, roomy: { per_minute: 100 } },
      ROUTES: [{ path: "/v1/*" }],
    },
  });
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await origin?.close();
  await allowedPage?.close();
  await otherPage?.close();
});

async function openPage(served: ClientPage): Promise<Page> {
  const page = await (await requireBrowser().newContext()).newPage();
  await page.goto(`${served.origin}/`);
  await page.waitForFunction(() => document.title === "ready");
  return page;
}

function corsHeaderNames(headers: Headers): string[] {
  const names: string[] = [];
  headers.forEach((_, name) => void (name.startsWith("access-control-") && names.push(name)));
  return names;
}
const listOf = (value: string | null) => (value ?? "").split(",").map((v) => v.trim().toLowerCase());

describe("the client in a browser page on another origin", () => {
  it(`runs in Chromium at ${CHROMIUM}`, () => {
    expect(existsSync(CHROMIUM), MISSING_CHROMIUM).toBe(true);
    expect(requireBrowser().version()).toMatch(/^\d+\./);
  });

  it("reads request ids and Retry-After through CORS, and gets through a 429", async () => {
    const key = await accountWithKey(gateway, { id: "browser-tight", plan: "tight" });
    const page = await openPage(allowedPage);
    const waits: number[] = [];
    // The wait is not sat out: the account moves to a roomier plan, which frees capacity at once.
    await page.exposeFunction("tollgateWait", async (ms: number) => {
      waits.push(ms);
      const patched = await admin(gateway, "PATCH", "/accounts/browser-tight", { plan: "roomy" });
      if (patched.status !== 200) throw new Error(`plan change failed: ${JSON.stringify(patched.body)}`);
    });

    const result = await page.evaluate(
      async ({ baseUrl, apiKey }) => {
        // What browser code can read of each answer: only what CORS exposes.
        const seen: { status: number; requestId: string | null; retryAfter: string | null; remaining: string | null; rateLimit: string | null }[] = [];
        const client = window.tollgate.createClient({
          baseUrl,
          apiKey,
          fetch: async (url, init) => {
            const res = await fetch(url, init);
            const h = res.headers;
            seen.push({ status: res.status, requestId: h.get("X-Request-Id"), retryAfter: h.get("Retry-After"), remaining: h.get("X-RateLimit-Remaining"), rateLimit: h.get("RateLimit") });
            return res;
          },
          sleep: (ms) => window.tollgateWait(ms),
        });
        const first = await client.send<{ path: string }>("/v1/echo?n=1");
        const second = await client.send<{ path: string }>("/v1/echo?n=2");
        const failed = await client.request("/nowhere").then(
          () => null,
          (e: ClientModule.ApiError) => ({ name: e.name, status: e.status, code: e.code, message: e.message, requestId: e.requestId }),
        );
        return { first: { path: first.data.path, requestId: first.requestId }, second: { path: second.data.path, requestId: second.requestId }, failed, seen };
      },
      { baseUrl: gateway.url, apiKey: key },
    );

    const { seen } = result;
    expect(seen.map((s) => s.status)).toEqual([200, 429, 200, 404]);
    for (const s of seen) expect(s.requestId, JSON.stringify(seen)).toMatch(/^req_[0-9A-Za-z]{16,}$/);
    expect(seen[0]).toMatchObject({ remaining: "0", rateLimit: expect.stringContaining('"minute";r=0') });

    const retryAfter = Number(seen[1]?.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(waits).toEqual([retryAfter * 1_000]);

    expect(result.first).toEqual({ path: "/v1/echo?n=1", requestId: seen[0]?.requestId });
    expect(result.second).toEqual({ path: "/v1/echo?n=2", requestId: seen[2]?.requestId });
    expect(result.failed).toEqual({ name: "ApiError", status: 404, code: "NOT_FOUND", message: "No route matches GET /nowhere", requestId: seen[3]?.requestId });

    // The origin got each admitted request once, under the ids the page read, and no preflight.
    const echoed = origin.received.filter((r) => r.path.startsWith("/v1/echo?n="));
    expect(echoed.map((r) => [r.path, r.headers["x-request-id"]])).toEqual([
      ["/v1/echo?n=1", seen[0]?.requestId],
      ["/v1/echo?n=2", seen[2]?.requestId],
    ]);
    expect(origin.received.filter((r) => r.method === "OPTIONS")).toEqual([]);
  });

  it("is refused by the browser on an origin CORS_ORIGINS does not list", async () => {
    const key = await accountWithKey(gateway, { id: "browser-other" });
    const page = await openPage(otherPage);
    const failed = await page.evaluate(
      async ({ baseUrl, apiKey }) => {
        const client = window.tollgate.createClient({ baseUrl, apiKey, maxServerErrorRetries: 0 });
        return client.request("/v1/echo?from=other").then(
          () => null,
          (e: ClientModule.ApiError) => ({ name: e.name, status: e.status, code: e.code }),
        );
      },
      { baseUrl: gateway.url, apiKey: key },
    );
    expect(failed).toEqual({ name: "ApiError", status: 0, code: "NETWORK_ERROR" });
    // The preflight failed, so the request itself was never sent.
    expect(origin.received.filter((r) => r.path.includes("from=other"))).toEqual([]);
  });
});

describe("CORS, header by header (SPEC section 9)", () => {
  it("answers a preflight from an allowed origin itself: 204, the SPEC headers, origin untouched", async () => {
    const before = origin.received.length;
    const res = await fetch(`${gateway.url}/v1/anything`, {
      method: "OPTIONS",
      headers: { Origin: allowedPage.origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, x-trace" },
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(allowedPage.origin);
    expect(listOf(res.headers.get("Access-Control-Allow-Methods"))).toEqual(expect.arrayContaining(["get", "post", "put", "patch", "delete"]));
    expect(listOf(res.headers.get("Access-Control-Allow-Headers"))).toEqual(expect.arrayContaining(["authorization", "content-type", "idempotency-key", "x-trace"]));
    expect(Number(res.headers.get("Access-Control-Max-Age"))).toBeGreaterThan(0);
    expect(listOf(res.headers.get("Vary"))).toContain("origin");
    expect(res.headers.get("X-Request-Id")).toMatch(/^req_/);
    expect(origin.received.length).toBe(before);
  });

  it("handles a preflight from another origin as any other request, with no CORS headers", async () => {
    const before = origin.received.length;
    const res = await fetch(`${gateway.url}/v1/anything`, {
      method: "OPTIONS",
      headers: { Origin: otherPage.origin, "Access-Control-Request-Method": "POST" },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ success: false, error: { code: "UNAUTHORIZED" } });
    expect(corsHeaderNames(res.headers)).toEqual([]);
    expect(origin.received.length).toBe(before);
  });

  it("marks every answer to an allowed origin, replacing the origin's own CORS headers", async () => {
    const key = await accountWithKey(gateway, { id: "cors-headers" });
    const headers = { Origin: allowedPage.origin, Authorization: `Bearer ${key}` };
    const originCors = "header=Access-Control-Allow-Origin:*&header=Access-Control-Allow-Credentials:true&header=Access-Control-Expose-Headers:X-Secret";
    const answers = [
      await fetch(`${gateway.url}/v1/status/200?${originCors}`, { headers }), // the origin's success
      await fetch(`${gateway.url}/v1/status/500?${originCors}`, { headers }), // the origin's failure, as an envelope
      await fetch(`${gateway.url}/nowhere`, { headers }), // the gateway's own envelope
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 500, 404]);
    for (const res of answers) {
      expect(res.headers.get("Access-Control-Allow-Origin")).toBe(allowedPage.origin);
      expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
      const exposed = listOf(res.headers.get("Access-Control-Expose-Headers"));
      expect(exposed).toEqual(expect.arrayContaining(["x-request-id", "retry-after", "ratelimit-policy", "ratelimit", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-credits-remaining"]));
      expect(exposed).not.toContain("x-secret");
      expect(listOf(res.headers.get("Vary"))).toContain("origin");
    }
  });

  it("adds nothing for an origin it does not allow", async () => {
    const key = await accountWithKey(gateway, { id: "cors-other" });
    const res = await fetch(`${gateway.url}/v1/echo`, { headers: { Origin: otherPage.origin, Authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(corsHeaderNames(res.headers)).toEqual([]);
    expect(res.headers.get("X-Request-Id")).toMatch(/^req_/);
  });
});
