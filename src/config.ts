// wrangler.toml vars and secrets → one typed, validated Config (SPEC section 8).
// Pure: no I/O, no clock. The Worker parses once per isolate (see loadConfig), the
// `npm run check` command parses the same way before a deploy.
import * as v from "valibot";
import { describeIssue } from "./validation.ts";
import { compileRoutes, routePathProblem, stripPrefixProblem, type CompiledRoute } from "./routes.ts";
import { DEFAULT_UPSTREAM, MAX_BREAKER_FAILURES, MAX_BREAKER_OPEN_SECONDS, UPSTREAM_NAME, resolveUpstreams, type Upstream } from "./upstream/upstream-config.ts";

/** The longest origin timeout a route may ask for. Refunds rely on it (see account/ledger). */
export const MAX_UPSTREAM_TIMEOUT_MS = 600_000;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;
export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 20;
/**
 * The admin token guards every account, so it should be too long to guess, even one try at a
 * time. `npm run check` refuses a shorter one and the Worker logs a warning; the Worker still
 * serves with it, as the contract defines the admin API for any ADMIN_TOKEN (README).
 */
export const MIN_ADMIN_TOKEN_CHARS = 32;

export interface PlanLimits {
  /** null: the plan sets no limit of that kind. */
  perMinute: number | null;
  perDay: number | null;
}

export interface Config {
  upstreamUrl: URL;
  upstreamTimeoutMs: number;
  /** null: CORS off. ["*"] echoes any origin. */
  corsOrigins: readonly string[] | null;
  plans: Readonly<Record<string, PlanLimits>>;
  routes: readonly CompiledRoute[];
  authFailuresPerMinute: number;
  adminToken: string | null;
  upstreamToken: string | null;
  /** Every upstream by name (SPEC 12), UPSTREAM_URL's as `default` (the first). */
  upstreams: ReadonlyMap<string, Upstream>;
}

export interface ParseOptions {
  /**
   * What a `token_secret` that names no secret in `env` is. The Worker sees every secret, so
   * for it the configuration is refused ("refuse", the default). `npm run check` sees only
   * .dev.vars, not what `wrangler secret put` set: it passes "unseen" and warns instead.
   */
  unsetTokenSecrets?: "refuse" | "unseen";
}

export type ConfigResult =
  | { ok: true; config: Config }
  /** `error` is every problem, joined with "; " (the 500's message); `problems` one by one, each naming its field. */
  | { ok: false; error: string; problems: string[] };

// Vars from wrangler.toml arrive typed; the same names set through .dev.vars or
// `--var` arrive as strings. Accept both spellings of a number, never a fraction.
const positiveInteger = (what: string) =>
  v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number))], `must be ${what}`),
    v.integer(`must be ${what}`),
    v.minValue(1, `must be ${what}`),
  );

/** An origin's base URL: UPSTREAM_URL, or an upstream's `url`. */
const originUrl = (required: string) =>
  v.pipe(
    v.string(required),
    v.url("must be an absolute http(s) URL"),
    v.check((u) => /^https?:\/\//i.test(u), "must be an absolute http(s) URL"),
    v.check((u) => !u.includes("?") && !u.includes("#"), "must not have a query or fragment"),
  );

const timeoutMs = v.pipe(positiveInteger("a positive integer of milliseconds"), v.maxValue(MAX_UPSTREAM_TIMEOUT_MS, `must be at most ${MAX_UPSTREAM_TIMEOUT_MS}`));

const limit = v.optional(
  v.pipe(v.number("must be a positive integer"), v.safeInteger("must be a positive integer"), v.minValue(1, "must be a positive integer")),
);

const PlanSchema = v.strictObject({ per_minute: limit, per_day: limit }, "must be a table with per_minute and/or per_day");

/**
 * Letters and `-`: every method workerd lets through is one. `*` (or any token that is not a
 * method) would be accepted and then never match; leaving `method` out means every method.
 */
const METHOD = /^[A-Za-z][A-Za-z-]*$/;

const RouteSchema = v.pipe(
  v.strictObject(
    {
      method: v.optional(
        v.pipe(
          v.string("must be a string"),
          v.regex(METHOD, "must be an HTTP method such as GET (leave method out to match every method)"),
          v.toUpperCase(),
        ),
      ),
      path: v.pipe(
        v.string("is required and must be a string"),
        v.rawCheck(({ dataset, addIssue }) => {
          const problem = dataset.typed ? routePathProblem(dataset.value) : null;
          if (problem !== null) addIssue({ message: problem });
        }),
      ),
      scope: v.optional(v.pipe(v.string("must be a string"), v.nonEmpty("must not be empty"))),
      credits: v.optional(v.pipe(v.number("must be a non-negative integer"), v.safeInteger("must be a non-negative integer"), v.minValue(0, "must be a non-negative integer"))),
      timeout_ms: v.optional(timeoutMs),
      public: v.optional(v.boolean("must be true or false")),
      encoded_slashes: v.optional(v.boolean("must be true or false")),
      // Whether the upstream exists is checked against UPSTREAMS (upstream-config.ts).
      upstream: v.optional(v.pipe(v.string("must be a string"), v.nonEmpty("must name an upstream of UPSTREAMS (leave it out for UPSTREAM_URL)"))),
      strip_prefix: v.optional(v.string("must be a string")),
    },
    "must be a table",
  ),
  v.check((r) => !(r.public === true && r.scope !== undefined), "a public route cannot set scope"),
  v.check((r) => !(r.public === true && r.credits !== undefined && r.credits !== 0), "a public route cannot set credits"),
  v.forward(
    v.check(
      (r) => r.strip_prefix === undefined || stripPrefixProblem(r.path, r.strip_prefix) === null,
      (issue) => stripPrefixProblem(issue.input.path, issue.input.strip_prefix ?? "") ?? "is not a prefix of the route's path",
    ),
    ["strip_prefix"],
  ),
);

/**
 * A var that is a table or array may also arrive as a JSON string (from .dev.vars). Parsed
 * first, then validated by `schema`, so issues keep their paths (ROUTES[1].credits).
 */
const jsonOr = <T extends v.GenericSchema>(schema: T, shape: string) =>
  v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      if (typeof dataset.value !== "string") return dataset.value;
      try {
        return JSON.parse(dataset.value) as unknown;
      } catch {
        addIssue({ message: `must be ${shape}` });
        return NEVER;
      }
    }),
    schema,
  );

const BREAKER_SHAPE = "a table such as { failures = 5, open_seconds = 10 }";

/** SPEC 12: an upstream's circuit breaker (and UPSTREAM_BREAKER, the default upstream's). */
const BreakerSchema = v.strictObject(
  {
    failures: v.pipe(positiveInteger(`a positive integer of consecutive failures, at most ${MAX_BREAKER_FAILURES}`), v.maxValue(MAX_BREAKER_FAILURES, `must be at most ${MAX_BREAKER_FAILURES}`)),
    open_seconds: v.pipe(positiveInteger(`a positive integer of seconds, at most ${MAX_BREAKER_OPEN_SECONDS}`), v.maxValue(MAX_BREAKER_OPEN_SECONDS, `must be at most ${MAX_BREAKER_OPEN_SECONDS}`)),
  },
  `must be ${BREAKER_SHAPE}`,
);

/** An environment variable's name: what a secret is called. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** SPEC 12: `[vars.UPSTREAMS.<name>]`. Whether token_secret is set is checked with the env (upstream-config.ts). */
const UpstreamSchema = v.strictObject(
  {
    url: originUrl("is required: the upstream's base URL, such as https://billing.internal.example.com"),
    timeout_ms: v.optional(timeoutMs),
    token_secret: v.optional(v.pipe(v.string("must be a string"), v.regex(SECRET_NAME, "must be the name of a secret, such as BILLING_TOKEN"))),
    breaker: v.optional(BreakerSchema),
  },
  "must be a table with url and optionally timeout_ms, token_secret, breaker",
);

const UpstreamName = v.pipe(
  v.string(),
  v.regex(UPSTREAM_NAME, "is not an upstream name: letters, digits, - and _, starting with a letter or digit, at most 64"),
  v.check((name) => name !== DEFAULT_UPSTREAM, `is UPSTREAM_URL's name: leave a route's upstream out to send it there`),
);

const EnvSchema = v.object({
  UPSTREAM_URL: originUrl("is required: the origin's base URL, such as https://origin.example.com"),
  UPSTREAM_TIMEOUT_MS: v.optional(timeoutMs, DEFAULT_UPSTREAM_TIMEOUT_MS),
  UPSTREAM_BREAKER: v.optional(jsonOr(BreakerSchema, BREAKER_SHAPE)),
  UPSTREAMS: v.optional(
    jsonOr(
      v.pipe(
        // valibot takes an array for a record (its indexes as keys): [[vars.UPSTREAMS]] would name upstreams 0, 1…
        v.custom<unknown>((value) => !Array.isArray(value), "must be a table of upstreams ([vars.UPSTREAMS.<name>]), not an array"),
        v.record(UpstreamName, UpstreamSchema, "must be a table of upstreams"),
      ),
      "a table of upstreams ([vars.UPSTREAMS.<name>])",
    ),
  ),
  AUTH_FAILURES_PER_MINUTE: v.optional(positiveInteger("a positive integer"), DEFAULT_AUTH_FAILURES_PER_MINUTE),
  CORS_ORIGINS: v.optional(
    jsonOr(
      v.pipe(
        v.array(
          v.pipe(
            v.string("must be a string"),
            v.check((o) => o === "*" || /^https?:\/\/[^/\s]+$/i.test(o), "must be an origin such as https://app.example.com, or *"),
          ),
          "must be a list of origins",
        ),
        v.nonEmpty("must list at least one origin"),
      ),
      'a list of origins, such as ["https://app.example.com"]',
    ),
  ),
  PLANS: v.optional(
    jsonOr(
      v.pipe(
        v.record(v.string(), PlanSchema, "must be a table of plans"),
        v.check((plans) => Object.hasOwn(plans, "default"), "must hold a plan named default"),
      ),
      "a table of plans ([vars.PLANS.<name>])",
    ),
  ),
  ROUTES: v.optional(jsonOr(v.array(RouteSchema, "must be an array of tables ([[vars.ROUTES]])"), "an array of tables ([[vars.ROUTES]])")),
  // Empty means unset (the admin API then answers 401). Its length: adminTokenProblem.
  ADMIN_TOKEN: v.optional(v.string("must be a string")),
  UPSTREAM_TOKEN: v.optional(v.string("must be a string")),
});

/** Every var the configuration reads (an upstream's token_secret may not name one). */
const CONFIG_VARS = Object.keys(EnvSchema.entries);

/** Without PLANS, every account is on an unlimited `default` plan. */
const NO_LIMITS: PlanLimits = { perMinute: null, perDay: null };

export function parseConfig(env: Record<string, unknown>, options: ParseOptions = {}): ConfigResult {
  const parsed = v.safeParse(EnvSchema, env, { abortPipeEarly: true });
  if (!parsed.success) {
    return refused(parsed.issues.map((issue) => describeIssue(issue)));
  }
  const vars = parsed.output;
  const resolved = resolveUpstreams(vars, env, { configNames: CONFIG_VARS, unsetTokenSecrets: options.unsetTokenSecrets ?? "refuse" });
  if (!resolved.ok) return refused(resolved.problems);
  const { upstreams } = resolved;
  const plans: Record<string, PlanLimits> = {};
  for (const [name, plan] of Object.entries(vars.PLANS ?? { default: {} })) {
    plans[name] = plan ? { perMinute: plan.per_minute ?? null, perDay: plan.per_day ?? null } : NO_LIMITS;
  }
  // A route's own timeout_ms, else its upstream's, else UPSTREAM_TIMEOUT_MS (the default's).
  const routeSpecs = (vars.ROUTES ?? [{ path: "/*" }]).map((route) => ({
    ...route,
    timeout_ms: route.timeout_ms ?? upstreams.get(route.upstream ?? DEFAULT_UPSTREAM)?.timeoutMs,
  }));
  const routes = compileRoutes(routeSpecs, vars.UPSTREAM_TIMEOUT_MS);
  return {
    ok: true,
    config: {
      upstreamUrl: new URL(vars.UPSTREAM_URL),
      upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      corsOrigins: vars.CORS_ORIGINS ?? null,
      plans,
      routes,
      authFailuresPerMinute: vars.AUTH_FAILURES_PER_MINUTE,
      adminToken: nonEmpty(vars.ADMIN_TOKEN),
      upstreamToken: nonEmpty(vars.UPSTREAM_TOKEN),
      upstreams,
    },
  };
}

/** Why the configured ADMIN_TOKEN is too weak to guard the admin API, or null. */
export function adminTokenProblem(config: Config): string | null {
  const token = config.adminToken;
  if (token === null || token.length >= MIN_ADMIN_TOKEN_CHARS) return null;
  return `ADMIN_TOKEN: must be at least ${MIN_ADMIN_TOKEN_CHARS} characters: a random secret, such as the output of \`openssl rand -base64 32\``;
}

function refused(problems: string[]): ConfigResult {
  return { ok: false, error: problems.join("; "), problems };
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === "" ? null : value;
}

// Parsed once per isolate. The env object is stable for an isolate's lifetime, so it is
// the cache key; a test that passes another env gets its own parse.
const cache = new WeakMap<object, ConfigResult>();

export function loadConfig(env: object): ConfigResult {
  let result = cache.get(env);
  if (result === undefined) {
    result = parseConfig(env as Record<string, unknown>);
    cache.set(env, result);
    const weak = result.ok ? adminTokenProblem(result.config) : null;
    // Once per isolate (and per Durable Object), where the operator reads the logs.
    if (weak !== null) console.warn(JSON.stringify({ warning: `${weak}; the admin API accepts it, but anyone who can reach it can guess it sooner` }));
  }
  return result;
}

/** The plan an account names, or `default` when that plan was removed from PLANS. */
export function planLimits(config: Config, plan: string): PlanLimits {
  // Own plans only: a name such as "toString" must not find an Object.prototype member.
  return (Object.hasOwn(config.plans, plan) ? config.plans[plan] : config.plans.default) ?? NO_LIMITS;
}

/**
 * The fields each table of the configuration accepts, as the schemas above define them: the
 * contract's field table (docs/contract.md, section 8) must name exactly these
 * (test/unit/contract.test.ts).
 */
export const CONFIG_FIELDS = {
  vars: CONFIG_VARS,
  plan: Object.keys(PlanSchema.entries),
  route: Object.keys(RouteSchema.pipe[0].entries),
  upstream: Object.keys(UpstreamSchema.entries),
  breaker: Object.keys(BreakerSchema.entries),
} as const;
