// SPEC section 8: a bad configuration is refused with a message naming the field — on every
// request as a 500 envelope and in the log, and by `npm run check` before a deploy — never
// half-applied. Also a valid configuration whose UPSTREAM_URL points at a closed port.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectEnvelope, logLineFor, waitForLog } from "../support/envelope.ts";
import { ADMIN_TOKEN, ROOT, accountWithKey, admin, gatewayToml, startGateway, type Gateway } from "../support/gateway.ts";
import { send } from "../support/http.ts";
import { startOrigin, type Origin } from "../support/origin.ts";
import { closedPort, type ClosedPort } from "../support/ports.ts";

const CHECK_SCRIPT = join(ROOT, "scripts/check-config.ts");
const SECRET_VALUE = "s3cret-upstream-value-91";

const BAD_VARS = {
  UPSTREAM_TIMEOUT_MS: -1,
  PLANS: { pro: { per_minute: 10 } },
  ROUTES: [{ path: "/v1/*", credits: "x" }],
};
const BAD_FIELDS = ["UPSTREAM_TIMEOUT_MS", "PLANS", "ROUTES[0].credits"];

// An operator's own file, as written by hand: everything right but the origin's address.
const NO_UPSTREAM_TOML = `name = "tollgate-e2e"
main = ${JSON.stringify(join(ROOT, "src/index.ts"))}
compatibility_date = "2026-05-01"

[[durable_objects.bindings]]
name = "ACCOUNTS"
class_name = "AccountDO"

[[durable_objects.bindings]]
name = "DIRECTORY"
class_name = "AccountDirectory"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["AccountDO"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["AccountDirectory"]

[vars]
UPSTREAM_TIMEOUT_MS = 5000

[[vars.ROUTES]]
path = "/v1/*"
public = true
`;

let origin: Origin;
let broken: Gateway;
let noUpstream: Gateway;
let unreachable: Gateway;
let nowhere: ClosedPort;

beforeAll(async () => {
  origin = await startOrigin();
  nowhere = await closedPort();
  [broken, noUpstream, unreachable] = await Promise.all([
    startGateway({ vars: { UPSTREAM_URL: origin.url, ...BAD_VARS }, secrets: { UPSTREAM_TOKEN: SECRET_VALUE } }),
    startGateway({ vars: {}, rawToml: NO_UPSTREAM_TOML }),
    startGateway({
      vars: {
        UPSTREAM_URL: `http://127.0.0.1:${nowhere.port}`,
        ROUTES: [{ path: "/open/*", public: true }, { path: "/paid/*", credits: 3 }],
      },
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([broken?.stop(), noUpstream?.stop(), unreachable?.stop()]);
  await origin?.close();
  await nowhere?.release();
  for (const dir of projectDirs) rmSync(dir, { recursive: true, force: true });
});

describe("a gateway started with a bad configuration", () => {
  const requests: [string, string, Record<string, string>][] = [
    ["GET", "/_gateway/health", {}],
    ["GET", "/v1/echo", {}],
    ["POST", "/v1/echo", { Authorization: "Bearer tg_live_not_a_real_key_000000000000" }],
    ["GET", "/_gateway/accounts/acme", { Authorization: `Bearer ${ADMIN_TOKEN}` }],
    ["OPTIONS", "/v1/echo", { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" }],
    ["GET", "/nowhere", {}],
  ];

  it.each(requests)("answers %s %s with a 500 naming every bad field, and forwards nothing", async (method, path, headers) => {
    const before = origin.received.length;
    const reply = await send(broken.url, path, { method, headers });
    const body = expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: /configuration/i });
    for (const field of BAD_FIELDS) expect(body.error.message).toContain(field);
    expect(body.error.message).toContain("default");
    expect(body.error.message).not.toContain(SECRET_VALUE);
    expect(origin.received.length).toBe(before);
  });

  it("answers HEAD with the 500's headers and no body", async () => {
    expectEnvelope(await send(broken.url, "/_gateway/health", { method: "HEAD" }), { status: 500, code: "INTERNAL_ERROR", head: true });
  });

  it("names the fields in the log line of each request", async () => {
    const reply = await send(broken.url, "/v1/echo");
    const id = reply.headers.get("x-request-id")!;
    const line = logLineFor(await waitForLog(broken.output, id), id);
    expect(line).toMatchObject({ request_id: id, status: 500, code: "INTERNAL_ERROR" });
    for (const field of BAD_FIELDS) expect(String(line?.error)).toContain(field);
  });

  it("a missing UPSTREAM_URL is named, on the health check too", async () => {
    for (const path of ["/_gateway/health", "/v1/echo"]) {
      const body = expectEnvelope(await send(noUpstream.url, path), { status: 500, code: "INTERNAL_ERROR", message: /UPSTREAM_URL/ });
      expect(body.error.message).not.toMatch(/ROUTES|PLANS|UPSTREAM_TIMEOUT_MS/);
    }
    const id = (await send(noUpstream.url, "/v1/echo")).headers.get("x-request-id")!;
    expect(String(logLineFor(await waitForLog(noUpstream.output, id), id)?.error)).toContain("UPSTREAM_URL");
  });

  it("npm run check refuses the same file with the same fields", async () => {
    const result = await runCheck(join(broken.dir, "wrangler.toml"));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    const reply = await send(broken.url, "/v1/echo");
    const gatewayMessage = (JSON.parse(reply.text) as { error: { message: string } }).error.message;
    const problems = result.stderr.split("\n").filter((line) => line.includes(": ") && !line.includes("configuration refused"));
    expect(problems).toHaveLength(BAD_FIELDS.length);
    for (const problem of problems) expect(gatewayMessage).toContain(problem.slice(problem.indexOf("wrangler.toml: ") + "wrangler.toml: ".length));
    expect(result.stderr + result.stdout).not.toContain(SECRET_VALUE);
  });
});

describe("a valid configuration whose origin is unreachable (a closed port)", () => {
  it("answers 500 INTERNAL_ERROR, with headers only for HEAD", async () => {
    expectEnvelope(await send(unreachable.url, "/open/echo"), { status: 500, code: "INTERNAL_ERROR", message: /could not be reached/ });
    expectEnvelope(await send(unreachable.url, "/open/echo", { method: "POST", body: "{}" }), { status: 500, code: "INTERNAL_ERROR", message: /could not be reached/ });
    expectEnvelope(await send(unreachable.url, "/open/echo", { method: "HEAD" }), { status: 500, code: "INTERNAL_ERROR", head: true });
    expect((await send(unreachable.url, "/_gateway/health")).status).toBe(200);
  });

  it("refunds the credits of an authenticated request and logs why", async () => {
    const key = await accountWithKey(unreachable, { id: "config-unreachable", credits: 10 });
    const reply = await send(unreachable.url, "/paid/echo", { headers: { Authorization: `Bearer ${key}` } });
    expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: /could not be reached/ });
    expect(reply.headers.get("x-credits-remaining")).toBe("10");
    expect((await admin(unreachable, "GET", "/accounts/config-unreachable")).body.data.credits).toBe(10);
    const id = reply.headers.get("x-request-id")!;
    expect(String(logLineFor(await waitForLog(unreachable.output, id), id)?.error)).toMatch(/unreachable/);
  });
});

interface CheckRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runCheck(...args: string[]): Promise<CheckRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CHECK_SCRIPT, ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const projectDirs: string[] = [];

/** A directory with a wrangler.toml (and a .dev.vars when given); returns the toml's path. */
function project(toml: string, devVars?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-check-"));
  projectDirs.push(dir);
  writeFileSync(join(dir, "wrangler.toml"), toml);
  if (devVars !== undefined) writeFileSync(join(dir, ".dev.vars"), devVars);
  return join(dir, "wrangler.toml");
}

const GOOD_VARS = {
  UPSTREAM_URL: "https://origin.example.com",
  PLANS: { default: { per_minute: 60 }, pro: { per_minute: 600, per_day: 100000 } },
  ROUTES: [{ path: "/v1/status", public: true }, { method: "POST", path: "/v1/generate", credits: 40 }],
};
const SECRETS = `ADMIN_TOKEN="admin-value-1234-5678-9abc-def0-1234"\nUPSTREAM_TOKEN='${SECRET_VALUE}'\n`;

describe("npm run check (scripts/check-config.ts)", () => {
  it("passes the repository's own wrangler.toml, as `npm run check` runs it", async () => {
    const result = await runCheck("wrangler.toml");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^wrangler\.toml: configuration OK \(\d+ routes?, plans: default(, [\w-]+)*(, upstreams: default(, [\w-]+)+)?\)\n$/);
  });

  it("passes a good file quietly, with the route count and plan names", async () => {
    const path = project(gatewayToml(GOOD_VARS), SECRETS);
    const result = await runCheck(path);
    expect(result).toEqual({ code: 0, stdout: `${path}: configuration OK (2 routes, plans: default, pro)\n`, stderr: "" });
  });

  it("passes a route with encoded_slashes", async () => {
    const path = project(gatewayToml({ ...GOOD_VARS, ROUTES: [{ path: "/v1/files/:name", encoded_slashes: true }, { path: "/v1/*" }] }), SECRETS);
    expect(await runCheck(path)).toEqual({ code: 0, stdout: `${path}: configuration OK (2 routes, plans: default, pro)\n`, stderr: "" });
  });

  it("passes several upstreams (SPEC 12), naming them, with a token_secret from .dev.vars that it never prints", async () => {
    const vars = {
      ...GOOD_VARS,
      UPSTREAM_BREAKER: { failures: 5, open_seconds: 10 },
      UPSTREAMS: { billing: { url: "https://billing.example.com/api", token_secret: "BILLING_TOKEN", breaker: { failures: 3, open_seconds: 30 } } },
      ROUTES: [...GOOD_VARS.ROUTES, { path: "/v1/billing/*", upstream: "billing", strip_prefix: "/v1/billing" }],
    };
    const path = project(gatewayToml(vars), `${SECRETS}BILLING_TOKEN="billing-secret-value-3141"\n`);
    const result = await runCheck(path);
    expect(result).toEqual({ code: 0, stdout: `${path}: configuration OK (3 routes, plans: default, pro, upstreams: default, billing)\n`, stderr: "" });
  });

  it("warns, without failing, of a token_secret it cannot see: the deployed Worker reads it from `wrangler secret put`", async () => {
    const vars = { ...GOOD_VARS, UPSTREAMS: { billing: { url: "https://billing.example.com", token_secret: "BILLING_TOKEN" } } };
    const path = project(gatewayToml(vars), SECRETS);
    const result = await runCheck(path);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${path}: configuration OK (2 routes, plans: default, pro, upstreams: default, billing)\n`);
    expect(result.stderr).toBe(
      `${path}: warning: UPSTREAMS.billing.token_secret: the secret BILLING_TOKEN is not in .dev.vars, so this check cannot see it: set it with \`wrangler secret put BILLING_TOKEN\` before deploying, or the Worker refuses every request (a token_secret that is not set is a bad configuration)\n`,
    );
  });

  it("never prints a value from .dev.vars, even where a message quotes it", async () => {
    const token = "billing-secret-value-1618";
    const vars = { ...GOOD_VARS, UPSTREAMS: { billing: { url: "https://billing.example.com", token_secret: "BILLING_TOKEN" } }, ROUTES: [{ path: "/v1/*", upstream: token }] };
    const path = project(gatewayToml(vars), `${SECRETS}BILLING_TOKEN="${token}"\n`);
    const result = await runCheck(path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${path}: ROUTES[0].upstream: no upstream is named '(hidden)'`);
    expect(result.stderr + result.stdout).not.toContain(token);
  });

  it("warns when an upstream's token sits in [vars], without printing it", async () => {
    const vars = { ...GOOD_VARS, UPSTREAMS: { billing: { url: "https://billing.example.com", token_secret: "BILLING_TOKEN" } }, BILLING_TOKEN: "plain-billing-token-2718" };
    const result = await runCheck(project(gatewayToml(vars), SECRETS));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: UPSTREAMS\.billing\.token_secret: BILLING_TOKEN is in \[vars\], in plain text/);
    expect(result.stderr + result.stdout).not.toContain("plain-billing-token-2718");
  });

  it("says so when ROUTES is absent", async () => {
    const path = project(gatewayToml({ UPSTREAM_URL: "https://origin.example.com" }), SECRETS);
    const result = await runCheck(path);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${path}: configuration OK (no ROUTES: every path is proxied, plans: default)\n`);
  });

  it("warns, without failing, when ADMIN_TOKEN is set nowhere", async () => {
    const result = await runCheck(project(gatewayToml(GOOD_VARS), `UPSTREAM_TOKEN=${SECRET_VALUE}\n`));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("configuration OK");
    expect(result.stderr).toMatch(/warning: ADMIN_TOKEN is not set/);
    expect(result.stderr + result.stdout).not.toContain(SECRET_VALUE);
  });

  it("refuses an ADMIN_TOKEN shorter than 32 characters, without printing it", async () => {
    const path = project(gatewayToml(GOOD_VARS), `ADMIN_TOKEN="short-admin-7q"\n`);
    const result = await runCheck(path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${path}: ADMIN_TOKEN: must be at least 32 characters`);
    expect(result.stderr).toContain("configuration refused (1 problem)");
    expect(result.stderr + result.stdout).not.toContain("short-admin-7q");
  });

  it("warns when a secret sits in [vars], without printing it", async () => {
    const result = await runCheck(project(gatewayToml({ ...GOOD_VARS, ADMIN_TOKEN: "plain-text-admin-token-0123456789abcdef" })));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: ADMIN_TOKEN is in \[vars\], in plain text/);
    expect(result.stderr).not.toMatch(/ADMIN_TOKEN is not set/);
    expect(result.stderr + result.stdout).not.toContain("plain-text-admin-token-0123456789abcdef");
  });

  it.each([
    ["a wrong type", { ROUTES: [{ path: "/v1/*", credits: "x" }] }, "ROUTES[0].credits: must be a non-negative integer"],
    ["PLANS without default", { PLANS: { pro: { per_minute: 10 } } }, "PLANS: must hold a plan named default"],
    ["a negative timeout", { UPSTREAM_TIMEOUT_MS: -1 }, "UPSTREAM_TIMEOUT_MS: must be a positive integer of milliseconds"],
    ["a public route with a scope", { ROUTES: [{ path: "/v1/*", public: true, scope: "read" }] }, "ROUTES[0]: a public route cannot set scope"],
    ["an unknown route field", { ROUTES: [{ path: "/v1/*", credit: 5 }] }, "ROUTES[0].credit: unknown field"],
    [
      "a route path that would be a regular expression",
      { ROUTES: [{ path: "/v1/status|", public: true }, { path: "/v1/*" }] },
      "ROUTES[0].path: holds '|', which is not allowed: a route path is literal segments (letters, digits, - . _ ~), :name parameters and a trailing /*",
    ],
    ["method *", { ROUTES: [{ path: "/v1/*", method: "*" }] }, "ROUTES[0].method: must be an HTTP method such as GET (leave method out to match every method)"],
    ["encoded_slashes that is not a boolean", { ROUTES: [{ path: "/v1/files/:name", encoded_slashes: "yes" }] }, "ROUTES[0].encoded_slashes: must be true or false"],
    [
      "a route naming an upstream that does not exist",
      { UPSTREAMS: { billing: { url: "https://billing.example.com" } }, ROUTES: [{ path: "/v1/*", upstream: "biling" }] },
      "ROUTES[0].upstream: no upstream is named 'biling' (UPSTREAMS has billing): leave upstream out to send the route to UPSTREAM_URL",
    ],
    [
      "a strip_prefix the route's path does not start with, segment by segment",
      { ROUTES: [{ path: "/v1/billing/*", strip_prefix: "/v1/bill" }] },
      "ROUTES[0].strip_prefix: /v1/bill is not a prefix of the route's path /v1/billing/*, segment by segment: a strip_prefix is the leading literal segments of the route's path, such as /v1/billing (no :name, no *)",
    ],
    ["a breaker that never opens", { UPSTREAM_BREAKER: { failures: 0, open_seconds: 10 } }, "UPSTREAM_BREAKER.failures: must be a positive integer of consecutive failures, at most 1000"],
    [
      "an upstream sent the admin token",
      { UPSTREAMS: { billing: { url: "https://billing.example.com", token_secret: "ADMIN_TOKEN" } } },
      "UPSTREAMS.billing.token_secret: cannot be ADMIN_TOKEN, which the gateway itself reads: name a secret of this upstream's own, such as BILLING_TOKEN",
    ],
  ])("refuses %s, naming the field", async (_name, vars, problem) => {
    const path = project(gatewayToml({ ...GOOD_VARS, ...vars }), SECRETS);
    const result = await runCheck(path);
    expect(result).toEqual({ code: 1, stdout: "", stderr: `${path}: ${problem}\n${path}: configuration refused (1 problem)\n` });
  });

  it("refuses a missing UPSTREAM_URL, and lists every problem of a file, one a line", async () => {
    const { UPSTREAM_URL: _omitted, ...rest } = GOOD_VARS;
    const path = project(gatewayToml({ ...rest, ...BAD_VARS }), SECRETS);
    const result = await runCheck(path);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    for (const [i, field] of ["UPSTREAM_URL", ...BAD_FIELDS].entries()) expect(lines[i]).toMatch(new RegExp(`^${escapeRegExp(path)}: ${escapeRegExp(field)}: `));
    expect(lines[4]).toBe(`${path}: configuration refused (4 problems)`);
    expect(result.stderr).not.toContain(SECRET_VALUE);
    expect(result.stderr).not.toContain("admin-value-1234-5678-9abc-def0-1234");
  });

  it("refuses a file without the account Durable Objects", async () => {
    const toml = `name = "t"\nmain = "src/index.ts"\ncompatibility_date = "2026-05-01"\n\n[vars]\nUPSTREAM_URL = "https://origin.example.com"\n`;
    const result = await runCheck(project(toml, SECRETS));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/durable_objects\.bindings: must bind ACCOUNTS to class AccountDO/);
    expect(result.stderr).toMatch(/migrations: AccountDO must be created with new_sqlite_classes/);
    expect(result.stderr).toMatch(/durable_objects\.bindings: must bind DIRECTORY to class AccountDirectory/);
    expect(result.stderr).toMatch(/migrations: AccountDirectory must be created with new_sqlite_classes/);
  });

  it("refuses dashboard assets that could answer for proxied paths, and warns when there are none", async () => {
    const withAssets = (assets: string) => `${gatewayToml(GOOD_VARS).replace(/\[assets\][^[]*/, "")}\n[assets]\n${assets}\n`;
    const shadowing = await runCheck(project(withAssets('directory = "build/dashboard"\nbinding = "ASSETS"'), SECRETS));
    expect(shadowing.code).toBe(1);
    expect(shadowing.stderr).toMatch(/: assets\.run_worker_first: must be true, or the dashboard's files would answer for paths the gateway proxies/);
    const unbound = await runCheck(project(withAssets('directory = "build/dashboard"\nrun_worker_first = true'), SECRETS));
    expect(unbound.code).toBe(1);
    expect(unbound.stderr).toMatch(/: assets\.binding: must be "ASSETS"/);

    const none = await runCheck(project(gatewayToml(GOOD_VARS).replace(/\[assets\][^[]*/, ""), SECRETS));
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/warning: there is no \[assets\] section: the dashboard at \/_gateway\/ is not served/);
  });

  it("refuses a file that is not TOML, or not there", async () => {
    const broken = await runCheck(project(`[vars\nUPSTREAM_URL = "x"\n`));
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/not valid TOML at line 1, column \d+: /);
    const missing = await runCheck(join(tmpdir(), "no-such-dir-tollgate", "wrangler.toml"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the file/);
  });

  it("checks an environment's vars with --env", async () => {
    const toml = `${gatewayToml(GOOD_VARS)}\n[env.staging.vars]\nUPSTREAM_URL = "not a url"\n\n[[env.staging.durable_objects.bindings]]\nname = "ACCOUNTS"\nclass_name = "AccountDO"\n`;
    const path = project(toml, SECRETS);
    expect((await runCheck(path)).code).toBe(0);
    const staging = await runCheck(path, "--env", "staging");
    expect(staging.code).toBe(1);
    expect(staging.stderr).toContain(`${path} [env.staging]: UPSTREAM_URL: `);
    expect((await runCheck(path, "--env", "production")).stderr).toContain("has no [env.production] section");
  });

  it("explains its usage when called wrongly", async () => {
    const result = await runCheck();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^usage: /);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
