// The gateway restarted under traffic (issue 6, faults). A bounded stream of authenticated
// requests on a credit route runs against one account; in the middle, the gateway is killed
// — once politely (SIGTERM to wrangler), once as a crash (SIGKILL to wrangler, its CLI child
// and workerd at the same instant) — and started again over the same --persist-to storage.
// A response lost in flight means the balance cannot be predicted exactly, so the test
// asserts what must hold under any crash point:
//   - the balance is never negative and moves only in whole costs;
//   - balance + cost × (2xx the clients received) ≤ the balance before the round: every
//     success a client saw was paid for, and no credit was created;
//   - the ledger holds no request id debited twice or refunded twice, no refund without its
//     debit, and every 2xx a client saw is debited and not refunded (checked through the admin
//     API's newest entries, and in full from the Durable Object's SQLite file afterwards);
//   - admission and debit are one step: the day's usage equals the number of debits, is at
//     least the 2xx seen and at most the requests sent;
//   - after the restart, new requests are admitted and charged as before.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { crashProcessTree, gatewayProcessTree } from "../support/processes.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

const COST = 3;
const INITIAL = 10_000;
const REQUESTS = 100;
const CONCURRENCY = 8;
/** The kill comes after this many answers, with up to CONCURRENCY requests still in flight. */
const KILL_AFTER = 30;
const ACCOUNT = "restart-acme";

let origin: Origin;
let gateway: Gateway;
let persistTo: string;
let key: string;
let vars: Record<string, unknown>;
/** Every 2xx request id the clients received, over all rounds. */
const seen: string[] = [];
let sentTotal = 0;
const utcDay = () => Math.floor(Date.now() / 86_400_000);
const firstDay = utcDay();

beforeAll(async () => {
  origin = await startOrigin();
  persistTo = mkdtempSync(join(tmpdir(), "tollgate-faults-state-"));
  vars = { UPSTREAM_URL: origin.url, ROUTES: [{ path: "/c/*", credits: COST }] };
  gateway = await startGateway({ vars, persistTo });
  key = await accountWithKey(gateway, { id: ACCOUNT, credits: INITIAL });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
  if (persistTo !== undefined) rmSync(persistTo, { recursive: true, force: true });
});

interface Traffic {
  sent: number;
  /** X-Request-Id of every 2xx whose body arrived whole. */
  succeeded: string[];
  /** Requests that got no complete answer: the gateway went away under them. */
  lost: number;
  /** Any other status: only a gateway fault while shutting down may explain one (the balance covers every request). */
  others: number[];
}

/** REQUESTS requests, CONCURRENCY at a time; `kill` runs once, after KILL_AFTER answers. */
async function trafficWithKill(target: Gateway, kill: () => Promise<void>): Promise<Traffic> {
  const traffic: Traffic = { sent: 0, succeeded: [], lost: 0, others: [] };
  let answered = 0;
  let killing: Promise<void> | null = null;
  const worker = async () => {
    while (traffic.sent < REQUESTS && killing === null) {
      traffic.sent++;
      try {
        const res = await fetch(`${target.url}/c/slow?ms=40`, { headers: { Authorization: `Bearer ${key}` } });
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 300) traffic.succeeded.push(res.headers.get("x-request-id") ?? "");
        else traffic.others.push(res.status);
      } catch {
        traffic.lost++;
      }
      if (++answered === KILL_AFTER) killing = kill();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await killing;
  return traffic;
}

interface AccountState {
  credits: number;
  usage: { day: { used: number } };
  ledger: { delta: number; reason: string; request_id: string | null }[];
}

async function accountState(): Promise<AccountState> {
  const res = await admin(gateway, "GET", `/accounts/${ACCOUNT}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data as AccountState;
}

/** Per request id: how many debits and refunds the given ledger rows hold. */
function movesByRequest(rows: readonly { delta: number; request_id: string | null }[]): Map<string, { debits: number; refunds: number }> {
  const moves = new Map<string, { debits: number; refunds: number }>();
  for (const row of rows) {
    if (row.request_id === null) continue;
    const entry = moves.get(row.request_id) ?? { debits: 0, refunds: 0 };
    if (row.delta === -COST) entry.debits++;
    else if (row.delta === COST) entry.refunds++;
    else throw new Error(`unexpected ledger delta ${row.delta} for ${row.request_id}`);
    moves.set(row.request_id, entry);
  }
  return moves;
}

async function roundWithKill(kill: () => Promise<void>): Promise<void> {
  const before = await accountState();
  const day = utcDay();
  const traffic = await trafficWithKill(gateway, kill);
  for (const status of traffic.others) expect(status, "no denial: the balance covers every request").toBeGreaterThanOrEqual(500);
  expect(traffic.succeeded.length, "the kill came after KILL_AFTER answers").toBeGreaterThanOrEqual(KILL_AFTER - CONCURRENCY);
  expect(traffic.sent, "the kill stopped the stream early").toBeLessThan(REQUESTS);
  seen.push(...traffic.succeeded);
  sentTotal += traffic.sent;

  gateway = await startGateway({ vars, persistTo });
  const after = await accountState();
  const context = JSON.stringify({ before: before.credits, after: after.credits, traffic: { ...traffic, succeeded: traffic.succeeded.length } });

  expect(after.credits, context).toBeGreaterThanOrEqual(0);
  expect((before.credits - after.credits) % COST, context).toBe(0);
  expect(after.credits + COST * traffic.succeeded.length, context).toBeLessThanOrEqual(before.credits);

  const moves = movesByRequest(after.ledger);
  for (const [requestId, { debits, refunds }] of moves) {
    expect(debits, `${requestId} debited at most once`).toBeLessThanOrEqual(1);
    expect(refunds, `${requestId} refunded at most once`).toBeLessThanOrEqual(1);
  }
  for (const requestId of traffic.succeeded) expect(moves.get(requestId)?.refunds ?? 0, `${requestId} was a success`).toBe(0);

  if (utcDay() === day) {
    // The day's count resets at 00:00 UTC; a round that crosses midnight cannot compare it.
    const admitted = after.usage.day.used - before.usage.day.used;
    expect(admitted, context).toBeGreaterThanOrEqual(traffic.succeeded.length);
    expect(admitted, context).toBeLessThanOrEqual(traffic.sent);
    expect(admitted * COST, "no charge without an admission").toBeGreaterThanOrEqual(before.credits - after.credits);
  }

  // The restarted gateway admits and charges as before.
  const res = await fetch(`${gateway.url}/c/echo`, { headers: { Authorization: `Bearer ${key}` } });
  const echoed = (await res.json()) as { headers: Record<string, string> };
  expect(res.status).toBe(200);
  expect(res.headers.get("x-credits-remaining")).toBe(String(after.credits - COST));
  expect(echoed.headers["x-account-id"]).toBe(ACCOUNT);
  seen.push(res.headers.get("x-request-id") ?? "");
  sentTotal++;
}

describe("the gateway restarted under traffic", () => {
  it("keeps credits and usage consistent when SIGTERM stops it mid-stream", async () => {
    await roundWithKill(() => gateway.stop());
  });

  it("keeps credits and usage consistent when SIGKILL crashes wrangler and workerd at once", async () => {
    await roundWithKill(async () => {
      crashProcessTree(gatewayProcessTree(gateway.pid));
      await gateway.stop();
    });
  });

  it("leaves a full ledger on disk without double debits or refunds, matching balance and usage", async () => {
    const final = await accountState();
    await gateway.stop();
    const dir = join(persistTo, "v3/do/tollgate-e2e-AccountDO");
    const files = readdirSync(dir).filter((name) => /^[0-9a-f]{64}\.sqlite$/.test(name));
    expect(files, "one account, one object").toHaveLength(1);
    const db = new DatabaseSync(join(dir, files[0]!));
    const rows = db.prepare("SELECT delta, balance, reason, request_id FROM ledger ORDER BY seq").all() as { delta: number; balance: number; reason: string; request_id: string | null }[];
    db.close();
    gateway = await startGateway({ vars, persistTo });

    let balance = 0;
    for (const row of rows) {
      balance += row.delta;
      expect(row.balance, `running balance at ${JSON.stringify(row)}`).toBe(balance);
      expect(balance).toBeGreaterThanOrEqual(0);
    }
    expect(balance, "the ledger adds up to the balance").toBe(final.credits);

    const moves = movesByRequest(rows);
    let debits = 0;
    for (const [requestId, entry] of moves) {
      expect(entry.debits, `${requestId}: one debit`).toBe(1);
      expect(entry.refunds, `${requestId}: at most one refund`).toBeLessThanOrEqual(1);
      debits += entry.debits;
    }
    for (const requestId of seen) expect(moves.get(requestId), `${requestId}: a seen 2xx is charged`).toEqual({ debits: 1, refunds: 0 });
    // The day's count resets at 00:00 UTC: compare only when the whole file ran on one day.
    if (utcDay() === firstDay) expect(debits, "admissions and debits are one step").toBe(final.usage.day.used);
    expect(debits).toBeLessThanOrEqual(sentTotal);
    expect(debits).toBeGreaterThanOrEqual(seen.length);
  });
});
