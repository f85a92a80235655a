// The gateway served by Miniflare's Node API on a socket of its own, with nothing in front:
// for the end-to-end tests of clients that go away. wrangler dev answers clients from a
// proxy Worker that ends its own connection to the gateway quietly when a client leaves, so
// the gateway never hears of it; Miniflare's own entry Worker passes a disconnect on, but
// misses one that comes just as a response starts streaming. Here the client's socket is
// the gateway's (`unsafeDirectSockets`), as on Cloudflare's network, where a client's
// disconnect reaches `request.signal`. The same workerd, the same source (bundled by
// esbuild, as wrangler does), the compatibility date and flags of the project's wrangler.toml.
import { Miniflare } from "miniflare";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { parse } from "smol-toml";
import { bundleWorkerScript } from "./bundle-worker.ts";
import { ADMIN_TOKEN, ROOT } from "./gateway.ts";

export interface MiniflareGateway {
  url: string;
  port: number;
  /** Everything the Worker logged so far (the gateway's JSON lines among it). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts the gateway with these [vars]; ADMIN_TOKEN is the e2e one. */
export async function startMiniflareGateway(vars: Record<string, unknown>): Promise<MiniflareGateway> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-mf-"));
  const scriptPath = join(dir, "index.js");
  await bundleWorkerScript(join(ROOT, "src/index.ts"), scriptPath);
  const project = parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8")) as { compatibility_date: string; compatibility_flags?: string[] };

  let output = "";
  const drain = (stream: Readable) => stream.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: dir,
    compatibilityDate: project.compatibility_date,
    compatibilityFlags: project.compatibility_flags ?? [],
    bindings: { ...vars, ADMIN_TOKEN },
    // As wrangler.toml binds them (the dashboard's assets aside: these tests never ask for them).
    durableObjects: {
      ACCOUNTS: { className: "AccountDO", useSQLite: true },
      DIRECTORY: { className: "AccountDirectory", useSQLite: true },
    },
    host: "127.0.0.1",
    // Port 0: the system picks, so no other process can take a port between picking and binding.
    port: 0,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    logRequests: false,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      drain(stdout);
      drain(stderr);
    },
  });
  await mf.ready;
  const direct = await mf.unsafeGetDirectURL();
  return {
    url: direct.toString().replace(/\/$/, ""),
    port: Number(direct.port),
    output: () => output,
    stop: async () => {
      await mf.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
