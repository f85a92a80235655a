// Refunds that must not be lost (SPEC 5), inside workerd against the real account object:
// an admission whose answer is lost after it committed, a debit the ledger has already
// pruned while a long body streamed, and background retries that fit the time the runtime
// grants them and end, if they fail, in a line an operator sees.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import { BACKGROUND_REFUND, WAIT_UNTIL_BUDGET_MS, retryInBackground } from "../../src/upstream/refund.ts";
import { accountWithKey, call, expectEnvelope, getAccount, originReceived } from "./helpers.ts";

interface LedgerRow {
  delta: number;
  balance: number;
  reason: string;
  request_id: string | null;
}

async function movesOf(accountId: string, requestId: string): Promise<[string, number][]> {
  const view = (await getAccount(accountId)) as unknown as { ledger: LedgerRow[] };
  return view.ledger.filter((row) => row.request_id === requestId).map((row) => [row.reason, row.delta]);
}

type StubCall = (...args: unknown[]) => Promise<unknown>;

/**
 * Intercepts what the Worker's calls to one account's object return, as a connection that
 * drops an answer would: `wrap` gets the real method and returns its stand-in. The object
 * itself runs untouched (the env object is shared by the tests and the Worker they call).
 */
function intercept(accountId: string, wrap: Partial<Record<"admit" | "settle", (real: StubCall) => StubCall>>): void {
  const namespace = env.ACCOUNTS;
  const byName = (name: string) => {
    const stub = namespace.getByName(name);
    if (name !== accountId) return stub;
    return new Proxy(stub, {
      get(target, property) {
        const real = Reflect.get(target, property) as unknown;
        const replace = property === "admit" || property === "settle" ? wrap[property] : undefined;
        if (replace === undefined) return real;
        return replace((...args) => (real as StubCall)(...args));
      },
    });
  };
  const wrapped = new Proxy(namespace, {
    get: (target, property) => (property === "getByName" ? byName : Reflect.get(target, property)),
  });
  Object.defineProperty(env, "ACCOUNTS", { value: wrapped, configurable: true, writable: true });
  restorers.push(() => Object.defineProperty(env, "ACCOUNTS", { value: namespace, configurable: true, writable: true }));
}

const restorers: (() => void)[] = [];
afterEach(() => {
  for (const restore of restorers.splice(0)) restore();
  vi.restoreAllMocks();
});

describe("an admission whose answer is lost after it committed", () => {
  it("has its debit given back, and says only what is true: nothing forwarded, no credits kept", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    // The admission runs to its end (slot taken, 40 debited); only its answer is lost.
    intercept(accountId, {
      admit: (admit) => async (req) => {
        await admit(req);
        throw new Error("connection lost after commit");
      },
    });

    const res = await call("/v1/generate/echo", { key, method: "POST", body: "{}" });
    const requestId = res.headers.get("X-Request-Id")!;
    expect(res.headers.get("X-Credits-Remaining")).toBe("100");
    const envelope = await expectEnvelope(res, "INTERNAL_ERROR", "The gateway could not check this request's limits. Nothing was forwarded, and no credits were kept; retry shortly.", { retryAfter: 1 });
    expect(envelope.error.message).not.toContain("connection lost");
    expect(await originReceived(requestId)).toBeUndefined();
    expect((await getAccount(accountId)).credits).toBe(100);
    expect(await movesOf(accountId, requestId)).toEqual([
      ["refund", 40],
      ["debit", -40],
    ]);
  });
});

describe("settle() for a debit the ledger no longer holds", () => {
  it("gives back the amount the Worker names, once", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const charged = await call("/v1/generate/echo", { key, method: "POST", body: "{}" });
    const requestId = charged.headers.get("X-Request-Id")!;
    await charged.body?.cancel();
    expect((await getAccount(accountId)).credits).toBe(60);

    // Two hours on (a body that streams that long), the next admission prunes the debit.
    const stub = env.ACCOUNTS.getByName(accountId);
    await runInDurableObject(stub, (instance: AccountDO) => {
      (instance as unknown as { now: () => number }).now = () => Date.now() + 2 * 3_600_000;
    });
    const later = await call("/v1/echo", { key });
    await later.body?.cancel();
    expect(await movesOf(accountId, requestId)).toEqual([]);

    // The body breaks now: the refund names what admission debited.
    expect(await stub.settle(requestId, 40)).toBe(100);
    expect(await stub.settle(requestId, 40)).toBe(100);
    expect(await movesOf(accountId, requestId)).toEqual([["refund", 40]]);
    // Without an amount (the admission's answer was lost), only the ledger counts.
    expect(await stub.settle("req_unknown_to_the_ledger")).toBe(100);
  });
});

describe("background refund retries", () => {
  it("fit, at worst, inside the 30 s that waitUntil work may run after the response", () => {
    const worstCase = BACKGROUND_REFUND.delaysMs.reduce((sum, d) => sum + d, 0) + BACKGROUND_REFUND.delaysMs.length * BACKGROUND_REFUND.attemptTimeoutMs;
    expect(WAIT_UNTIL_BUDGET_MS).toBe(30_000);
    expect(worstCase).toBeLessThan(WAIT_UNTIL_BUDGET_MS);
  });

  it("end, when the account object never answers, in one console.error line with the request id, account and amount", async () => {
    const { accountId } = await accountWithKey({ plan: "unlimited", credits: 100 });
    intercept(accountId, {
      settle: () => () => Promise.reject(new Error("storage unavailable")),
    });
    const stub = env.ACCOUNTS.getByName(accountId);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const waits: number[] = [];
    let attempts = 0;

    const refunded = await retryInBackground(
      () => {
        attempts++;
        return stub.settle("req_lost_refund_0001", 40);
      },
      { request_id: "req_lost_refund_0001", account: accountId, amount: 40 },
      async (ms) => void waits.push(ms),
    );

    expect(refunded).toBe(false);
    expect(waits).toEqual([...BACKGROUND_REFUND.delaysMs]);
    expect(attempts).toBe(BACKGROUND_REFUND.delaysMs.length);
    expect(errors).toHaveBeenCalledTimes(1);
    const line = JSON.parse(String(errors.mock.calls[0]![0])) as Record<string, unknown>;
    expect(line).toEqual({
      request_id: "req_lost_refund_0001",
      account: accountId,
      amount: 40,
      error: expect.stringMatching(/^refund failed after 3 background retries \(.*storage unavailable.*\); the ledger holds the debit$/),
    });
  });

  it("stop at the first that succeeds, quietly", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    let attempts = 0;
    const refunded = await retryInBackground(
      async () => {
        attempts++;
        if (attempts === 1) throw new Error("overloaded");
        return 100;
      },
      { request_id: "req_recovered_00001", account: "acme", amount: 40 },
      async () => {},
    );
    expect(refunded).toBe(true);
    expect(attempts).toBe(2);
    expect(errors).not.toHaveBeenCalled();
  });
});
