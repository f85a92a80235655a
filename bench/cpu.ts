// The CPU cost of the request path's pure parts, on Node (V8, like workerd): ns per call.
// What these do not cover — the Durable Object call, SQLite, fetch, the runtime — is in
// the workerd CPU per request that run.ts measures from /proc.
import { decide, type UsageSnapshot } from "../src/account/limiter.ts";
import { parseConfig, type Config } from "../src/config.ts";
import { errorResponse } from "../src/envelope.ts";
import { hashKey, mintKey, parseKey } from "../src/keys.ts";
import { canonicalPath } from "../src/paths.ts";
import { rateLimitHeaders } from "../src/rate-limit-headers.ts";
import { newRequestId } from "../src/request-id.ts";
import { matchRoute } from "../src/routes.ts";
import { normalizeUpstream } from "../src/upstream/normalize.ts";
import { createHash } from "node:crypto";
import { PLANS, ROUTES } from "./gateway.ts";

export interface OpCost {
  name: string;
  nsPerOp: number;
  /** Per request, or once per isolate. */
  when: "request" | "isolate" | "error" | "reference";
}

/** Keeps results alive so V8 cannot drop the work as dead code. */
let sink: unknown;

export async function measurePipelineCpu(budgetMsPerOp = 300): Promise<OpCost[]> {
  const env = { UPSTREAM_URL: "http://127.0.0.1:9", PLANS, ROUTES };
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(`bench configuration is invalid: ${parsed.error}`);
  const config: Config = parsed.config;
  const key = mintKey("bench").key;
  const now = Date.now();
  // A busy account: a full rolling minute at 1,000 requests per minute.
  const snapshot: UsageSnapshot = {
    minuteAdmissions: Array.from({ length: 1_000 }, (_, i) => now - 59_000 + i * 59),
    dayNumber: Math.floor(now / 86_400_000),
    dayUsed: 5_000,
  };
  const limits = { perMinute: 2_000, perDay: 100_000 };
  // And a pending batch of 10 admissions not yet committed (group commit).
  const pending = Array.from({ length: 10 }, (_, i) => now - 10 + i);
  const decision = decide(limits, snapshot, pending, now);
  const originFailure = { kind: "response" as const, status: 404, retryAfter: null, body: '{"error":{"message":"No such post"}}' };

  const sync: [string, OpCost["when"], () => unknown][] = [
    ["parseConfig (PLANS, 5 ROUTES)", "isolate", () => parseConfig(env)],
    ["newRequestId", "request", () => newRequestId()],
    // SPEC 10, on every request: an already canonical path takes one regex test; a path that
    // needs work (escapes, slash runs, dot segments) takes the character-by-character pass.
    ["canonicalPath (typical: /v1/orders/42)", "request", () => canonicalPath("/v1/orders/42")],
    ["canonicalPath (to rewrite: //v1/%6Frders/./x/../42)", "request", () => canonicalPath("//v1/%6Frders/./x/../42")],
    ["matchRoute (last of 5 routes)", "request", () => matchRoute(config.routes, "GET", "/v1/orders/42")],
    ["parseKey (format + CRC32)", "request", () => parseKey(key)],
    ["decide (1,000 in the minute + 10 pending)", "request", () => decide(limits, snapshot, pending, now)],
    ["rateLimitHeaders (2 windows)", "request", () => rateLimitHeaders(decision.windows)],
    ["normalizeUpstream (origin 404 JSON)", "error", () => normalizeUpstream(originFailure, now)],
    ["errorResponse (envelope, Node's Response)", "error", () => errorResponse({ code: "NOT_FOUND", message: "No such post" }, { requestId: "req_x", now, method: "GET" })],
  ];
  const costs: OpCost[] = sync.map(([name, when, op]) => ({ name, when, nsPerOp: timeSync(op, budgetMsPerOp) }));
  costs.push({ name: "hashKey (SHA-256, WebCrypto)", when: "request", nsPerOp: await timeAsync(() => hashKey(key), budgetMsPerOp) });
  // Node's WebCrypto digest is asynchronous (a thread-pool hop); the hash itself is this:
  costs.push({ name: "SHA-256 of a key, node:crypto (for scale)", when: "reference", nsPerOp: timeSync(() => createHash("sha256").update(key).digest(), budgetMsPerOp) });
  return costs;
}

function timeSync(op: () => unknown, budgetMs: number): number {
  for (let i = 0; i < 1_000; i++) sink = op();
  let iterations = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(budgetMs) * 1_000_000n;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 1_000; i++) sink = op();
    iterations += 1_000;
    now = process.hrtime.bigint();
  }
  return Number(now - started) / iterations;
}

async function timeAsync(op: () => Promise<unknown>, budgetMs: number): Promise<number> {
  for (let i = 0; i < 1_000; i++) sink = await op();
  let iterations = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(budgetMs) * 1_000_000n;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 100; i++) sink = await op();
    iterations += 100;
    now = process.hrtime.bigint();
  }
  return Number(now - started) / iterations;
}

// `node bench/cpu.ts`: this table alone, without the load runs of `npm run bench`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { cpuTable } = await import("./report.ts");
  console.log(cpuTable(await measurePipelineCpu()));
}
