// Runs the operator CLI as an operator would: a child process of Node 22 on cli/tollgate.ts,
// configured only through its arguments and environment. For the end-to-end tests.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./gateway.ts";

const NODE = join(ROOT, "node_modules/.bin/node");
const CLI = join(ROOT, "cli/tollgate.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `env` replaces the caller's TOLLGATE_* variables entirely, so a developer's own settings
 * never leak into a test. The run is bounded: a CLI that hangs is killed and reported.
 */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CliResult> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("TOLLGATE_")));
  const child = spawn(NODE, [CLI, ...args], {
    cwd: ROOT,
    env: { ...inherited, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The CLI pointed at `gateway` with the admin token, through its environment variables. */
export function cliFor(gateway: { url: string }, token: string) {
  return (args: readonly string[], env: Record<string, string> = {}) =>
    runCli(args, { TOLLGATE_URL: gateway.url, TOLLGATE_ADMIN_TOKEN: token, ...env });
}
