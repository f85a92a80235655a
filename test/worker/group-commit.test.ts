// Group commit inside workerd (src/account/batch.ts): admissions share storage commits and
// nothing got weaker. A batch whose write fails is refused whole and leaves storage and the
// object's memory as they were; hundreds of simultaneous requests at a limit and a balance are
// counted alike by the clients, the origin and the account.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import type { GroupCommitStats } from "../../src/account/batch.ts";
import { hashKey } from "../../src/keys.ts";
import { accountWithKey, call, expectEnvelope, getAccount, originUrl, type OriginRecord } from "./helpers.ts";

const COST = 40; // POST /v1/generate/* in wrangler.test.toml

/** What storage itself holds for the account, read with SQL inside the object. */
async function stored(accountId: string): Promise<{ credits: number; dayUsed: number; minuteRows: number; debits: number }> {
  return runInDurableObject(env.ACCOUNTS.getByName(accountId), (_instance: AccountDO, state: DurableObjectState) => {
    const value = (query: string) => state.storage.sql.exec<{ v: number }>(query).one().v;
    return {
      credits: value("SELECT credits AS v FROM account"),
      dayUsed: value("SELECT used AS v FROM day_usage"),
      minuteRows: value("SELECT count(*) AS v FROM minute_admissions"),
      debits: value("SELECT count(*) AS v FROM ledger WHERE reason = 'debit'"),
    };
  });
}

function sql(accountId: string, statement: string): Promise<void> {
  return runInDurableObject(env.ACCOUNTS.getByName(accountId), (_instance: AccountDO, state: DurableObjectState) => {
    state.storage.sql.exec(statement);
  });
}

async function originRequestsFor(accountId: string): Promise<OriginRecord[]> {
  const records = await (await fetch(`${originUrl()}/__origin/requests`)).json<OriginRecord[]>();
  return records.filter((r) => r.headers["x-account-id"] === accountId);
}

/** Batches counted between two stats readings: sizes by count. */
function batchesBetween(before: GroupCommitStats, after: GroupCommitStats): Map<number, number> {
  const diff = new Map(after.sizes.map(({ size, batches }) => [size, batches]));
  for (const { size, batches } of before.sizes) diff.set(size, (diff.get(size) ?? 0) - batches);
  return new Map([...diff].filter(([, n]) => n > 0));
}

function generate(key: string, count: number, path = "echo"): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, () => call(`/v1/generate/${path}`, { key, method: "POST", body: "{}" })));
}

describe("a batch whose commit fails", () => {
  it("refuses every admission in it, changes nothing in storage or memory, and the next batch succeeds", async () => {
    const { accountId, key } = await accountWithKey({ plan: "pro", credits: 1_000 });
    const stub = env.ACCOUNTS.getByName(accountId);
    // Some history first, so "unchanged" is not "empty".
    for (const res of await generate(key, 3)) expect(res.status).toBe(200);
    const before = { stored: await stored(accountId), view: await getAccount(accountId), stats: await stub.groupCommitStats() };
    expect(before.stored).toEqual({ credits: 880, dayUsed: 3, minuteRows: 3, debits: 3 });

    // A real failing statement: the batch's last write (the balance) is refused by SQLite
    // after its day count, minute rows and ledger rows were written in the same transaction.
    await sql(accountId, "CREATE TRIGGER refuse_balance BEFORE UPDATE OF credits ON account BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    const failed = await generate(key, 10);
    for (const res of failed) {
      const envelope = await expectEnvelope(res, "INTERNAL_ERROR", undefined, { retryAfter: 1 });
      expect(envelope.error.message).not.toContain("injected");
      expect(res.headers.get("X-Credits-Remaining")).toBeNull();
    }
    const failedStats = await stub.groupCommitStats();
    expect(failedStats.failedAdmissions - before.stats.failedAdmissions).toBe(10);
    // They were decided together: at least one failed batch held several admissions.
    expect(Math.max(...batchesBetween(before.stats, failedStats).keys())).toBeGreaterThan(1);

    expect(await originRequestsFor(accountId)).toHaveLength(3);
    expect(await stored(accountId)).toEqual(before.stored);
    const view = await getAccount(accountId);
    expect(view.credits).toBe(880);
    expect(view.usage).toEqual(before.view.usage);

    await sql(accountId, "DROP TRIGGER refuse_balance");
    const next = await generate(key, 5);
    const balances = next.map((r) => Number(r.headers.get("X-Credits-Remaining"))).sort((a, b) => b - a);
    for (const res of next) expect(res.status).toBe(200);
    await Promise.all(next.map((r) => r.body?.cancel()));
    expect(balances).toEqual([840, 800, 760, 720, 680]);
    expect(await stored(accountId)).toEqual({ credits: 680, dayUsed: 8, minuteRows: 8, debits: 8 });
    expect((await getAccount(accountId)).usage.minute.used).toBe(8);
    expect(await originRequestsFor(accountId)).toHaveLength(8);
  });
});

describe("a refusal decided against admissions still pending commit", () => {
  // A 402 or 429 that counted pending admissions is true only if they commit. Both are decided
  // here in one turn of the object, against a batch whose commit then fails: neither may be
  // answered as a refusal — the balance and the minute are what they were, so it would lie.
  it("stands or falls with that batch: when the batch fails, the 402 and the 429 become failures too", async () => {
    const { accountId, key, keyId } = await accountWithKey({ credits: COST }); // default: 5 a minute
    const keyHash = await hashKey(key);
    await sql(accountId, "CREATE TRIGGER refuse_minute BEFORE INSERT ON minute_admissions BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    const outcomes = await runInDurableObject(env.ACCOUNTS.getByName(accountId), async (instance: AccountDO) => {
      const admit = (n: number, cost: number) => instance.admit({ requestId: `req_refusal_pending_${n}`, keyId, keyHash, scope: "read", cost });
      // One turn: a charged admission takes the whole balance, the next is refused 402 for it;
      // four free ones fill the minute, the next is refused 429 for them.
      const answers = [admit(1, COST), admit(2, COST), admit(3, 0), admit(4, 0), admit(5, 0), admit(6, 0), admit(7, 0)];
      return (await Promise.all(answers)).map((answer) => answer.outcome);
    });
    expect(outcomes).toEqual(Array(7).fill("not_committed"));

    await sql(accountId, "DROP TRIGGER refuse_minute");
    const view = await getAccount(accountId);
    expect([view.credits, view.usage.minute.used]).toEqual([COST, 0]);
    // With the commit working, the same decisions stand.
    const again = await runInDurableObject(env.ACCOUNTS.getByName(accountId), async (instance: AccountDO) => {
      const admit = (n: number, cost: number) => instance.admit({ requestId: `req_refusal_committed_${n}`, keyId, keyHash, scope: "read", cost });
      const answers = [admit(1, COST), admit(2, COST), admit(3, 0), admit(4, 0), admit(5, 0), admit(6, 0), admit(7, 0)];
      return (await Promise.all(answers)).map((answer) => answer.outcome);
    });
    expect(again).toEqual(["admitted", "insufficient_credits", "admitted", "admitted", "admitted", "admitted", "rate_limited"]);
  });
});

describe("hundreds of simultaneous admissions at a limit and a balance", () => {
  it("clients, origin and account agree exactly", async () => {
    // pro: 50 a minute. Every request also counts toward the limit; half cost 40 credits
    // on a balance of 1,000 (25 of them at most), and a third of those fail at the origin
    // and are refunded while other admissions are still pending commit.
    const { accountId, key } = await accountWithKey({ plan: "pro", credits: 1_000 });
    const kinds = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? "free" : i % 3 === 0 ? "charged-failing" : "charged"));
    const responses = await Promise.all(
      kinds.map((kind) =>
        kind === "free"
          ? call("/v1/echo", { key })
          : call(`/v1/generate/${kind === "charged" ? "echo" : "status/500"}`, { key, method: "POST", body: "{}" }),
      ),
    );
    const answered = await Promise.all(
      responses.map(async (res, i) => {
        const kind = kinds[i]!;
        if (res.status === 429) await expectEnvelope(res, "RATE_LIMIT_EXCEEDED", /^Rate limit exceeded\. Retry after \d+ seconds\.$/, { retryAfter: true, limit: "minute" });
        else if (res.status === 402) await expectEnvelope(res, "INSUFFICIENT_CREDITS", /^This operation requires 40 credits but your balance is \d+$/);
        else if (res.status === 500) await expectEnvelope(res, "INTERNAL_ERROR", undefined);
        else await res.arrayBuffer();
        return { kind, status: res.status, requestId: res.headers.get("X-Request-Id")! };
      }),
    );
    const count = (predicate: (a: (typeof answered)[number]) => boolean) => answered.filter(predicate).length;

    const admitted = answered.filter((a) => a.status === 200 || (a.kind === "charged-failing" && a.status === 500));
    const chargedSuccesses = count((a) => a.kind === "charged" && a.status === 200);
    const refunded = count((a) => a.kind === "charged-failing" && a.status === 500);
    expect(admitted).toHaveLength(50);
    expect(count((a) => a.status === 429) + count((a) => a.status === 402) + admitted.length).toBe(400);
    expect(count((a) => a.kind === "free" && a.status === 402)).toBe(0);
    // Every debit of the balance was a success or refunded: at most 25 were ever outstanding.
    expect(chargedSuccesses).toBeLessThanOrEqual(25);
    expect(chargedSuccesses + refunded).toBeGreaterThan(0);

    const origin = await originRequestsFor(accountId);
    expect(origin.map((r) => r.headers["x-request-id"]).sort()).toEqual(admitted.map((a) => a.requestId).sort());

    const view = await getAccount(accountId);
    expect(view.usage.minute.used).toBe(50);
    expect(view.usage.day.used).toBe(50);
    expect(view.credits).toBe(1_000 - COST * chargedSuccesses);
    const disk = await stored(accountId);
    expect(disk).toEqual({ credits: 1_000 - COST * chargedSuccesses, dayUsed: 50, minuteRows: 50, debits: chargedSuccesses + refunded });
  });
});
