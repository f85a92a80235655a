// SPEC 13 inside workerd: GET /_gateway/accounts — pages in id order with cursors, the
// prefix filter, limit bounds, bad parameters, exact plan and credits after paid traffic —
// and the account directory behind it: written by the admin API only, never on the request
// path, and never left listing too little when a call fails half-way.
//
// Storage is shared by the tests of this file, so each test lists under a prefix of its own.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountPage, AccountSummary } from "../../src/account/types.ts";
import { PHANTOM_GRACE_MS, type AccountDirectory } from "../../src/directory/directory-do.ts";
import { directoryStub } from "../../src/directory/stub.ts";
import { ISO_SECONDS, accountWithKey, admin, call, createAccount, expectEnvelope, expectSuccess, getAccount, uniqueAccountId } from "./helpers.ts";

/** A prefix no other test lists under: `lst-<12 hex>-`. */
function freshPrefix(): string {
  return `${uniqueAccountId("lst")}-`;
}

async function list(query: Record<string, string | number> = {}): Promise<AccountPage> {
  const search = new URLSearchParams(Object.entries(query).map(([name, value]) => [name, String(value)]));
  const page = await expectSuccess<AccountPage>(await admin("GET", `/accounts?${search}`), 200);
  expect(Object.keys(page).sort()).toEqual(["accounts", "next_cursor"]);
  for (const account of page.accounts) {
    expect(Object.keys(account).sort()).toEqual(["created_at", "credits", "id", "plan"]);
    expect(account.created_at).toMatch(ISO_SECONDS);
  }
  return page;
}

const ids = (page: AccountPage) => page.accounts.map((account) => account.id);

/** Creates the accounts one after another (in the order given) and returns their ids. */
async function createAll(names: readonly string[], prefix: string, input: { plan?: string; credits?: number } = {}): Promise<string[]> {
  for (const name of names) await createAccount({ id: `${prefix}${name}`, ...input });
  return names.map((name) => `${prefix}${name}`);
}

/** Walks every page of `query` and returns the pages. */
async function allPages(query: Record<string, string | number>): Promise<AccountPage[]> {
  const pages: AccountPage[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(cursor === null ? query : { ...query, cursor });
    pages.push(page);
    cursor = page.next_cursor;
  } while (cursor !== null && pages.length < 50);
  return pages;
}

/**
 * Makes the calls named `methods` on the objects of a binding fail (on the object named
 * `only`, or on all), as an unreachable object would, until the returned function puts the
 * binding back. Injected at the binding, on the Worker's side: the objects are untouched.
 */
function breakCalls(binding: "ACCOUNTS" | "DIRECTORY", methods: readonly string[], only?: string): () => void {
  const bindings = env as unknown as Record<string, unknown>;
  const real = env[binding];
  const bound = <T extends object>(target: T, key: string | symbol) => {
    const value = Reflect.get(target, key) as unknown;
    return typeof value === "function" ? value.bind(target) : value;
  };
  bindings[binding] = new Proxy(real, {
    get(namespace, key) {
      if (key !== "getByName") return bound(namespace, key);
      return (name: string) => {
        const stub = namespace.getByName(name);
        if (only !== undefined && name !== only) return stub;
        return new Proxy(stub, {
          // A stub's own methods are RPC calls already tied to it (and `bind` on one would be an RPC call too).
          get: (target, method) => (methods.includes(String(method)) ? () => Promise.reject(new Error(`${String(method)}: object unreachable`)) : Reflect.get(target, method)),
        });
      };
    },
  });
  return () => {
    bindings[binding] = real;
  };
}

describe("GET /_gateway/accounts: pages and cursors", () => {
  it("walks more accounts than one page in id order, each page starting after the last, the last page with next_cursor null", async () => {
    const prefix = freshPrefix();
    // Created out of order: the listing's order is the ids', not the creation's.
    const created = await createAll(["e", "b", "g", "a", "f", "c", "d"], prefix, { credits: 3 });
    const pages = await allPages({ prefix, limit: 3 });
    expect(pages.map(ids)).toEqual([
      [`${prefix}a`, `${prefix}b`, `${prefix}c`],
      [`${prefix}d`, `${prefix}e`, `${prefix}f`],
      [`${prefix}g`],
    ]);
    expect(pages.map((page) => page.next_cursor)).toEqual([`${prefix}c`, `${prefix}f`, null]);
    expect(pages.flatMap(ids).sort()).toEqual([...created].sort());
    expect(pages[0]!.accounts[0]).toEqual({ id: `${prefix}a`, plan: "default", credits: 3, created_at: expect.stringMatching(ISO_SECONDS) });
  });

  it("gives next_cursor null when the last page is exactly full", async () => {
    const prefix = freshPrefix();
    await createAll(["a", "b", "c", "d"], prefix);
    const pages = await allPages({ prefix, limit: 2 });
    expect(pages.map(ids)).toEqual([[`${prefix}a`, `${prefix}b`], [`${prefix}c`, `${prefix}d`]]);
    expect(pages.map((page) => page.next_cursor)).toEqual([`${prefix}b`, null]);
  });

  it("pages 50 at a time by default and at most 100 at a time, across 101 accounts", async () => {
    const prefix = freshPrefix();
    const names = Array.from({ length: 101 }, (_, i) => String(i).padStart(3, "0"));
    await Promise.all(names.map((name) => createAccount({ id: `${prefix}${name}` })));

    const byDefault = await list({ prefix });
    expect(ids(byDefault)).toEqual(names.slice(0, 50).map((name) => `${prefix}${name}`));
    expect(byDefault.next_cursor).toBe(`${prefix}049`);

    const widest = await list({ prefix, limit: 100 });
    expect(widest.accounts).toHaveLength(100);
    expect(widest.next_cursor).toBe(`${prefix}099`);
    const rest = await list({ prefix, limit: 100, cursor: widest.next_cursor! });
    expect(ids(rest)).toEqual([`${prefix}100`]);
    expect(rest.next_cursor).toBeNull();

    const one = await list({ prefix, limit: 1 });
    expect(ids(one)).toEqual([`${prefix}000`]);
    expect(one.next_cursor).toBe(`${prefix}000`);
  });

  it("accepts a cursor that is any account id, listing the ids after it", async () => {
    const prefix = freshPrefix();
    await createAll(["a", "c", "e"], prefix);
    expect(ids(await list({ prefix, cursor: `${prefix}b` }))).toEqual([`${prefix}c`, `${prefix}e`]);
    expect(await list({ prefix, cursor: `${prefix}e` })).toEqual({ accounts: [], next_cursor: null });
  });
});

describe("GET /_gateway/accounts: prefix", () => {
  it("keeps exactly the ids that start with the prefix", async () => {
    const base = uniqueAccountId("pfx");
    // Neighbours in byte order on both sides of `${base}-ab`: none may leak in.
    const inside = [`${base}-ab`, `${base}-ab-1`, `${base}-abz`, `${base}-ab0`];
    const outside = [`${base}-aa`, `${base}-ac`, `${base}-a`, `${base}-b`, `${base}`];
    for (const id of [...inside, ...outside]) await createAccount({ id });
    expect(ids(await list({ prefix: `${base}-ab` }))).toEqual([...inside].sort());
    expect(ids(await list({ prefix: `${base}-ab-` }))).toEqual([`${base}-ab-1`]);
    expect(ids(await list({ prefix: base }))).toEqual([...inside, ...outside].sort());
  });

  it("answers an empty page, next_cursor null, when no id starts with the prefix", async () => {
    expect(await list({ prefix: freshPrefix() })).toEqual({ accounts: [], next_cursor: null });
  });

  it("lists every account when the prefix is empty", async () => {
    const [id] = await createAll(["only"], freshPrefix());
    const everyone = (await allPages({ limit: 100 })).flatMap(ids);
    expect(everyone).toContain(id);
    expect(everyone).toEqual([...everyone].sort());
  });
});

describe("GET /_gateway/accounts: bad parameters", () => {
  const cases: [string, string, RegExp][] = [
    ["limit 0", "limit=0", /^Invalid query: limit: must be a whole number from 1 to 100$/],
    ["limit 101", "limit=101", /^Invalid query: limit: /],
    ["a negative limit", "limit=-1", /^Invalid query: limit: /],
    ["a fractional limit", "limit=2.5", /^Invalid query: limit: /],
    ["a limit that is not a number", "limit=ten", /^Invalid query: limit: /],
    ["an empty limit", "limit=", /^Invalid query: limit: /],
    ["a huge limit", "limit=100000000000000000000", /^Invalid query: limit: /],
    ["a limit given twice", "limit=5&limit=6", /^Invalid query: limit: must be given at most once$/],
    ["an upper-case cursor", "cursor=ACME", /^Invalid query: cursor: must be the next_cursor of a previous page$/],
    ["an empty cursor", "cursor=", /^Invalid query: cursor: /],
    ["a cursor with a slash", "cursor=a%2Fb", /^Invalid query: cursor: /],
    ["a cursor too long", `cursor=${"a".repeat(64)}`, /^Invalid query: cursor: /],
    ["an upper-case prefix", "prefix=Acme", /^Invalid query: prefix: must be at most 63 characters of a-z, 0-9 and -$/],
    ["a prefix with %", "prefix=a%25", /^Invalid query: prefix: /],
    ["a prefix with _", "prefix=a_b", /^Invalid query: prefix: /],
    ["a prefix too long", `prefix=${"a".repeat(64)}`, /^Invalid query: prefix: /],
    ["an unknown parameter", "limit=5&offset=10", /^Invalid query: "offset" is not a parameter of this endpoint \(limit, cursor, prefix\)$/],
    ["a parameter spelled in capitals", "LIMIT=5", /^Invalid query: "LIMIT" is not a parameter/],
  ];
  for (const [name, query, message] of cases) {
    it(`refuses ${name} with 400 naming the parameter`, async () => {
      await expectEnvelope(await admin("GET", `/accounts?${query}`), "VALIDATION_ERROR", message);
    });
  }

  it("needs the admin token like every data call", async () => {
    await expectEnvelope(await admin("GET", "/accounts", { token: null }), "UNAUTHORIZED", /^Missing admin token/);
    await expectEnvelope(await admin("GET", "/accounts", { token: "wrong" }), "UNAUTHORIZED", "Invalid admin token");
  });
});

describe("GET /_gateway/accounts: exact numbers", () => {
  it("shows the plan and balance the account object holds now, after paid traffic, a 402, an adjustment and a plan change", async () => {
    const prefix = freshPrefix();
    const { accountId, key } = await accountWithKey({ id: `${prefix}paid`, credits: 100 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call("/v1/generate/echo", { key, method: "POST", body: "{}" });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    // 100 → 60 → 20, then 402 at 20.
    expect(statuses).toEqual([200, 200, 402]);
    const failed = await call("/v1/generate/status/500", { key, method: "POST", body: "{}" });
    expect(failed.status).toBe(402); // 20 < 40: refused before the origin, nothing moves
    await failed.body?.cancel();
    expect((await list({ prefix })).accounts).toEqual([{ id: accountId, plan: "default", credits: 20, created_at: expect.stringMatching(ISO_SECONDS) }]);

    await expectSuccess(await admin("POST", `/accounts/${accountId}/credits`, { body: { amount: 35 } }), 200);
    await expectSuccess(await admin("PATCH", `/accounts/${accountId}`, { body: { plan: "pro" } }), 200);
    const refunded = await call("/v1/generate/status/500", { key, method: "POST", body: "{}" });
    expect(refunded.status).toBe(500); // charged, then refunded: 55 again
    await refunded.body?.cancel();

    const [row] = (await list({ prefix })).accounts as [AccountSummary];
    const view = await getAccount(accountId);
    expect(row).toEqual({ id: accountId, plan: "pro", credits: 55, created_at: row.created_at });
    expect({ plan: view.plan, credits: view.credits }).toEqual({ plan: "pro", credits: 55 });
  });

  it("is never on the request path: proxied requests work while the directory fails every call", async () => {
    const { accountId, key } = await accountWithKey({ id: `${freshPrefix()}hot`, credits: 100 });
    const directory = directoryStub(env);
    const repair = breakCalls("DIRECTORY", ["register", "ids", "forgetPhantoms"]);
    try {
      const res = await call("/v1/generate/echo", { key, method: "POST", body: "{}" });
      expect(res.status).toBe(200);
      expect(res.headers.get("X-Credits-Remaining")).toBe("60");
      await res.body?.cancel();
      // And the admin API's listing fails closed rather than answer without the directory.
      await expectEnvelope(await admin("GET", "/accounts"), "INTERNAL_ERROR", undefined, { retryAfter: 1 });
    } finally {
      repair();
    }
    expect((await getAccount(accountId)).credits).toBe(60);
  });

  it("fails the whole page (500) when one account object cannot answer, never a page with a hole", async () => {
    const prefix = freshPrefix();
    const [, broken] = await createAll(["a", "b", "c"], prefix);
    const repair = breakCalls("ACCOUNTS", ["summary"], broken);
    try {
      const envelope = await expectEnvelope(await admin("GET", `/accounts?prefix=${prefix}`), "INTERNAL_ERROR", undefined, { retryAfter: 1 });
      expect(envelope.error.message).not.toContain("storage unavailable");
    } finally {
      repair();
    }
    expect(ids(await list({ prefix }))).toHaveLength(3);
  });
});

describe("the directory stays right when a call fails half-way", () => {
  it("a failed directory write fails the creation (500) and creates nothing; the retry creates and lists", async () => {
    const id = `${freshPrefix()}retry`;
    const repair = breakCalls("DIRECTORY", ["register"]);
    try {
      await expectEnvelope(await admin("POST", "/accounts", { body: { id, credits: 5 } }), "INTERNAL_ERROR", undefined, { retryAfter: 1 });
    } finally {
      repair();
    }
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
    expect(ids(await list({ prefix: id }))).toEqual([]);

    await expectSuccess(await admin("POST", "/accounts", { body: { id, credits: 5 } }), 201);
    expect((await list({ prefix: id })).accounts).toEqual([{ id, plan: "default", credits: 5, created_at: expect.stringMatching(ISO_SECONDS) }]);
  });

  it("an id whose creation failed after it was registered is never shown, pages stay full, and it is forgotten after the grace period", async () => {
    const prefix = freshPrefix();
    await createAll(["a"], prefix);
    const phantom = `${prefix}b`;
    const repair = breakCalls("ACCOUNTS", ["createAccount"], phantom);
    try {
      await expectEnvelope(await admin("POST", "/accounts", { body: { id: phantom } }), "INTERNAL_ERROR");
    } finally {
      repair();
    }
    await createAll(["c", "d"], prefix);
    const directory = directoryStub(env);
    expect(await directory.ids({ prefix, after: null, limit: 10 })).toEqual([`${prefix}a`, phantom, `${prefix}c`, `${prefix}d`]);

    // Within the grace period: hidden from every page, and kept (its creation may be under way).
    const pages = await allPages({ prefix, limit: 2 });
    expect(pages.map(ids)).toEqual([[`${prefix}a`, `${prefix}c`], [`${prefix}d`]]);
    expect(pages.map((page) => page.next_cursor)).toEqual([`${prefix}c`, null]);
    expect(await directory.ids({ prefix, after: null, limit: 10 })).toContain(phantom);

    // Past it: the next listing that meets the phantom forgets it. (now() is called inside
    // the object, not over RPC, so shadowing it on the instance is enough.)
    await runInDurableObject(directory, (instance: AccountDirectory) => {
      (instance as unknown as { now: () => number }).now = () => Date.now() + PHANTOM_GRACE_MS + 1_000;
    });
    try {
      expect(ids(await list({ prefix }))).toEqual([`${prefix}a`, `${prefix}c`, `${prefix}d`]);
      expect(await directory.ids({ prefix, after: null, limit: 10 })).toEqual([`${prefix}a`, `${prefix}c`, `${prefix}d`]);
    } finally {
      await runInDurableObject(directory, (instance: AccountDirectory) => void delete (instance as unknown as { now?: unknown }).now);
    }

    // The operator's retry creates and lists it.
    await expectSuccess(await admin("POST", "/accounts", { body: { id: phantom } }), 201);
    expect(ids(await list({ prefix }))).toEqual([`${prefix}a`, phantom, `${prefix}c`, `${prefix}d`]);
  });

  it("an account the directory does not know (created before it existed) is listed once the admin API touches it", async () => {
    const prefix = freshPrefix();
    const [shown, created] = [`${prefix}shown`, `${prefix}created`];
    // Straight into the account objects, as accounts were created before the directory.
    for (const id of [shown, created]) {
      const result = await env.ACCOUNTS.getByName(id).createAccount({ id, plan: "pro", credits: 9 });
      expect(result.ok).toBe(true);
    }
    expect(ids(await list({ prefix }))).toEqual([]);

    // GET /accounts/:id lists it…
    expect((await getAccount(shown)).credits).toBe(9);
    expect(ids(await list({ prefix }))).toEqual([shown]);
    // …and so does a repeated creation, which still answers 409 and changes nothing.
    await expectEnvelope(await admin("POST", "/accounts", { body: { id: created } }), "CONFLICT", `Account '${created}' already exists`);
    expect((await list({ prefix })).accounts).toEqual([
      { id: created, plan: "pro", credits: 9, created_at: expect.stringMatching(ISO_SECONDS) },
      { id: shown, plan: "pro", credits: 9, created_at: expect.stringMatching(ISO_SECONDS) },
    ]);
  });

  it("a GET of an absent account lists nothing", async () => {
    const id = `${freshPrefix()}absent`;
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
    expect(await directoryStub(env).ids({ prefix: id, after: null, limit: 10 })).toEqual([]);
  });
});
