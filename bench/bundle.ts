// The deployable Worker exactly as `wrangler deploy` would upload it: bundled offline by
// `wrangler deploy --dry-run` (no account needed), plus its size raw and gzipped.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { ROOT } from "../test/support/gateway.ts";

export interface Bundle {
  /** The bundled ES module that holds the fetch handler and AccountDO. */
  scriptPath: string;
  rawBytes: number;
  gzipBytes: number;
}

export async function bundleGateway(): Promise<Bundle> {
  const outdir = mkdtempSync(join(tmpdir(), "tollgate-bench-bundle-"));
  await promisify(execFile)(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir, "--config", join(ROOT, "wrangler.toml")], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
  });
  const scriptPath = join(outdir, "index.js");
  const source = readFileSync(scriptPath);
  return { scriptPath, rawBytes: source.byteLength, gzipBytes: gzipSync(source).byteLength };
}
