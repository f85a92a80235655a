// A charged 2xx body after its headers have left (SPEC 5 and 6): charged if the client goes
// away, and when it arrives whole. (Refunded if the origin breaks it: test/e2e/faults.test.ts,
// against a real origin process — inside workerd's test runner a broken origin body is logged
// as an exception, which a green run must not print.) The body is relayed in the background (waitUntil), so
// these tests call the Worker with an execution context of their own and wait for exactly
// that work to finish (waitOnExecutionContext) — no polling, no sleeping.
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { GATEWAY_URL, accountWithKey, getAccount, testIp } from "./helpers.ts";

interface LedgerRow {
  delta: number;
  reason: string;
  request_id: string | null;
}

async function movements(accountId: string, requestId: string): Promise<LedgerRow[]> {
  const view = (await getAccount(accountId)) as unknown as { ledger: LedgerRow[] };
  return view.ledger.filter((row) => row.request_id === requestId);
}

/** A charged POST (40 credits) straight into the Worker's fetch handler, with its own context. */
async function charged(path: string, key: string): Promise<{ res: Response; ctx: ExecutionContext }> {
  const ctx = createExecutionContext();
  const request = new Request(`${GATEWAY_URL}/v1/generate/${path}`, {
    method: "POST",
    body: "{}",
    headers: { Authorization: `Bearer ${key}`, "CF-Connecting-IP": testIp() },
  });
  return { res: await worker.fetch(request, env, ctx), ctx };
}

describe("a charged body after its headers have left", () => {
  it("the client goes away after the first bytes: the charge stands, nothing is refunded", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const { res, ctx } = await charged("big", key);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Credits-Remaining")).toBe("60");
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await waitOnExecutionContext(ctx);

    const requestId = res.headers.get("X-Request-Id")!;
    expect(await movements(accountId, requestId)).toEqual([expect.objectContaining({ delta: -40, reason: "debit" })]);
    expect((await getAccount(accountId)).credits).toBe(60);
  });

  it("a whole body arrives and stays charged", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const { res, ctx } = await charged("big?bytes=300000", key);
    expect(res.headers.get("Content-Length")).toBe("300000");
    expect((await res.arrayBuffer()).byteLength).toBe(300_000);
    await waitOnExecutionContext(ctx);
    expect((await getAccount(accountId)).credits).toBe(60);
  });
});
