// The route table (SPEC sections 3, 8 and 10): compiled once, matched first-wins per request
// against the request's canonical path (paths.ts), without regard to letter case.
//
// A route path is literal segments, `:name` parameters and an optional trailing `*` — checked
// here, character by character, before itty-router compiles it. itty-router turns a pattern
// into a regular expression by text substitution, so anything it does not substitute (`|`,
// `(`, `[`, `?`, `+`, `$`…) would otherwise reach the RegExp as regex syntax: `/v1/status|`
// matched every path.
import { IttyRouter } from "itty-router";
import { canonicalPath } from "./paths.ts";

export interface RouteSpec {
  method?: string | undefined;
  path: string;
  scope?: string | undefined;
  credits?: number | undefined;
  timeout_ms?: number | undefined;
  public?: boolean | undefined;
  encoded_slashes?: boolean | undefined;
  upstream?: string | undefined;
  strip_prefix?: string | undefined;
}

export interface CompiledRoute {
  /** null: any method. */
  method: string | null;
  /** As configured (for the log line). */
  path: string;
  /** null: the default for the request's method (see requiredScope). */
  scope: string | null;
  credits: number;
  timeoutMs: number;
  public: boolean;
  /** SPEC 10: this route lets %2F through, still encoded. */
  encodedSlashes: boolean;
  /** SPEC 12: the upstream it forwards to; null: UPSTREAM_URL's. */
  upstream: string | null;
  /**
   * SPEC 12: the leading segments the origin does not receive, canonical and in lower case
   * (the route matched them without regard to case); null: the whole path is forwarded.
   */
  stripPrefix: string | null;
  pattern: RegExp;
}

export interface RouteMatch {
  route: CompiledRoute;
  /** The scope this request needs on this route. */
  scope: string;
}

const PARAMETER = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A literal segment: unreserved characters, non-ASCII text, and escapes of either. Reserved
 * characters (`@`, `,`, `=`…) are left out on purpose: their escapes are kept as sent (SPEC
 * 10), so `/v1/@me` and `/v1/%40me` would be two paths here and one at most origins.
 */
const LITERAL_CHARACTER = /^(?:[A-Za-z0-9\-._~]|[^\x00-\x7f]|%[0-9A-Fa-f]{2})$/u;
const LITERAL_TOKEN = /%..|[\s\S]/gu;

const SYNTAX = "a route path is literal segments (letters, digits, - . _ ~), :name parameters and a trailing /*";

/** Why `path` is not a route path of SPEC 8, or null when it is one. */
export function routePathProblem(path: string): string | null {
  if (!path.startsWith("/")) return "must start with /";
  const segments = path.slice(1).split("/");
  const parameters = new Set<string>();
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === "") {
      if (!last) return "must not hold an empty segment (//)";
    } else if (segment === "*") {
      if (!last) return "may hold * only as its last segment, alone (/v1/*)";
    } else if (segment.startsWith(":")) {
      if (!PARAMETER.test(segment)) return `has the parameter '${segment}': a parameter is :name (letters, digits, _), alone in its segment`;
      if (parameters.has(segment)) return `uses the parameter ${segment} twice`;
      parameters.add(segment);
    } else {
      for (const token of segment.match(LITERAL_TOKEN) ?? []) {
        if (!LITERAL_CHARACTER.test(token) || (token.startsWith("%") && !isUnreservedOrHigh(token))) {
          return `holds '${token}', which is not allowed: ${SYNTAX}`;
        }
      }
      const decoded = canonicalPath(`/${segment}`);
      if (decoded.ok && decoded.path === "/") return "must not hold a . or .. segment";
    }
  }
  const canonical = canonicalPath(path);
  if (!canonical.ok) return `is not a URL path: ${canonical.message}`;
  if (/^\/_gateway(?:\/|$)/i.test(canonical.path)) return "must not be under /_gateway/, which belongs to the gateway";
  return null;
}

function isUnreservedOrHigh(escape: string): boolean {
  const byte = Number.parseInt(escape.slice(1), 16);
  return byte >= 0x80 || /^[A-Za-z0-9\-._~]$/.test(String.fromCharCode(byte));
}

const STRIP_SYNTAX = "a strip_prefix is the leading literal segments of the route's path, such as /v1/billing (no :name, no *)";

/** `/v1/billing/` says what `/v1/billing` says: the route's path starts with either. */
function withoutTrailingSlash(strip: string): string {
  return strip.length > 1 && strip.endsWith("/") ? strip.slice(0, -1) : strip;
}

/**
 * Why `strip` cannot be the strip_prefix of the route `routePath` (SPEC 12), or null. It must
 * be the route's leading segments, whole (`/v1/bill` does not prefix `/v1/billing/*`: it
 * would cut a segment in two) and literal (a `:name` or `*` segment is not the same text
 * on every request), so every path the route matches starts with it.
 */
export function stripPrefixProblem(routePath: string, written: string): string | null {
  const strip = withoutTrailingSlash(written);
  if (!strip.startsWith("/") || strip === "/" || strip.endsWith("/")) return `must start with / and name at least one segment: ${STRIP_SYNTAX}`;
  const syntax = routePathProblem(strip);
  if (syntax !== null) return syntax;
  const stripSegments = segmentsOf(strip);
  if (stripSegments.some((segment) => segment.startsWith(":") || segment === "*")) return `must hold literal segments only: ${STRIP_SYNTAX}`;
  const routeSegments = segmentsOf(routePath);
  const covered = routeSegments.slice(0, stripSegments.length);
  const whole = covered.length === stripSegments.length && covered.every((segment, i) => !segment.startsWith(":") && segment !== "*" && segment === stripSegments[i]);
  if (!whole) return `${written} is not a prefix of the route's path ${routePath}, segment by segment: ${STRIP_SYNTAX}`;
  return null;
}

/** A path's segments in canonical spelling and lower case, as the route matches them. */
function segmentsOf(path: string): string[] {
  const canonical = canonicalPath(path);
  return (canonical.ok ? canonical.path : path).toLowerCase().split("/").slice(1);
}

function canonicalStripPrefix(routePath: string, strip: string): string {
  const problem = stripPrefixProblem(routePath, strip);
  if (problem !== null) throw new Error(`route ${routePath}: strip_prefix ${problem}`);
  return `/${segmentsOf(withoutTrailingSlash(strip)).join("/")}`;
}

/** Routes must pass routePathProblem (config.ts checks it first); throws otherwise. */
export function compileRoutes(specs: readonly RouteSpec[], defaultTimeoutMs: number): CompiledRoute[] {
  return specs.map((spec) => {
    const problem = routePathProblem(spec.path);
    if (problem !== null) throw new Error(`route path ${spec.path} ${problem}`);
    return {
      method: spec.method?.toUpperCase() ?? null,
      path: spec.path,
      scope: spec.scope ?? null,
      credits: spec.public ? 0 : (spec.credits ?? 0),
      timeoutMs: spec.timeout_ms ?? defaultTimeoutMs,
      public: spec.public ?? false,
      encodedSlashes: spec.encoded_slashes ?? false,
      upstream: spec.upstream ?? null,
      stripPrefix: spec.strip_prefix === undefined ? null : canonicalStripPrefix(spec.path, spec.strip_prefix),
      pattern: compilePattern(spec.path),
    };
  });
}

/**
 * itty-router compiles the pattern, spelled canonically (`%61` → `a`, `é` → `%C3%A9`) so it
 * meets requests on their own terms; letter case is ignored (SPEC 10 step 3).
 */
function compilePattern(path: string): RegExp {
  const canonical = canonicalPath(path);
  if (!canonical.ok) throw new Error(`route path ${path} has no canonical form`);
  const router = IttyRouter();
  router.all(canonical.path);
  const pattern = router.routes[0]?.[1];
  if (!(pattern instanceof RegExp)) throw new Error(`itty-router did not compile ${path}`);
  return ignoringCase(pattern);
}

/** The same pattern, without regard to letter case (SPEC 10 step 3). */
export function ignoringCase(pattern: RegExp): RegExp {
  return new RegExp(pattern.source, `${pattern.flags.replace("i", "")}i`);
}

/** First match wins, on a canonical path (paths.ts). A route for GET also serves HEAD. */
export function matchRoute(routes: readonly CompiledRoute[], method: string, path: string): RouteMatch | null {
  for (const route of routes) {
    if (!methodMatches(route.method, method)) continue;
    if (!route.pattern.test(path)) continue;
    return { route, scope: route.scope ?? defaultScope(method) };
  }
  return null;
}

function methodMatches(routeMethod: string | null, method: string): boolean {
  return routeMethod === null || routeMethod === method || (routeMethod === "GET" && method === "HEAD");
}

/** SPEC 3: `read` for GET, HEAD and OPTIONS, `write` for every other method. */
export function defaultScope(method: string): string {
  return method === "GET" || method === "HEAD" || method === "OPTIONS" ? "read" : "write";
}
