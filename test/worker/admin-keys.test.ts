// SPEC 7 inside workerd: creating and revoking keys, and the account view.
import { describe, expect, it } from "vitest";
import {
  ISO_SECONDS,
  admin,
  call,
  createAccount,
  createKey,
  expectEnvelope,
  expectSuccess,
  freshIp,
  getAccount,
  uniqueAccountId,
  type AccountView,
  type CreatedKey,
  type KeyView,
} from "./helpers.ts";

const KEY_VIEW_FIELDS = ["created_at", "expires_at", "id", "name", "prefix", "revoked", "scopes"];
const CREATED_KEY_FIELDS = ["created_at", "expires_at", "id", "key", "name", "prefix", "scopes"];

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function ok(res: Response): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(200);
  await res.arrayBuffer();
}

describe("POST /_gateway/accounts/:id/keys", () => {
  it("answers 201 with the key, once, and exactly the documented fields", async () => {
    const { id: accountId } = await createAccount({ plan: "unlimited" });
    const expiresAt = isoSeconds(Date.now() + 86_400_000);
    const before = Math.floor(Date.now() / 1000) * 1000;
    const res = await admin("POST", `/accounts/${accountId}/keys`, {
      body: { scopes: ["read", "write"], name: "ci", expires_at: expiresAt },
    });
    const created = await expectSuccess<CreatedKey>(res, 201);
    const after = Date.now();

    expect(Object.keys(created).sort()).toEqual(CREATED_KEY_FIELDS);
    expect(created).toMatchObject({ scopes: ["read", "write"], name: "ci", expires_at: expiresAt });
    expect(created.created_at).toMatch(ISO_SECONDS);
    expect(Date.parse(created.created_at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(created.created_at)).toBeLessThanOrEqual(after);
    expect(created.key.startsWith("tgk_")).toBe(true);

    // The prefix recognises the key but is not the key, and does not authenticate.
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created.prefix.length).toBeLessThan(created.key.length);
    await expectEnvelope(await call("/v1/things", { key: created.prefix, ip: freshIp() }), "UNAUTHORIZED");

    // The key itself works at once.
    await ok(await call("/v1/things", { key: created.key }));

    // The view lists it without the key, and never shows the key again.
    const view = await getAccount(accountId);
    expect(view.keys).toHaveLength(1);
    const listed = view.keys[0]!;
    expect(Object.keys(listed).sort()).toEqual(KEY_VIEW_FIELDS);
    expect(listed).toEqual({
      id: created.id,
      prefix: created.prefix,
      scopes: ["read", "write"],
      name: "ci",
      created_at: created.created_at,
      expires_at: expiresAt,
      revoked: false,
    });
    const secret = created.key.slice(created.prefix.length);
    expect(JSON.stringify(view)).not.toContain(created.key);
    expect(JSON.stringify(view)).not.toContain(secret);
  });

  it("defaults name and expires_at to null", async () => {
    const { id } = await createAccount();
    const created = await createKey(id, { scopes: ["read"] });
    expect(created).toMatchObject({ scopes: ["read"], name: null, expires_at: null });
  });

  it("shows an expires_at given with an offset in UTC, and accepts February 29 of a leap year", async () => {
    const { id } = await createAccount();
    expect((await createKey(id, { expires_at: "2096-01-01T00:00:00+02:00" })).expires_at).toBe("2095-12-31T22:00:00Z");
    expect((await createKey(id, { expires_at: "2096-02-29T12:00:00Z" })).expires_at).toBe("2096-02-29T12:00:00Z");
  });

  it("mints a different key every time", async () => {
    const { id } = await createAccount();
    const a = await createKey(id);
    const b = await createKey(id);
    expect(a.key).not.toBe(b.key);
    expect(a.id).not.toBe(b.id);
    expect((await getAccount(id)).keys.map((k) => k.id).sort()).toEqual([a.id, b.id].sort());
  });

  const badBodies: [string, object, RegExp][] = [
    ["no scopes", { name: "ci" }, /\bscopes\b/],
    ["empty scopes", { scopes: [] }, /\bscopes\b/],
    ["scopes that are not strings", { scopes: [1, 2] }, /\bscopes\b/],
    ["scopes as one string", { scopes: "read" }, /\bscopes\b/],
    ["an empty scope", { scopes: ["read", ""] }, /\bscopes\b/],
    ["expires_at in the past", { scopes: ["read"], expires_at: "2020-01-01T00:00:00Z" }, /\bexpires_at\b/],
    ["expires_at that is not a date", { scopes: ["read"], expires_at: "next tuesday" }, /\bexpires_at\b/],
    ["expires_at as a number", { scopes: ["read"], expires_at: 1893456000 }, /\bexpires_at\b/],
    ["an impossible expires_at", { scopes: ["read"], expires_at: "2099-13-45T00:00:00Z" }, /\bexpires_at\b/],
    // Date.parse would quietly roll these over into March.
    ["expires_at on February 30", { scopes: ["read"], expires_at: "2099-02-30T00:00:00Z" }, /\bexpires_at\b/],
    ["expires_at on February 29 of a common year", { scopes: ["read"], expires_at: "2099-02-29T00:00:00Z" }, /\bexpires_at\b/],
    ["expires_at as a date without a time", { scopes: ["read"], expires_at: "2099-01-01" }, /\bexpires_at\b/],
    ["a name that is not a string", { scopes: ["read"], name: 7 }, /\bname\b/],
    ["an unknown field", { scopes: ["read"], secret: "mine" }, /\bsecret\b/],
  ];
  for (const [name, body, field] of badBodies) {
    it(`refuses ${name} with 400 naming the field, creating no key`, async () => {
      const { id } = await createAccount();
      await expectEnvelope(await admin("POST", `/accounts/${id}/keys`, { body }), "VALIDATION_ERROR", field);
      expect((await getAccount(id)).keys).toEqual([]);
    });
  }

  it("answers 404 for an absent account", async () => {
    const id = uniqueAccountId("absent");
    await expectEnvelope(await admin("POST", `/accounts/${id}/keys`, { body: { scopes: ["read"] } }), "NOT_FOUND");
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
  });
});

describe("DELETE /_gateway/accounts/:id/keys/:key_id", () => {
  it("answers 200 with the key's view, revoked, and the key is refused from then on", async () => {
    const { id } = await createAccount({ plan: "unlimited" });
    const created = await createKey(id, { scopes: ["read"], name: "laptop" });
    await ok(await call("/v1/things", { key: created.key }));

    const revoked = await expectSuccess<KeyView>(await admin("DELETE", `/accounts/${id}/keys/${created.id}`), 200);
    expect(Object.keys(revoked).sort()).toEqual(KEY_VIEW_FIELDS);
    expect(revoked).toEqual({
      id: created.id,
      prefix: created.prefix,
      scopes: ["read"],
      name: "laptop",
      created_at: created.created_at,
      expires_at: null,
      revoked: true,
    });
    await expectEnvelope(await call("/v1/things", { key: created.key }), "UNAUTHORIZED", "Invalid or expired API key");
    expect((await getAccount(id)).keys[0]).toMatchObject({ id: created.id, revoked: true });

    // Revoking again changes nothing and still answers the revoked view.
    const again = await expectSuccess<KeyView>(await admin("DELETE", `/accounts/${id}/keys/${created.id}`), 200);
    expect(again).toEqual(revoked);
  });

  it("answers 404 for an unknown key, a malformed key id and an absent account", async () => {
    const { id } = await createAccount();
    const { id: keyId } = await createKey(id);
    await expectEnvelope(await admin("DELETE", `/accounts/${id}/keys/ABCDEFGHIJ`), "NOT_FOUND");
    await expectEnvelope(await admin("DELETE", `/accounts/${id}/keys/not-a-key-id`), "NOT_FOUND");
    await expectEnvelope(await admin("DELETE", `/accounts/${uniqueAccountId()}/keys/${keyId}`), "NOT_FOUND");
    // The real key was not touched by any of that.
    expect((await getAccount(id)).keys[0]).toMatchObject({ id: keyId, revoked: false });
  });
});

describe("the account view", () => {
  it("shows null for the limits a plan does not set", async () => {
    const view = await createAccount({ plan: "unlimited" });
    expect(view.limits).toEqual({ per_minute: null, per_day: null });
    expect(view.usage.minute.limit).toBeNull();
    expect(view.usage.day).toEqual({ used: 0, limit: null, reset: null });
  });

  it("shows the windows' use and when they next free a slot", async () => {
    const { id } = await createAccount({ plan: "default" });
    const { key } = await createKey(id);
    const fresh = await getAccount(id);
    expect(fresh.usage).toEqual({
      minute: { used: 0, limit: 5, reset: null },
      day: { used: 0, limit: 8, reset: null },
    });

    const before = Date.now();
    await ok(await call("/v1/things", { key }));
    const after = Date.now();
    const view: AccountView = await getAccount(id);
    expect(view.usage.minute.used).toBe(1);
    expect(view.usage.minute.limit).toBe(5);
    expect(view.usage.day.used).toBe(1);
    expect(view.usage.day.limit).toBe(8);

    // The minute frees its slot 60 s after the admission (a whole second, rounded up).
    const minuteReset = view.usage.minute.reset;
    expect(minuteReset).toMatch(ISO_SECONDS);
    expect(Date.parse(minuteReset!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 60_000);
    expect(Date.parse(minuteReset!)).toBeLessThanOrEqual(Math.ceil(after / 1000) * 1000 + 60_000);

    // The day resets at the next 00:00:00 UTC.
    const nextMidnight = (ms: number) => isoSeconds((Math.floor(ms / 86_400_000) + 1) * 86_400_000);
    expect([nextMidnight(before), nextMidnight(after)]).toContain(view.usage.day.reset);
  });

  it("counts the day on a plan without limits", async () => {
    const { id } = await createAccount({ plan: "unlimited" });
    const { key } = await createKey(id);
    await ok(await call("/v1/things", { key }));
    await ok(await call("/v1/things", { key }));
    const view = await getAccount(id);
    expect(view.usage.day.used).toBe(2);
    expect(view.usage.day.limit).toBeNull();
    expect(view.usage.day.reset).toMatch(/T00:00:00Z$/);
  });
});
