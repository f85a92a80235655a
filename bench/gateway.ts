// The gateway as the benchmarks run it: the dry-run bundle in Miniflare, with one
// configuration that has a route of every kind the benchmarks and the soak exercise.
import type { GroupCommitStats } from "../src/account/batch.ts";
import { ADMIN_TOKEN } from "../test/support/gateway.ts";
import type { Bundle } from "./bundle.ts";
import { startWorker, type RunningWorker } from "./workers.ts";

export const PLANS = {
  default: { per_minute: 60, per_day: 1_000 },
  // Limited, so every admission does the full work, but far above what any run can reach.
  bench: { per_minute: 100_000_000, per_day: 1_000_000_000 },
  // For the exactness check: simultaneous requests race for these 50 slots.
  exact: { per_minute: 50, per_day: 1_000_000 },
};

/** Cost of the /v1/pricey/* route; the exactness check races requests for a balance. */
export const PRICEY_COST = 7;
/** How long the soak's /v1/timeout/* requests may wait for the hanging origin. */
export const SHORT_TIMEOUT_MS = 300;

export const ROUTES = [
  { path: "/v1/public/*", public: true },
  { path: "/v1/credit/*", credits: 1 },
  { path: "/v1/pricey/*", credits: PRICEY_COST },
  { path: "/v1/timeout/*", timeout_ms: SHORT_TIMEOUT_MS },
  { path: "/v1/*" },
];

/** The pass-through baseline: nothing but fetch(origin). */
export function startPassThrough(originUrl: string): Promise<RunningWorker> {
  return startWorker({
    scriptPath: new URL("./workers/passthrough-worker.js", import.meta.url).pathname,
    bindings: { UPSTREAM_URL: originUrl },
  });
}

/** Where bench/upstreams.ts's two more upstreams point: a second origin, and a port nobody answers on. */
export interface BenchUpstreams {
  second: string;
  dead: string;
}

/**
 * SPEC 12: `second` is another live origin, reached with a strip_prefix; `dead` refuses every
 * connection, and its breaker — opened by one failure, for an hour — answers for it.
 */
export function upstreamVars(urls: BenchUpstreams): { UPSTREAMS: Record<string, unknown>; routes: Record<string, unknown>[] } {
  return {
    UPSTREAMS: {
      second: { url: urls.second },
      dead: { url: urls.dead, breaker: { failures: 1, open_seconds: 3600 } },
    },
    routes: [
      { path: "/v2/public/*", upstream: "second", strip_prefix: "/v2", public: true },
      { path: "/v2/*", upstream: "second", strip_prefix: "/v2" },
      { path: "/v3/public/*", upstream: "dead", strip_prefix: "/v3", public: true },
      { path: "/v3/*", upstream: "dead", strip_prefix: "/v3" },
    ],
  };
}

export function startBenchGateway(bundle: Bundle, originUrl: string, options: { inspector?: boolean; upstreams?: BenchUpstreams } = {}): Promise<RunningWorker> {
  const more = options.upstreams === undefined ? null : upstreamVars(options.upstreams);
  return startWorker({
    scriptPath: bundle.scriptPath,
    bindings: { UPSTREAM_URL: originUrl, PLANS, ROUTES: [...ROUTES, ...(more?.routes ?? [])], ...(more === null ? {} : { UPSTREAMS: more.UPSTREAMS }), ADMIN_TOKEN },
    // As wrangler.toml binds them. The dashboard's assets are left out: no benchmark asks for them.
    durableObjects: { ACCOUNTS: "AccountDO", DIRECTORY: "AccountDirectory" },
    inspector: options.inspector ?? false,
  });
}

/** The account object's group-commit counts (AccountDO.groupCommitStats, RPC only). */
export async function groupCommitStats(gateway: RunningWorker, accountId: string): Promise<GroupCommitStats> {
  return (await gateway.callDurableObject("ACCOUNTS", accountId, "groupCommitStats")) as GroupCommitStats;
}
