// A key's whole life through the real gateway, driven by the operator CLI: created, used on
// a proxied route, revoked — and the very next request refused. Then what is on disk: no
// plaintext key anywhere in the persisted storage, and accounts, keys and balances that
// survive a restart of the gateway process. Plus the bad-key rows of SPEC section 3 that
// only a real request path can show.
//
// The tests run in order and build on each other (one account, one gateway data directory).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliFor } from "../support/cli.ts";
import { ADMIN_TOKEN, admin, startGateway, type Gateway, type GatewayOptions } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

const ACCOUNT = "lifecycle";
const COST = 7;

let origin: Origin;
let gateway: Gateway;
let persistTo: string;
let options: GatewayOptions;

/** The keys this file creates, by role: plaintext and id. */
const keys: Record<"revoked" | "kept" | "expiring", { key: string; id: string }> = {} as never;

beforeAll(async () => {
  origin = await startOrigin();
  persistTo = mkdtempSync(join(tmpdir(), "tollgate-lifecycle-"));
  options = {
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 } },
      ROUTES: [{ method: "POST", path: "/v1/generate", credits: COST }, { path: "/v1/*" }],
    },
    persistTo,
  };
  gateway = await startGateway(options);
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
  if (persistTo !== undefined) rmSync(persistTo, { recursive: true, force: true });
});

const cli = (args: readonly string[]) => cliFor(gateway, ADMIN_TOKEN)(args);

async function createKey(args: string[]): Promise<{ key: string; id: string }> {
  const result = await cli(["keys", "create", ACCOUNT, "--json", ...args]);
  expect(result.code, result.stderr).toBe(0);
  const data = JSON.parse(result.stdout);
  return { key: data.key, id: data.id };
}

function call(path: string, authorization: string | null, method = "GET"): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { method, headers: authorization === null ? {} : { Authorization: authorization } });
}

/** A 401 envelope with exactly this message, and the origin left alone. */
async function expectUnauthorized(res: Response, message: string, originCallsBefore: number): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  const body = await res.json();
  expect(body).toMatchObject({ success: false, error: { code: "UNAUTHORIZED", message } });
  expect(body.meta.request_id).toBe(res.headers.get("x-request-id"));
  expect(origin.received).toHaveLength(originCallsBefore);
}

async function accountView(): Promise<any> {
  const res = await admin(gateway, "GET", `/accounts/${ACCOUNT}`);
  expect(res.status).toBe(200);
  return res.body.data;
}

// A well-formed key (prefix, account, key id, secret, CRC32 checksum in base62: the format
// documented in src/keys.ts), built here independently of the gateway's code.
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function checksum(body: string): string {
  let rest = crc32(Buffer.from(body, "utf8"));
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}
function wellFormedKey(accountId: string, keyId: string, secret = "s".repeat(26)): string {
  const body = `tgk_${accountId}_${keyId}${secret}`;
  return body + checksum(body);
}

/** Every byte the gateway persisted, file by file. */
function persistedFiles(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return { path, bytes: readFileSync(path) };
    });
}

describe("a key's life, from the CLI to the origin and back", () => {
  it("creates the account and its keys with the CLI", async () => {
    const created = await cli(["accounts", "create", ACCOUNT, "--credits", "100"]);
    expect(created.code, created.stderr).toBe(0);
    keys.revoked = await createKey(["--scopes", "read,write", "--name", "ci"]);
    keys.kept = await createKey(["--scopes", "read,write"]);
    keys.expiring = await createKey(["--scopes", "read", "--expires-at", "2099-01-01T00:00:00Z"]);
    expect((await accountView()).keys.map((key: { id: string }) => key.id)).toEqual([keys.revoked.id, keys.kept.id, keys.expiring.id]);
  });

  it("admits the key on a proxied route: the origin learns the account and key id, never the key", async () => {
    const res = await call("/v1/echo", `Bearer ${keys.revoked.key}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const generated = await call("/v1/generate", `Bearer ${keys.revoked.key}`, "POST");
    expect(generated.status).toBe(200);
    expect(generated.headers.get("x-credits-remaining")).toBe(String(100 - COST));
    await generated.arrayBuffer();

    expect(origin.received).toHaveLength(2);
    for (const received of origin.received) {
      expect(received.headers["x-account-id"]).toBe(ACCOUNT);
      expect(received.headers["x-key-id"]).toBe(keys.revoked.id);
      expect(received.headers.authorization).toBeUndefined();
      expect(JSON.stringify(received)).not.toContain(keys.revoked.key);
      expect(JSON.stringify(received)).not.toContain(keys.revoked.key.slice(-32));
    }
  });

  it("refuses a key with one flipped character as malformed, spending nothing", async () => {
    const before = await accountView();
    const { key } = keys.kept;
    const at = key.length - 10; // inside the secret
    const flipped = key.slice(0, at) + (key[at] === "a" ? "b" : "a") + key.slice(at + 1);
    await expectUnauthorized(await call("/v1/echo", `Bearer ${flipped}`), "Malformed API key", 2);
    // Scheme names are case-insensitive; the key is still checked the same way.
    await expectUnauthorized(await call("/v1/echo", `bearer ${flipped}`), "Malformed API key", 2);
    const after = await accountView();
    expect(after.usage).toEqual(before.usage);
    expect(after.credits).toBe(before.credits);
  });

  it("refuses an empty bearer as missing", async () => {
    const missing = "Missing API key: send 'Authorization: Bearer <key>'";
    await expectUnauthorized(await call("/v1/echo", "Bearer "), missing, 2);
    await expectUnauthorized(await call("/v1/echo", null), missing, 2);
  });

  it("refuses well-formed keys that match nothing stored as invalid", async () => {
    // The checksum builder agrees with the gateway's keys, so the keys below are well-formed.
    expect(checksum(keys.kept.key.slice(0, -6))).toBe(keys.kept.key.slice(-6));
    const invalid = "Invalid or expired API key";
    await expectUnauthorized(await call("/v1/echo", `Bearer ${wellFormedKey("no-such-account", keys.kept.id)}`), invalid, 2);
    await expectUnauthorized(await call("/v1/echo", `Bearer ${wellFormedKey(ACCOUNT, "ZZZZZZZZZZ")}`), invalid, 2);
    // The right account and key id, but not the key's secret: only the hash can tell.
    await expectUnauthorized(await call("/v1/echo", `Bearer ${wellFormedKey(ACCOUNT, keys.kept.id)}`), invalid, 2);
  });

  it("revokes the key with the CLI, and refuses the very next request", async () => {
    const revoked = await cli(["keys", "revoke", ACCOUNT, keys.revoked.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await expectUnauthorized(await call("/v1/echo", `Bearer ${keys.revoked.key}`), "Invalid or expired API key", 2);
    // The account's other keys are untouched.
    const kept = await call("/v1/echo", `Bearer ${keys.kept.key}`);
    expect(kept.status).toBe(200);
    await kept.arrayBuffer();
    expect(origin.received.at(-1)?.headers["x-key-id"]).toBe(keys.kept.id);
  });

  it("never writes a plaintext key to the persisted storage or the log", async () => {
    // Stopped, so everything the gateway wrote is on disk.
    await gateway.stop();
    const files = persistedFiles(persistTo);
    expect(files.length).toBeGreaterThan(0);
    const holding = (text: string) => files.filter((file) => file.bytes.includes(Buffer.from(text, "utf8"))).map((file) => file.path);
    for (const { key, id } of Object.values(keys)) {
      expect(holding(key)).toEqual([]);
      expect(holding(key.slice(`tgk_${ACCOUNT}_`.length + 10, -6))).toEqual([]); // the secret alone
      expect(holding(id).length).toBeGreaterThan(0); // the scan does read the stored keys
      expect(gateway.output()).not.toContain(key);
    }
  });

  it("keeps accounts, keys, revocations and balances across a restart", async () => {
    // Instead of waiting for an expiry, the stopped gateway's stored expiry of one key is
    // moved into the past: the restarted gateway must refuse it from its own storage.
    expireStoredKey(persistTo, keys.expiring.id, Date.now() - 60_000);

    gateway = await startGateway(options);
    const view = await accountView();
    expect(view.credits).toBe(100 - COST);
    expect(view.keys).toEqual([
      expect.objectContaining({ id: keys.revoked.id, revoked: true }),
      expect.objectContaining({ id: keys.kept.id, revoked: false, expires_at: null }),
      expect.objectContaining({ id: keys.expiring.id, revoked: false }),
    ]);

    const calls = origin.received.length;
    const generated = await call("/v1/generate", `Bearer ${keys.kept.key}`, "POST");
    expect(generated.status).toBe(200);
    expect(generated.headers.get("x-credits-remaining")).toBe(String(100 - 2 * COST));
    await generated.arrayBuffer();
    expect(origin.received).toHaveLength(calls + 1);
    expect(origin.received.at(-1)?.headers["x-key-id"]).toBe(keys.kept.id);

    await expectUnauthorized(await call("/v1/echo", `Bearer ${keys.revoked.key}`), "Invalid or expired API key", calls + 1);
    await expectUnauthorized(await call("/v1/echo", `Bearer ${keys.expiring.key}`), "Invalid or expired API key", calls + 1);

    const listed = await cli(["keys", "list", ACCOUNT]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${keys.revoked.id}.*revoked`));
    expect(listed.stdout).toMatch(new RegExp(`${keys.kept.id}.*active`));
    expect(listed.stdout).toMatch(new RegExp(`${keys.expiring.id}.*expired`));
  });
});

/** Rewrites one key's expiry in the stopped gateway's Durable Object SQLite files. */
function expireStoredKey(dir: string, keyId: string, expiresAt: number): void {
  let updated = 0;
  for (const { path } of persistedFiles(dir).filter((file) => file.path.endsWith(".sqlite") && file.path.includes("AccountDO"))) {
    const db = new DatabaseSync(path);
    try {
      const hasKeys = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").get() !== undefined;
      if (hasKeys) updated += Number(db.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?").run(expiresAt, keyId).changes);
    } finally {
      db.close();
    }
  }
  expect(updated).toBe(1);
}
