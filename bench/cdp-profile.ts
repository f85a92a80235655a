// A CPU profile of a Worker's JavaScript through the Chrome DevTools protocol: workerd's
// inspector (Miniflare's `inspectorPort`), Profiler.start and Profiler.stop over its
// WebSocket while autocannon loads one route. Node 22's global WebSocket; no dependency.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { runLoad } from "./load.ts";
import type { RunningWorker } from "./workers.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface JavaScriptFunction {
  /** "name file:line", or a V8 pseudo-frame such as "(program)" or "(garbage collector)". */
  name: string;
  /** Share of the profile's time spent in it (self), runtime APIs it called included. */
  share: number;
}

export interface JavaScriptProfile {
  requestsPerSecond: number;
  functions: JavaScriptFunction[];
  table: string;
}

export interface CdpOptions {
  seconds: number;
  connections: number;
  /** Where the raw .cpuprofile goes. */
  profilePath: string;
  /** The gateway's script name: its functions are listed one by one, the rest grouped. */
  script: string;
  /** Sampling interval, µs. */
  intervalUs?: number;
}

export async function profileJavaScript(worker: RunningWorker, url: string, headers: Record<string, string>, options: CdpOptions): Promise<JavaScriptProfile> {
  if (worker.inspectorUrl === null) throw new Error("start the Worker with { inspector: true }");
  await runLoad({ url, headers, connections: options.connections, durationSeconds: 2 });
  const targets = (await (await fetch(`${worker.inspectorUrl.replace(/^ws:/, "http:")}/json/list`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
  // Miniflare's own Workers have inspector targets too; the user's Worker is core:user:<name>.
  const target = targets.find((t) => t.id.startsWith("core:user:"));
  if (target === undefined) throw new Error(`no user Worker among inspector targets ${targets.map((t) => t.id).join(", ")}`);
  const session = await connect(target.webSocketDebuggerUrl);
  try {
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: options.intervalUs ?? 200 });
    await session.send("Profiler.start");
    const load = await runLoad({ url, headers, connections: options.connections, durationSeconds: options.seconds });
    const { profile } = (await session.send("Profiler.stop")) as { profile: CpuProfile };
    mkdirSync(dirname(options.profilePath), { recursive: true });
    writeFileSync(options.profilePath, JSON.stringify(profile));
    const functions = selfTimes(profile, options.script);
    return { requestsPerSecond: load.throughput, functions, table: functionTable(functions, load.throughput) };
  } finally {
    session.close();
  }
}

/** Self time per function; functions outside `script` are grouped as "runtime API name" or by file. */
function selfTimes(profile: CpuProfile, script: string): JavaScriptFunction[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    all += dt;
    const name = frameName(byId, parentOf, id, script);
    totals.set(name, (totals.get(name) ?? 0) + dt);
  });
  return [...totals].map(([name, t]) => ({ name, share: all === 0 ? 0 : t / all })).sort((a, b) => b.share - a.share);
}

function frameName(byId: Map<number, ProfileNode>, parentOf: Map<number, number>, id: number, script: string): string {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  if (url.endsWith(script)) return `${functionName || "(anonymous)"} ${script}:${lineNumber + 1}`;
  if (url === "") {
    // A runtime API (fetch, exec, digest...) or a pseudo-frame: name it with its caller.
    if (functionName.startsWith("(")) return functionName;
    const parent = parentOf.get(id);
    const caller = parent === undefined ? "" : byId.get(parent)!.callFrame.functionName;
    return `${functionName || "(native)"} ← ${caller || "(top)"}`;
  }
  return `(other JS: ${url.split("/").pop()})`;
}

function functionTable(functions: readonly JavaScriptFunction[], requestsPerSecond: number): string {
  const shown = functions.slice(0, 30);
  const width = Math.max(...shown.map((f) => f.name.length));
  return [
    `JavaScript self time on the key-protected route (Chrome DevTools protocol, inspector attached: ${requestsPerSecond.toFixed(0)} req/s)`,
    ...shown.map((f) => `${f.name.padEnd(width)}  ${(f.share * 100).toFixed(1).padStart(5)}%`),
  ].join("\n");
}

interface Session {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

async function connect(url: string): Promise<Session> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return; // an event, not an answer
    const waiter = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        waiting.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}
