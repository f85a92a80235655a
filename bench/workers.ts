// One Worker script served by Miniflare's Node API on 127.0.0.1 — the same workerd that
// production runs, without `wrangler dev`'s proxy (which caps throughput far below the
// runtime's). The pass-through baseline and the gateway are started by this same function,
// so whatever the runtime costs is the same on both sides of the ratio.
import { Miniflare } from "miniflare";
import { dirname } from "node:path";
import type { Readable } from "node:stream";
import { childPidsNamed } from "./processes.ts";

/** The project's compatibility date (wrangler.toml). */
export const COMPATIBILITY_DATE = "2026-05-01";
/** And its compatibility flags (wrangler.toml): both sides of a ratio run with them. */
export const COMPATIBILITY_FLAGS = ["enable_request_signal"];

export interface WorkerSpec {
  /** An ES module Worker (a bundle, or a single file with no imports). */
  scriptPath: string;
  bindings: Record<string, unknown>;
  /** Durable Object bindings: name → class exported by the script, SQLite-backed. */
  durableObjects?: Record<string, string>;
  /** Open workerd's Chrome DevTools protocol port (bench/profile.ts). Off for measurements. */
  inspector?: boolean;
}

export interface RunningWorker {
  url: string;
  /** The workerd process serving it (for memory and CPU accounting). */
  workerdPid: number;
  /** The last lines the Worker logged (console output is drained, never printed). */
  recentOutput(): string;
  /** ws://127.0.0.1:<port> of workerd's inspector, when `inspector` was set. */
  inspectorUrl: string | null;
  /**
   * Calls an RPC method of a Durable Object from Node (Miniflare's proxy), returning plain
   * data (the result is copied out of the proxy as JSON).
   */
  callDurableObject(binding: string, name: string, method: string): Promise<unknown>;
  stop(): Promise<void>;
}

const KEPT_OUTPUT_CHARS = 8_192;

export async function startWorker(spec: WorkerSpec): Promise<RunningWorker> {
  const before = new Set(childPidsNamed(process.pid, "workerd"));
  let output = "";
  const drain = (stream: Readable) =>
    stream.on("data", (chunk: Buffer) => {
      // The gateway logs one JSON line per request; keep only the tail for diagnostics.
      output = (output + chunk.toString()).slice(-KEPT_OUTPUT_CHARS);
    });

  const durableObjects = Object.fromEntries(
    Object.entries(spec.durableObjects ?? {}).map(([binding, className]) => [binding, { className, useSQLite: true }]),
  );
  const mf = new Miniflare({
    modules: true,
    scriptPath: spec.scriptPath,
    // Module names are relative to this; workerd refuses paths that climb out with "..".
    modulesRoot: dirname(spec.scriptPath),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    bindings: spec.bindings,
    durableObjects,
    host: "127.0.0.1",
    // Port 0: the system picks, and mf.ready says which.
    port: 0,
    // The inspector's port too: 0, and getInspectorURL() says which.
    ...(spec.inspector ? { inspectorPort: 0 } : {}),
    // Miniflare logs every request through Node by default: not part of any Worker's cost.
    logRequests: false,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      drain(stdout);
      drain(stderr);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const workerdPid = childPidsNamed(process.pid, "workerd").find((pid) => !before.has(pid));
  if (workerdPid === undefined) throw new Error("could not find the workerd process Miniflare started");
  const inspectorUrl = spec.inspector ? (await mf.getInspectorURL()).toString().replace(/\/$/, "") : null;
  const callDurableObject = async (binding: string, name: string, method: string) => {
    // Miniflare's types for the proxied namespace do not resolve under Node's lib; its shape:
    const namespace = (await mf.getDurableObjectNamespace(binding)) as unknown as { idFromName(name: string): unknown; get(id: unknown): Record<string, () => Promise<unknown>> };
    const stub = namespace.get(namespace.idFromName(name));
    return JSON.parse(JSON.stringify(await stub[method]!()));
  };
  return { url, workerdPid, recentOutput: () => output, inspectorUrl, callDurableObject, stop: () => mf.dispose() };
}
