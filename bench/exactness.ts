// Exactness under load (SPEC 4 and 5): simultaneous requests on one account admit exactly
// the limit, and credits balance to the credit. Counted three ways: what the clients got,
// what the origin received, and what the account says afterwards (admin API).
import { accountWithKey, admin } from "../test/support/gateway.ts";
import { envelopeProblem } from "./envelope-check.ts";
import { PLANS, PRICEY_COST } from "./gateway.ts";
import type { OriginProcess } from "./origin.ts";

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

interface Answer {
  status: number;
  /** null for a 2xx, else what is wrong with the envelope (null when nothing). */
  problem: string | null;
  code: string | null;
}

export async function checkExactness(gatewayUrl: string, origin: OriginProcess, clients = 200): Promise<Check[]> {
  return [await rateLimitIsExact(gatewayUrl, origin, clients), await creditsBalance(gatewayUrl, origin, clients), await immediateRepeats(gatewayUrl, origin, clients)];
}

async function rateLimitIsExact(gatewayUrl: string, origin: OriginProcess, clients: number): Promise<Check> {
  const limit = PLANS.exact.per_minute;
  const key = await accountWithKey({ url: gatewayUrl }, { id: "exact-limit", plan: "exact" });
  await origin.forget();
  const answers = await simultaneously(clients, () => send(`${gatewayUrl}/v1/exact-limit/status/200?body=ok`, key));

  const admitted = count(answers, (a) => a.status === 200);
  const denied = count(answers, (a) => a.status === 429 && a.problem === null && a.code === "RATE_LIMIT_EXCEEDED");
  const reached = (await origin.received()).filter((r) => r.path.startsWith("/v1/exact-limit/")).length;
  const account = await admin({ url: gatewayUrl }, "GET", "/accounts/exact-limit");
  const used = account.body?.data?.usage?.minute?.used as number | undefined;
  const expected = Math.min(limit, clients);
  return {
    name: `rate limit: ${clients} simultaneous requests, limit ${limit}/minute`,
    pass: admitted === expected && denied === clients - expected && reached === expected && used === expected,
    detail: `admitted ${admitted}, 429 envelopes ${denied}, other ${clients - admitted - denied}; origin received ${reached}; account minute.used ${used}`,
  };
}

async function creditsBalance(gatewayUrl: string, origin: OriginProcess, clients: number): Promise<Check> {
  const start = 1_000;
  const key = await accountWithKey({ url: gatewayUrl }, { id: "exact-credits", plan: "bench", credits: start });
  await origin.forget();
  // Every third request fails at the origin, so refunds race debits for the same balance.
  const answers = await simultaneously(clients, (i) =>
    send(`${gatewayUrl}/v1/pricey/status/${i % 3 === 2 ? 500 : 200}?body=ok`, key),
  );

  const succeeded = count(answers, (a) => a.status === 200);
  const refunded = count(answers, (a) => a.status === 500 && a.problem === null);
  const short = count(answers, (a) => a.status === 402 && a.problem === null);
  const reached = (await origin.received()).filter((r) => r.path.startsWith("/v1/pricey/")).length;
  const account = await admin({ url: gatewayUrl }, "GET", "/accounts/exact-credits");
  const final = account.body?.data?.credits as number | undefined;
  const expected = start - succeeded * PRICEY_COST;
  return {
    name: `credits: ${clients} simultaneous requests costing ${PRICEY_COST} on a balance of ${start}, a third failing at the origin`,
    pass: final === expected && succeeded + refunded + short === clients && reached === succeeded + refunded,
    detail: `2xx ${succeeded}, refunded 500s ${refunded}, 402s ${short}, other ${clients - succeeded - refunded - short}; origin received ${reached}; balance ${start} − ${succeeded} × ${PRICEY_COST} = ${expected}, account says ${final}`,
  };
}

/**
 * SPEC 11 as a client meets it: a POST with a fresh Idempotency-Key, its answer read whole,
 * then the same request again at once — `requests` times, one after another. Every repeat
 * must be the replay or the in-progress 409 (the only answer the contract allows while the
 * first answer is being kept), and the origin must see each operation once; how many met
 * the 409 is the figure (the gateway keeps the answer in the background, just after it was sent).
 */
async function immediateRepeats(gatewayUrl: string, origin: OriginProcess, requests: number): Promise<Check> {
  const key = await accountWithKey({ url: gatewayUrl }, { id: "exact-repeats", plan: "bench" });
  await origin.forget();
  const run = `${Date.now()}`;
  let replayed = 0;
  let inProgress = 0;
  let other = 0;
  for (let i = 0; i < requests; i++) {
    const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Idempotency-Key": `repeat-${run}-${i}` };
    const url = `${gatewayUrl}/v1/repeats/${i}/status/200?body=made`;
    const first = await fetch(url, { method: "POST", headers, body: `{"n":${i}}` });
    const firstBody = await first.text();
    const again = await fetch(url, { method: "POST", headers, body: `{"n":${i}}` });
    const againBody = await again.text();
    if (first.status === 200 && again.status === 200 && again.headers.get("Idempotent-Replayed") === "true" && againBody === firstBody) replayed++;
    else if (first.status === 200 && again.status === 409 && again.headers.get("Retry-After") === "1" && envelopeProblem(409, again.headers, againBody) === null) inProgress++;
    else other++;
  }
  const reached = (await origin.received()).filter((r) => r.path.startsWith("/v1/repeats/")).length;
  return {
    name: `Idempotency-Key: ${requests} POSTs, each repeated the moment its answer was read`,
    pass: other === 0 && reached === requests,
    detail: `repeats replayed ${replayed}, in-progress 409s ${inProgress}, other ${other}; origin received ${reached} (one per operation)`,
  };
}

/** Starts every request before awaiting any. */
function simultaneously(n: number, request: (i: number) => Promise<Answer>): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => request(i)));
}

async function send(url: string, key: string): Promise<Answer> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${key}` } });
  const text = await res.text();
  if (res.ok) return { status: res.status, problem: null, code: null };
  const problem = envelopeProblem(res.status, res.headers, text);
  const code = problem === null ? ((JSON.parse(text) as { error: { code: string } }).error.code) : null;
  return { status: res.status, problem, code };
}

function count<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  return items.filter(predicate).length;
}
