// Starts the real gateway — `wrangler dev`, as an operator runs it — from a generated
// wrangler.toml, on a port of 127.0.0.1 the system picks (wrangler binds port 0 and says
// which it got: no window between choosing a port and binding it for anything else to take
// it). For the end-to-end tests and scripts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "smol-toml";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");

/** At least 32 characters, as the configuration requires. */
export const ADMIN_TOKEN = "e2e-admin-token-9d3b71c4e0a85f26b8d1";
/** The dashboard's built files (scripts/build-dashboard.ts), as wrangler.toml's [assets] names them. */
export const DASHBOARD_DIR = join(ROOT, "build/dashboard");

export interface GatewayOptions {
  /** [vars]: UPSTREAM_URL, PLANS, ROUTES, … (TOML tables and arrays of tables allowed). */
  vars: Record<string, unknown>;
  /** Written to .dev.vars. ADMIN_TOKEN defaults to ADMIN_TOKEN above; pass null to leave it unset. */
  secrets?: Record<string, string | null>;
  /** Keep Durable Object storage here (to restart over the same data, or to scan it). */
  persistTo?: string;
  /** Replaces the generated wrangler.toml entirely (for misconfiguration tests). */
  rawToml?: string;
}

export interface Gateway {
  url: string;
  port: number;
  /** The wrangler process (the root of the gateway's process tree). */
  pid: number;
  dir: string;
  persistTo: string;
  /** Everything wrangler printed so far (the gateway's JSON log lines among it). */
  output(): string;
  stop(): Promise<void>;
}

export function gatewayToml(vars: Record<string, unknown>): string {
  const config = {
    name: "tollgate-e2e",
    main: join(ROOT, "src/index.ts"),
    compatibility_date: "2026-05-01",
    compatibility_flags: ["enable_request_signal"], // as in wrangler.toml
    durable_objects: {
      bindings: [
        { name: "ACCOUNTS", class_name: "AccountDO" },
        { name: "DIRECTORY", class_name: "AccountDirectory" },
      ],
    },
    migrations: [
      { tag: "v1", new_sqlite_classes: ["AccountDO"] },
      { tag: "v2", new_sqlite_classes: ["AccountDirectory"] },
    ],
    // Built once by the e2e project's global setup; wrangler.toml's [build] does it for operators.
    assets: { directory: DASHBOARD_DIR, binding: "ASSETS", run_worker_first: true, html_handling: "none", not_found_handling: "none" },
    vars,
  };
  return stringify(config);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-e2e-"));
  const persistTo = options.persistTo ?? join(dir, "state");
  writeFileSync(join(dir, "wrangler.toml"), options.rawToml ?? gatewayToml(options.vars));
  const secrets = { ADMIN_TOKEN, ...options.secrets };
  const devVars = Object.entries(secrets)
    .filter((entry): entry is [string, string] => entry[1] !== null)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join("\n");
  writeFileSync(join(dir, ".dev.vars"), `${devVars}\n`);

  const child = spawn(
    WRANGLER,
    ["dev", "--config", join(dir, "wrangler.toml"), "--ip", "127.0.0.1", "--port", "0", "--inspector-port", "0", "--persist-to", persistTo, "--show-interactive-dev-session=false"],
    {
      cwd: dir,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));

  const url = await waitUntilReady(child, () => output);
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid ?? 0,
    dir,
    persistTo,
    output: () => output,
    stop: async () => {
      await stopProcess(child);
      // Keep storage the caller asked to keep; the generated config and state go.
      rmSync(options.persistTo === undefined ? dir : join(dir, "wrangler.toml"), { recursive: true, force: true });
    },
  };
}

/** Waits for wrangler's "Ready on <url>" and a first answer there; returns the URL. */
async function waitUntilReady(child: ChildProcess, output: () => string): Promise<string> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output()}`);
    const ready = /Ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(output());
    if (ready !== null) {
      try {
        await fetch(`${ready[1]}/_gateway/health`);
        return ready[1]!;
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`wrangler dev did not become ready in 90 s:\n${output()}`);
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A request to the admin API with the test token. */
export async function admin(gateway: { url: string }, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${gateway.url}/_gateway${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text), headers: res.headers };
}

/** Creates an account and a key for it; returns the plaintext key. */
export async function accountWithKey(
  gateway: { url: string },
  account: { id: string; plan?: string; credits?: number },
  scopes: string[] = ["read", "write"],
): Promise<string> {
  const created = await admin(gateway, "POST", "/accounts", account);
  if (created.status !== 201) throw new Error(`account not created: ${JSON.stringify(created.body)}`);
  const key = await admin(gateway, "POST", `/accounts/${account.id}/keys`, { scopes });
  if (key.status !== 201) throw new Error(`key not created: ${JSON.stringify(key.body)}`);
  return key.body.data.key as string;
}
