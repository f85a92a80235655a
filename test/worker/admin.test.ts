// SPEC 7 inside workerd: the admin API's accounts, credits, token, health and bad bodies.
// Keys and the account view are in admin-keys.test.ts.
import { describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  admin,
  createAccount,
  expectEnvelope,
  expectHeadEnvelope,
  expectSuccess,
  freshIp,
  getAccount,
  uniqueAccountId,
  type AccountView,
} from "./helpers.ts";

const DEFAULT_PLAN = { per_minute: 5, per_day: 8 };

describe("POST /_gateway/accounts", () => {
  it("creates an account on the default plan with 0 credits", async () => {
    const id = uniqueAccountId();
    const view = await expectSuccess<AccountView>(await admin("POST", "/accounts", { body: { id } }), 201);
    expect(view).toMatchObject({
      id,
      plan: "default",
      credits: 0,
      limits: DEFAULT_PLAN,
      usage: {
        minute: { used: 0, limit: 5, reset: null },
        day: { used: 0, limit: 8, reset: null },
      },
      keys: [],
    });
    expect(await getAccount(id)).toMatchObject({ id, plan: "default", credits: 0 });
  });

  it("takes a plan and initial credits", async () => {
    const id = uniqueAccountId();
    const view = await expectSuccess<AccountView>(
      await admin("POST", "/accounts", { body: { id, plan: "pro", credits: 500 } }),
      201,
    );
    expect(view).toMatchObject({ id, plan: "pro", credits: 500, limits: { per_minute: 50, per_day: 100000 } });
  });

  it("answers 409 when the account exists, and leaves it as it was", async () => {
    const { id } = await createAccount({ plan: "pro", credits: 7 });
    const res = await admin("POST", "/accounts", { body: { id, plan: "default", credits: 1000 } });
    await expectEnvelope(res, "CONFLICT", `Account '${id}' already exists`);
    expect(await getAccount(id)).toMatchObject({ plan: "pro", credits: 7 });
  });

  const badBodies: [string, unknown, RegExp][] = [
    ["a plan not in PLANS", { plan: "platinum" }, /\bplan\b/],
    ["a plan that is not a string", { plan: 5 }, /\bplan\b/],
    ["negative credits", { credits: -1 }, /\bcredits\b/],
    ["fractional credits", { credits: 1.5 }, /\bcredits\b/],
    ["credits as a string", { credits: "10" }, /\bcredits\b/],
    ["an unknown field", { colour: "red" }, /\bcolour\b/],
  ];
  for (const [name, extra, field] of badBodies) {
    it(`refuses ${name} with 400 naming the field, creating nothing`, async () => {
      const id = uniqueAccountId();
      const res = await admin("POST", "/accounts", { body: { id, ...(extra as object) } });
      await expectEnvelope(res, "VALIDATION_ERROR", field);
      await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
    });
  }

  for (const id of ["UPPER", "a_b", "-leading", "x".repeat(64), "", 42]) {
    it(`refuses the id ${JSON.stringify(id)} with 400 naming id`, async () => {
      await expectEnvelope(await admin("POST", "/accounts", { body: { id } }), "VALIDATION_ERROR", /\bid\b/);
    });
  }

  it("refuses a body without an id", async () => {
    await expectEnvelope(await admin("POST", "/accounts", { body: { plan: "pro" } }), "VALIDATION_ERROR", /\bid\b/);
  });

  it("accepts the longest id the pattern allows (63 characters)", async () => {
    const id = `a${uniqueAccountId().replace(/-/g, "")}`.padEnd(63, "9");
    expect(id).toHaveLength(63);
    expect((await createAccount({ id })).id).toBe(id);
  });
});

describe("GET /_gateway/accounts/:id", () => {
  it("answers 404 for an absent account", async () => {
    const id = uniqueAccountId("absent");
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND", `Account '${id}' does not exist`);
  });

  for (const id of ["UPPER", "a_b", "a".repeat(70), "-abc", "%41bc", "a.b"]) {
    it(`answers 404 for the id ${id.length > 20 ? `of ${id.length} characters` : id}, which cannot exist`, async () => {
      await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
    });
  }
});

describe("PATCH /_gateway/accounts/:id", () => {
  it("changes the plan, and the limits with it", async () => {
    const { id } = await createAccount({ credits: 3 });
    const view = await expectSuccess<AccountView>(await admin("PATCH", `/accounts/${id}`, { body: { plan: "unlimited" } }), 200);
    expect(view).toMatchObject({ id, plan: "unlimited", credits: 3, limits: { per_minute: null, per_day: null } });
    expect((await getAccount(id)).plan).toBe("unlimited");
  });

  const badPatches: [string, string | object, RegExp][] = [
    ["an empty body", "", /body/i],
    ["an empty object", {}, /\bplan\b/],
    ["an unknown field", { credits: 100 }, /\bcredits\b/],
    ["an unknown field beside a good one", { plan: "pro", colour: "red" }, /\bcolour\b/],
    ["a plan not in PLANS", { plan: "free" }, /\bplan\b/],
  ];
  for (const [name, body, field] of badPatches) {
    it(`refuses ${name} with 400, changing nothing`, async () => {
      const { id } = await createAccount({ plan: "default", credits: 9 });
      await expectEnvelope(await admin("PATCH", `/accounts/${id}`, { body }), "VALIDATION_ERROR", field);
      expect(await getAccount(id)).toMatchObject({ plan: "default", credits: 9 });
    });
  }

  it("answers 404 for an absent account", async () => {
    await expectEnvelope(await admin("PATCH", `/accounts/${uniqueAccountId()}`, { body: { plan: "pro" } }), "NOT_FOUND");
  });
});

describe("POST /_gateway/accounts/:id/credits", () => {
  it("adds and removes credits, answering the balance", async () => {
    const { id } = await createAccount({ credits: 10 });
    const up = await admin("POST", `/accounts/${id}/credits`, { body: { amount: 250, reason: "top-up" } });
    expect(await expectSuccess(up, 200)).toEqual({ balance: 260 });
    const down = await admin("POST", `/accounts/${id}/credits`, { body: { amount: -60 } });
    expect(await expectSuccess(down, 200)).toEqual({ balance: 200 });
    expect((await getAccount(id)).credits).toBe(200);
  });

  it("may take the balance to exactly 0, and refuses to go below with 409", async () => {
    const { id } = await createAccount({ credits: 30 });
    const refused = await admin("POST", `/accounts/${id}/credits`, { body: { amount: -31 } });
    await expectEnvelope(refused, "CONFLICT", /30/);
    expect((await getAccount(id)).credits).toBe(30);
    expect(await expectSuccess(await admin("POST", `/accounts/${id}/credits`, { body: { amount: -30 } }), 200)).toEqual({ balance: 0 });
    await expectEnvelope(await admin("POST", `/accounts/${id}/credits`, { body: { amount: -1 } }), "CONFLICT");
    expect((await getAccount(id)).credits).toBe(0);
  });

  it("refuses with 409 an amount that would take the balance past 2^53 - 1, the balance unchanged", async () => {
    const { id } = await createAccount({ credits: 5 });
    const res = await admin("POST", `/accounts/${id}/credits`, { body: { amount: Number.MAX_SAFE_INTEGER } });
    await expectEnvelope(res, "CONFLICT", /\b5\b/);
    expect((await getAccount(id)).credits).toBe(5);
    const top = Number.MAX_SAFE_INTEGER - 5;
    expect(await expectSuccess(await admin("POST", `/accounts/${id}/credits`, { body: { amount: top } }), 200)).toEqual({
      balance: Number.MAX_SAFE_INTEGER,
    });
  });

  const badAmounts: [string, object, RegExp][] = [
    ["zero", { amount: 0 }, /\bamount\b/],
    ["a fraction", { amount: 1.5 }, /\bamount\b/],
    ["a string", { amount: "10" }, /\bamount\b/],
    ["no amount", { reason: "gift" }, /\bamount\b/],
    ["a reason that is not a string", { amount: 5, reason: 5 }, /\breason\b/],
    ["an unknown field", { amount: 5, currency: "EUR" }, /\bcurrency\b/],
  ];
  for (const [name, body, field] of badAmounts) {
    it(`refuses ${name} with 400, the balance unchanged`, async () => {
      const { id } = await createAccount({ credits: 40 });
      await expectEnvelope(await admin("POST", `/accounts/${id}/credits`, { body }), "VALIDATION_ERROR", field);
      expect((await getAccount(id)).credits).toBe(40);
    });
  }

  it("answers 404 for an absent account", async () => {
    await expectEnvelope(await admin("POST", `/accounts/${uniqueAccountId()}/credits`, { body: { amount: 5 } }), "NOT_FOUND");
  });
});

describe("the admin token", () => {
  const refusals: [string, string | null][] = [
    ["missing", null],
    ["wrong", "not-the-token"],
    ["a prefix of the right one", ADMIN_TOKEN.slice(0, -1)],
    ["the right one with a suffix", `${ADMIN_TOKEN}2`],
  ];
  for (const [name, token] of refusals) {
    it(`refuses a ${name} token with 401, doing nothing`, async () => {
      const id = uniqueAccountId();
      await expectEnvelope(await admin("POST", "/accounts", { token, body: { id }, ip: freshIp() }), "UNAUTHORIZED");
      await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
    });
  }

  it("refuses another scheme", async () => {
    const res = await admin("GET", "/accounts/x", { token: null, headers: { Authorization: `Basic ${btoa(ADMIN_TOKEN)}` } });
    await expectEnvelope(res, "UNAUTHORIZED");
  });
});

describe("GET and HEAD /_gateway/health", () => {
  it("answers without a token", async () => {
    // SPEC 12: each upstream with its breaker as this isolate sees it (the test configuration has none).
    expect(await expectSuccess(await admin("GET", "/health", { token: null }), 200)).toEqual({ status: "ok", upstreams: [{ name: "default", breaker: "off" }] });
    const head = await admin("HEAD", "/health", { token: null });
    expect(head.status).toBe(200);
    expect(head.headers.get("X-Request-Id")).toMatch(/^req_/);
    expect(await head.text()).toBe("");
  });
});

describe("unknown admin paths and bad bodies", () => {
  for (const [method, path] of [
    ["GET", "/nothing-here"],
    // GET /_gateway is the dashboard and GET /_gateway/accounts the listing (SPEC 13).
    ["POST", ""],
    ["DELETE", "/accounts"],
    ["PUT", "/accounts/some-id"],
    ["POST", "/accounts/some-id/unknown"],
    ["GET", "/accounts/some-id/keys/abcdefghij/extra"],
  ] as const) {
    it(`answers 404 for ${method} /_gateway${path}`, async () => {
      await expectEnvelope(await admin(method, path, { body: method === "GET" ? undefined : {} }), "NOT_FOUND");
    });
  }

  it("answers a HEAD to an unknown path with the envelope's headers and no body", async () => {
    await expectHeadEnvelope(await admin("HEAD", "/nothing-here"), "NOT_FOUND");
  });

  for (const [name, body] of [
    ["broken JSON", '{"id": "acme", '],
    ["a JSON array", '["acme"]'],
    ["a JSON string", '"acme"'],
    ["JSON null", "null"],
    ["no body", ""],
  ] as const) {
    it(`refuses ${name} with 400`, async () => {
      const res = await admin("POST", "/accounts", { body, headers: { "Content-Type": "application/json" } });
      await expectEnvelope(res, "VALIDATION_ERROR", /body/i);
    });
  }

  it("refuses a 1 MB body with 400 and creates nothing", async () => {
    const id = uniqueAccountId();
    const body = JSON.stringify({ id, plan: "default", padding: "x".repeat(1024 * 1024) });
    await expectEnvelope(await admin("POST", "/accounts", { body }), "VALIDATION_ERROR");
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
  });

  it("refuses a 1 MB body that comes without a Content-Length", async () => {
    const id = uniqueAccountId();
    const text = JSON.stringify({ id, padding: "x".repeat(1024 * 1024) });
    const stream = new Blob([text]).stream();
    await expectEnvelope(await admin("POST", "/accounts", { body: stream }), "VALIDATION_ERROR");
    await expectEnvelope(await admin("GET", `/accounts/${id}`), "NOT_FOUND");
  });
});
