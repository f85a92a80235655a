// Fuzzing configuration parsing (SPEC section 8): whatever an operator writes in
// wrangler.toml or .dev.vars, parseConfig answers — a complete Config, or a refusal whose
// message names the field — and never throws (a throw would become the generic 500 on every
// request instead of the message naming the field, and crash the pre-deploy check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig, planLimits, type ConfigResult } from "../../src/config.ts";
import { matchRoute } from "../../src/routes.ts";
import { forwardedPath } from "../../src/upstream/upstreams.ts";

const FIELDS = ["UPSTREAM_URL", "UPSTREAM_TIMEOUT_MS", "UPSTREAM_BREAKER", "UPSTREAMS", "AUTH_FAILURES_PER_MINUTE", "CORS_ORIGINS", "PLANS", "ROUTES", "ADMIN_TOKEN", "UPSTREAM_TOKEN"];
const NAMES_A_FIELD = new RegExp(`^(${FIELDS.join("|")})\\b`);

/** Any value at all, with the odd shapes TOML and .dev.vars produce over-represented. */
const anyValue = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom("", "0", "-1", "1.5", "30000", "1e3", " 5", "NaN", "Infinity", "[]", "{}", "null", "true"),
);

// Route paths: what an operator means, what itty-router compiles oddly, and what no regex survives.
const routePath = fc.oneof(
  { arbitrary: anyValue, weight: 1 },
  fc.constantFrom("/", "/*", "/v1/*", "/v1/posts/:id", "/v1/:a/:b", "/v1/:id/x/:id", "/v1/:rest+", "/v1/file.:ext", "/_gateway/x", "/_gateway", "v1", ""),
  fc.constantFrom("/(", "/)", "/[", "/v1/(a", "/a{", "/a\\", "/a|b", "/a?", "/a+", "/$", "/^", "/:", "/::x", "/:1", "/%", "/\u0000"),
  fc.string({ maxLength: 30 }).map((s) => `/${s}`),
  fc.stringMatching(/^\/[a-z0-9:*.+()[\]{}?|\\^$-]{0,12}(\/[a-z0-9:*.+()[\]{}?|\\^$-]{0,8}){0,3}$/),
);

/** Mostly what an operator would write, sometimes anything: so that each odd value is met alone. */
const mostly = <T>(usual: fc.Arbitrary<T>) => fc.oneof({ arbitrary: usual, weight: 4 }, { arbitrary: anyValue, weight: 1 });

const route = fc
  .record(
    {
      path: routePath,
      method: mostly(fc.constantFrom("GET", "post", "PUT", "DELETE", "HEAD", "OPTIONS", "G E T", "", "ÄÖ")),
      scope: mostly(fc.constantFrom("read", "write", "*", "")),
      credits: mostly(fc.integer({ min: -5, max: 100 })),
      timeout_ms: mostly(fc.oneof(fc.integer({ min: -1, max: 700_000 }), fc.constantFrom("1000", "60000"))),
      public: mostly(fc.boolean()),
      upstream: mostly(fc.constantFrom("billing", "content", "default", "", "nope", "__proto__", "constructor")),
      strip_prefix: mostly(fc.constantFrom("/v1", "/v1/billing", "/v1/bill", "/", "/v1/", "v1", "/v1/:id", "/v1/*", "/V1", "/%76%31", "/(")),
    },
    { requiredKeys: [] },
  )
  .chain((r) => fc.oneof({ arbitrary: fc.constant(r), weight: 5 }, { arbitrary: anyValue.map((extra) => ({ ...r, extra })), weight: 1 }));

const limit = mostly(fc.integer({ min: -2, max: 1_000_000 }));
const plan = fc.oneof(fc.record({ per_minute: limit, per_day: limit, burst: anyValue }, { requiredKeys: [] }), anyValue);
const planName = fc.oneof(fc.constantFrom("default", "pro", "free", "__proto__", "constructor", "toString", ""), fc.string({ maxLength: 10 }));
const plans = fc.oneof(fc.dictionary(planName, plan, { maxKeys: 4 }), fc.array(plan, { maxLength: 2 }), anyValue);

/** TOML gives tables and arrays; .dev.vars gives the same as JSON strings (or broken JSON). */
const maybeJson = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(
    arb,
    arb.map((value) => JSON.stringify(value) ?? "undefined"),
    arb.map((value) => (JSON.stringify(value) ?? "x").slice(0, -1)),
  );

const breaker = fc.oneof(
  fc.record({ failures: mostly(fc.integer({ min: -1, max: 1_200 })), open_seconds: mostly(fc.integer({ min: -1, max: 4_000 })), window: anyValue }, { requiredKeys: [] }),
  anyValue,
);
const upstreamName = fc.oneof(fc.constantFrom("billing", "content", "default", "__proto__", "constructor", "", "a b", "0"), fc.string({ maxLength: 8 }));
const upstreamTable = fc.oneof(
  fc.record(
    {
      url: fc.oneof(fc.constantFrom("https://billing.example.com/api", "http://127.0.0.1:9", "ftp://x", "http://x?q"), anyValue),
      timeout_ms: mostly(fc.integer({ min: -1, max: 700_000 })),
      token_secret: mostly(fc.constantFrom("BILLING_TOKEN", "UNSET_TOKEN", "UPSTREAM_TOKEN", "ADMIN_TOKEN", "ACCOUNTS", "UPSTREAM_URL", "bad name", "")),
      breaker,
      extra: anyValue,
    },
    { requiredKeys: [] },
  ),
  anyValue,
);
const upstreams = fc.oneof(fc.dictionary(upstreamName, upstreamTable, { maxKeys: 3 }), fc.array(upstreamTable, { maxLength: 2 }), anyValue);

const upstreamUrl = fc.oneof(
  fc.constantFrom("http://127.0.0.1:8787", "https://origin.example.com", "https://origin.example.com/base/", "ftp://x", "http://x?q=1", "http://x#f", "origin.example.com", "", "http://"),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  anyValue,
);

const env = fc.record(
  {
    UPSTREAM_URL: upstreamUrl,
    UPSTREAM_TIMEOUT_MS: fc.oneof(fc.integer({ min: -1, max: 700_000 }), anyValue),
    AUTH_FAILURES_PER_MINUTE: fc.oneof(fc.integer({ min: -1, max: 100 }), anyValue),
    CORS_ORIGINS: maybeJson(fc.oneof(fc.array(fc.oneof(fc.constantFrom("*", "https://app.example.com", "http://a.b:1", "https://x/"), fc.string()), { maxLength: 3 }), anyValue)),
    PLANS: maybeJson(plans),
    ROUTES: maybeJson(fc.oneof(fc.array(route, { maxLength: 4 }), anyValue)),
    ADMIN_TOKEN: anyValue,
    UPSTREAM_TOKEN: anyValue,
    UPSTREAMS: maybeJson(upstreams),
    UPSTREAM_BREAKER: maybeJson(breaker),
    BILLING_TOKEN: anyValue, // a secret an upstream may name
    ACCOUNTS: anyValue, // a binding: not the parser's business
  },
  { requiredKeys: [] },
);

/** What every answer of parseConfig must look like, whatever it was given. */
function expectWellFormed(result: ConfigResult, input: unknown): void {
  const shown = JSON.stringify(input)?.slice(0, 400);
  if (!result.ok) {
    expect(typeof result.error, shown).toBe("string");
    expect(result.error.trim(), shown).not.toBe("");
    // `npm run check` prints one line per problem: each names its field.
    expect(result.error, shown).toBe(result.problems.join("; "));
    expect(result.problems.length, shown).toBeGreaterThan(0);
    for (const problem of result.problems) expect(problem, shown).toMatch(NAMES_A_FIELD);
    return;
  }
  const { config } = result;
  expect(config.upstreamUrl.protocol, shown).toMatch(/^https?:$/);
  expect(Number.isSafeInteger(config.upstreamTimeoutMs) && config.upstreamTimeoutMs >= 1, shown).toBe(true);
  expect(Object.hasOwn(config.plans, "default"), shown).toBe(true);
  for (const limits of Object.values(config.plans)) {
    for (const value of [limits.perMinute, limits.perDay]) {
      expect(value === null || (Number.isSafeInteger(value) && value >= 1), shown).toBe(true);
    }
  }
  for (const compiled of config.routes) {
    expect(compiled.path.startsWith("/"), shown).toBe(true);
    expect(Number.isSafeInteger(compiled.credits) && compiled.credits >= 0, shown).toBe(true);
    expect(compiled.timeoutMs >= 1, shown).toBe(true);
    if (compiled.public) expect(compiled.credits, shown).toBe(0);
  }
  // A configuration that was accepted must also be usable: matching never throws, every
  // route's upstream exists, and every path a route matches can lose its strip_prefix.
  for (const path of ["/", "/v1/posts/1", "/%E2%82%AC", "/v1/a/b/c", "/v1", "/V1/Billing", "/v1/billing/x/"]) {
    const match = matchRoute(config.routes, "GET", path);
    if (match !== null) expect(forwardedPath(path, match.route.stripPrefix).startsWith("/"), shown).toBe(true);
  }
  for (const compiled of config.routes) expect(config.upstreams.has(compiled.upstream ?? "default"), shown).toBe(true);
  for (const upstream of config.upstreams.values()) {
    expect(upstream.url.protocol, shown).toMatch(/^https?:$/);
    expect(upstream.token === null || (typeof upstream.token === "string" && upstream.token !== ""), shown).toBe(true);
  }
}

function parseWithoutThrowing(input: Record<string, unknown>): ConfigResult {
  try {
    return parseConfig(input);
  } catch (error) {
    throw new Error(`parseConfig threw ${String(error)} for ${JSON.stringify(input)?.slice(0, 400)}`);
  }
}

describe("parseConfig under fuzzing", () => {
  it("answers every arbitrary env object with a Config or an error naming a field", () => {
    fc.assert(
      fc.property(env, (input) => expectWellFormed(parseWithoutThrowing(input), input)),
      { numRuns: 2000 },
    );
  });

  it("answers arbitrary ROUTES next to a valid origin, never throwing", () => {
    const routes = maybeJson(fc.array(route, { minLength: 1, maxLength: 3 }));
    fc.assert(
      fc.property(routes, (value) => {
        const input = { UPSTREAM_URL: "http://127.0.0.1:9", ROUTES: value };
        expectWellFormed(parseWithoutThrowing(input), input);
      }),
      { numRuns: 2000 },
    );
  });

  it("answers arbitrary UPSTREAMS, UPSTREAM_BREAKER and routes naming them next to a valid origin, never throwing", () => {
    fc.assert(
      fc.property(maybeJson(upstreams), maybeJson(breaker), fc.array(route, { minLength: 1, maxLength: 3 }), anyValue, (table, defaultBreaker, routes, secret) => {
        const input = { UPSTREAM_URL: "http://127.0.0.1:9", UPSTREAMS: table, UPSTREAM_BREAKER: defaultBreaker, ROUTES: routes, BILLING_TOKEN: secret, UPSTREAM_TOKEN: "t" };
        expectWellFormed(parseWithoutThrowing(input), input);
      }),
      { numRuns: 2000 },
    );
  });

  it("answers arbitrary PLANS next to a valid origin, never throwing", () => {
    fc.assert(
      fc.property(maybeJson(plans), (value) => {
        const input = { UPSTREAM_URL: "http://127.0.0.1:9", PLANS: value };
        expectWellFormed(parseWithoutThrowing(input), input);
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts every well-formed configuration, as a table or as JSON", () => {
    const positive = fc.integer({ min: 1, max: 1_000_000 });
    const goodPlan = fc.record({ per_minute: positive, per_day: positive }, { requiredKeys: [] });
    const goodRoute = fc.oneof(
      fc.record(
        {
          path: fc.constantFrom("/v1/*", "/v1/posts/:id", "/v2/:a/:b", "/x"),
          method: fc.constantFrom("GET", "post", "PATCH"),
          scope: fc.constantFrom("read", "admin:write"),
          credits: fc.nat({ max: 1000 }),
          timeout_ms: fc.integer({ min: 1, max: 600_000 }),
        },
        { requiredKeys: ["path"] },
      ),
      fc.record({ path: fc.constantFrom("/status", "/public/*"), public: fc.constant(true) }),
    );
    const goodEnv = fc.record({
      PLANS: fc.tuple(goodPlan, fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), goodPlan, { maxKeys: 3 })).map(([d, rest]) => ({ ...rest, default: d })),
      ROUTES: fc.array(goodRoute, { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(goodEnv, fc.boolean(), ({ PLANS, ROUTES }, asJson) => {
        const input = {
          UPSTREAM_URL: "https://origin.example.com/base",
          PLANS: asJson ? JSON.stringify(PLANS) : PLANS,
          ROUTES: asJson ? JSON.stringify(ROUTES) : ROUTES,
        };
        const result = parseConfig(input);
        expect(result, JSON.stringify(input)).toMatchObject({ ok: true });
        if (!result.ok) return;
        expect(Object.keys(result.config.plans).sort()).toEqual(Object.keys(PLANS).sort());
        expect(result.config.routes.map((r) => r.path)).toEqual(ROUTES.map((r) => r.path));
      }),
      { numRuns: 500 },
    );
  });

  it("refuses, naming the field, the route paths itty-router cannot compile (found by this fuzzer)", () => {
    // These used to throw a SyntaxError out of parseConfig: every request then got the generic
    // 500 instead of the message naming the field, and the pre-deploy check crashed.
    for (const path of ["/(", "/v1/[", "/v1/:id/x/:id"]) {
      const result = parseConfig({ UPSTREAM_URL: "http://127.0.0.1:9", ROUTES: [{ path: "/ok" }, { path }] });
      const problem = expect.stringMatching(/^ROUTES\[1\]\.path: (holds '[(\[]', which is not allowed|uses the parameter :id twice)/);
      expect(result).toEqual({ ok: false, error: problem, problems: [problem] });
    }
  });

  it("gives every plan name — removed, unknown, or an Object.prototype member — real limits", () => {
    const result = parseConfig({ UPSTREAM_URL: "http://127.0.0.1:9", PLANS: { default: { per_minute: 7 }, pro: { per_day: 9 } } });
    if (!result.ok) throw new Error(result.error);
    const { config } = result;
    const name = fc.oneof(fc.constantFrom("toString", "__proto__", "constructor", "hasOwnProperty", "valueOf", "pro", "default"), fc.string());
    fc.assert(
      fc.property(name, (plan) => {
        const limits = planLimits(config, plan);
        const expected = plan === "pro" ? { perMinute: null, perDay: 9 } : { perMinute: 7, perDay: null };
        expect(limits, plan).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
