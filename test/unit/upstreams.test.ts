// Several upstreams (SPEC section 12) without workerd: the configuration — every bad
// combination refused naming its field, the single-upstream configuration unchanged — and
// where a route's requests go: URL, path less strip_prefix, token, timeout.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig, type Config } from "../../src/config.ts";
import type { LogFields } from "../../src/context.ts";
import { canonicalPath } from "../../src/paths.ts";
import { matchRoute } from "../../src/routes.ts";
import type { CallResult } from "../../src/upstream/forward.ts";
import { enterUpstream, forwardedPath, upstreamsHealth } from "../../src/upstream/upstreams.ts";
import { base, error, ok } from "./config-helpers.ts";

const billing = { url: "https://billing.internal.example.com/api" };

/** Where `path?query` would go: the URL, token and timeout of its target. */
function target(config: Config, method: string, pathAndQuery: string) {
  const url = new URL(pathAndQuery, "https://gw.test");
  const canonical = canonicalPath(url.pathname);
  if (!canonical.ok) throw new Error(canonical.message);
  const match = matchRoute(config.routes, method, canonical.path);
  if (match === null) throw new Error(`no route for ${pathAndQuery}`);
  const log: LogFields = { request_id: "req_test", method, path: canonical.path, route: match.route.path };
  const passage = enterUpstream({ config, path: canonical.path, url, log }, match.route);
  if (!passage.allowed) throw new Error("the breaker refused");
  passage.release();
  return { url: passage.target.url, token: passage.target.token, timeoutMs: passage.target.timeoutMs, upstream: log.upstream };
}

describe("UPSTREAMS in the configuration", () => {
  it("keeps a configuration without UPSTREAMS exactly as before: one upstream, UPSTREAM_URL, its token", () => {
    const config = ok({ ...base, UPSTREAM_TIMEOUT_MS: 1234, UPSTREAM_TOKEN: "default-token", ROUTES: [{ path: "/v1/*" }, { path: "/slow/*", timeout_ms: 99 }] });
    expect([...config.upstreams.keys()]).toEqual(["default"]);
    expect(config.routes.map((route) => [route.upstream, route.stripPrefix, route.timeoutMs])).toEqual([
      [null, null, 1234],
      [null, null, 99],
    ]);
    expect(target(config, "GET", "/v1/posts?x=1")).toEqual({ url: "https://origin.example.com/v1/posts?x=1", token: "default-token", timeoutMs: 1234, upstream: "default" });
    expect(upstreamsHealth(config)).toEqual([{ name: "default", breaker: "off" }]);
  });

  it("reads SPEC 12's example, as tables or as JSON strings", () => {
    const vars = {
      ...base,
      UPSTREAMS: { billing: { ...billing, timeout_ms: 10000, token_secret: "BILLING_TOKEN", breaker: { failures: 5, open_seconds: 10 } } },
      ROUTES: [{ path: "/v1/billing/*", upstream: "billing", strip_prefix: "/v1/billing" }, { path: "/v1/*" }],
      BILLING_TOKEN: "billing-token",
    };
    for (const env of [vars, { ...vars, UPSTREAMS: JSON.stringify(vars.UPSTREAMS), ROUTES: JSON.stringify(vars.ROUTES) }]) {
      const config = ok(env);
      expect(config.upstreams.get("billing")).toMatchObject({ name: "billing", timeoutMs: 10_000, token: "billing-token", tokenSecret: "BILLING_TOKEN", breaker: { failures: 5, openSeconds: 10 } });
      expect(config.routes[0]).toMatchObject({ upstream: "billing", stripPrefix: "/v1/billing", timeoutMs: 10_000 });
      expect(target(config, "GET", "/v1/billing/invoices/7")).toEqual({ url: "https://billing.internal.example.com/api/invoices/7", token: "billing-token", timeoutMs: 10_000, upstream: "billing" });
    }
  });

  it("takes a route's timeout_ms first, then its upstream's, then UPSTREAM_TIMEOUT_MS", () => {
    const config = ok({
      ...base,
      UPSTREAM_TIMEOUT_MS: 3000,
      UPSTREAMS: { slow: { ...billing, timeout_ms: 9000 }, plain: billing },
      ROUTES: [{ path: "/a/*", upstream: "slow", timeout_ms: 100 }, { path: "/b/*", upstream: "slow" }, { path: "/c/*", upstream: "plain" }, { path: "/d/*" }],
    });
    expect(config.routes.map((route) => route.timeoutMs)).toEqual([100, 9000, 3000, 3000]);
  });

  it("sends each upstream its own token only: the default's to the default, none where no token_secret is named", () => {
    const config = ok({
      ...base,
      UPSTREAM_TOKEN: "default-token",
      UPSTREAMS: { billing: { ...billing, token_secret: "BILLING_TOKEN" }, legacy: { url: "http://legacy.internal" }, shared: { url: "http://shared.internal", token_secret: "UPSTREAM_TOKEN" } },
      ROUTES: [
        { path: "/b/*", upstream: "billing" },
        { path: "/l/*", upstream: "legacy" },
        { path: "/s/*", upstream: "shared" },
        { path: "/*" },
      ],
      BILLING_TOKEN: "billing-token",
    });
    expect(target(config, "GET", "/b/x").token).toBe("billing-token");
    expect(target(config, "GET", "/l/x").token).toBeNull();
    // Naming UPSTREAM_TOKEN shares the default's on purpose.
    expect(target(config, "GET", "/s/x").token).toBe("default-token");
    expect(target(config, "GET", "/x").token).toBe("default-token");
  });

  it.each([
    ["an unknown upstream", { ROUTES: [{ path: "/v1/*", upstream: "billing" }] }, "ROUTES[0].upstream: no upstream is named 'billing' (there is no [vars.UPSTREAMS.<name>]): leave upstream out to send the route to UPSTREAM_URL"],
    [
      "a misspelt upstream",
      { UPSTREAMS: { billing }, ROUTES: [{ path: "/v1/a" }, { path: "/v1/*", upstream: "biling" }] },
      "ROUTES[1].upstream: no upstream is named 'biling' (UPSTREAMS has billing): leave upstream out to send the route to UPSTREAM_URL",
    ],
    ["upstream = \"default\"", { UPSTREAMS: { billing }, ROUTES: [{ path: "/v1/*", upstream: "default" }] }, "ROUTES[0].upstream: no upstream is named 'default'"],
    ["an empty upstream", { ROUTES: [{ path: "/v1/*", upstream: "" }] }, "ROUTES[0].upstream: must name an upstream of UPSTREAMS"],
    ["a strip_prefix that cuts a segment", { ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/v1/bill" }] }, "ROUTES[0].strip_prefix: /v1/bill is not a prefix of the route's path /v1/billing/*, segment by segment"],
    ["a strip_prefix of another path", { ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/v2" }] }, "ROUTES[0].strip_prefix: /v2 is not a prefix of the route's path /v1/billing/*"],
    ["a strip_prefix longer than the path", { ROUTES: [{ path: "/v1/billing", strip_prefix: "/v1/billing/x" }] }, "ROUTES[0].strip_prefix: /v1/billing/x is not a prefix"],
    ["a strip_prefix over a parameter", { ROUTES: [{ path: "/v1/:tenant/*", strip_prefix: "/v1/acme" }] }, "ROUTES[0].strip_prefix: /v1/acme is not a prefix"],
    ["a strip_prefix with a parameter", { ROUTES: [{ path: "/v1/:tenant/*", strip_prefix: "/v1/:tenant" }] }, "ROUTES[0].strip_prefix: must hold literal segments only"],
    ["a strip_prefix over the *", { ROUTES: [{ path: "/v1/*", strip_prefix: "/v1/*" }] }, "ROUTES[0].strip_prefix: must hold literal segments only"],
    ["a strip_prefix of /", { ROUTES: [{ path: "/v1/*", strip_prefix: "/" }] }, "ROUTES[0].strip_prefix: must start with / and name at least one segment"],
    ["a strip_prefix of //", { ROUTES: [{ path: "/v1/*", strip_prefix: "//" }] }, "ROUTES[0].strip_prefix: must start with / and name at least one segment"],
    ["a strip_prefix with two trailing /", { ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/v1/billing//" }] }, "ROUTES[0].strip_prefix: must start with / and name at least one segment"],
    ["a relative strip_prefix", { ROUTES: [{ path: "/v1/*", strip_prefix: "v1" }] }, "ROUTES[0].strip_prefix: must start with /"],
    ["a strip_prefix that is a pattern", { ROUTES: [{ path: "/v1/*", strip_prefix: "/v(1|2)" }] }, "ROUTES[0].strip_prefix: holds '(', which is not allowed"],
    ["a strip_prefix that is not a string", { ROUTES: [{ path: "/v1/*", strip_prefix: 1 }] }, "ROUTES[0].strip_prefix: must be a string"],
    ["an upstream's token_secret that is not set", { UPSTREAMS: { billing: { ...billing, token_secret: "BILLING_TOKEN" } } }, "UPSTREAMS.billing.token_secret: the secret BILLING_TOKEN is not set: set it with `wrangler secret put BILLING_TOKEN`, or in .dev.vars locally"],
    ["an upstream's token_secret set empty", { UPSTREAMS: { billing: { ...billing, token_secret: "BILLING_TOKEN" } }, BILLING_TOKEN: "" }, "UPSTREAMS.billing.token_secret: the secret BILLING_TOKEN is not set"],
    ["a token_secret naming a binding", { UPSTREAMS: { billing: { ...billing, token_secret: "ACCOUNTS" } }, ACCOUNTS: {} }, "UPSTREAMS.billing.token_secret: ACCOUNTS is not a secret"],
    ["a token_secret naming ADMIN_TOKEN", { UPSTREAMS: { billing: { ...billing, token_secret: "ADMIN_TOKEN" } }, ADMIN_TOKEN: "a".repeat(40) }, "UPSTREAMS.billing.token_secret: cannot be ADMIN_TOKEN, which the gateway itself reads"],
    ["a token_secret naming a var", { UPSTREAMS: { billing: { ...billing, token_secret: "UPSTREAM_URL" } } }, "UPSTREAMS.billing.token_secret: cannot be UPSTREAM_URL"],
    ["a token_secret that is no name", { UPSTREAMS: { billing: { ...billing, token_secret: "billing token" } } }, "UPSTREAMS.billing.token_secret: must be the name of a secret"],
    ["an upstream without url", { UPSTREAMS: { billing: { timeout_ms: 5 } } }, "UPSTREAMS.billing.url: is required"],
    ["an upstream url that is not http(s)", { UPSTREAMS: { billing: { url: "ftp://billing" } } }, "UPSTREAMS.billing.url: must be an absolute http(s) URL"],
    ["an upstream url with a query", { UPSTREAMS: { billing: { url: "https://billing/?a=1" } } }, "UPSTREAMS.billing.url: must not have a query or fragment"],
    ["an upstream timeout_ms too long", { UPSTREAMS: { billing: { ...billing, timeout_ms: 600_001 } } }, "UPSTREAMS.billing.timeout_ms: must be at most 600000"],
    ["an upstream timeout_ms of 0", { UPSTREAMS: { billing: { ...billing, timeout_ms: 0 } } }, "UPSTREAMS.billing.timeout_ms: must be a positive integer of milliseconds"],
    ["an unknown upstream field", { UPSTREAMS: { billing: { ...billing, strip_prefix: "/v1" } } }, "UPSTREAMS.billing.strip_prefix: unknown field"],
    ["an upstream named default", { UPSTREAMS: { default: billing } }, "UPSTREAMS.default: is UPSTREAM_URL's name"],
    ["an upstream name with a space", { UPSTREAMS: { "bill ing": billing } }, "UPSTREAMS.bill ing: is not an upstream name"],
    ["UPSTREAMS as an array", { UPSTREAMS: [billing] }, "UPSTREAMS: must be a table of upstreams ([vars.UPSTREAMS.<name>]), not an array"],
    ["UPSTREAMS as broken JSON", { UPSTREAMS: '{"billing": ' }, "UPSTREAMS: must be a table of upstreams"],
    ["an upstream that is not a table", { UPSTREAMS: { billing: "https://billing" } }, "UPSTREAMS.billing: must be a table with url"],
    ["a breaker of 0 failures", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 0, open_seconds: 10 } } } }, "UPSTREAMS.billing.breaker.failures: must be a positive integer of consecutive failures, at most 1000"],
    ["a breaker of 1.5 failures", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 1.5, open_seconds: 10 } } } }, "UPSTREAMS.billing.breaker.failures: must be a positive integer"],
    ["a breaker of too many failures", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 1001, open_seconds: 10 } } } }, "UPSTREAMS.billing.breaker.failures: must be at most 1000"],
    ["a breaker open for 0 seconds", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 5, open_seconds: 0 } } } }, "UPSTREAMS.billing.breaker.open_seconds: must be a positive integer of seconds, at most 3600"],
    ["a breaker open for over an hour", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 5, open_seconds: 3601 } } } }, "UPSTREAMS.billing.breaker.open_seconds: must be at most 3600"],
    ["a breaker without open_seconds", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 5 } } } }, "UPSTREAMS.billing.breaker.open_seconds: is required"],
    ["a breaker with an unknown field", { UPSTREAMS: { billing: { ...billing, breaker: { failures: 5, open_seconds: 1, window: 60 } } } }, "UPSTREAMS.billing.breaker.window: unknown field"],
    ["a breaker that is a number", { UPSTREAMS: { billing: { ...billing, breaker: 5 } } }, "UPSTREAMS.billing.breaker: must be a table such as { failures = 5, open_seconds = 10 }"],
    ["UPSTREAM_BREAKER with negative failures", { UPSTREAM_BREAKER: { failures: -1, open_seconds: 10 } }, "UPSTREAM_BREAKER.failures: must be a positive integer"],
    ["UPSTREAM_BREAKER as broken JSON", { UPSTREAM_BREAKER: "{failures: 5}" }, "UPSTREAM_BREAKER: must be a table such as { failures = 5, open_seconds = 10 }"],
  ])("refuses %s, naming the field", (_name, vars, message) => {
    expect(error({ ...base, ...vars })).toContain(message);
  });

  it("never repeats a token in a refusal", () => {
    const refusal = error({ ...base, UPSTREAMS: { billing: { ...billing, token_secret: "BILLING_TOKEN", timeout_ms: -1 } }, BILLING_TOKEN: "hunter2-billing" });
    expect(refusal).toContain("UPSTREAMS.billing.timeout_ms");
    expect(refusal).not.toContain("hunter2");
  });

  it("lets `npm run check` go on without a secret it cannot see, with no token for that upstream", () => {
    const env = { ...base, UPSTREAMS: { billing: { ...billing, token_secret: "BILLING_TOKEN" } } };
    const result = parseConfig(env, { unsetTokenSecrets: "unseen" });
    expect(result.ok && result.config.upstreams.get("billing")).toMatchObject({ token: null, tokenSecret: "BILLING_TOKEN" });
    // The Worker sees every secret: there, the same configuration is refused.
    expect(error(env)).toContain("UPSTREAMS.billing.token_secret");
  });

  it("takes a strip_prefix in another spelling of the same segments", () => {
    const config = ok({ ...base, ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/V1/%62illing" }] });
    expect(config.routes[0]?.stripPrefix).toBe("/v1/billing");
  });

  it("takes a strip_prefix written with a trailing / as the same segments: the route's path starts with it (SPEC 12)", () => {
    const config = ok({ ...base, ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/v1/billing/" }] });
    expect(config.routes[0]?.stripPrefix).toBe("/v1/billing");
    expect(forwardedPath("/v1/billing/invoices/7", config.routes[0]!.stripPrefix)).toBe("/invoices/7");
  });
});

describe("the path an upstream receives", () => {
  const config = ok({
    ...base,
    UPSTREAMS: { billing, bare: { url: "http://bare.internal:8080" } },
    ROUTES: [
      { path: "/v1/billing/*", upstream: "billing", strip_prefix: "/v1/billing" },
      { path: "/bare/*", upstream: "bare", strip_prefix: "/bare" },
      { path: "/v1/*" },
    ],
  });

  it.each([
    ["/v1/billing/invoices/7", "https://billing.internal.example.com/api/invoices/7"],
    ["/v1/billing", "https://billing.internal.example.com/api/"],
    ["/v1/billing/", "https://billing.internal.example.com/api/"],
    ["/v1/billing?x=1", "https://billing.internal.example.com/api/?x=1"],
    ["/v1/billing/?x=1&y=%2F&z=/v1/billing", "https://billing.internal.example.com/api/?x=1&y=%2F&z=/v1/billing"],
    ["/v1/billing/invoices/", "https://billing.internal.example.com/api/invoices/"],
    ["/V1/Billing/Invoices/7", "https://billing.internal.example.com/api/Invoices/7"],
    ["/v1/BILLING", "https://billing.internal.example.com/api/"],
    ["/v1/%62illing/x", "https://billing.internal.example.com/api/x"],
    ["/v1//billing//x", "https://billing.internal.example.com/api/x"],
    ["/v1/billing/billing/x", "https://billing.internal.example.com/api/billing/x"],
    ["/v1/billingx", "https://origin.example.com/v1/billingx"],
    ["/v1/billing/%2e%2e/admin", "https://origin.example.com/v1/admin"],
    ["/v1/billing/a/../../secret", "https://origin.example.com/v1/secret"],
    ["/bare", "http://bare.internal:8080/"],
    ["/bare/x?", "http://bare.internal:8080/x"],
    ["/bare/x?q", "http://bare.internal:8080/x?q"],
  ])("%s → %s", (path, expected) => {
    expect(target(config, "GET", path).url).toBe(expected);
  });

  it("strips exactly the prefix's segments from any spelling of any path the route matches", () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/).filter((s) => s !== "." && s !== "..");
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.array(segment, { maxLength: 3 }), fc.boolean(), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (prefix, rest, trailing, upper) => {
        const strip = `/${prefix.join("/")}`;
        const routes = ok({ ...base, ROUTES: [{ path: `${strip}/*`, strip_prefix: strip }] }).routes;
        // The request spells the prefix in another case, letter by letter.
        const spelled = strip.replace(/[a-z]/gi, (c, i: number) => (upper[i % upper.length] ? c.toUpperCase() : c.toLowerCase()));
        const path = `${spelled}${rest.map((s) => `/${s}`).join("")}${trailing ? "/" : ""}`;
        const canonical = canonicalPath(path);
        if (!canonical.ok) return;
        const match = matchRoute(routes, "GET", canonical.path);
        expect(match, path).not.toBeNull();
        const expected = `${rest.map((s) => `/${s}`).join("")}${trailing ? "/" : ""}`;
        expect(forwardedPath(canonical.path, match!.route.stripPrefix)).toBe(expected === "" ? "/" : expected);
      }),
    );
  });
});

describe("the health endpoint's view", () => {
  it("lists every upstream, the default first, with its breaker or off, and no URL", () => {
    const config = ok({
      ...base,
      UPSTREAM_BREAKER: { failures: 2, open_seconds: 5 },
      UPSTREAMS: { billing: { ...billing, breaker: { failures: 1, open_seconds: 30 } }, legacy: { url: "http://legacy.internal" } },
      ROUTES: [{ path: "/b/*", upstream: "billing" }, { path: "/*" }],
    });
    expect(upstreamsHealth(config)).toEqual([
      { name: "default", breaker: "closed", consecutive_failures: 0 },
      { name: "billing", breaker: "closed", consecutive_failures: 0 },
      { name: "legacy", breaker: "off" },
    ]);
    // One unreachable call opens billing's breaker (failures = 1); the next request is refused.
    const url = new URL("https://gw.test/b/x");
    const log: LogFields = { request_id: "req_test", method: "GET", path: "/b/x", route: "/b/*" };
    const passage = enterUpstream({ config, path: "/b/x", url, log }, config.routes[0]!);
    if (!passage.allowed) throw new Error("refused while closed");
    passage.target.report({ kind: "unreachable", detail: "connection refused" } satisfies CallResult);
    passage.release();
    expect(log).toMatchObject({ upstream: "billing", breaker: "opened" });
    expect(upstreamsHealth(config)[1]).toEqual({ name: "billing", breaker: "open", retry_after: 30 });
    expect(enterUpstream({ config, path: "/b/x", url, log }, config.routes[0]!)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(JSON.stringify(upstreamsHealth(config))).not.toContain("internal");
  });
});
