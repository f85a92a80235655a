// Turns the measurements into the printed tables, the goal verdicts and the JSON file.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { AdmissionFigures } from "./admission.ts";
import { batchLine, type BatchSizes } from "./batch-sizes.ts";
import type { OpCost } from "./cpu.ts";
import type { Check } from "./exactness.ts";
import type { Measurement, TargetFigures } from "./measure.ts";

/** Issue 6's goals for the authenticated route, against the pass-through Worker. */
export const GOALS = { minThroughputRatio: 0.6, maxAddedP50Ms: 1, maxAddedP99Ms: 5 };

/** Issue 12's goal: a POST carrying an Idempotency-Key costs at most this much more server CPU than one without. */
export const IDEMPOTENCY_MAX_CPU_RATIO = 1.25;

export interface IdempotencyNames {
  /** The same POST without the header, with a new key each time, and with one key over and over. */
  plain: string;
  keyed: string;
  replayed: string;
}

export interface IdempotencyCost {
  load: string;
  plainCpuUs: number;
  keyedCpuUs: number;
  replayedCpuUs: number;
  /** keyed ÷ plain: goal ≤ IDEMPOTENCY_MAX_CPU_RATIO. */
  keyedRatio: number;
  /** replayed ÷ keyed: a replay should cost less than a forwarded request. */
  replayedRatio: number;
  otherProcessesCpuShare: number;
}

export function idempotencyCost(load: string, measurement: Measurement, names: IdempotencyNames): IdempotencyCost {
  const cpu = (name: string) => find(measurement, name).serverCpuUsPerRequest;
  const [plainCpuUs, keyedCpuUs, replayedCpuUs] = [cpu(names.plain), cpu(names.keyed), cpu(names.replayed)];
  return { load, plainCpuUs, keyedCpuUs, replayedCpuUs, keyedRatio: keyedCpuUs / plainCpuUs, replayedRatio: replayedCpuUs / keyedCpuUs, otherProcessesCpuShare: measurement.otherProcessesCpuShare };
}

export function idempotencyLines(costs: readonly IdempotencyCost[]): string {
  const lines = ["Idempotency-Key on the same route (server CPU per request, medians over rounds):"];
  for (const c of costs) {
    lines.push(
      `  ${c.load}: POST ${c.plainCpuUs.toFixed(0)} µs; with a new key ${c.keyedCpuUs.toFixed(0)} µs = ${signedPercent(c.keyedRatio)} ` +
        `(goal ≤ +${((IDEMPOTENCY_MAX_CPU_RATIO - 1) * 100).toFixed(0)} %) ${mark(c.keyedRatio <= IDEMPOTENCY_MAX_CPU_RATIO)}; ` +
        `a replay ${c.replayedCpuUs.toFixed(0)} µs = ${c.replayedRatio.toFixed(2)}× a forwarded keyed POST (goal < 1) ${mark(c.replayedRatio < 1)}; ` +
        `other processes ${(c.otherProcessesCpuShare * 100).toFixed(0)} %`,
    );
  }
  return lines.join("\n");
}

function signedPercent(ratio: number): string {
  const percent = (ratio - 1) * 100;
  return `${percent >= 0 ? "+" : ""}${percent.toFixed(0)} %`;
}

/** Above this share of CPU taken by other processes, figures under load are not representative. */
const BUSY_MACHINE_SHARE = 0.15;

export interface Comparison {
  name: string;
  throughputRatio: number;
  addedP50Ms: number;
  addedP99Ms: number;
}

export interface GoalVerdict {
  load: string;
  throughputRatio: { value: number; goal: number; met: boolean };
  addedP50Ms: { value: number; goal: number; met: boolean };
  addedP99Ms: { value: number; goal: number; met: boolean };
}

export function compare(measurement: Measurement, baselineName: string): Comparison[] {
  const baseline = find(measurement, baselineName);
  return measurement.targets.map((t) => ({
    name: t.name,
    throughputRatio: t.throughput / baseline.throughput,
    addedP50Ms: t.p50Ms - baseline.p50Ms,
    addedP99Ms: t.p99Ms - baseline.p99Ms,
  }));
}

export function verdict(load: string, comparisons: readonly Comparison[], targetName: string): GoalVerdict {
  const c = comparisons.find((x) => x.name === targetName);
  if (c === undefined) throw new Error(`no figures for ${targetName}`);
  return {
    load,
    throughputRatio: { value: c.throughputRatio, goal: GOALS.minThroughputRatio, met: c.throughputRatio >= GOALS.minThroughputRatio },
    addedP50Ms: { value: c.addedP50Ms, goal: GOALS.maxAddedP50Ms, met: c.addedP50Ms <= GOALS.maxAddedP50Ms },
    addedP99Ms: { value: c.addedP99Ms, goal: GOALS.maxAddedP99Ms, met: c.addedP99Ms <= GOALS.maxAddedP99Ms },
  };
}

export function loadTable(title: string, measurement: Measurement, comparisons: readonly Comparison[]): string {
  const rows = measurement.targets.map((t, i) => {
    const c = comparisons[i]!;
    return [
      t.name,
      t.throughput.toFixed(0),
      t.p50Ms.toFixed(2),
      t.p99Ms.toFixed(2),
      `${c.throughputRatio.toFixed(2)}×`,
      signed(c.addedP50Ms),
      signed(c.addedP99Ms),
      Number.isFinite(t.serverCpuUsPerRequest) ? t.serverCpuUsPerRequest.toFixed(0) : "-",
      percent(t.otherProcessesCpuShare),
      nonSuccess(t),
    ];
  });
  const { connections, seconds, rounds } = measurement.plan;
  return [
    `${title} — ${connections} connection${connections === 1 ? "" : "s"}, ${rounds} rounds × ${seconds} s each, medians over rounds`,
    table(["target", "req/s", "p50 ms", "p99 ms", "vs pass-through", "+p50 ms", "+p99 ms", "server CPU µs/req", "others' CPU", "non-2xx / errors"], rows),
    `other processes used ${(measurement.otherProcessesCpuShare * 100).toFixed(0)}% of the machine's CPU meanwhile` +
      (measurement.otherProcessesCpuShare > BUSY_MACHINE_SHARE ? " — the machine was busy: these figures understate what it can do" : ""),
  ].join("\n");
}

export function goalLines(verdicts: readonly GoalVerdict[], targetName: string): string {
  const lines = [`Goals for "${targetName}" against the pass-through Worker:`];
  for (const v of verdicts) {
    lines.push(
      `  ${v.load}: throughput ${v.throughputRatio.value.toFixed(2)}× (goal ≥ ${v.throughputRatio.goal}) ${mark(v.throughputRatio.met)}; ` +
        `+p50 ${v.addedP50Ms.value.toFixed(2)} ms (goal ≤ ${v.addedP50Ms.goal}) ${mark(v.addedP50Ms.met)}; ` +
        `+p99 ${v.addedP99Ms.value.toFixed(2)} ms (goal ≤ ${v.addedP99Ms.goal}) ${mark(v.addedP99Ms.met)}`,
    );
  }
  return lines.join("\n");
}

export function checkLines(checks: readonly Check[]): string {
  return ["Exactness under concurrency:", ...checks.map((c) => `  ${c.pass ? "PASS" : "FAIL"} ${c.name}\n       ${c.detail}`)].join("\n");
}

export function cpuTable(costs: readonly OpCost[]): string {
  const rows = costs.map((c) => [c.name, c.when, c.nsPerOp < 10_000 ? c.nsPerOp.toFixed(0) : `${(c.nsPerOp / 1000).toFixed(1)} µs`]);
  return ["Pure parts of the request path on Node (ns per call):", table(["operation", "when", "ns/op"], rows)].join("\n");
}

export function admissionTable(figures: AdmissionFigures): string {
  const { plan } = figures;
  const rows = figures.ops.map((o, i) => {
    const c = i === 0 ? null : figures.comparison[i - 1]!;
    const times = (ratio: number | undefined) => (ratio === undefined ? "1.00×" : `${ratio.toFixed(2)}×`);
    const failures = Object.entries(o.failures).map(([outcome, n]) => `${n}×${outcome}`);
    return [
      o.name,
      o.callsPerSecond.toFixed(0),
      times(c?.throughputRatio),
      o.sequentialCallsPerSecond.toFixed(0),
      `${(o.callsPerSecond / o.sequentialCallsPerSecond).toFixed(2)}×`,
      o.latencyP50Us.toFixed(1),
      o.latencyP99Us.toFixed(1),
      times(c?.latencyP50Ratio),
      o.workerdCpuUsPerCall.toFixed(1),
      times(c?.cpuRatio),
      failures.length === 0 ? "0" : failures.join(" "),
    ];
  });
  const batches = plan.rounds * plan.latencyBatches;
  return [
    `The admission call against a no-op RPC on the same object — ${plan.rounds} rounds; calls/s: ${plan.throughputCalls} calls over ${plan.parallel} parallel chains, median over rounds; ` +
      `latency: ${plan.latencyCalls} sequential calls per batch, p50/p99 over ${batches} batches`,
    table(["op", "calls/s", "vs no-op", "1 chain calls/s", "parallel ÷ 1 chain", "µs/call p50", "p99", "vs no-op", "workerd CPU µs/call", "vs no-op", "failures"], rows),
    // Commits that held only refusals count no admissions, so the refused op has no line.
    ...figures.ops.slice(1).filter((o) => o.batches.commits > 0).map((o) => batchLine(`group commits, ${o.name}, ${plan.parallel} chains`, o.batches)),
    `limits: per_minute and per_day ${figures.plans.limits.per_minute.toLocaleString("en-US")}; day only: per_day alone (no minute log); credit: 1 credit per call; refused: 1 credit per call on a balance of 0. ` +
      `Each batch's time is less the HTTP round trip of a request that makes no call (${figures.httpRoundTripUs.toFixed(0)} µs).`,
    `other processes used ${(figures.otherProcessesCpuShare * 100).toFixed(0)}% of the machine's CPU meanwhile` +
      (figures.otherProcessesCpuShare > BUSY_MACHINE_SHARE ? " — the machine was busy: these figures understate what it can do" : ""),
  ].join("\n");
}

export interface SummaryInput {
  at: string;
  saturated: Measurement;
  comparison: readonly Comparison[];
  names: { passThrough: string; public: string; keyed: string; credit: string };
  httpBatches: BatchSizes;
  admission: AdmissionFigures | null;
}

/**
 * The headline figures as flat numbers (bench/results/summary.json), so a script can compare
 * runs. Ratios are throughput against the pass-through Worker, 10 connections, same run;
 * admission figures are `admit: limits` from bench/admission.ts (null with --skip-admission).
 */
export function summary(input: SummaryInput): Record<string, string | number | null> {
  const ratio = (name: string) => input.comparison.find((c) => c.name === name)?.throughputRatio ?? Number.NaN;
  const target = (name: string) => find(input.saturated, name);
  const admit = input.admission?.ops.find((o) => o.name.startsWith("admit: limits (")) ?? null;
  const admitCredit = input.admission?.ops.find((o) => o.name.startsWith("admit: limits + 1 credit")) ?? null;
  return {
    at: input.at,
    keyed_ratio: ratio(input.names.keyed),
    credit_ratio: ratio(input.names.credit),
    public_ratio: ratio(input.names.public),
    pass_through_per_s: target(input.names.passThrough).throughput,
    keyed_per_s: target(input.names.keyed).throughput,
    keyed_cpu_us_per_request: target(input.names.keyed).serverCpuUsPerRequest,
    pass_through_cpu_us_per_request: target(input.names.passThrough).serverCpuUsPerRequest,
    load_other_processes_cpu_share: input.saturated.otherProcessesCpuShare,
    http_batch_median: input.httpBatches.median,
    http_batch_p99: input.httpBatches.p99,
    http_batch_max: input.httpBatches.max,
    admission_parallel_per_s: admit?.callsPerSecond ?? null,
    admission_sequential_per_s: admit?.sequentialCallsPerSecond ?? null,
    admission_parallel_over_sequential: admit === null ? null : admit.callsPerSecond / admit.sequentialCallsPerSecond,
    admission_sequential_p50_us: admit?.latencyP50Us ?? null,
    admission_credit_parallel_per_s: admitCredit?.callsPerSecond ?? null,
    admission_batch_median: admit?.batches.median ?? null,
    admission_batch_p99: admit?.batches.p99 ?? null,
    admission_batch_max: admit?.batches.max ?? null,
    admission_other_processes_cpu_share: input.admission?.otherProcessesCpuShare ?? null,
  };
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function find(measurement: Measurement, name: string): TargetFigures {
  const found = measurement.targets.find((t) => t.name === name);
  if (found === undefined) throw new Error(`no figures for ${name}`);
  return found;
}

function nonSuccess(t: TargetFigures): string {
  const parts = Object.entries(t.non2xx).map(([status, n]) => `${n}×${status}`);
  if (t.errors > 0) parts.push(`${t.errors} errors`);
  return parts.length === 0 ? "0" : parts.join(" ");
}

/** A share of the machine's CPU, as the tables print it. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(0)}%`;
}

function signed(ms: number): string {
  return `${ms >= 0 ? "+" : ""}${ms.toFixed(2)}`;
}

function mark(met: boolean): string {
  return met ? "met" : "MISSED";
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
