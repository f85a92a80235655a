// Real processes to kill, for the fault tests: the test origin as a child process on a fixed
// port (so it can die with SIGKILL and come back on the same port), and the process tree of
// a gateway started by startGateway (wrangler, its CLI child, workerd), to crash it at once.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { randomInt } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ReceivedRequest } from "./origin.ts";

const ORIGIN_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "origin.ts");

export interface OriginProcess {
  port: number;
  url: string;
  pid: number;
  /** What this process has received so far (asked over HTTP: it lives in the child). */
  received(): Promise<ReceivedRequest[]>;
  /** Sends `signal` and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `node test/support/origin.ts <port>`; resolves once it listens. Without a port it takes one
 * below the system's ephemeral range: while the origin is down between a kill and its
 * restart, no port-0 bind and no outgoing connection of any process can take that port
 * (a port the system handed out could be handed out again in that window).
 */
export async function startOriginProcess(port?: number): Promise<OriginProcess> {
  if (port !== undefined) return spawnOrigin(port);
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOrigin(randomInt(10_000, ephemeralRangeStart()));
    } catch (error) {
      // Another process listens there: try another port.
      if (!(error instanceof Error && error.message.includes("EADDRINUSE")) || attempt === 20) throw error;
    }
  }
}

/** The first port the system hands out for port 0 and outgoing connections (Linux). */
function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

async function spawnOrigin(port: number): Promise<OriginProcess> {
  const child = spawn(process.execPath, [ORIGIN_SCRIPT, String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const listening = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n")[0];
      if (stdout.includes("\n") && line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once("exit", (code) => reject(new Error(`origin exited with ${code}: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${listening}`;
  return {
    port: listening,
    url,
    pid: child.pid ?? 0,
    received: async () => (await (await fetch(`${url}/__origin/requests`)).json()) as ReceivedRequest[],
    kill: (signal = "SIGKILL") => killChild(child, signal),
  };
}

function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  return exited;
}

/** Parent pid of every live process, from /proc (Linux). */
function parentsByPid(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return parents;
}

/**
 * The gateway's process tree — its wrangler process `root` (Gateway.pid) and every
 * descendant (wrangler's CLI child, esbuild, workerd) — root first.
 */
export function gatewayProcessTree(root: number): number[] {
  const parents = parentsByPid();
  if (!parents.has(root)) throw new Error(`no process ${root}: the gateway is not running`);
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** SIGKILL to every process of the tree at once: a crash, with no chance to clean up. */
export function crashProcessTree(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
