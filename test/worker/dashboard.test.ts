// SPEC 13 inside workerd: the dashboard's page and files are served without a token, from
// the Static Assets binding, each with the strict headers; the data stays behind the token;
// and no asset ever answers for a path the gateway proxies (run_worker_first).
import { describe, expect, it } from "vitest";
import { DASHBOARD_HEADERS } from "../../src/admin/dashboard.ts";
import { REQUEST_ID, admin, call, expectEnvelope, expectHeadEnvelope, originReceived } from "./helpers.ts";

const PAGE_PATHS = ["/_gateway/", "/_gateway", "/_gateway/ui", "/_gateway/ui/"];
const FILES: [string, RegExp][] = [
  ["app.js", /^text\/javascript/],
  ["app.css", /^text\/css/],
  ["uplot.css", /^text\/css/],
  ["favicon.svg", /^image\/svg\+xml/],
  ["index.html", /^text\/html/],
];

function expectDashboardHeaders(res: Response): void {
  const csp = res.headers.get("Content-Security-Policy") ?? "";
  expect(csp).toBe(DASHBOARD_HEADERS["Content-Security-Policy"]);
  // The policy itself, spelled out: own scripts and styles only, no inline code, calls to this origin only.
  const directives = new Map(csp.split(";").map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(" ")]));
  expect(directives.get("default-src")).toBe("'none'");
  expect(directives.get("script-src")).toBe("'self'");
  expect(directives.get("style-src")).toBe("'self'");
  expect(directives.get("connect-src")).toBe("'self'");
  expect(directives.get("frame-ancestors")).toBe("'none'");
  expect(directives.get("form-action")).toBe("'none'");
  expect(directives.get("require-trusted-types-for")).toBe("'script'");
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  expect(res.headers.get("X-Frame-Options")).toBe("DENY");
  expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
  expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
  expect(res.headers.get("X-Request-Id")).toMatch(REQUEST_ID);
}

describe("the dashboard's page", () => {
  for (const path of PAGE_PATHS) {
    it(`is served at ${path} without a token, with the dashboard's headers`, async () => {
      const res = await call(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
      expectDashboardHeaders(res);
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/_gateway/ui/app.js"></script>');
      expect(html).toContain('<input id="token" name="token" type="password"');
      // No inline script or style anywhere in it: the CSP would refuse them.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    });
  }

  it("answers HEAD with the headers and no body", async () => {
    const res = await call("/_gateway/", { method: "HEAD" });
    expect(res.status).toBe(200);
    expectDashboardHeaders(res);
    expect(await res.text()).toBe("");
  });

  it("ignores an Authorization header, right or wrong: the page holds no data", async () => {
    for (const headers of [{ Authorization: "Bearer wrong" }, { Authorization: "Bearer test-admin-token" }]) {
      const res = await call("/_gateway/ui", { headers });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
  });
});

describe("the dashboard's files", () => {
  for (const [file, type] of FILES) {
    it(`serves ${file} without a token, with the dashboard's headers (GET and HEAD)`, async () => {
      const res = await call(`/_gateway/ui/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toMatch(type);
      expectDashboardHeaders(res);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
      const head = await call(`/_gateway/ui/${file}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expectDashboardHeaders(head);
      expect(await head.text()).toBe("");
    });
  }

  it("answers a revalidation with 304, still with the dashboard's headers", async () => {
    const first = await call("/_gateway/ui/app.js");
    const etag = first.headers.get("ETag");
    await first.body?.cancel();
    expect(etag).not.toBeNull();
    const again = await call("/_gateway/ui/app.js", { headers: { "If-None-Match": etag! } });
    expect(again.status).toBe(304);
    expectDashboardHeaders(again);
  });

  for (const file of ["..%2Fwrangler.toml", "a%2Fapp.js"]) {
    it(`refuses /_gateway/ui/${file} before any file is looked up: an encoded slash (SPEC 10)`, async () => {
      await expectEnvelope(await call(`/_gateway/ui/${file}`), "VALIDATION_ERROR", /^Malformed request path$/);
    });
  }

  for (const file of ["nothing.js", "APP.JS", "app.js.map", ".env"]) {
    it(`answers 404 (the envelope, with the dashboard's headers) for /_gateway/ui/${file}`, async () => {
      const res = await call(`/_gateway/ui/${file}`);
      expectDashboardHeaders(res);
      await expectEnvelope(res, "NOT_FOUND", /^The dashboard has no file named '/);
    });
  }

  it("answers a HEAD for a missing file with the envelope's headers and no body", async () => {
    await expectHeadEnvelope(await call("/_gateway/ui/missing.css", { method: "HEAD" }), "NOT_FOUND");
  });
});

describe("the dashboard's edges", () => {
  it("keeps its data behind the token: the listing, and every other method on its paths", async () => {
    await expectEnvelope(await call("/_gateway/accounts"), "UNAUTHORIZED", /^Missing admin token/);
    await expectEnvelope(await call("/_gateway/ui", { method: "POST", body: "token=x" }), "UNAUTHORIZED", /^Missing admin token/);
    await expectEnvelope(await admin("POST", "/ui", { body: {} }), "NOT_FOUND");
  });

  it("never lets an asset answer for a proxied path: the Worker sees every request first", async () => {
    // The asset directory holds app.js and index.html; at the root these are the origin's paths.
    for (const path of ["/app.js", "/index.html", "/ui/app.js"]) {
      const res = await call(path);
      expect(res.headers.get("Content-Security-Policy"), path).toBeNull();
      await expectEnvelope(res, "NOT_FOUND", `No route matches GET ${path}`);
    }
    const proxied = await call("/v1/echo/app.js");
    const requestId = proxied.headers.get("X-Request-Id")!;
    await expectEnvelope(proxied, "UNAUTHORIZED");
    expect(await originReceived(requestId)).toBeUndefined();
  });
});
