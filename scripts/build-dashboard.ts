// Builds the operator dashboard (src/dashboard/) into build/dashboard/, the directory that
// wrangler.toml's [assets] serves: the page's script bundled by esbuild, its static files,
// and uPlot's stylesheet (the charts' library). Nobody runs this by hand: wrangler runs it
// ([build] in wrangler.toml) before `wrangler dev` and `wrangler deploy`, and the test
// projects run it once in their global setup.
//
//   node scripts/build-dashboard.ts [outdir]
import { build } from "esbuild";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
export const DASHBOARD_OUT = join(ROOT, "build/dashboard");
const SOURCE = join(ROOT, "src/dashboard");

/** Copied as they are: name in the build → where it comes from. */
const STATIC_FILES: Record<string, string> = {
  "index.html": join(SOURCE, "static/index.html"),
  "app.css": join(SOURCE, "static/app.css"),
  "favicon.svg": join(SOURCE, "static/favicon.svg"),
  "uplot.css": join(ROOT, "node_modules/uplot/dist/uPlot.min.css"),
};

/** Builds into `outdir`; returns the name and size of every file it holds afterwards. */
export async function buildDashboard(outdir = DASHBOARD_OUT): Promise<{ name: string; bytes: number }[]> {
  const bundled = await build({
    entryPoints: [join(SOURCE, "app.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "eof",
    write: false,
    logLevel: "silent",
  });
  const files = new Map<string, Uint8Array>();
  const [script] = bundled.outputFiles;
  if (script === undefined) throw new Error("esbuild produced no output for src/dashboard/app.ts");
  files.set("app.js", script.contents);
  for (const [name, source] of Object.entries(STATIC_FILES)) files.set(name, readFileSync(source));

  mkdirSync(outdir, { recursive: true });
  // `wrangler dev` may be serving this directory: each file is replaced whole (rename), and
  // only when it changed, so a reader never sees half a file and an unchanged build is quiet.
  for (const [name, contents] of files) {
    const target = join(outdir, name);
    if (existsSync(target) && Buffer.compare(readFileSync(target), contents) === 0) continue;
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, contents);
    renameSync(temporary, target);
  }
  // Files a previous build had and this one has not (another build's .tmp files are left alone).
  for (const name of readdirSync(outdir)) {
    if (!files.has(name) && !name.endsWith(".tmp")) rmSync(join(outdir, name), { recursive: true, force: true });
  }
  return [...files].map(([name, contents]) => ({ name, bytes: contents.byteLength }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outdir = resolve(process.argv[2] ?? DASHBOARD_OUT);
  const built = await buildDashboard(outdir);
  console.log(`dashboard: ${built.length} files in ${outdir} (${built.reduce((sum, file) => sum + file.bytes, 0)} bytes)`);
}
