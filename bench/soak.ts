// The soak: a fixed request rate through the gateway (same Miniflare setup as run.ts) for
// minutes, mixing every kind of traffic (soak-mix.ts). Every answer must be an origin
// success or exactly the envelope, and the credit account must balance at the end.
//
// Memory: workerd's resident memory grows on its own for tens of thousands of requests
// before it levels off (a pass-through Worker does the same), so the gateway's curve is
// set against a pass-through Worker's, in its own workerd, sent the same rate meanwhile.
// Not part of CI.
//
//   node bench/soak.ts --minutes 5 --rate 200        node bench/soak.ts --minutes 0.2   (quick)
//   node bench/soak.ts --minutes 1 --only "public,origin timeout"   (some kinds of soak-mix.ts only)
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, accountWithKey, admin } from "../test/support/gateway.ts";
import { bundleGateway } from "./bundle.ts";
import { startBenchGateway, startPassThrough } from "./gateway.ts";
import { machineInfo } from "./machine.ts";
import { MemoryTrack, mib } from "./memory-track.ts";
import { startOriginProcess } from "./origin.ts";
import { writeJson } from "./report.ts";
import { answerProblem, kindFor, mixOf, type RequestKind } from "./soak-mix.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    rate: { type: "string", default: "200" },
    only: { type: "string", default: "" },
  },
});
const MINUTES = Number(args.minutes);
const RATE = Number(args.rate);
if (!(MINUTES > 0) || !(RATE > 0)) throw new Error("--minutes and --rate must be positive numbers");
const MIX = mixOf(args.only.split(",").map((name) => name.trim()).filter(Boolean));
const DURATION_MS = MINUTES * 60_000;
const SAMPLE_EVERY_MS = Math.min(5_000, Math.max(1_000, DURATION_MS / 30));
/** More than this many unanswered requests means the gateway is not keeping up: skip, and say so. */
const MAX_IN_FLIGHT = 2_000;
/** "Flat": the last third's average within this of the first third's. */
const FLAT_TOLERANCE = 0.1;
/** The gateway may grow this much more than the pass-through runtime before it is a finding. */
const BASELINE_ALLOWANCE = { factor: 1.25, bytes: 16 * 1024 * 1024 };
const START_CREDITS = 1_000_000_000;
/** Credits of the /v1/credit/* route (bench/gateway.ts). */
const CREDIT_COST = 1;

const machine = machineInfo();
console.log(`Tollgate soak — ${MINUTES} min at ${RATE} req/s of ${MIX.map((k) => k.name).join(", ")}`);
console.log(`${machine.cpus} CPUs (${machine.model}), Node ${machine.node}`);
const bundle = await bundleGateway();
const origin = await startOriginProcess();
const gateway = await startBenchGateway(bundle, origin.url);
const passThrough = await startPassThrough(origin.url);

const tally = new Map<string, Map<number, number>>(MIX.map((k) => [k.name, new Map()]));
const problems: string[] = [];
let outsideContract = 0;
let noAnswer = 0;
let skipped = 0;
let baselineFailures = 0;

try {
  const keys = {
    limits: await accountWithKey(gateway, { id: "soak-limits", plan: "bench" }),
    credits: await accountWithKey(gateway, { id: "soak-credits", plan: "bench", credits: START_CREDITS }),
  };
  let malformedAddress = 0;

  const send = async (kind: RequestKind): Promise<void> => {
    const headers: Record<string, string> = { "CF-Connecting-IP": "192.0.2.1" };
    if (kind.key === "limits" || kind.key === "credits") headers.Authorization = `Bearer ${keys[kind.key]}`;
    if (kind.key === "malformed") {
      headers.Authorization = "Bearer tgk_soak_not-a-real-key";
      // A new address each time: never throttled, and the throttle's table is pushed past its bound.
      const n = malformedAddress++ % 50_000;
      headers["CF-Connecting-IP"] = `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`;
    }
    try {
      const res = await fetch(`${gateway.url}${kind.path}`, { headers, redirect: "manual", signal: AbortSignal.timeout(30_000) });
      const problem = await answerProblem(res);
      const statuses = tally.get(kind.name)!;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (problem !== null) {
        outsideContract++;
        if (problems.length < 10) problems.push(`${kind.name} ${res.status}: ${problem}`);
      }
    } catch (error) {
      noAnswer++;
      if (problems.length < 10) problems.push(`${kind.name}: no answer (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  const sendBaseline = async (): Promise<void> => {
    try {
      const res = await fetch(`${passThrough.url}/v1/x/status/200?body=ok`, { signal: AbortSignal.timeout(30_000) });
      await res.arrayBuffer();
      if (res.status !== 200) baselineFailures++;
    } catch {
      baselineFailures++;
    }
  };

  const started = performance.now();
  const gatewayMemory = new MemoryTrack(gateway.workerdPid, started);
  const baselineMemory = new MemoryTrack(passThrough.workerdPid, started);
  const sample = () => {
    gatewayMemory.sample();
    baselineMemory.sample();
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);
  const forgetter = setInterval(() => void origin.forget().catch(() => {}), 10_000);

  // A fixed rate: every tick, send what is due by now (open loop, not one-after-another).
  const inFlight = new Set<Promise<void>>();
  const track = (request: Promise<void>) => {
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  };
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.floor((Math.min(elapsed, DURATION_MS) / 1000) * RATE);
      while (sent < due) {
        const kind = kindFor(sent++, MIX);
        if (inFlight.size >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        track(send(kind));
        track(sendBaseline());
      }
      if (elapsed >= DURATION_MS) {
        clearInterval(tick);
        done();
      }
    }, 20);
  });
  await Promise.all(inFlight);
  clearInterval(sampler);
  clearInterval(forgetter);
  sample();

  const account = await admin(gateway, "GET", "/accounts/soak-credits");
  const charged = (tally.get("credit")?.get(201) ?? 0) + (tally.get("credit, origin HTML 502")?.get(200) ?? 0);
  const expectedBalance = START_CREDITS - charged * CREDIT_COST;
  const balance = account.body?.data?.credits as number | undefined;
  const gw = gatewayMemory.summary();
  const base = baselineMemory.summary();
  const flat = gw.growth <= FLAT_TOLERANCE;
  const gwGrowthBytes = gw.lastThirdBytes - gw.firstThirdBytes;
  const baseGrowthBytes = base.lastThirdBytes - base.firstThirdBytes;
  const withinBaseline = gwGrowthBytes <= Math.max(0, baseGrowthBytes) * BASELINE_ALLOWANCE.factor + BASELINE_ALLOWANCE.bytes;

  console.log(`\nSent ${sent} requests in ${((performance.now() - started) / 1000).toFixed(1)} s (${skipped} skipped: more than ${MAX_IN_FLIGHT} unanswered)`);
  for (const [name, statuses] of tally) {
    console.log(`  ${name.padEnd(24)} ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${n}×${s}`).join("  ")}`);
  }
  console.log(`${mark(outsideContract === 0)} answers outside the contract (neither an origin 2xx/3xx nor the envelope): ${outsideContract}`);
  console.log(`${mark(noAnswer === 0)} requests with no answer at all: ${noAnswer}`);
  for (const p of problems) console.log(`       ${p}`);
  console.log(`${mark(balance === expectedBalance)} credits balance: ${START_CREDITS} − ${charged} successes × ${CREDIT_COST} = ${expectedBalance}, account says ${balance}`);
  console.log(`workerd memory (RSS), ${gw.samples.length} samples every ${(SAMPLE_EVERY_MS / 1000).toFixed(1)} s, first third → last third:`);
  console.log(`       gateway       ${describe(gw)}`);
  console.log(`       pass-through  ${describe(base)}  (same rate, nothing but fetch(origin); ${baselineFailures} failed)`);
  console.log(`${flat ? "PASS" : "NOTE"} gateway memory stayed flat (last third ≤ +${FLAT_TOLERANCE * 100}% of first): ${pct(gw.growth)}`);
  console.log(
    `${mark(withinBaseline)} gateway grew no more than the runtime alone: ${signedMib(gwGrowthBytes)} vs pass-through ${signedMib(baseGrowthBytes)} ` +
      `(allowed ${BASELINE_ALLOWANCE.factor}× + ${mib(BASELINE_ALLOWANCE.bytes)})`,
  );

  const resultsPath = join(ROOT, "bench/results/soak-latest.json");
  writeJson(resultsPath, {
    machine,
    minutes: MINUTES,
    rate: RATE,
    kinds: MIX.map((k) => k.name),
    sent,
    skipped,
    statuses: Object.fromEntries([...tally].map(([name, s]) => [name, Object.fromEntries(s)])),
    outsideContract,
    noAnswer,
    problems,
    credits: { start: START_CREDITS, charged, expected: expectedBalance, actual: balance ?? null },
    memory: { gateway: gw, passThrough: base, flat, withinBaseline, baselineFailures },
  });
  console.log(`Wrote ${resultsPath}`);
  if (outsideContract > 0 || noAnswer > 0 || balance !== expectedBalance || !withinBaseline) process.exitCode = 1;
} finally {
  await gateway.stop();
  await passThrough.stop();
  await origin.stop();
}

function describe(m: ReturnType<MemoryTrack["summary"]>): string {
  return `${mib(m.firstThirdBytes)} → ${mib(m.lastThirdBytes)} (${pct(m.growth)}; min ${mib(m.minBytes)}, max ${mib(m.maxBytes)})`;
}

function pct(growth: number): string {
  return `${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%`;
}

function signedMib(bytes: number): string {
  return `${bytes >= 0 ? "+" : "−"}${mib(Math.abs(bytes))}`;
}

function mark(pass: boolean): string {
  return pass ? "PASS" : "FAIL";
}
