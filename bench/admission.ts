// The admission call against a no-op RPC on the very same Durable Object: admissions per
// second one account's object sustains, and what one admit() call costs in latency and
// workerd CPU, with the object round trip itself (noop) as the baseline.
//
// bench/workers/admission-worker.ts is bundled with
// esbuild and served by Miniflare like the other bench Workers. Node times whole batches of
// calls with hrtime (workerd's clocks tick in whole milliseconds, too coarse for one call),
// minus the HTTP round trip of a request that makes no call. The ops take turns in rounds,
// so a burst of other work on this shared machine lands on every op alike.
//
//   node bench/admission.ts [--rounds 6]    (also the last section of `npm run bench`)
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bundleWorkerScript } from "../test/support/bundle-worker.ts";
import { ROOT } from "../test/support/gateway.ts";
import { addBatches, summarizeBatches, type BatchSizes } from "./batch-sizes.ts";
import { percentile } from "./load.ts";
import { machineBusyMs, machineInfo } from "./machine.ts";
import { median } from "./measure.ts";
import { cpuTimeMs } from "./processes.ts";
import { admissionTable } from "./report.ts";
import { startWorker, type RunningWorker } from "./workers.ts";

/** Far above anything a run reaches (under 100,000 admissions), so no admit() is ever denied. */
const NEVER_REACHED = 1_000_000_000;
const PLANS = {
  default: { per_minute: NEVER_REACHED, per_day: NEVER_REACHED },
  /** Both windows: each admission also appends to the rolling minute's log (a second statement). */
  limits: { per_minute: NEVER_REACHED, per_day: NEVER_REACHED },
  /** The daily counter only: one statement per admission, no minute log. */
  day_only: { per_day: NEVER_REACHED },
};
const ACCOUNTS = [
  { id: "limits", plan: "limits", credits: 0 },
  { id: "day-only", plan: "day_only", credits: 0 },
  { id: "credit", plan: "limits", credits: 1_000_000_000_000 },
  /** No credits: every 1-credit call is refused (402) after both windows were checked. */
  { id: "refused", plan: "limits", credits: 0 },
];

const OPS: readonly { name: string; query: string }[] = [
  // On the "limits" account's object: the very object the first admit row calls.
  { name: "no-op RPC (baseline)", query: "account=limits&op=noop" },
  { name: "admit: limits (minute + day)", query: "account=limits&op=admit&cost=0" },
  { name: "admit: no minute limit (day only)", query: "account=day-only&op=admit&cost=0" },
  { name: "admit: limits + 1 credit", query: "account=credit&op=admit&cost=1" },
  // A refusal is counted in the usage history: it joins a batch and waits for its commit.
  { name: "admit: refused (402)", query: "account=refused&op=admit&cost=1&expect=insufficient_credits" },
];

export interface AdmissionPlan {
  rounds: number;
  /** Latency: sequential calls (one chain) per batch, and batches per op per round. */
  latencyCalls: number;
  latencyBatches: number;
  /** Throughput: calls per batch, spread over `parallel` chains; one batch per op per round. */
  throughputCalls: number;
  parallel: number;
}

export const DEFAULT_ADMISSION_PLAN: AdmissionPlan = { rounds: 6, latencyCalls: 200, latencyBatches: 5, throughputCalls: 2_000, parallel: 10 };

export interface OpFigures {
  name: string;
  /** Calls per second with `parallel` chains: median over rounds. */
  callsPerSecond: number;
  /** Calls per second with one chain: 1 / the p50 per-call latency. */
  sequentialCallsPerSecond: number;
  /** Group commits during the parallel batches (none for the no-op). */
  batches: BatchSizes;
  /** Per-call latency with one chain (a batch's time / its calls), p50 and p99 over batches. */
  latencyP50Us: number;
  latencyP99Us: number;
  /** workerd CPU (Worker and object together) per call, over every batch of this op. */
  workerdCpuUsPerCall: number;
  calls: number;
  /** Outcomes other than the op's expected one (admitted, the no-op's null, or its refusal), by outcome. */
  failures: Record<string, number>;
  rounds: { callsPerSecond: number; latencyUs: number[] }[];
}

export interface AdmissionFigures {
  plan: AdmissionPlan;
  plans: typeof PLANS;
  /** The HTTP round trip of a request that makes no call, subtracted from every batch. */
  httpRoundTripUs: number;
  ops: OpFigures[];
  /** Admit ops against the no-op, same order as `ops`; parallel ÷ sequential is the op against itself. */
  comparison: { name: string; throughputRatio: number; latencyP50Ratio: number; addedP50Us: number; cpuRatio: number; parallelOverSequential: number }[];
  otherProcessesCpuShare: number;
}

interface Batch {
  ms: number;
  cpuMs: number;
  calls: number;
  succeeded: number;
  failures: Record<string, number>;
  /** The object's group commits during this batch: { admissions in a commit: commits }. */
  batches: Record<string, number>;
}

export async function measureAdmission(plan: AdmissionPlan, cpus: number): Promise<AdmissionFigures> {
  const outdir = mkdtempSync(join(tmpdir(), "tollgate-bench-admission-"));
  try {
    const scriptPath = await bundleAdmissionWorker(outdir);
    const worker = await startWorker({
      scriptPath,
      // UPSTREAM_URL only has to be valid: admit() never calls the origin.
      bindings: { UPSTREAM_URL: "http://127.0.0.1:9", PLANS },
      durableObjects: { BENCH_ACCOUNTS: "BenchAccountDO" },
    });
    try {
      return await measure(worker, plan, cpus);
    } finally {
      agent.destroy();
      await worker.stop();
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function bundleAdmissionWorker(outdir: string): Promise<string> {
  const outfile = join(outdir, "index.js");
  await bundleWorkerScript(join(ROOT, "bench/workers/admission-worker.ts"), outfile);
  return outfile;
}

async function measure(worker: RunningWorker, plan: AdmissionPlan, cpus: number): Promise<AdmissionFigures> {
  const call = (path: string) => runBatch(worker, path);
  for (const account of ACCOUNTS) await call(`/setup?account=${account.id}&plan=${account.plan}&credits=${account.credits}`);
  // Warm-up: the JIT, SQLite's page cache, Node's keep-alive connection.
  for (const op of OPS) await call(`/run?${op.query}&calls=${plan.throughputCalls}&parallel=${plan.parallel}`);

  const pings: number[] = [];
  const batches = new Map(OPS.map((op) => [op.name, { latency: [] as Batch[][], throughput: [] as Batch[] }]));
  const ownPids = [process.pid, worker.workerdPid];
  const ownStart = sumCpu(ownPids);
  const busyStart = machineBusyMs();
  const started = performance.now();

  for (let round = 0; round < plan.rounds; round++) {
    for (let i = 0; i < 5; i++) pings.push((await call("/ping")).ms);
    for (const op of OPS) {
      const mine = batches.get(op.name)!;
      const latency: Batch[] = [];
      for (let i = 0; i < plan.latencyBatches; i++) latency.push(await call(`/run?${op.query}&calls=${plan.latencyCalls}&parallel=1`));
      mine.latency.push(latency);
      mine.throughput.push(await call(`/run?${op.query}&calls=${plan.throughputCalls}&parallel=${plan.parallel}`));
    }
  }

  const elapsedMs = performance.now() - started;
  const otherMs = Math.max(0, machineBusyMs() - busyStart - (sumCpu(ownPids) - ownStart));
  const roundTripMs = median(pings);
  const ops = OPS.map((op) => figures(op.name, batches.get(op.name)!, roundTripMs));
  const noop = ops[0]!;
  return {
    plan,
    plans: PLANS,
    httpRoundTripUs: roundTripMs * 1000,
    ops,
    comparison: ops.slice(1).map((o) => ({
      name: o.name,
      throughputRatio: o.callsPerSecond / noop.callsPerSecond,
      latencyP50Ratio: o.latencyP50Us / noop.latencyP50Us,
      addedP50Us: o.latencyP50Us - noop.latencyP50Us,
      cpuRatio: o.workerdCpuUsPerCall / noop.workerdCpuUsPerCall,
      parallelOverSequential: o.callsPerSecond / o.sequentialCallsPerSecond,
    })),
    otherProcessesCpuShare: otherMs / (elapsedMs * cpus),
  };
}

/**
 * node:http on one kept-alive connection: its round trip here is about 0.45 ms and steady,
 * Node's fetch() about 1 ms and noisier — and the round trip is subtracted from every batch.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      // The kept-alive connection was closed by the server just as this request went out (seen
      // after a batch of several seconds on a busy machine): nothing reached the Worker, so the
      // request is sent again, once, as Node's documentation advises for reused sockets.
      if (req.reusedSocket && error.code === "ECONNRESET") get(url).then(resolve, reject);
      else reject(error);
    });
    req.end();
  });
}

/** One request to the bench Worker, timed from Node, with the CPU workerd used meanwhile. */
async function runBatch(w: RunningWorker, path: string): Promise<Batch> {
  const cpuBefore = cpuTimeMs(w.workerdPid) ?? 0;
  const t0 = process.hrtime.bigint();
  const { status, text } = await get(`${w.url}${path}`);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = (cpuTimeMs(w.workerdPid) ?? 0) - cpuBefore;
  if (status !== 200) throw new Error(`${path}: ${status} ${text}\n${w.recentOutput()}`);
  const body = JSON.parse(text) as { calls?: number; succeeded?: number; failures?: Record<string, number>; batches?: Record<string, number> };
  return { ms, cpuMs, calls: body.calls ?? 0, succeeded: body.succeeded ?? 0, failures: body.failures ?? {}, batches: body.batches ?? {} };
}

function figures(name: string, runs: { latency: Batch[][]; throughput: Batch[] }, roundTripMs: number): OpFigures {
  // A batch's own time: what the calls took, without the request that carried them.
  const callsMs = (b: Batch) => Math.max(b.ms - roundTripMs, Number.EPSILON);
  const rounds = runs.throughput.map((t, i) => ({
    callsPerSecond: t.calls / (callsMs(t) / 1000),
    latencyUs: runs.latency[i]!.map((b) => (callsMs(b) * 1000) / b.calls),
  }));
  const all = [...runs.latency.flat(), ...runs.throughput];
  const failures: Record<string, number> = {};
  for (const b of all) for (const [outcome, n] of Object.entries(b.failures)) failures[outcome] = (failures[outcome] ?? 0) + n;
  const unanswered = sum(all.map((b) => b.calls - b.succeeded - sum(Object.values(b.failures))));
  if (unanswered > 0) failures["unaccounted"] = unanswered;
  const latencies = rounds.flatMap((r) => r.latencyUs).sort((a, b) => a - b);
  const calls = sum(all.map((b) => b.calls));
  const parallelBatches: Record<string, number> = {};
  for (const t of runs.throughput) addBatches(parallelBatches, t.batches);
  return {
    name,
    callsPerSecond: median(rounds.map((r) => r.callsPerSecond)),
    sequentialCallsPerSecond: 1e6 / percentile(latencies, 50),
    batches: summarizeBatches(parallelBatches),
    latencyP50Us: percentile(latencies, 50),
    latencyP99Us: percentile(latencies, 99),
    workerdCpuUsPerCall: (sum(all.map((b) => b.cpuMs)) * 1000) / calls,
    calls,
    failures,
    rounds,
  };
}

export function admissionFailures(figures: AdmissionFigures): number {
  return sum(figures.ops.map((o) => sum(Object.values(o.failures))));
}

function sumCpu(pids: readonly number[]): number {
  return sum(pids.map((pid) => cpuTimeMs(pid) ?? 0));
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: String(DEFAULT_ADMISSION_PLAN.rounds) } } });
  const machine = machineInfo();
  console.log(`load average ${machine.loadAverage1m.toFixed(2)}, ${machine.cpus} CPUs`);
  const result = await measureAdmission({ ...DEFAULT_ADMISSION_PLAN, rounds: Number(values.rounds) }, machine.cpus);
  console.log(admissionTable(result));
  if (admissionFailures(result) > 0) process.exitCode = 1;
}
