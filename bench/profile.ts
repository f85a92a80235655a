// Where a request's workerd CPU goes, part by part: the pass-through Worker, the gateway's
// public route, its key-protected route and the same with a credit, each under the same load
// as `npm run bench` (10 connections), profiled one after the other.
//
// Two profilers, because each sees what the other cannot:
// - Linux `perf` samples the whole workerd process — V8's JavaScript (named through V8's perf
//   map), the runtime's C++, SQLite, the kernel — so the parts add up to the CPU `/proc`
//   reports. The split is bench/profile-parts.ts.
// - With --cdp, the Chrome DevTools protocol (Miniflare's `inspectorPort`, Profiler.start /
//   Profiler.stop over its WebSocket) profiles the isolate's JavaScript on the key-protected
//   route and writes a .cpuprofile that Chrome's DevTools open. It sees only JavaScript and
//   the runtime APIs JavaScript calls; everything else is "(program)", and an attached
//   inspector slows the Worker, so its figures are shares, not costs.
//
//   node bench/profile.ts [--seconds 6] [--connections 10] [--frequency 1999] [--cdp]
//                         [--top N]  the N largest frames no part claimed, per target
//                         [--explain "part"]  the frames that charged samples to a part
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, accountWithKey } from "../test/support/gateway.ts";
import { bundleGateway } from "./bundle.ts";
import { profileJavaScript } from "./cdp-profile.ts";
import { startBenchGateway, startPassThrough } from "./gateway.ts";
import { machineBusyMs, machineInfo } from "./machine.ts";
import { startOriginProcess } from "./origin.ts";
import { cpuTimeMs } from "./processes.ts";
import { GATEWAY_SCRIPT, PARTS, UNNAMED, claim, parseSamples, split, type Sample } from "./profile-parts.ts";
import { runLoad } from "./load.ts";
import { writeJson } from "./report.ts";
import type { RunningWorker } from "./workers.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "6" },
    connections: { type: "string", default: "10" },
    frequency: { type: "string", default: "1999" },
    cdp: { type: "boolean", default: false },
    top: { type: "string", default: "0" },
    explain: { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const ORIGIN_ANSWER = `status/200?body=${encodeURIComponent('{"ok":true}')}`;

interface ProfiledTarget {
  name: string;
  requestsPerSecond: number;
  cpuUsPerRequest: number;
  /** Share of the profile's samples per part. */
  shares: Record<string, number>;
  samples: number;
  /** Frames that charged nothing but their callers: the largest, for finding a missed part. */
  topFrames?: { frame: string; share: number }[];
  /** With --explain: the frames that charged samples to that part. */
  explained?: { frame: string; share: number }[];
}

if (spawnSync("perf", ["--version"]).status !== 0) {
  console.error("bench/profile.ts needs Linux perf (apt-get install linux-perf); --cdp alone needs only workerd.");
  process.exit(1);
}
// V8 writes /tmp/perf-<pid>.map so perf can name JavaScript frames; interpreted functions get
// their own frames too. Read when Miniflare starts workerd.
process.env.MINIFLARE_WORKERD_V8_FLAGS = "--perf-basic-prof --interpreted-frames-native-stack";

const machine = machineInfo();
console.log(`Profile — ${machine.cpus} CPUs, workerd ${machine.workerd}, load average ${machine.loadAverage1m.toFixed(2)}, ${CONNECTIONS} connections, ${SECONDS} s per target`);

const bundle = await bundleGateway();
// Served under its own name, so its functions are told apart from Miniflare's Workers.
const scriptPath = join(dirname(bundle.scriptPath), GATEWAY_SCRIPT);
copyFileSync(bundle.scriptPath, scriptPath);
const origin = await startOriginProcess();
const passThrough = await startPassThrough(origin.url);
const gateway = await startBenchGateway({ ...bundle, scriptPath }, origin.url);
/** workerd processes of this run: V8 wrote a /tmp/perf-<pid>.map for each. */
const workerdPids = [passThrough.workerdPid, gateway.workerdPid];
const profiled: ProfiledTarget[] = [];
const busyStart = machineBusyMs();
const started = performance.now();
let ownCpuMs = 0;
try {
  const key = await accountWithKey(gateway, { id: "profile", plan: "bench", credits: 1_000_000_000_000 });
  const auth = { Authorization: `Bearer ${key}` };
  const targets = [
    { name: "pass-through Worker", worker: passThrough, url: `${passThrough.url}/v1/orders/${ORIGIN_ANSWER}`, headers: {} },
    { name: "gateway: public route", worker: gateway, url: `${gateway.url}/v1/public/${ORIGIN_ANSWER}`, headers: {} },
    { name: "gateway: key + limits", worker: gateway, url: `${gateway.url}/v1/orders/${ORIGIN_ANSWER}`, headers: auth },
    { name: "gateway: key + limits + credit", worker: gateway, url: `${gateway.url}/v1/credit/${ORIGIN_ANSWER}`, headers: auth },
  ];
  for (const target of targets) {
    const result = await profileTarget(target.name, target.worker, target.url, target.headers);
    ownCpuMs += result.ownCpuMs;
    profiled.push(result.figures);
    await origin.forget();
  }
  const otherShare = Math.max(0, machineBusyMs() - busyStart - ownCpuMs) / ((performance.now() - started) * machine.cpus);

  console.log();
  console.log(partsTable(profiled));
  console.log(`other processes used about ${(otherShare * 100).toFixed(0)}% of the machine's CPU meanwhile (perf itself included)`);
  for (const t of profiled) {
    for (const f of t.topFrames ?? []) console.log(`  ${t.name}: unnamed ${(f.share * 100).toFixed(1)}% ${f.frame}`);
    for (const f of t.explained ?? []) console.log(`  ${t.name}: "${args.explain}" ${(f.share * 100).toFixed(1)}% ${f.frame}`);
  }

  let javascript = null;
  if (args.cdp) {
    await gateway.stop();
    const inspected = await startBenchGateway({ ...bundle, scriptPath }, origin.url, { inspector: true });
    workerdPids.push(inspected.workerdPid);
    try {
      const cdpKey = await accountWithKey(inspected, { id: "profile", plan: "bench", credits: 1_000_000_000_000 });
      const profilePath = join(ROOT, "bench/results/keyed.cpuprofile");
      javascript = await profileJavaScript(inspected, `${inspected.url}/v1/orders/${ORIGIN_ANSWER}`, { Authorization: `Bearer ${cdpKey}` }, { seconds: SECONDS, connections: CONNECTIONS, profilePath, script: GATEWAY_SCRIPT });
      console.log();
      console.log(javascript.table);
      console.log(`Wrote ${profilePath} (open it in Chrome DevTools → Performance)`);
    } finally {
      await inspected.stop();
    }
  }
  const path = join(ROOT, "bench/results/profile.json");
  writeJson(path, { at: new Date().toISOString(), machine, seconds: SECONDS, connections: CONNECTIONS, otherProcessesCpuShare: otherShare, targets: profiled, javascript: javascript?.functions ?? null });
  console.log(`\nWrote ${path}`);
} finally {
  await gateway.stop().catch(() => {});
  await passThrough.stop();
  await origin.stop();
  for (const pid of workerdPids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

async function profileTarget(name: string, worker: RunningWorker, url: string, headers: Record<string, string>): Promise<{ figures: ProfiledTarget; ownCpuMs: number }> {
  await runLoad({ url, headers, connections: CONNECTIONS, durationSeconds: 2 });
  const dataPath = join(tmpdir(), `tollgate-profile-${worker.workerdPid}-${Date.now()}.data`);
  const perf = spawn("perf", ["record", "--quiet", "-F", args.frequency, "-g", "-p", String(worker.workerdPid), "-o", dataPath], { stdio: "ignore" });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const cpuBefore = cpuTimeMs(worker.workerdPid) ?? 0;
  const load = await runLoad({ url, headers, connections: CONNECTIONS, durationSeconds: SECONDS });
  const cpuMs = (cpuTimeMs(worker.workerdPid) ?? 0) - cpuBefore;
  perf.kill("SIGINT");
  await new Promise((resolve) => perf.once("exit", resolve));
  const script = spawnSync("perf", ["script", "-i", dataPath, "-F", "period,ip,sym"], { maxBuffer: 1 << 30, encoding: "utf8" });
  rmSync(dataPath, { force: true });
  const samples = parseSamples(script.stdout);
  const failed = Object.entries(load.statuses).filter(([status]) => !status.startsWith("2"));
  if (failed.length > 0 || load.errors > 0) throw new Error(`${name}: non-2xx ${JSON.stringify(failed)}, errors ${load.errors}`);
  const top = Number(args.top);
  return {
    ownCpuMs: cpuMs,
    figures: {
      name,
      requestsPerSecond: load.throughput,
      cpuUsPerRequest: (cpuMs * 1000) / load.responses,
      shares: Object.fromEntries(split(samples)),
      samples: samples.length,
      ...(top > 0 ? { topFrames: unnamedLeaves(samples, top) } : {}),
      ...(args.explain !== undefined ? { explained: deciding(samples, args.explain) } : {}),
    },
  };
}

/** The frames that decided samples for the part whose name starts with `part`. */
function deciding(samples: readonly Sample[], part: string): { frame: string; share: number }[] {
  const counts = new Map<string, number>();
  for (const s of samples) {
    const { part: name, frame } = claim(s);
    if (frame !== null && name.startsWith(part)) counts.set(frame, (counts.get(frame) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([frame, n]) => ({ frame: frame.slice(0, 160), share: n / samples.length }));
}

/** The innermost frames of samples no part claimed: what to name next. */
function unnamedLeaves(samples: readonly Sample[], top: number): { frame: string; share: number }[] {
  const counts = new Map<string, number>();
  const unnamed = samples.filter((s) => split([s]).has(UNNAMED));
  for (const s of unnamed) {
    const frame = s.frames.find((f) => !/^(tcmalloc|__mem|kj::_::|\[unknown\]|Builtins_)/.test(f)) ?? s.frames[0] ?? "?";
    counts.set(frame, (counts.get(frame) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top).map(([frame, n]) => ({ frame: frame.slice(0, 140), share: n / samples.length }));
}

function partsTable(targets: readonly ProfiledTarget[]): string {
  const names = [...PARTS.map((p) => p.name), UNNAMED];
  const base = targets[0]!;
  const header = ["part (µs of workerd CPU per request)", ...targets.map((t) => t.name.replace("gateway: ", "")), "key − pass-through"];
  const keyed = targets.find((t) => t.name === "gateway: key + limits") ?? base;
  const us = (t: ProfiledTarget, part: string) => (t.shares[part] ?? 0) * t.cpuUsPerRequest;
  const rows = names
    .filter((n) => targets.some((t) => (t.shares[n] ?? 0) >= 0.002))
    .map((n) => [n, ...targets.map((t) => us(t, n).toFixed(0)), signed(us(keyed, n) - us(base, n))]);
  rows.push(["total (/proc)", ...targets.map((t) => t.cpuUsPerRequest.toFixed(0)), signed(keyed.cpuUsPerRequest - base.cpuUsPerRequest)]);
  rows.push(["req/s while profiled", ...targets.map((t) => t.requestsPerSecond.toFixed(0)), ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : ""}${value.toFixed(0)}`;
}
