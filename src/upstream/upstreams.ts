// Where a route's requests go (SPEC sections 6 and 12): the route's upstream (UPSTREAM_URL's
// unless it names one), the path that upstream receives (less strip_prefix), the token it is
// sent (its own, never another's), and the upstream's circuit breaker (breaker.ts).
//
// Breakers live in the isolate's memory, one per upstream, so each Worker instance judges an
// upstream by the calls it made itself. Keeping the state in a Durable Object would put a
// second call on every request (to ask before admission, to report after) — a round trip
// that costs more than the breaker saves while the origin is up, and one more thing that can
// fail while it is down. Per isolate, an origin that is down still gets at most `failures`
// calls from each isolate, then one trial per `open_seconds`: bounded, where it had every
// request without a breaker.
import type { Config } from "../config.ts";
import type { LogFields } from "../context.ts";
import type { CompiledRoute } from "../routes.ts";
import { CircuitBreaker, verdictOf, type CallEnd, type Permit, type Verdict } from "./breaker.ts";
import { upstreamUrlFor, type CallResult } from "./forward.ts";
import type { UpstreamHealth } from "./health.ts";
import { DEFAULT_UPSTREAM, type Upstream } from "./upstream-config.ts";

/** SPEC 12: the answer, before any admission, while an upstream's breaker is open. */
export const UPSTREAM_UNAVAILABLE = "The upstream service is temporarily unavailable";

/** What a trial may take beyond its upstream's timeout (the key check and admission come first). */
const TRIAL_SLACK_MS = 10_000;

/** One request's way to its origin. */
export interface ForwardTarget {
  /** The upstream's URL, joined with the canonical path less strip_prefix, and the query as received. */
  url: string;
  /** Replaces the client's Authorization; null: the origin gets none. */
  token: string | null;
  timeoutMs: number;
  /** Tells the upstream's breaker how the call went (nothing to tell without a breaker). */
  report(result: CallResult): void;
}

export type Passage =
  | {
      allowed: true;
      target: ForwardTarget;
      /**
       * Call once the request is answered, however: a request that never reached the origin
       * (a 401, a 429, a fault) says nothing about it, and a trial must not stay in flight.
       */
      release(): void;
    }
  | { allowed: false; retryAfterSeconds: number };

interface RequestParts {
  config: Config;
  /** The canonical path (SPEC 10). */
  path: string;
  url: URL;
  log: LogFields;
}

/** The route's upstream, through its breaker: a way there, or how long it stays closed to this request. */
export function enterUpstream(request: RequestParts, route: CompiledRoute): Passage {
  const { config, log } = request;
  const upstream = upstreamOf(config, route);
  log.upstream = upstream.name;
  const breaker = breakerOf(config, upstream);
  let permit: Permit | null = null;
  if (breaker !== null) {
    const entry = breaker.enter();
    if (!entry.allowed) {
      log.breaker = "open";
      return { allowed: false, retryAfterSeconds: entry.retryAfterSeconds };
    }
    permit = entry.permit;
    if (permit.trial) log.breaker = "trial";
  }
  const settle = (verdict: Verdict) => {
    if (breaker === null || permit === null) return;
    const transition = breaker.settle(permit, verdict);
    permit = null;
    if (transition !== null) log.breaker = transition;
  };
  return {
    allowed: true,
    target: {
      url: upstreamUrlFor(upstream.url, forwardedPath(request.path, route.stripPrefix), request.url.search),
      token: upstream.token,
      timeoutMs: route.timeoutMs,
      report: (result) => settle(verdictOf(callEnd(result))),
    },
    release: () => settle("none"),
  };
}

/**
 * The path the origin receives: the canonical path less the route's strip_prefix, whatever
 * the case it was sent in (`/V1/Billing/x` → `/x`); the prefix itself becomes `/`.
 */
export function forwardedPath(path: string, stripPrefix: string | null): string {
  if (stripPrefix === null) return path;
  const rest = path.slice(stripPrefix.length);
  // The route matched, and its path starts with the prefix (config.ts checks it): this holds.
  if (path.slice(0, stripPrefix.length).toLowerCase() !== stripPrefix || (rest !== "" && !rest.startsWith("/"))) {
    throw new Error(`strip_prefix ${stripPrefix} does not prefix the matched path ${path}`);
  }
  return rest === "" ? "/" : rest;
}

export function upstreamOf(config: Config, route: CompiledRoute): Upstream {
  const upstream = config.upstreams.get(route.upstream ?? DEFAULT_UPSTREAM);
  if (upstream === undefined) throw new Error(`route ${route.path} names the unknown upstream ${route.upstream}`);
  return upstream;
}

function callEnd(result: CallResult): CallEnd {
  return result.kind === "response" ? { kind: "response", status: result.response.status } : result;
}

// ── the breakers of this isolate ─────────────────────────────────────────────────────

/** Keyed by the parsed configuration's upstream, which lives as long as the isolate's configuration. */
const breakers = new WeakMap<Upstream, CircuitBreaker>();

/** The upstream's breaker in this isolate, or null when it has none. */
export function breakerOf(config: Config, upstream: Upstream): CircuitBreaker | null {
  if (upstream.breaker === null) return null;
  let breaker = breakers.get(upstream);
  if (breaker === undefined) {
    // A trial's verdict always comes (release() in a finally); this bounds the wait if it ever does not.
    const longestWait = Math.max(upstream.timeoutMs, ...config.routes.filter((route) => (route.upstream ?? DEFAULT_UPSTREAM) === upstream.name).map((route) => route.timeoutMs));
    breaker = new CircuitBreaker({ ...upstream.breaker, trialTimeoutMs: longestWait + TRIAL_SLACK_MS }, () => Date.now());
    breakers.set(upstream, breaker);
  }
  return breaker;
}


/** Every upstream, the default first. Names only: an upstream's URL is nobody's business but the operator's. */
export function upstreamsHealth(config: Config): UpstreamHealth[] {
  return [...config.upstreams.values()].map((upstream): UpstreamHealth => {
    const view = breakerOf(config, upstream)?.view();
    const name = upstream.name;
    switch (view?.state) {
      case undefined:
        return { name, breaker: "off" };
      case "closed":
        return { name, breaker: "closed", consecutive_failures: view.consecutiveFailures };
      case "open":
        return { name, breaker: "open", retry_after: view.retryAfterSeconds };
      case "half_open":
        return { name, breaker: "half_open", trial_in_flight: view.trialInFlight };
    }
  });
}
