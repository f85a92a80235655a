// What the runtime charges for the operations the gateway chose between (docs/performance.md,
// "What was cut"): workerd CPU per operation, from /proc, each op run N times inside one
// request of bench/workers/runtime-costs-worker.js; the ops take turns in rounds, median over
// rounds. Not part of `npm run bench`.
//
//   node bench/runtime-costs.ts [--rounds 5] [--n 20000]
import { parseArgs } from "node:util";
import { machineBusyMs, machineInfo } from "./machine.ts";
import { median } from "./measure.ts";
import { cpuTimeMs } from "./processes.ts";
import { startWorker } from "./workers.ts";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "5" }, n: { type: "string", default: "20000" } } });
const OPS = ["headers-object", "headers-pairs", "stub-by-name", "stub-by-cached-id", "rpc-noop", "rpc-admit-shaped", "rpc-compact-shaped"];
/** RPC round trips cost far more than the rest: fewer of them keep every request short. */
const calls = (op: string) => (op.startsWith("rpc-") ? Math.max(1, Math.floor(Number(args.n) / 4)) : Number(args.n));

const machine = machineInfo();
const worker = await startWorker({
  scriptPath: new URL("./workers/runtime-costs-worker.js", import.meta.url).pathname,
  bindings: {},
  durableObjects: { COSTS: "CostsDO" },
});
try {
  const perOp = new Map<string, number[]>(OPS.map((op) => [op, []]));
  const busyStart = machineBusyMs();
  const started = performance.now();
  let ownMs = 0;
  for (let round = 0; round <= Number(args.rounds); round++) {
    for (const op of OPS) {
      const before = cpuTimeMs(worker.workerdPid) ?? 0;
      const res = await fetch(`${worker.url}/${op}?n=${calls(op)}`);
      if (res.status !== 200) throw new Error(`${op}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      const cpuMs = (cpuTimeMs(worker.workerdPid) ?? 0) - before;
      ownMs += cpuMs;
      // Round 0 warms the JIT and is not counted.
      if (round > 0) perOp.get(op)!.push((cpuMs * 1000) / calls(op));
    }
  }
  const other = Math.max(0, machineBusyMs() - busyStart - ownMs) / ((performance.now() - started) * machine.cpus);
  console.log(`workerd CPU per operation, µs — median of ${args.rounds} rounds (load average ${machine.loadAverage1m.toFixed(2)})`);
  for (const op of OPS) console.log(`${op.padEnd(20)} ${median(perOp.get(op)!).toFixed(2).padStart(8)}   rounds: ${perOp.get(op)!.map((v) => v.toFixed(1)).join(" ")}`);
  console.log(`other processes used about ${(other * 100).toFixed(0)}% of the machine's CPU meanwhile (this run's own Node process included)`);
} finally {
  await worker.stop();
}
