// Every target measured the same way, in rounds that take turns (origin, pass-through,
// gateway routes, then again), so a burst of other work on this shared machine lands on
// one round of each rather than on all of one target. Figures are medians over rounds.
import { runLoad, type LoadResult } from "./load.ts";
import { machineBusyMs } from "./machine.ts";
import { cpuTimeMs } from "./processes.ts";

export interface Target {
  name: string;
  url: string;
  headers?: Record<string, string>;
  /** GET unless given. */
  method?: string;
  body?: string;
  /** `[<id>]` in a header or the body becomes a fresh id per request. */
  idReplacement?: boolean;
  /** The process that serves it (workerd, or the bare origin), for CPU per request. */
  serverPid: number;
}

export interface RoundPlan {
  connections: number;
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  /** Called after every run (the origin forgets what it received, so it does not grow). */
  afterRun?: () => Promise<void>;
}

export interface TargetFigures {
  name: string;
  /** Medians over rounds. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the serving process used per response, in microseconds. */
  serverCpuUsPerRequest: number;
  responses: number;
  /** Responses that were not 2xx, by status, over all rounds. */
  non2xx: Record<string, number>;
  /** Requests that got no response (connection errors, timeouts). */
  errors: number;
  /** Share of the whole machine's CPU that processes other than ours used during this target's runs. */
  otherProcessesCpuShare: number;
  rounds: { throughput: number; p50Ms: number; p99Ms: number; serverCpuUsPerRequest: number; otherProcessesCpuShare: number }[];
}

export interface Measurement {
  plan: Omit<RoundPlan, "afterRun">;
  targets: TargetFigures[];
  /** Share of the whole machine's CPU that processes other than ours used meanwhile. */
  otherProcessesCpuShare: number;
}

export async function measureInRounds(targets: readonly Target[], plan: RoundPlan, ownPids: () => number[], cpus: number): Promise<Measurement> {
  const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  const pids = () => [process.pid, ...ownPids()];
  const ownStart = sum(pids().map((pid) => cpuTimeMs(pid) ?? 0));
  const busyStart = machineBusyMs();
  const started = performance.now();

  for (let round = 0; round < plan.rounds; round++) {
    for (const target of targets) {
      const { url, headers, method, body, idReplacement } = target;
      const base = { url, connections: plan.connections, ...(headers ? { headers } : {}), ...(method ? { method } : {}), ...(body !== undefined ? { body } : {}), ...(idReplacement ? { idReplacement } : {}) };
      if (plan.warmupSeconds > 0) await runLoad({ ...base, durationSeconds: plan.warmupSeconds });
      const cpuBefore = cpuTimeMs(target.serverPid) ?? 0;
      const ownBefore = sum(pids().map((pid) => cpuTimeMs(pid) ?? 0));
      const busyBefore = machineBusyMs();
      const runStarted = performance.now();
      const load = await runLoad({ ...base, durationSeconds: plan.seconds });
      const cpuMs = (cpuTimeMs(target.serverPid) ?? 0) - cpuBefore;
      const ownMs = sum(pids().map((pid) => cpuTimeMs(pid) ?? 0)) - ownBefore;
      const othersMs = Math.max(0, machineBusyMs() - busyBefore - ownMs);
      runs.get(target.name)!.push({ load, cpuMs, othersMs, capacityMs: (performance.now() - runStarted) * cpus });
      await plan.afterRun?.();
    }
  }

  const elapsedMs = performance.now() - started;
  const ownMs = sum(pids().map((pid) => cpuTimeMs(pid) ?? 0)) - ownStart;
  const otherMs = Math.max(0, machineBusyMs() - busyStart - ownMs);
  const { afterRun: _, ...shownPlan } = plan;
  return {
    plan: shownPlan,
    targets: targets.map((t) => figures(t.name, runs.get(t.name)!)),
    otherProcessesCpuShare: otherMs / (elapsedMs * cpus),
  };
}

/** One measured run of one target: the load, the server's CPU, and what the rest of the machine used meanwhile. */
interface Run {
  load: LoadResult;
  cpuMs: number;
  othersMs: number;
  /** Wall time × CPUs: all the CPU time there was. */
  capacityMs: number;
}

function figures(name: string, runs: Run[]): TargetFigures {
  const rounds = runs.map(({ load, cpuMs, othersMs, capacityMs }) => ({
    throughput: load.throughput,
    p50Ms: load.latencyMs.p50,
    p99Ms: load.latencyMs.p99,
    serverCpuUsPerRequest: load.responses === 0 ? Number.NaN : (cpuMs * 1000) / load.responses,
    otherProcessesCpuShare: othersMs / capacityMs,
  }));
  const non2xx: Record<string, number> = {};
  for (const { load } of runs) {
    for (const [status, n] of Object.entries(load.statuses)) if (!status.startsWith("2")) non2xx[status] = (non2xx[status] ?? 0) + n;
  }
  return {
    name,
    throughput: median(rounds.map((r) => r.throughput)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    serverCpuUsPerRequest: median(rounds.map((r) => r.serverCpuUsPerRequest)),
    responses: sum(runs.map((r) => r.load.responses)),
    non2xx,
    errors: sum(runs.map((r) => r.load.errors)),
    otherProcessesCpuShare: sum(runs.map((r) => r.othersMs)) / sum(runs.map((r) => r.capacityMs)),
    rounds,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
