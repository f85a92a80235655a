// `npm test` runs Vitest through this: its output passes through as it comes, and the run
// fails when the log holds a line a green run must not (scripts/log-gate.ts) — workerd
// reporting an exception — even if every test passed. Vitest cannot see
// those lines: workerd writes them through the pool's own output, often after the test that
// caused them has finished.
//
//   node scripts/test.ts [vitest run arguments…]
//
// The failure is also recorded in Vitest's JSON report (test-results.json, which .ci/run
// counts) as one failed test, "a green run's log is clean", listing the lines.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { forbiddenLine, LineSplitter } from "./log-gate.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const VITEST = join(ROOT, "node_modules/vitest/vitest.mjs");
/** Where vitest.config.ts has the JSON reporter write. */
const REPORT = join(ROOT, "test-results.json");
const CHECK_NAME = "a green run's log is clean";
const SHOWN_LINES = 30;

interface Offence {
  line: string;
  what: string;
}

const startedAt = Date.now();
const offences: Offence[] = [];

// The project's Node and tools first on PATH, as inside npm scripts (wrangler needs Node 22);
// colours as on a terminal when there is one (the pipe would turn them off).
const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}` };
if (process.stdout.isTTY && process.env.NO_COLOR === undefined) env.FORCE_COLOR = "1";
const child = spawn(process.execPath, [VITEST, "run", ...process.argv.slice(2)], { cwd: process.cwd(), env, stdio: ["inherit", "pipe", "pipe"] });
// Ctrl-C reaches Vitest from the terminal itself; a SIGTERM meant for this process is passed on.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => child.kill("SIGTERM"));

const streams = [relay(child.stdout, process.stdout), relay(child.stderr, process.stderr)];
const code = await new Promise<number>((resolve) => child.once("close", (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128))));
await Promise.all(streams);

if (offences.length > 0) {
  const shown = offences.slice(0, SHOWN_LINES).map((offence) => `  ${offence.line.trim()}`);
  const more = offences.length > SHOWN_LINES ? [`  … and ${offences.length - SHOWN_LINES} more`] : [];
  process.stderr.write(
    [
      "",
      `✘ ${CHECK_NAME}: no — the log holds ${offences.length} line(s) a green run must not:`,
      ...shown,
      ...more,
      "workerd logs these for a fault of the gateway (a rejected waitUntil or call, a throwing handler)",
      "and for any failure a test provokes inside workerd (such tests belong in test/e2e); see",
      "scripts/log-gate.ts. Run the worker test files one at a time to find the cause, and fix it.",
      "",
    ].join("\n"),
  );
  recordInReport(offences);
  process.exit(code === 0 ? 1 : code);
}
process.exit(code);

/** Passes `from` to `to` chunk by chunk and collects the forbidden lines; settles at its end. */
function relay(from: Readable, to: Writable): Promise<void> {
  const lines = new LineSplitter();
  const check = (line: string) => {
    const what = forbiddenLine(line);
    if (what !== null) offences.push({ line, what });
  };
  from.on("data", (chunk: Buffer) => {
    to.write(chunk);
    for (const line of lines.push(chunk.toString("utf8"))) check(line);
  });
  return new Promise((resolve) =>
    from.once("end", () => {
      for (const line of lines.end()) check(line);
      resolve();
    }),
  );
}

/** Adds the failed check to this run's JSON report, so whoever counts results counts it. */
function recordInReport(found: readonly Offence[]): void {
  // A report older than this run (another reporter was chosen) is not this run's to change.
  if (!existsSync(REPORT) || statSync(REPORT).mtimeMs < startedAt) return;
  const report = JSON.parse(readFileSync(REPORT, "utf8")) as Record<string, any>;
  const messages = found.map((offence) => `${offence.what}: ${offence.line.trim()}`);
  report.numTotalTests = (report.numTotalTests ?? 0) + 1;
  report.numFailedTests = (report.numFailedTests ?? 0) + 1;
  report.numTotalTestSuites = (report.numTotalTestSuites ?? 0) + 1;
  report.numFailedTestSuites = (report.numFailedTestSuites ?? 0) + 1;
  report.success = false;
  report.testResults = [
    ...(report.testResults ?? []),
    {
      name: join(ROOT, "scripts/test.ts"),
      status: "failed",
      message: messages.join("\n"),
      startTime: startedAt,
      endTime: Date.now(),
      assertionResults: [{ ancestorTitles: [], fullName: CHECK_NAME, title: CHECK_NAME, status: "failed", duration: 0, failureMessages: messages }],
    },
  ];
  writeFileSync(REPORT, JSON.stringify(report));
}
