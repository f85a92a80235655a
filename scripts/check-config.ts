// `npm run check`: refuses a bad configuration before a deploy, with the very parser the
// Worker runs on every request (src/config.ts), so the two can never disagree.
//
//   node scripts/check-config.ts <wrangler.toml> [--env <name>]
//
// Reads [vars] (or [env.<name>.vars]) and the secrets from a .dev.vars beside the file, if
// any; secret values are never printed. Exit 0: usable (warnings may be printed); 1: refused,
// with one line per problem naming the field; 2: wrong usage.
//
// An upstream's token_secret that .dev.vars does not hold is a warning, not a refusal: the
// deployed Worker reads secrets set with `wrangler secret put`, which no file shows, so a
// refusal would fail every correctly deployed configuration. The Worker itself refuses a
// token_secret that is really unset, on every request, naming the field (SPEC 12).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { TomlError, parse } from "smol-toml";
import { CONFIG_FIELDS, adminTokenProblem, parseConfig, type ConfigResult } from "../src/config.ts";

/** Set with `wrangler secret put`; locally in .dev.vars. */
const SECRET_NAMES = ["ADMIN_TOKEN", "UPSTREAM_TOKEN"] as const;

const DASHBOARD_ASSETS_BINDING = "ASSETS";

/** The Durable Objects the Worker's code reaches for, each SQLite-backed: binding → class. */
const DURABLE_OBJECTS = [
  { binding: "ACCOUNTS", className: "AccountDO" },
  { binding: "DIRECTORY", className: "AccountDirectory" },
] as const;

export interface CheckReport {
  ok: boolean;
  /** The verdict, for stdout. */
  summary: string;
  /** Problems (each refuses the file) and warnings, for stderr. */
  problems: string[];
  warnings: string[];
}

export function checkConfig(tomlPath: string, envName: string | null = null): CheckReport {
  const label = envName === null ? tomlPath : `${tomlPath} [env.${envName}]`;
  const refuse = (problems: string[]): CheckReport => ({
    ok: false,
    summary: `${label}: configuration refused (${problems.length} ${problems.length === 1 ? "problem" : "problems"})`,
    problems: problems.map((problem) => `${label}: ${problem}`),
    warnings: [],
  });

  let toml: Record<string, unknown>;
  try {
    toml = parse(readFileSync(tomlPath, "utf8")) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    if (error instanceof TomlError) return refuse([`not valid TOML at line ${error.line}, column ${error.column}: ${message}`]);
    return refuse([`cannot read the file: ${message}`]);
  }

  const section = envName === null ? toml : table(table(toml.env)?.[envName]);
  if (section === undefined) return refuse([`has no [env.${envName}] section`]);
  const vars = table(section.vars) ?? {};
  const secrets = readDevVars(dirname(tomlPath), envName);
  const env: Record<string, unknown> = { ...vars };
  for (const name of SECRET_NAMES) if (secrets[name] !== undefined) env[name] = secrets[name];
  // Any other name may be an upstream's token_secret (SPEC 12); the configuration's own vars stay as [vars] has them.
  for (const [name, value] of Object.entries(secrets)) if (!CONFIG_FIELDS.vars.includes(name)) env[name] = value;
  const redactions = Object.values(secrets);

  const problems = [...bindingProblems(toml, section), ...assetProblems(table(section.assets) ?? table(toml.assets))];
  let parsed: ConfigResult;
  try {
    parsed = parseConfig(env, { unsetTokenSecrets: "unseen" });
  } catch (error) {
    const message = `the configuration could not be parsed: ${error instanceof Error ? error.message : String(error)}`;
    parsed = { ok: false, error: message, problems: [message] };
  }
  // One line per problem, each "<field>: <why>" (a field may quote a name holding "; ").
  if (!parsed.ok) problems.push(...parsed.problems);
  // The Worker serves with a short ADMIN_TOKEN (the contract allows any); a deploy should not.
  const weakToken = parsed.ok ? adminTokenProblem(parsed.config) : null;
  if (weakToken !== null) problems.push(weakToken);
  if (problems.length > 0 || !parsed.ok) return redact(refuse(problems), env, redactions);
  const config = parsed.config;

  const warnings: string[] = [];
  for (const name of SECRET_NAMES) {
    if (Object.hasOwn(vars, name)) warnings.push(`warning: ${name} is in [vars], in plain text; set it with \`wrangler secret put ${name}\` instead`);
  }
  for (const upstream of config.upstreams.values()) {
    const secret = upstream.tokenSecret;
    if (secret === null || secret === "UPSTREAM_TOKEN") continue;
    const field = `UPSTREAMS.${upstream.name}.token_secret`;
    if (Object.hasOwn(vars, secret)) warnings.push(`warning: ${field}: ${secret} is in [vars], in plain text; set it with \`wrangler secret put ${secret}\` instead`);
    else if (upstream.token === null) {
      warnings.push(
        `warning: ${field}: the secret ${secret} is not in .dev.vars, so this check cannot see it: set it with \`wrangler secret put ${secret}\` before deploying, or the Worker refuses every request (a token_secret that is not set is a bad configuration)`,
      );
    }
  }
  if (config.adminToken === null) {
    warnings.push("warning: ADMIN_TOKEN is not set in [vars] or .dev.vars: set it with `wrangler secret put ADMIN_TOKEN`, or the admin API answers 401 to every request");
  }
  if (table(section.assets) === undefined && table(toml.assets) === undefined) {
    warnings.push("warning: there is no [assets] section: the dashboard at /_gateway/ is not served (copy the [build] and [assets] sections of the project's wrangler.toml)");
  }
  const routes = env.ROUTES === undefined ? "no ROUTES: every path is proxied" : `${config.routes.length} ${config.routes.length === 1 ? "route" : "routes"}`;
  const upstreams = config.upstreams.size > 1 ? `, upstreams: ${[...config.upstreams.keys()].join(", ")}` : "";
  return redact(
    {
      ok: true,
      summary: `${label}: configuration OK (${routes}, plans: ${Object.keys(config.plans).join(", ")}${upstreams})`,
      problems: [],
      warnings: warnings.map((warning) => `${label}: ${warning}`),
    },
    env,
    redactions,
  );
}

/** The Durable Object bindings and migrations the Worker cannot run without. */
function bindingProblems(toml: Record<string, unknown>, section: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const bindings = table(section.durable_objects)?.bindings;
  const migrations = toml.migrations;
  for (const { binding, className } of DURABLE_OBJECTS) {
    const bound = Array.isArray(bindings) && bindings.some((b) => table(b)?.name === binding && table(b)?.class_name === className);
    if (!bound) problems.push(`durable_objects.bindings: must bind ${binding} to class ${className}`);
    const created = Array.isArray(migrations) && migrations.some((m) => {
      const classes = table(m)?.new_sqlite_classes;
      return Array.isArray(classes) && classes.includes(className);
    });
    if (!created) problems.push(`migrations: ${className} must be created with new_sqlite_classes (it keeps its data in SQLite)`);
  }
  return problems;
}

/**
 * The dashboard's files (README, "The dashboard"). Optional, but when present they must
 * reach the Worker through its ASSETS binding only: without run_worker_first, a file of the
 * dashboard (app.js, index.html…) would answer for that path instead of the origin.
 */
function assetProblems(assets: Record<string, unknown> | undefined): string[] {
  if (assets === undefined) return [];
  const problems: string[] = [];
  if (assets.binding !== DASHBOARD_ASSETS_BINDING) problems.push(`assets.binding: must be "${DASHBOARD_ASSETS_BINDING}" (the Worker serves the dashboard's files through it)`);
  if (assets.run_worker_first !== true) {
    problems.push("assets.run_worker_first: must be true, or the dashboard's files would answer for paths the gateway proxies (e.g. /app.js)");
  }
  return problems;
}

/** .dev.vars (or .dev.vars.<env>) in dotenv syntax: NAME=value, NAME="value", # comments. */
function readDevVars(dir: string, envName: string | null): Record<string, string> {
  const candidates = envName === null ? [".dev.vars"] : [`.dev.vars.${envName}`, ".dev.vars"];
  const file = candidates.map((name) => join(dir, name)).find((path) => existsSync(path));
  if (file === undefined) return {};
  const values: Record<string, string> = {};
  for (const rawLine of readFileSync(file, "utf8").split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(rawLine);
    if (match === null) continue;
    values[match[1]!] = unquote(match[2]!);
  }
  return values;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'" || quote === "`") && value.length >= 2 && value.endsWith(quote)) {
    const inner = value.slice(1, -1);
    return quote === '"' ? inner.replace(/\\n/g, "\n").replace(/\\r/g, "\r").replace(/\\"/g, '"').replace(/\\\\/g, "\\") : inner;
  }
  return value.replace(/\s+#.*$/, "");
}

/** No secret value leaves this script, whatever a message quotes: neither the known secrets nor anything in .dev.vars. */
function redact(report: CheckReport, env: Record<string, unknown>, devVars: readonly string[] = []): CheckReport {
  const values = [...SECRET_NAMES.map((name) => env[name]), ...devVars].filter((v): v is string => typeof v === "string" && v.length >= 4);
  const clean = (line: string) => values.reduce((text, value) => text.split(value).join("(hidden)"), line);
  return { ...report, summary: clean(report.summary), problems: report.problems.map(clean), warnings: report.warnings.map(clean) };
}

function table(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function main(args: string[]): number {
  const envFlag = args.indexOf("--env");
  const envName = envFlag >= 0 ? (args[envFlag + 1] ?? "") : null;
  const paths = args.filter((_, i) => envFlag < 0 || (i !== envFlag && i !== envFlag + 1));
  if (paths.length !== 1 || paths[0]!.startsWith("-") || envName === "") {
    process.stderr.write("usage: node scripts/check-config.ts <wrangler.toml> [--env <name>]\n");
    return 2;
  }
  const report = checkConfig(paths[0]!, envName);
  for (const line of [...report.problems, ...report.warnings]) process.stderr.write(`${line}\n`);
  (report.ok ? process.stdout : process.stderr).write(`${report.summary}\n`);
  return report.ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
