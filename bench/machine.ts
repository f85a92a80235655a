// What the figures were measured on, and how busy the rest of the machine was meanwhile
// (this is a shared box: other processes' CPU is reported, never hidden).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, loadavg } from "node:os";

export interface MachineInfo {
  cpus: number;
  model: string;
  node: string;
  /** The workerd that Miniflare runs, and Miniflare itself. */
  workerd: string;
  miniflare: string;
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
  return {
    cpus: availableParallelism(),
    model,
    node: process.version,
    workerd: packageVersion("workerd"),
    miniflare: packageVersion("miniflare"),
    loadAverage1m: loadavg()[0] ?? 0,
  };
}

/** The version of a dependency as Miniflare resolves it. */
function packageVersion(name: string): string {
  try {
    const fromMiniflare = createRequire(createRequire(import.meta.url).resolve("miniflare"));
    return (fromMiniflare(`${name}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** CPU time all processes on the machine have used since boot, in milliseconds. */
export function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // cpu  user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = [user, nice, system, irq, softirq, steal].reduce<number>((sum, v) => sum + (v ?? 0), 0);
  return (ticks * 1000) / 100; // USER_HZ, see processes.ts
}
