// The operator CLI (cli/tollgate.ts) as a child process against the real gateway: what it
// prints, what it changes (read back through the admin API itself), and how it fails —
// one line on stderr and the documented exit code (0 ok, 1 API error, 2 usage, 3 unreachable).
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliFor, runCli, type CliResult } from "../support/cli.ts";
import { ADMIN_TOKEN, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";
import { closedPort } from "../support/ports.ts";

let origin: Origin;
let gateway: Gateway;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 }, pro: { per_minute: 600, per_day: 100000 } },
      ROUTES: [{ path: "/v1/*" }],
    },
  });
  cli = cliFor(gateway, ADMIN_TOKEN);
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** A failure is one line on stderr, nothing on stdout, and never a stack trace. */
function expectOneLineFailure(result: CliResult, code: number): string {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stdout).toBe("");
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^tollgate: /);
  expect(result.stderr).not.toMatch(/\n\s+at |Error:|\.ts:\d+/);
  return lines[0]!;
}

async function account(id: string): Promise<any> {
  const res = await admin(gateway, "GET", `/accounts/${id}`);
  expect(res.status).toBe(200);
  return res.body.data;
}

describe("tollgate health and help", () => {
  it("reports the gateway up, as text and as JSON", async () => {
    const text = await cli(["health"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`The gateway at ${gateway.url} is up (status: ok)`);
    expect(text.stdout).toMatch(/^default +off +no breaker: every call is tried$/m);
    expect(text.stderr).toBe("");

    const json = await cli(["health", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "off" }] });
  });

  it("needs no admin token for health", async () => {
    const result = await runCli(["health", "--url", gateway.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("is up");
  });

  it("prints its usage with help, --help and -h", async () => {
    for (const args of [["help"], ["--help"], ["keys", "create", "-h"]]) {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      for (const command of ["accounts list", "accounts create", "accounts show", "accounts set-plan", "credits add", "keys create", "keys list", "keys revoke", "usage", "health"]) {
        expect(result.stdout).toContain(command);
      }
      expect(result.stdout).toContain("TOLLGATE_ADMIN_TOKEN");
    }
  });
});

describe("tollgate accounts", () => {
  it("creates an account with a plan and credits, and shows it", async () => {
    const created = await cli(["accounts", "create", "cli-acme", "--plan", "pro", "--credits", "500"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/Account\s+cli-acme/);
    expect(created.stdout).toMatch(/Plan\s+pro/);
    expect(created.stdout).toMatch(/Credits\s+500/);
    expect(created.stdout).toMatch(/Minute\s+0 of 600 used/);
    const stored = await account("cli-acme");
    expect(stored).toMatchObject({ id: "cli-acme", plan: "pro", credits: 500, limits: { per_minute: 600, per_day: 100000 } });

    const shown = await cli(["accounts", "show", "cli-acme", "--json"]);
    expect(shown.code).toBe(0);
    const data = JSON.parse(shown.stdout);
    expect(data).toMatchObject({ id: "cli-acme", plan: "pro", credits: 500, keys: [] });
    expect(data.usage.minute).toMatchObject({ limit: 600 });
  });

  it("creates an account on the default plan with no credits when given neither", async () => {
    const created = await cli(["accounts", "create", "cli-plain", "--json"]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ id: "cli-plain", plan: "default", credits: 0 });
  });

  it("moves an account to another plan, and refuses an unknown plan without changing it", async () => {
    await cli(["accounts", "create", "cli-mover"]);
    const moved = await cli(["accounts", "set-plan", "cli-mover", "pro"]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain("Account cli-mover is now on plan pro.");
    expect((await account("cli-mover")).plan).toBe("pro");

    const refused = await cli(["accounts", "set-plan", "cli-mover", "platinum"]);
    const line = expectOneLineFailure(refused, 1);
    expect(line).toMatch(/^tollgate: VALIDATION_ERROR \(HTTP 400\): .*plan.* \[request req_[0-9A-Za-z]+\]$/);
    expect((await account("cli-mover")).plan).toBe("pro");
  });

  it("prints the envelope's code, message and request id for an account that exists already or does not exist", async () => {
    await cli(["accounts", "create", "cli-twice"]);
    const again = await cli(["accounts", "create", "cli-twice"]);
    const conflict = expectOneLineFailure(again, 1);
    expect(conflict).toMatch(/^tollgate: CONFLICT \(HTTP 409\): Account 'cli-twice' already exists \[request (req_[0-9A-Za-z]+)\]$/);
    // The id printed is the gateway's own: its log line for the request carries it.
    const requestId = /\[request (req_[0-9A-Za-z]+)\]/.exec(conflict)![1]!;
    expect(gateway.output()).toContain(`"request_id":"${requestId}"`);

    const missing = await cli(["accounts", "show", "cli-nobody"]);
    expect(expectOneLineFailure(missing, 1)).toMatch(/^tollgate: NOT_FOUND \(HTTP 404\): Account 'cli-nobody' does not exist \[request req_/);
  });
});

describe("tollgate accounts list", () => {
  const ids = ["cli-list-c", "cli-list-a", "cli-list-e", "cli-list-b", "cli-list-d"];

  beforeAll(async () => {
    for (const id of ids) await cli(["accounts", "create", id, "--credits", "7"]);
  });

  it("prints the accounts in id order with their plan, credits and creation time", async () => {
    const result = await cli(["accounts", "list", "--prefix", "cli-list-"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+PLAN\s+CREDITS\s+CREATED$/);
    expect(lines.slice(2).map((line) => line.split(/\s+/).slice(0, 3))).toEqual([...ids].sort().map((id) => [id, "default", "7"]));
    for (const line of lines.slice(2)) expect(line).toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(result.stderr).toBe("");
  });

  it("pages with --limit, says how to go on, and goes on with --cursor", async () => {
    const first = await cli(["accounts", "list", "--prefix", "cli-list-", "--limit", "2"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("cli-list-a");
    expect(first.stdout).toContain("cli-list-b");
    expect(first.stdout).not.toContain("cli-list-c");
    expect(first.stdout).toContain("More accounts follow: tollgate accounts list --prefix cli-list- --limit 2 --cursor cli-list-b (or --all)");

    const next = await cli(["accounts", "list", "--prefix", "cli-list-", "--limit", "2", "--cursor", "cli-list-b", "--json"]);
    expect(next.code, next.stderr).toBe(0);
    const page = JSON.parse(next.stdout);
    expect(page).toEqual({
      accounts: [
        { id: "cli-list-c", plan: "default", credits: 7, created_at: expect.stringMatching(/Z$/) },
        { id: "cli-list-d", plan: "default", credits: 7, created_at: expect.stringMatching(/Z$/) },
      ],
      next_cursor: "cli-list-d",
    });
  });

  it("walks every page with --all, as one page with no cursor", async () => {
    const logged = gateway.output().length;
    const result = await cli(["accounts", "list", "--prefix", "cli-list-", "--limit", "2", "--all", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const page = JSON.parse(result.stdout);
    expect(page.accounts.map((account: { id: string }) => account.id)).toEqual([...ids].sort());
    expect(page.next_cursor).toBeNull();
    // Three pages were asked for: 2 + 2 + 1.
    const asked = gateway.output().slice(logged).match(/"method":"GET","path":"\/_gateway\/accounts"/g) ?? [];
    expect(asked).toHaveLength(3);
  });

  it("says when nothing matches, and passes the gateway's refusal of a bad prefix on", async () => {
    const none = await cli(["accounts", "list", "--prefix", "cli-nobody-"]);
    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toBe("No accounts whose id starts with 'cli-nobody-'.");
    const bad = await cli(["accounts", "list", "--prefix", "CLI"]);
    expect(expectOneLineFailure(bad, 1)).toMatch(/^tollgate: VALIDATION_ERROR \(HTTP 400\): Invalid query: prefix: .* \[request req_/);
  });
});

describe("tollgate credits", () => {
  it("adds and removes credits, and refuses to take the balance below zero", async () => {
    await cli(["accounts", "create", "cli-wallet", "--credits", "100"]);
    const added = await cli(["credits", "add", "cli-wallet", "250", "--reason", "top-up"]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain("Balance of cli-wallet is now 350 (+250).");

    const removed = await cli(["credits", "add", "cli-wallet", "-50", "--reason", "goodwill reversal", "--json"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ balance: 300 });
    expect((await account("cli-wallet")).credits).toBe(300);

    const overdrawn = await cli(["credits", "add", "cli-wallet", "-301"]);
    expect(expectOneLineFailure(overdrawn, 1)).toMatch(/^tollgate: CONFLICT \(HTTP 409\): .*below 0 \[request req_/);
    expect((await account("cli-wallet")).credits).toBe(300);
  });

  it("refuses an amount that is not a whole number before sending anything", async () => {
    const result = await cli(["credits", "add", "cli-wallet", "12.5"]);
    expect(expectOneLineFailure(result, 2)).toContain("<amount> must be a whole number, got '12.5'");
    expect((await account("cli-wallet")).credits).toBe(300);
  });
});

describe("tollgate keys", () => {
  it("creates a key, shows its plaintext once with a warning, and lists it without the plaintext", async () => {
    await cli(["accounts", "create", "cli-keys"]);
    const created = await cli(["keys", "create", "cli-keys", "--scopes", "read,write", "--name", "ci"]);
    expect(created.code, created.stderr).toBe(0);
    const key = /Key\s+(tgk_\S+)/.exec(created.stdout)?.[1];
    expect(key).toMatch(/^tgk_cli-keys_[0-9A-Za-z]{42}$/);
    expect(created.stderr).toContain("will not be shown again");
    const id = /Id\s+(\S+)/.exec(created.stdout)![1]!;

    const listed = await cli(["keys", "list", "cli-keys"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+tgk_cli-keys_${id}\\s+read,write\\s+ci\\s+\\S+Z\\s+never\\s+active`));
    expect(listed.stdout).not.toContain(key);

    const listedJson = await cli(["keys", "list", "cli-keys", "--json"]);
    const keys = JSON.parse(listedJson.stdout);
    expect(keys).toEqual([expect.objectContaining({ id, prefix: `tgk_cli-keys_${id}`, scopes: ["read", "write"], name: "ci", expires_at: null, revoked: false })]);
    expect(listedJson.stdout).not.toContain(key);
  });

  it("prints only the key's data as JSON with --json, the warning on stderr", async () => {
    await cli(["accounts", "create", "cli-json-key"]);
    const created = await cli(["keys", "create", "cli-json-key", "--scopes", "read", "--expires-at", "2099-01-01T00:00:00Z", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const data = JSON.parse(created.stdout);
    expect(data).toMatchObject({ scopes: ["read"], name: null, expires_at: "2099-01-01T00:00:00Z" });
    expect(data.key).toMatch(new RegExp(`^tgk_cli-json-key_${data.id}[0-9A-Za-z]{32}$`));
    expect(created.stderr).toMatch(/^tollgate: warning: .*will not be shown again/);
    expect((await account("cli-json-key")).keys).toEqual([expect.objectContaining({ id: data.id, expires_at: "2099-01-01T00:00:00Z" })]);
  });

  it("revokes a key and lists it as revoked", async () => {
    await cli(["accounts", "create", "cli-revoke"]);
    const { id } = JSON.parse((await cli(["keys", "create", "cli-revoke", "--scopes", "read", "--json"])).stdout);
    const revoked = await cli(["keys", "revoke", "cli-revoke", id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked key ${id} of account cli-revoke`);
    expect((await account("cli-revoke")).keys).toEqual([expect.objectContaining({ id, revoked: true })]);
    const listed = await cli(["keys", "list", "cli-revoke"]);
    expect(listed.stdout).toMatch(new RegExp(`${id}.*revoked`));

    const unknown = await cli(["keys", "revoke", "cli-revoke", "ZZZZZZZZZZ"]);
    expect(expectOneLineFailure(unknown, 1)).toMatch(/^tollgate: NOT_FOUND \(HTTP 404\): .*does not exist/);
  });

  it("refuses keys create without scopes, and the gateway's own refusals of a bad expiry", async () => {
    await cli(["accounts", "create", "cli-bad-key"]);
    const noScopes = await cli(["keys", "create", "cli-bad-key"]);
    expect(expectOneLineFailure(noScopes, 2)).toContain("'keys create' needs --scopes");
    const past = await cli(["keys", "create", "cli-bad-key", "--scopes", "read", "--expires-at", "2001-01-01T00:00:00Z"]);
    expect(expectOneLineFailure(past, 1)).toMatch(/^tollgate: VALIDATION_ERROR \(HTTP 400\): .*expires_at.*future/);
    expect((await account("cli-bad-key")).keys).toEqual([]);
  });
});

describe("tollgate usage", () => {
  it("prints each UTC day's requests by key and outcome, and the totals; as JSON, the gateway's series", async () => {
    await cli(["accounts", "create", "cli-usage"]);
    const ci = JSON.parse((await cli(["keys", "create", "cli-usage", "--scopes", "read,write", "--name", "ci", "--json"])).stdout);
    const reader = JSON.parse((await cli(["keys", "create", "cli-usage", "--scopes", "read", "--json"])).stdout);
    const send = async (key: string, method: string) => {
      const res = await fetch(`${gateway.url}/v1/echo`, { method, headers: { Authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      return res.status;
    };
    expect([await send(ci.key, "GET"), await send(ci.key, "POST"), await send(reader.key, "GET"), await send(reader.key, "POST")]).toEqual([200, 200, 200, 403]);

    const text = await cli(["usage", "cli-usage"]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Requests by the keys of cli-usage from \d{4}-\d{2}-\d{2} to (\d{4}-\d{2}-\d{2}) \(UTC days\):$/);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(["DAY", "KEY", "NAME", "ADMITTED", "ORIGIN FAILED", "402", "403", "429", "CREDITS SPENT"]);
    // Rows by day, then by key id; a day that straddled midnight UTC while this ran has two.
    const rows = lines.slice(4, -2).map((line) => line.split(/\s+/));
    const byKey = (id: string) => rows.filter((row) => row[1] === `tgk_cli-usage_${id}`);
    const sum = (found: string[][], column: number) => found.reduce((total, row) => total + Number(row[column]), 0);
    expect([sum(byKey(ci.id), 3), sum(byKey(ci.id), 6)]).toEqual([2, 0]);
    expect([sum(byKey(reader.id), 3), sum(byKey(reader.id), 6)]).toEqual([1, 1]);
    expect(byKey(ci.id).map((row) => row[2])).toContain("ci");
    expect(byKey(reader.id).map((row) => row[2])).toContain("—");
    for (const row of rows) expect(row[0]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(lines.at(-1)).toBe("Total: 3 admitted (0 failed at the origin and refunded), 0 refused for credits (402), 1 forbidden (403), 0 rate-limited (429); 0 credits spent.");

    const json = await cli(["usage", "cli-usage", "--days", "2", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const { series } = JSON.parse(json.stdout) as { series: { start: string; key_id: string; admitted: number; forbidden: number }[] };
    for (const bucket of series) expect(bucket.start).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
    const totals = (id: string) => series.filter((b) => b.key_id === id).reduce((t, b) => [t[0]! + b.admitted, t[1]! + b.forbidden], [0, 0]);
    expect([totals(ci.id), totals(reader.id)]).toEqual([
      [2, 0],
      [1, 1],
    ]);
  });

  it("says when there is nothing, and passes an unknown account's 404 on", async () => {
    await cli(["accounts", "create", "cli-usage-quiet"]);
    const quiet = await cli(["usage", "cli-usage-quiet", "--days", "3"]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout.trim()).toMatch(/^No requests by the keys of cli-usage-quiet from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} \(UTC days\)\.$/);
    const missing = await cli(["usage", "cli-usage-nobody"]);
    expect(expectOneLineFailure(missing, 1)).toMatch(/^tollgate: NOT_FOUND \(HTTP 404\): Account 'cli-usage-nobody' does not exist \[request req_/);
  });
});

describe("tollgate's failures", () => {
  it("says the admin token was refused (exit 1), naming the gateway and the request id", async () => {
    const result = await cli(["accounts", "show", "cli-acme"], { TOLLGATE_ADMIN_TOKEN: "not-the-token" });
    const line = expectOneLineFailure(result, 1);
    expect(line).toContain(`the gateway at ${gateway.url} refused the admin token`);
    expect(line).toMatch(/UNAUTHORIZED \(HTTP 401\): Invalid admin token \[request req_[0-9A-Za-z]+\]/);
    expect(line).toContain("check --token or TOLLGATE_ADMIN_TOKEN");
    expect(line).not.toContain("not-the-token");
  });

  it("refuses to run an admin command without any token (exit 2)", async () => {
    const result = await runCli(["accounts", "show", "cli-acme", "--url", gateway.url]);
    expect(expectOneLineFailure(result, 2)).toContain("no admin token: pass --token or set TOLLGATE_ADMIN_TOKEN");
  });

  it("says the gateway is unreachable (exit 3) when nothing listens, naming the URL", async () => {
    const nowhere = await closedPort();
    try {
      const url = `http://127.0.0.1:${nowhere.port}`;
      const result = await cli(["accounts", "show", "cli-acme", "--url", url]);
      expect(expectOneLineFailure(result, 3)).toBe(`tollgate: cannot reach the gateway at ${url}: connection refused`);
    } finally {
      await nowhere.release();
    }
  });

  it("says the gateway is unreachable (exit 3) when it never answers, after --timeout", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const result = await cli(["health", "--url", url, "--timeout", "300"]);
      expect(expectOneLineFailure(result, 3)).toBe(`tollgate: cannot reach the gateway at ${url}: no answer within 300 ms (timeout)`);
      expect(sockets.length).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("says when the server at the URL is not a Tollgate gateway (exit 1)", async () => {
    const result = await cli(["health", "--url", origin.url]);
    expect(expectOneLineFailure(result, 1)).toBe(`tollgate: the server at ${origin.url} answered HTTP 200 without a Tollgate envelope; is --url a Tollgate gateway?`);
  });

  it("prefers --url and --token to the environment", async () => {
    const nowhere = await closedPort();
    try {
      const env = { TOLLGATE_URL: `http://127.0.0.1:${nowhere.port}`, TOLLGATE_ADMIN_TOKEN: "wrong" };
      const result = await runCli(["accounts", "show", "cli-acme", "--url", gateway.url, "--token", ADMIN_TOKEN, "--json"], env);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).id).toBe("cli-acme");
    } finally {
      await nowhere.release();
    }
  });

  it("refuses usage mistakes with exit 2 before sending anything", async () => {
    const cases: [string[], string][] = [
      [[], "missing command"],
      [["frobnicate"], "unknown command 'frobnicate'"],
      [["accounts"], "'accounts' needs a subcommand: list, create, show, set-plan"],
      [["accounts", "list", "--limit", "0"], "--limit must be positive, got '0'"],
      [["accounts", "list", "--limit", "ten"], "--limit must be a whole number, got 'ten'"],
      [["accounts", "list", "--all", "--cursor", "abc"], "'accounts list' takes --all or --cursor, not both"],
      [["accounts", "list", "extra"], "'accounts list' got an unexpected argument 'extra'"],
      [["accounts", "show"], "'accounts show' needs <id>"],
      [["accounts", "show", "a", "b"], "'accounts show' got an unexpected argument 'b'"],
      [["accounts", "show", "a", "--plan", "pro"], "'accounts show' does not take --plan"],
      [["accounts", "create", "a", "--credits", "lots"], "--credits must be a whole number"],
      [["health", "--bogus"], "Unknown option '--bogus'"],
      [["health", "--url", "ftp://example.com"], "must start with http:// or https://"],
      [["usage"], "'usage' needs <account>"],
      [["usage", "a", "--days", "0"], "--days must be positive, got '0'"],
      [["usage", "a", "--days", "32"], "--days must be at most 31, got '32'"],
      [["usage", "a", "--limit", "3"], "'usage' does not take --limit"],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect(expectOneLineFailure(result, 2), args.join(" ")).toContain(message);
    }
  });
});
