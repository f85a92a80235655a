// SPEC 3 inside workerd: who may call a key-protected route, with which scope, what the
// origin learns about the caller, and that a failed authentication costs nobody anything.
// The failed-auth throttle has its own file (auth-throttle.test.ts).
import { env } from "cloudflare:workers";
import { evictDurableObject, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { encodeBase62 } from "../../src/base62.ts";
import { crc32 } from "../../src/crc32.ts";
import { mintKey, parseKey } from "../../src/keys.ts";
import {
  UPSTREAM_TOKEN,
  accountWithKey,
  call,
  createKey,
  expectEnvelope,
  freshIp,
  getAccount,
  originReceived,
  revokeKey,
  testIp,
  uniqueAccountId,
  type Echo,
} from "./helpers.ts";

const MISSING = "Missing API key: send 'Authorization: Bearer <key>'";
const MALFORMED = "Malformed API key";
const INVALID = "Invalid or expired API key";
const lacks = (scope: string) => `API key lacks '${scope}' permission required for this endpoint`;

/** A well-formed key with a valid checksum for any account, key id and secret. */
function forgeKey(accountId: string, keyId: string, secret: string): string {
  const body = `tgk_${accountId}_${keyId}${secret}`;
  return body + encodeBase62(crc32(new TextEncoder().encode(body)), 6);
}

/** The same key with the character at `index` replaced by another base62 character. */
function flipCharAt(key: string, index: number): string {
  const replacement = key[index] === "A" ? "B" : "A";
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

async function objectIds(): Promise<string[]> {
  return (await listDurableObjectIds(env.ACCOUNTS)).map((id) => id.toString()).sort();
}

describe("a missing key", () => {
  const cases: [string, Record<string, string>][] = [
    ["no Authorization header", {}],
    ["the Basic scheme", { Authorization: "Basic dXNlcjpwYXNz" }],
    ["Bearer with no token", { Authorization: "Bearer" }],
    ["Bearer with only spaces", { Authorization: "Bearer    " }],
    ["a token without a scheme", { Authorization: "tgk_acme_0123456789" }],
  ];
  for (const [name, headers] of cases) {
    it(`is refused: ${name}`, async () => {
      const res = await call("/v1/things", { headers, ip: freshIp() });
      const envelope = await expectEnvelope(res, "UNAUTHORIZED", MISSING, { retryAfter: false });
      expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
    });
  }

  it("the Bearer scheme name is case-insensitive", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    for (const scheme of ["bearer", "BEARER", "Bearer", "bEaReR"]) {
      const res = await call("/v1/things", { headers: { Authorization: `${scheme} ${key}` } });
      expect(res.status, `${scheme}: ${await res.clone().text()}`).toBe(200);
      await res.arrayBuffer();
    }
  });
});

describe("a malformed key", () => {
  it("is refused for each way a key can be malformed", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const secretStart = key.length - 6 - 26;
    const malformed = {
      "wrong prefix": `tgx_${key.slice(4)}`,
      "no prefix": key.slice(4),
      "one character too many": `${key}A`,
      "one character short": key.slice(0, -1),
      "a flipped key-id character": flipCharAt(key, secretStart - 3),
      "a flipped secret character": flipCharAt(key, secretStart + 5),
      "a flipped checksum character": flipCharAt(key, key.length - 1),
      "an uppercase account id": key.replace(/^tgk_([a-z0-9-]+)_/, (_m, id: string) => `tgk_${id.toUpperCase()}_`),
      "lowercased": key.toLowerCase(),
      "just the prefix": "tgk_",
      "garbage": "not-a-key-at-all",
    };
    for (const [name, token] of Object.entries(malformed)) {
      // Each from its own address: more than AUTH_FAILURES_PER_MINUTE failures here.
      const res = await call("/v1/things", { key: token, ip: freshIp() });
      const envelope = await expectEnvelope(res, "UNAUTHORIZED", MALFORMED);
      expect(await originReceived(envelope.meta.request_id), name).toBeUndefined();
    }
    // The real key still works: nothing above touched it.
    const res = await call("/v1/things", { key });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("is decided without any Durable Object call", async () => {
    // A never-created account: any call to its object would bring the object into being.
    const accountId = uniqueAccountId("never-created");
    const wellFormed = mintKey(accountId).key;
    const objectOfAccount = env.ACCOUNTS.idFromName(accountId).toString();

    const before = await objectIds();
    for (const token of [flipCharAt(wellFormed, wellFormed.length - 10), `${wellFormed}x`, wellFormed.slice(0, -1)]) {
      await expectEnvelope(await call("/v1/things", { key: token, ip: freshIp() }), "UNAUTHORIZED", MALFORMED);
    }
    const after = await objectIds();
    expect(after).toEqual(before);
    expect(after).not.toContain(objectOfAccount);

    // The instrument can see a call: the well-formed key does reach the account's object.
    await expectEnvelope(await call("/v1/things", { key: wellFormed, ip: freshIp() }), "UNAUTHORIZED", INVALID);
    expect(await objectIds()).toContain(objectOfAccount);
  });
});

describe("an unknown, revoked or expired key", () => {
  it("refuses an unknown key id on an existing account", async () => {
    const { accountId } = await accountWithKey({ plan: "unlimited" });
    const stranger = mintKey(accountId).key;
    expect(parseKey(stranger)).not.toBeNull();
    const envelope = await expectEnvelope(await call("/v1/things", { key: stranger }), "UNAUTHORIZED", INVALID);
    expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
  });

  it("refuses a known key id with the wrong secret (the hash decides, not the id)", async () => {
    const { accountId, keyId, key } = await accountWithKey({ plan: "unlimited" });
    const forged = forgeKey(accountId, keyId, "A".repeat(26));
    expect(forged).not.toBe(key);
    expect(parseKey(forged)).toMatchObject({ accountId, keyId });
    await expectEnvelope(await call("/v1/things", { key: forged }), "UNAUTHORIZED", INVALID);
  });

  it("refuses a key of an account that does not exist", async () => {
    const key = mintKey(uniqueAccountId("ghost")).key;
    await expectEnvelope(await call("/v1/things", { key }), "UNAUTHORIZED", INVALID);
  });

  it("refuses a revoked key on the very next request", async () => {
    const { accountId, keyId, key } = await accountWithKey({ plan: "unlimited" });
    const first = await call("/v1/things", { key });
    expect(first.status).toBe(200);
    await first.arrayBuffer();

    const view = await revokeKey(accountId, keyId);
    expect(view.revoked).toBe(true);
    const envelope = await expectEnvelope(await call("/v1/things", { key }), "UNAUTHORIZED", INVALID);
    expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
  });

  it("revoking one key leaves the account's other keys working", async () => {
    const { accountId, keyId } = await accountWithKey({ plan: "unlimited" });
    const other = await createKey(accountId);
    await revokeKey(accountId, keyId);
    const res = await call("/v1/things", { key: other.key });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("refuses a key once its expires_at has passed", async () => {
    // workerd's clock cannot be moved from a test, so the key's expiry is moved instead:
    // the stored expires_at is set into the past with SQL, then the object is evicted so
    // that it reloads its keys from storage, as it would after any restart. No private
    // in-memory state is touched, and the check runs exactly as in production.
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const { accountId, keyId, key, created } = await accountWithKey({ plan: "unlimited" }, { expires_at: expiresAt });
    expect(created.expires_at).toBe(expiresAt);
    const before = await call("/v1/things", { key });
    expect(before.status, "a key is valid until it expires").toBe(200);
    await before.arrayBuffer();

    const stub = env.ACCOUNTS.getByName(accountId);
    const past = Date.now() - 1_000;
    const changed = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("UPDATE api_keys SET expires_at = ? WHERE id = ?", past, keyId).rowsWritten,
    );
    expect(changed).toBe(1);
    await evictDurableObject(stub);

    const view = await getAccount(accountId);
    expect(view.keys.find((k) => k.id === keyId)?.expires_at).toBe(new Date(past).toISOString().replace(/\.\d{3}Z$/, "Z"));
    const envelope = await expectEnvelope(await call("/v1/things", { key }), "UNAUTHORIZED", INVALID);
    expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
  });
});

describe("scopes", () => {
  it("GET, HEAD and OPTIONS need 'read'; a read-only key may not write", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" }, { scopes: ["read"] });
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      const res = await call("/v1/things", { key, method });
      expect(res.status, method).toBe(200);
      await res.arrayBuffer();
    }
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const res = await call("/v1/things", { key, method, body: method === "DELETE" ? undefined : { a: 1 } });
      const envelope = await expectEnvelope(res, "FORBIDDEN", lacks("write"), { retryAfter: false });
      expect(await originReceived(envelope.meta.request_id), method).toBeUndefined();
    }
  });

  it("every other method needs 'write'; a write-only key may not read", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" }, { scopes: ["write"] });
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const res = await call("/v1/things", { key, method, body: method === "DELETE" ? undefined : { a: 1 } });
      expect(res.status, method).toBe(200);
      await res.arrayBuffer();
    }
    await expectEnvelope(await call("/v1/things", { key }), "FORBIDDEN", lacks("read"));
  });

  it("a route's own scope replaces the default", async () => {
    const plain = await accountWithKey({ plan: "unlimited" }, { scopes: ["read", "write"] });
    await expectEnvelope(await call("/v1/admin-only/reports", { key: plain.key }), "FORBIDDEN", lacks("admin"));
    await expectEnvelope(
      await call("/v1/admin-only/reports", { key: plain.key, method: "POST", body: {} }),
      "FORBIDDEN",
      lacks("admin"),
    );

    const adminKey = await accountWithKey({ plan: "unlimited" }, { scopes: ["admin"] });
    for (const method of ["GET", "POST"]) {
      const res = await call("/v1/admin-only/reports", { key: adminKey.key, method, body: method === "POST" ? {} : undefined });
      expect(res.status, method).toBe(200);
      await res.arrayBuffer();
    }
  });

  it("scope '*' holds every scope", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" }, { scopes: ["*"] });
    for (const [method, path] of [
      ["GET", "/v1/things"],
      ["POST", "/v1/things"],
      ["DELETE", "/v1/things/1"],
      ["GET", "/v1/admin-only/reports"],
    ] as const) {
      const res = await call(path, { key, method, body: method === "POST" ? {} : undefined });
      expect(res.status, `${method} ${path}`).toBe(200);
      await res.arrayBuffer();
    }
  });

  it("scopes are matched exactly: 'Read' or 'read:all' is not 'read'", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" }, { scopes: ["Read", "read:all", "writer"] });
    await expectEnvelope(await call("/v1/things", { key }), "FORBIDDEN", lacks("read"));
    await expectEnvelope(await call("/v1/things", { key, method: "POST", body: {} }), "FORBIDDEN", lacks("write"));
  });
});

describe("what the origin learns about the caller", () => {
  it("gets X-Account-Id and X-Key-Id, and the upstream token instead of the client's key", async () => {
    const { accountId, keyId, key } = await accountWithKey({ plan: "unlimited" });
    const res = await call("/v1/echo", {
      key,
      headers: { "X-Account-Id": "someone-else", "X-Key-Id": "forged", "X-Account-Plan": "pro" },
    });
    expect(res.status).toBe(200);
    const echo = await res.json<Echo>();
    expect(echo.headers["x-account-id"]).toBe(accountId);
    expect(echo.headers["x-key-id"]).toBe(keyId);
    expect(echo.headers["x-account-plan"]).toBeUndefined();
    expect(echo.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(echo.headers["x-forwarded-for"]).toBe(testIp());

    const received = await originReceived(res.headers.get("X-Request-Id")!);
    expect(received?.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(JSON.stringify(received), "the client's key reaches the origin nowhere").not.toContain(key);
  });

  it("a public route needs no key, and the client's Authorization never reaches the origin", async () => {
    const res = await call("/public/echo", { headers: { Authorization: "Bearer client-secret-token", "X-Account-Id": "x" } });
    expect(res.status).toBe(200);
    const echo = await res.json<Echo>();
    expect(echo.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(echo.headers["x-account-id"]).toBeUndefined();
    expect(echo.headers["x-key-id"]).toBeUndefined();
    expect(JSON.stringify(echo)).not.toContain("client-secret-token");
  });
});

describe("a failed authentication consumes nothing", () => {
  it("leaves the account's usage and credits as they were", async () => {
    const { accountId, keyId, key } = await accountWithKey({ plan: "default", credits: 100 });
    const readOnly = await createKey(accountId, { scopes: ["read"] });
    const revoked = await createKey(accountId);
    await revokeKey(accountId, revoked.id);

    const refused: [string, Response][] = [
      ["wrong secret", await call("/v1/generate/text", { key: forgeKey(accountId, keyId, "B".repeat(26)), body: {}, ip: freshIp() })],
      ["unknown key id", await call("/v1/generate/text", { key: mintKey(accountId).key, body: {}, ip: freshIp() })],
      ["revoked", await call("/v1/generate/text", { key: revoked.key, body: {}, ip: freshIp() })],
      ["missing scope", await call("/v1/generate/text", { key: readOnly.key, body: {}, ip: freshIp() })],
      ["malformed", await call("/v1/generate/text", { key: `${key}x`, body: {}, ip: freshIp() })],
    ];
    for (const [name, res] of refused) {
      expect([401, 403], name).toContain(res.status);
      expect(res.headers.get("X-Credits-Remaining"), name).toBeNull();
      await res.arrayBuffer();
    }

    const after = await getAccount(accountId);
    expect(after.credits).toBe(100);
    expect(after.usage.minute).toEqual({ used: 0, limit: 5, reset: null });
    expect(after.usage.day).toEqual({ used: 0, limit: 8, reset: null });

    // The instrument counts: one admitted request shows up at once.
    const admitted = await call("/v1/generate/text", { key, body: {} });
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get("X-Credits-Remaining")).toBe("60");
    await admitted.arrayBuffer();
    const counted = await getAccount(accountId);
    expect(counted.credits).toBe(60);
    expect(counted.usage.minute.used).toBe(1);
    expect(counted.usage.day.used).toBe(1);
  });
});

