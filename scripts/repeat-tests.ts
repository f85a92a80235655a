// The flakiness check of docs/testing.md: `npm test`, run again and again on a clean clone of
// the committed HEAD, some of the runs with the machine's other cores kept busy, and one line
// per run (passed, failed, seconds, the failing tests). A flaky test is a defect: the goal is
// that every run is green.
//
//   npm run test:repeat -- [--runs 10] [--busy 5] [--keep]      (node scripts/repeat-tests.ts)
//
// The first `runs - busy` runs have the machine to themselves; the last `busy` runs share it
// with busy loops, one per core but one (`node -e 'for(;;){}'`), so every test that waits on
// another process runs late. The clone is made once and `npm ci` runs once; between runs only
// the report (test-results.json) is removed. With --keep the clone is left for inspection.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    busy: { type: "string", default: "5" },
    keep: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const busyRuns = Number(values.busy);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(busyRuns) || busyRuns < 0 || busyRuns > runs) {
  console.error("usage: node scripts/repeat-tests.ts [--runs N ≥ 1] [--busy 0..N] [--keep]");
  process.exit(2);
}

const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
const work = mkdtempSync(join(tmpdir(), "tollgate-repeat-"));
const clone = join(work, "project");
run("git", ["clone", "-q", ROOT, clone], ROOT);
console.log(`repeat-tests: ${runs} runs of npm test on a clean clone of ${head} (${clone}), the last ${busyRuns} with ${busyLoops()} busy loop(s)`);
run("npm", ["ci", "--no-audit", "--no-fund"], clone);

interface Outcome {
  run: number;
  busy: boolean;
  exit: number;
  passed: number;
  failed: number;
  seconds: number;
  failures: string[];
}

const outcomes: Outcome[] = [];
for (let i = 1; i <= runs; i++) {
  const busy = i > runs - busyRuns;
  const loops = busy ? startBusyLoops() : [];
  const started = Date.now();
  rmSync(join(clone, "test-results.json"), { force: true });
  const result = spawnSync("npm", ["test"], { cwd: clone, encoding: "utf8", env: { ...process.env, CI: "true" }, maxBuffer: 256 * 1024 * 1024 });
  for (const loop of loops) loop.kill("SIGKILL");
  const outcome: Outcome = { run: i, busy, exit: result.status ?? 1, seconds: Math.round((Date.now() - started) / 1000), ...report(clone) };
  outcomes.push(outcome);
  const failures = outcome.failures.length > 0 ? `  ${outcome.failures.join(" | ")}` : "";
  console.log(`run ${i}${busy ? " (busy)" : ""}: exit ${outcome.exit}, ${outcome.passed} passed, ${outcome.failed} failed, ${outcome.seconds} s${failures}`);
}

const red = outcomes.filter((o) => o.exit !== 0 || o.failed > 0).length;
console.log(`repeat-tests: ${runs - red}/${runs} runs green (${red} with a failure) on ${head}`);
if (!values.keep) rmSync(work, { recursive: true, force: true });
process.exit(red === 0 ? 0 : 1);

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed in ${cwd}`);
}

/** One loop per core but one: the tests keep a core, and everything else they start competes. */
function busyLoops(): number {
  return Math.max(1, availableParallelism() - 1);
}

function startBusyLoops(): ChildProcess[] {
  return Array.from({ length: busyLoops() }, () => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
}

/** Counts and the names of failed tests, from Vitest's JSON report. */
function report(dir: string): { passed: number; failed: number; failures: string[] } {
  const file = join(dir, "test-results.json");
  if (!existsSync(file)) return { passed: 0, failed: 0, failures: ["no test-results.json (the run stopped before Vitest reported)"] };
  const json = JSON.parse(readFileSync(file, "utf8")) as {
    numPassedTests: number;
    numFailedTests: number;
    testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  const failures = json.testResults.flatMap((file) =>
    file.assertionResults.filter((test) => test.status === "failed").map((test) => `${file.name.replace(`${dir}/`, "")} > ${test.fullName}`),
  );
  return { passed: json.numPassedTests, failed: json.numFailedTests, failures };
}
