// `npm run bench`, several upstreams (SPEC 12): what a route to a second upstream costs next
// to one to the default — the same work, a lookup and a strip_prefix more — and what an open
// circuit breaker's answer costs next to a forwarded request: no origin call, and on a
// key-protected route no account call either. Measured like the rest (measure.ts), targets
// taking turns in rounds; the cost is workerd's CPU per response, and beside every figure the
// share of the machine's CPU other processes took meanwhile (the machine is shared).
import { measureInRounds, type Measurement, type RoundPlan, type Target, type TargetFigures } from "./measure.ts";
import { percent, table } from "./report.ts";

const UNAVAILABLE = "The upstream service is temporarily unavailable";

export const DEFAULT_PUBLIC = "default upstream: public";
export const SECOND_PUBLIC = "second upstream: public, strip_prefix";
export const DEFAULT_KEYED = "default upstream: key + limits";
export const SECOND_KEYED = "second upstream: key + limits, strip_prefix";
export const DEAD_PUBLIC = "dead upstream, breaker open: public";
export const DEAD_KEYED = "dead upstream, breaker open: key + limits route";

/** What the figures must show: the same cost within noise, or less. */
const CLAIMS: readonly { name: string; against: string; claim: "same" | "less" }[] = [
  { name: SECOND_PUBLIC, against: DEFAULT_PUBLIC, claim: "same" },
  { name: SECOND_KEYED, against: DEFAULT_KEYED, claim: "same" },
  { name: DEAD_PUBLIC, against: DEFAULT_PUBLIC, claim: "less" },
  { name: DEAD_KEYED, against: DEFAULT_KEYED, claim: "less" },
];

export interface Claim {
  name: string;
  against: string;
  claim: "same" | "less";
  /** Medians over rounds, workerd µs per response. */
  cpuUs: number;
  againstCpuUs: number;
  ratio: number;
  /** Lowest and highest round: the noise. */
  rounds: [number, number];
  againstRounds: [number, number];
  /** same: the rounds' ranges overlap; less: every round below every round of `against`. */
  holds: boolean;
}

export interface UpstreamFigures {
  measurement: Measurement;
  claims: Claim[];
}

/**
 * Opens the dead upstream's breaker (one refused connection), then measures every target on a
 * gateway started with bench/gateway.ts upstreamVars.
 */
export async function measureUpstreams(
  gateway: { url: string; workerdPid: number },
  auth: Record<string, string>,
  answerPath: string,
  plan: RoundPlan,
  ownPids: () => number[],
  cpus: number,
): Promise<UpstreamFigures> {
  await openDeadBreaker(gateway.url);
  const at = (path: string, name: string, headers?: Record<string, string>): Target => ({ name, url: `${gateway.url}${path}${answerPath}`, serverPid: gateway.workerdPid, ...(headers ? { headers } : {}) });
  const targets = [
    at("/v1/public/", DEFAULT_PUBLIC),
    at("/v2/public/", SECOND_PUBLIC),
    at("/v3/public/", DEAD_PUBLIC),
    at("/v1/orders/", DEFAULT_KEYED, auth),
    at("/v2/orders/", SECOND_KEYED, auth),
    at("/v3/orders/", DEAD_KEYED, auth),
  ];
  const measurement = await measureInRounds(targets, plan, ownPids, cpus);
  const find = (name: string) => measurement.targets.find((t) => t.name === name)!;
  const claims = CLAIMS.map(({ name, against, claim }) => judge(find(name), find(against), claim));
  return { measurement, claims };
}

async function openDeadBreaker(gatewayUrl: string): Promise<void> {
  const first = await fetch(`${gatewayUrl}/v3/public/echo`);
  await first.arrayBuffer();
  const second = await fetch(`${gatewayUrl}/v3/public/echo`);
  const body = (await second.json()) as { error?: { message?: string } };
  if (second.status !== 500 || body.error?.message !== UNAVAILABLE) {
    throw new Error(`the dead upstream's breaker did not open: ${first.status}, then ${second.status} ${JSON.stringify(body)}`);
  }
}

function judge(target: TargetFigures, against: TargetFigures, claim: "same" | "less"): Claim {
  const range = (t: TargetFigures): [number, number] => {
    const values = t.rounds.map((r) => r.serverCpuUsPerRequest);
    return [Math.min(...values), Math.max(...values)];
  };
  const rounds = range(target);
  const againstRounds = range(against);
  const holds = claim === "same" ? rounds[0] <= againstRounds[1] && againstRounds[0] <= rounds[1] : rounds[1] < againstRounds[0];
  return {
    name: target.name,
    against: against.name,
    claim,
    cpuUs: target.serverCpuUsPerRequest,
    againstCpuUs: against.serverCpuUsPerRequest,
    ratio: target.serverCpuUsPerRequest / against.serverCpuUsPerRequest,
    rounds,
    againstRounds,
    holds,
  };
}

export function upstreamsTable(figures: UpstreamFigures): string {
  const { measurement, claims } = figures;
  const { connections, seconds, rounds } = measurement.plan;
  const rows = measurement.targets.map((t) => [
    t.name,
    t.throughput.toFixed(0),
    t.p50Ms.toFixed(2),
    t.serverCpuUsPerRequest.toFixed(0),
    t.rounds.map((r) => r.serverCpuUsPerRequest.toFixed(0)).join(" / "),
    t.rounds.map((r) => percent(r.otherProcessesCpuShare)).join(" / "),
    Object.entries(t.non2xx)
      .map(([status, n]) => `${n}×${status}`)
      .concat(t.errors > 0 ? [`${t.errors} errors`] : [])
      .join(" ") || "0",
  ]);
  const lines = claims.map((c) => {
    const span = (r: [number, number]) => `${r[0].toFixed(0)}–${r[1].toFixed(0)}`;
    const what = c.claim === "same" ? "costs the same as" : "costs less than";
    const why = c.claim === "same" ? (c.holds ? "rounds overlap" : "rounds do not overlap") : c.holds ? "every round below" : "not every round below";
    return `  ${c.holds ? "HOLDS " : "FAILS "} ${c.name} ${what} ${c.against}: ${c.ratio.toFixed(2)}× CPU (rounds ${span(c.rounds)} vs ${span(c.againstRounds)} µs: ${why})`;
  });
  return [
    `Several upstreams — ${connections} connections, ${rounds} rounds × ${seconds} s each, medians over rounds; workerd CPU per response`,
    table(["target", "req/s", "p50 ms", "CPU µs/req", "CPU per round", "others' CPU per round", "non-2xx / errors"], rows),
    ...lines,
    `other processes used ${percent(measurement.otherProcessesCpuShare)} of the machine's CPU over the whole measurement`,
  ].join("\n");
}
