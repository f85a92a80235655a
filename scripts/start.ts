// `npm start`: the demo origin on 127.0.0.1:8788 and the demo billing service on
// 127.0.0.1:8789 (a second upstream, behind /v1/billing/*), the gateway (`wrangler dev`) on
// 127.0.0.1:8787 in front of both, a demo account and key on first run, and curls that work.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startDemoBilling } from "../demo/billing.ts";
import { startDemoOrigin } from "../demo/origin.ts";
import { MIN_ADMIN_TOKEN_CHARS } from "../src/config.ts";

const ROOT = resolve(import.meta.dirname, "..");
const GATEWAY_PORT = Number(process.env.PORT ?? 8787);
const ORIGIN_PORT = 8788;
/** As [vars.UPSTREAMS.billing] in wrangler.toml. */
const BILLING_PORT = 8789;
const GATEWAY = `http://127.0.0.1:${GATEWAY_PORT}`;
const DEV_VARS = join(ROOT, ".dev.vars");
// The demo key is shown once by the admin API; keep it locally so every start can print it.
const DEMO_KEY_FILE = join(ROOT, ".wrangler", "demo-key");

const ADMIN_TOKEN_LINE = /^ADMIN_TOKEN\s*=\s*"?([^"\n]*)"?\n?/m;

/** The saved admin token, or a new one (32 random bytes) when there is none or it is too short to be accepted. */
function adminToken(): string {
  const devVars = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, "utf8") : "";
  const saved = ADMIN_TOKEN_LINE.exec(devVars)?.[1];
  if (saved !== undefined && saved.length >= MIN_ADMIN_TOKEN_CHARS) return saved;
  const token = `dev_${randomBytes(32).toString("base64url")}`;
  writeFileSync(DEV_VARS, `${devVars.replace(ADMIN_TOKEN_LINE, "")}ADMIN_TOKEN="${token}"\n`);
  console.log(saved === undefined ? "Wrote a new ADMIN_TOKEN to .dev.vars" : `Replaced the ADMIN_TOKEN in .dev.vars: it was shorter than ${MIN_ADMIN_TOKEN_CHARS} characters`);
  return token;
}

async function admin(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${GATEWAY}/_gateway${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function waitForGateway(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${GATEWAY}/_gateway/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the gateway did not come up on ${GATEWAY}`);
}

async function demoKey(token: string): Promise<string> {
  const account = await admin(token, "POST", "/accounts", { id: "demo", plan: "default", credits: 1000 });
  if (account.status !== 201 && account.status !== 409) throw new Error(`could not create the demo account: ${JSON.stringify(account.body)}`);
  if (existsSync(DEMO_KEY_FILE)) {
    // Reuse the saved key while the account still lists it (state may have been wiped).
    const saved = readFileSync(DEMO_KEY_FILE, "utf8").trim();
    const view = await admin(token, "GET", "/accounts/demo");
    const live = (view.body?.data?.keys ?? []).some((k: { prefix: string; revoked: boolean }) => saved.startsWith(k.prefix) && !k.revoked);
    if (live) return saved;
  }
  const key = await admin(token, "POST", "/accounts/demo/keys", { scopes: ["read", "write"], name: "demo" });
  if (key.status !== 201) throw new Error(`could not create the demo key: ${JSON.stringify(key.body)}`);
  mkdirSync(join(ROOT, ".wrangler"), { recursive: true });
  writeFileSync(DEMO_KEY_FILE, `${key.body.data.key}\n`);
  return key.body.data.key as string;
}

const token = adminToken();
const stopOrigin = await startDemoOrigin(ORIGIN_PORT).catch((error: Error) => {
  console.error(`Could not start the demo origin on 127.0.0.1:${ORIGIN_PORT}: ${error.message}`);
  process.exit(1);
});
const stopBilling = await startDemoBilling(BILLING_PORT).catch((error: Error) => {
  console.error(`Could not start the demo billing service on 127.0.0.1:${BILLING_PORT}: ${error.message}`);
  stopOrigin();
  process.exit(1);
});
const stopOrigins = () => {
  stopOrigin();
  stopBilling();
};
const wrangler = spawn(join(ROOT, "node_modules/.bin/wrangler"), ["dev", "--ip", "127.0.0.1", "--port", String(GATEWAY_PORT)], {
  cwd: ROOT,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const shutdown = () => {
  wrangler.kill("SIGTERM");
  stopOrigins();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
wrangler.on("exit", (code) => {
  stopOrigins();
  process.exit(code ?? 0);
});

await waitForGateway();
const key = await demoKey(token);
console.log(`
Tollgate is running on ${GATEWAY}, in front of the demo origin on http://127.0.0.1:${ORIGIN_PORT}
and the demo billing service on http://127.0.0.1:${BILLING_PORT} (a second upstream, behind /v1/billing/).

  curl -i ${GATEWAY}/v1/posts -H 'Authorization: Bearer ${key}'
  curl -i -X POST ${GATEWAY}/v1/content/generate -H 'Authorization: Bearer ${key}'   # costs 40 credits
  curl -i ${GATEWAY}/v1/status                                                        # public, no key
  curl -i ${GATEWAY}/v1/billing/invoices -H 'Authorization: Bearer ${key}'            # the billing service, which receives /invoices
  curl -i ${GATEWAY}/_gateway/accounts/demo -H 'Authorization: Bearer ${token}'       # admin API
  curl -i ${GATEWAY}/_gateway/health                                                  # the upstreams and their breakers

The billing service's breaker at work: stage a 30 s outage, then ask 6 times —
5 answers of a service that is down (503 → 500), then an answer at once, before any
admission, with Retry-After:

  curl -X POST '${GATEWAY}/v1/billing/outage?seconds=30' -H 'Authorization: Bearer ${key}'
  for i in 1 2 3 4 5 6; do curl -s ${GATEWAY}/v1/billing/invoices -H 'Authorization: Bearer ${key}'; echo; done

The operator CLI: TOLLGATE_ADMIN_TOKEN=${token} npx tollgate accounts show demo
Press Ctrl-C to stop.
`);
