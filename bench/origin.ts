// The test origin (test/support/origin.ts) as a child process, so the load generator in
// this process never competes with it for one event loop.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { ROOT, stopProcess } from "../test/support/gateway.ts";
import type { ReceivedRequest } from "../test/support/origin.ts";

export interface OriginProcess {
  url: string;
  pid: number;
  /** What the origin received since the last forget(). */
  received(): Promise<ReceivedRequest[]>;
  /** Drops the origin's record, so it does not grow across a long run. */
  forget(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOriginProcess(): Promise<OriginProcess> {
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, "test/support/origin.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  // If this process ends without stop() (a failed start, an exception), take the origin with it.
  const killOnExit = () => child.kill();
  process.once("exit", killOnExit);
  const port = await firstLinePort(child);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    pid: child.pid ?? 0,
    received: async () => (await (await fetch(`${url}/__origin/requests`)).json()) as ReceivedRequest[],
    forget: async () => void (await (await fetch(`${url}/__origin/requests`, { method: "DELETE" })).arrayBuffer()),
    stop: async () => {
      process.off("exit", killOnExit);
      await stopProcess(child);
    },
  };
}

async function firstLinePort(child: ChildProcess): Promise<number> {
  if (child.stdout === null) throw new Error("origin has no stdout");
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`origin exited with ${code}`))));
  const first = new Promise<string>((resolve) => lines.once("line", resolve));
  const line = await Promise.race([first, exited]);
  lines.close();
  // Keep draining, so a chatty origin can never block on a full pipe.
  child.stdout.resume();
  return (JSON.parse(line) as { port: number }).port;
}
