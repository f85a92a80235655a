// A Worker's module bundled as wrangler would bundle it for workerd, for the tests and benches
// that run a Worker through Miniflare's Node API rather than `wrangler dev`.
import { build } from "esbuild";

/** Bundles `entry` (a Worker module) into `outfile`, one ES module for workerd. */
export async function bundleWorkerScript(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    target: "es2022",
    external: ["cloudflare:workers"],
    logLevel: "error",
  });
}
