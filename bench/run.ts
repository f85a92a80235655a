// `npm run bench`: the bare origin, a pass-through Worker and the gateway's routes, measured
// in one run on 127.0.0.1; then exactness under concurrency, CPU cost, bundle size, and the
// admission call against a no-op RPC on one account's Durable Object (bench/admission.ts), and
// several upstreams: a second origin, and a dead one behind an open breaker (bench/upstreams.ts).
// Prints the tables and writes every figure to bench/results/latest.json, and the headline
// figures to bench/results/summary.json (flat numbers, for a script comparing runs).
//
//   node bench/run.ts [--rounds 3] [--seconds 4] [--connections 10] [--clients 200] [--skip-admission] [--skip-upstreams]
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, accountWithKey } from "../test/support/gateway.ts";
import { closedPort } from "../test/support/ports.ts";
import { DEFAULT_ADMISSION_PLAN, admissionFailures, measureAdmission } from "./admission.ts";
import { bundleGateway } from "./bundle.ts";
import { measurePipelineCpu } from "./cpu.ts";
import { checkExactness } from "./exactness.ts";
import { batchLine, batchesBetween, summarizeBatches } from "./batch-sizes.ts";
import { groupCommitStats, startBenchGateway, startPassThrough } from "./gateway.ts";
import { machineInfo } from "./machine.ts";
import { measureInRounds, type Target } from "./measure.ts";
import { startOriginProcess } from "./origin.ts";
import { admissionTable, checkLines, compare, cpuTable, goalLines, idempotencyCost, idempotencyLines, kib, loadTable, summary, verdict, writeJson } from "./report.ts";
import { DEAD_KEYED, DEAD_PUBLIC, SECOND_KEYED, SECOND_PUBLIC, measureUpstreams, upstreamsTable } from "./upstreams.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "4" },
    connections: { type: "string", default: "10" },
    clients: { type: "string", default: "200" },
    "skip-admission": { type: "boolean", default: false },
    "skip-upstreams": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const CLIENTS = Number(args.clients);

const PASS_THROUGH = "pass-through Worker";
const PUBLIC = "gateway: public route";
const AUTHENTICATED = "gateway: key + limits";
const CREDIT = "gateway: key + limits + credit";
/** The same route, POST (issue 12): without the header, with a new Idempotency-Key each time, with one key over and over. */
const POSTED = "gateway: key + limits, POST";
const KEYED = "gateway: POST + Idempotency-Key, new";
const REPLAYED = "gateway: POST + Idempotency-Key, replayed";
const IDEMPOTENCY = { plain: POSTED, keyed: KEYED, replayed: REPLAYED };
/** A small JSON body, as an order or a prompt would be. */
const POST_BODY = JSON.stringify({ item: "lamp", quantity: 1, note: "x".repeat(64) });
/** The account every key-protected target of the load runs on. */
const LOAD_ACCOUNT = "load";
/** The same small origin answer for every target. */
const ORIGIN_ANSWER = `status/200?body=${encodeURIComponent('{"ok":true}')}`;

const machine = machineInfo();
console.log(
  `Tollgate benchmark — ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}, workerd ${machine.workerd} (Miniflare ${machine.miniflare}), load average ${machine.loadAverage1m.toFixed(2)}`,
);
const started = Date.now();

const bundle = await bundleGateway();
const origin = await startOriginProcess();
// SPEC 12: a second origin, and a port where nothing answers (held, so nothing else can take it).
const secondOrigin = await startOriginProcess();
const nowhere = await closedPort();
const passThrough = await startPassThrough(origin.url);
const gateway = await startBenchGateway(bundle, origin.url, { upstreams: { second: secondOrigin.url, dead: `http://127.0.0.1:${nowhere.port}` } });
try {
  const key = await accountWithKey(gateway, { id: LOAD_ACCOUNT, plan: "bench", credits: 1_000_000_000_000 });
  const auth = { Authorization: `Bearer ${key}` };
  const targets: Target[] = [
    { name: "origin (bare Node)", url: `${origin.url}/v1/orders/${ORIGIN_ANSWER}`, serverPid: origin.pid },
    { name: PASS_THROUGH, url: `${passThrough.url}/v1/orders/${ORIGIN_ANSWER}`, serverPid: passThrough.workerdPid },
    { name: PUBLIC, url: `${gateway.url}/v1/public/${ORIGIN_ANSWER}`, serverPid: gateway.workerdPid },
    { name: AUTHENTICATED, url: `${gateway.url}/v1/orders/${ORIGIN_ANSWER}`, headers: auth, serverPid: gateway.workerdPid },
    { name: CREDIT, url: `${gateway.url}/v1/credit/${ORIGIN_ANSWER}`, headers: auth, serverPid: gateway.workerdPid },
    ...(
      [
        { name: POSTED, headers: {} },
        // autocannon puts a fresh id in place of [<id>] in every request.
        { name: KEYED, headers: { "Idempotency-Key": "bench-[<id>]" }, idReplacement: true },
        { name: REPLAYED, headers: { "Idempotency-Key": `bench-replayed-${started}` } },
      ] as { name: string; headers: Record<string, string>; idReplacement?: boolean }[]
    ).map(({ headers, ...target }) => ({
      ...target,
      url: `${gateway.url}/v1/orders/${ORIGIN_ANSWER}`,
      method: "POST",
      body: POST_BODY,
      headers: { ...auth, "Content-Type": "application/json", ...headers },
      serverPid: gateway.workerdPid,
    })),
  ];
  const ownPids = () => [origin.pid, secondOrigin.pid, passThrough.workerdPid, gateway.workerdPid];
  const afterRun = () => origin.forget();

  const commitsBefore = await groupCommitStats(gateway, LOAD_ACCOUNT);
  const saturated = await measureInRounds(targets, { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, warmupSeconds: 1, afterRun }, ownPids, machine.cpus);
  // The group commits of every key-protected target under load (warm-ups included).
  const httpBatches = summarizeBatches(batchesBetween(commitsBefore.sizes, (await groupCommitStats(gateway, LOAD_ACCOUNT)).sizes));
  const unloaded = await measureInRounds(targets, { connections: 1, seconds: 2, rounds: 2, warmupSeconds: 0.5, afterRun }, ownPids, machine.cpus);
  const saturatedComparison = compare(saturated, PASS_THROUGH);
  const unloadedComparison = compare(unloaded, PASS_THROUGH);
  const verdicts = [
    verdict(`under load (${CONNECTIONS} connections)`, saturatedComparison, AUTHENTICATED),
    verdict("one client at a time (1 connection)", unloadedComparison, AUTHENTICATED),
  ];
  const idempotency = [
    idempotencyCost(`under load (${CONNECTIONS} connections)`, saturated, IDEMPOTENCY),
    idempotencyCost("one client at a time (1 connection)", unloaded, IDEMPOTENCY),
  ];

  const upstreams = args["skip-upstreams"]
    ? null
    : await measureUpstreams(gateway, auth, ORIGIN_ANSWER, { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, warmupSeconds: 1, afterRun: async () => void (await Promise.all([origin.forget(), secondOrigin.forget()])) }, ownPids, machine.cpus);
  const checks = await checkExactness(gateway.url, origin, CLIENTS);
  const cpu = await measurePipelineCpu();
  // Its own workerd; the Workers above stay up but idle meanwhile.
  const admission = args["skip-admission"] ? null : await measureAdmission(DEFAULT_ADMISSION_PLAN, machine.cpus);

  console.log();
  console.log(loadTable("Throughput and latency under load", saturated, saturatedComparison));
  console.log();
  console.log(loadTable("Latency, one client at a time", unloaded, unloadedComparison));
  console.log();
  console.log(goalLines(verdicts, AUTHENTICATED));
  console.log(batchLine(`Group commits of the key-protected routes under load (${CONNECTIONS} connections)`, httpBatches));
  if (upstreams !== null) {
    console.log();
    console.log(upstreamsTable(upstreams));
  }
  console.log();
  console.log(idempotencyLines(idempotency));
  console.log();
  console.log(checkLines(checks));
  console.log();
  console.log(cpuTable(cpu));
  console.log();
  console.log(`Deployable bundle (wrangler deploy --dry-run): ${kib(bundle.rawBytes)} raw, ${kib(bundle.gzipBytes)} gzip`);
  if (admission !== null) {
    console.log();
    console.log(admissionTable(admission));
  }

  const resultsPath = join(ROOT, "bench/results/latest.json");
  writeJson(resultsPath, {
    at: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine,
    saturated: { ...saturated, comparison: saturatedComparison },
    unloaded: { ...unloaded, comparison: unloadedComparison },
    goals: verdicts,
    idempotency,
    exactness: checks,
    pipelineCpu: cpu,
    bundle: { rawBytes: bundle.rawBytes, gzipBytes: bundle.gzipBytes },
    groupCommitUnderLoad: httpBatches,
    admission,
    upstreams,
  });
  const summaryPath = join(ROOT, "bench/results/summary.json");
  const ratioOf = (name: string) => upstreams?.claims.find((c) => c.name === name)?.ratio ?? null;
  const [underLoad] = idempotency;
  writeJson(summaryPath, {
    ...summary({ at: new Date(started).toISOString(), saturated, comparison: saturatedComparison, names: { passThrough: PASS_THROUGH, public: PUBLIC, keyed: AUTHENTICATED, credit: CREDIT }, httpBatches, admission }),
    idempotency_key_cpu_ratio: underLoad!.keyedRatio,
    idempotency_replay_cpu_ratio: underLoad!.replayedRatio,
    // workerd CPU per response against the same kind of route to the default upstream.
    second_upstream_public_cpu_ratio: ratioOf(SECOND_PUBLIC),
    second_upstream_keyed_cpu_ratio: ratioOf(SECOND_KEYED),
    breaker_open_public_cpu_ratio: ratioOf(DEAD_PUBLIC),
    breaker_open_keyed_cpu_ratio: ratioOf(DEAD_KEYED),
    upstreams_other_processes_cpu_share: upstreams?.measurement.otherProcessesCpuShare ?? null,
  });
  console.log(`\nWrote ${resultsPath} and ${summaryPath} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  if (checks.some((c) => !c.pass) || (admission !== null && admissionFailures(admission) > 0)) process.exitCode = 1;
} finally {
  await gateway.stop();
  await passThrough.stop();
  await origin.stop();
  await secondOrigin.stop();
  await nowhere.release();
}
