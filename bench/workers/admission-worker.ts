// A bench-only Worker, never deployed and not a test: bench/admission.ts bundles it and runs
// it in Miniflare to time AccountDO.admit() against a no-op RPC on the very same object.
//
// bench/workers/ holds the bench's Worker scripts: tsconfig.json checks them with the Workers
// types, and tsconfig.node.json (the rest of bench/, on Node) leaves them out.
//
//   GET /ping                                   no call at all: the HTTP round trip alone
//   GET /setup?account=ID&plan=NAME&credits=N   create the account and one key
//   GET /run?account=ID&op=admit|noop&calls=N&parallel=P&cost=C[&expect=OUTCOME]
//       N RPC calls to that account's object: P chains in parallel, N/P sequential calls
//       each; `expect` is the outcome that counts as success (default admitted).
//       Answers { calls, succeeded, failures: { outcome: count }, batches: { size: count } }
//       where batches are the object's group commits during the run (src/account/batch.ts).
import { AccountDO } from "../../src/account/account-do.ts";
import type { AdmitRequest } from "../../src/account/types.ts";
import { hashKey, mintKey } from "../../src/keys.ts";
import { batchesBetween } from "../batch-sizes.ts";

export class BenchAccountDO extends AccountDO {
  /** The baseline: the same object, the same RPC round trip, no work. */
  noop(): null {
    return null;
  }
}

interface BenchEnv extends Env {
  BENCH_ACCOUNTS: DurableObjectNamespace<BenchAccountDO>;
}

type BenchStub = DurableObjectStub<BenchAccountDO>;

const MAX_CALLS = 100_000;
const SCOPE = "bench";

/** The key each account was set up with: admit() needs its id and hash on every call. */
const keys = new Map<string, { keyId: string; keyHash: ArrayBuffer }>();
let requestCounter = 0;

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/ping") return Response.json({ calls: 0, succeeded: 0, failures: {} });
    const q = url.searchParams;
    const accountId = q.get("account") ?? "";
    const stub: BenchStub = env.BENCH_ACCOUNTS.getByName(accountId);
    try {
      if (url.pathname === "/setup") return Response.json(await setUp(stub, accountId, q.get("plan") ?? "default", Number(q.get("credits") ?? 0)));
      if (url.pathname === "/run") {
        const op = q.get("op");
        const calls = Number(q.get("calls"));
        const parallel = Number(q.get("parallel") ?? 1);
        const cost = Number(q.get("cost") ?? 0);
        const expected = q.get("expect") ?? "admitted";
        if (op !== "admit" && op !== "noop") return bad("op must be admit or noop");
        if (!Number.isInteger(calls) || calls < 1 || calls > MAX_CALLS) return bad(`calls must be 1..${MAX_CALLS}`);
        if (!Number.isInteger(parallel) || parallel < 1 || calls % parallel !== 0) return bad("parallel must divide calls");
        const key = keys.get(accountId);
        if (op === "admit" && key === undefined) return bad(`account ${accountId} was not set up in this isolate`);
        const call = op === "noop" ? () => stub.noop().then(() => "noop") : () => admitOnce(stub, key!, cost);
        const before = await stub.groupCommitStats();
        const result = await runChains(call, calls, parallel, expected);
        const after = await stub.groupCommitStats();
        return Response.json({ ...result, batches: batchesBetween(before.sizes, after.sizes) });
      }
      return new Response("not found", { status: 404 });
    } catch (error) {
      return new Response(error instanceof Error ? `${error.name}: ${error.message}` : String(error), { status: 500 });
    }
  },
} satisfies ExportedHandler<BenchEnv>;

async function setUp(stub: BenchStub, accountId: string, plan: string, credits: number) {
  const created = await stub.createAccount({ id: accountId, plan, credits });
  if (!created.ok) throw new Error(`createAccount ${accountId}: ${created.error}`);
  const minted = mintKey(accountId);
  const keyHash = await hashKey(minted.key);
  const key = await stub.createKey({ keyId: minted.keyId, hash: keyHash, prefix: minted.prefix, scopes: [SCOPE], name: "bench", expiresAt: null });
  if (!key.ok) throw new Error(`createKey ${accountId}: ${key.error}`);
  keys.set(accountId, { keyId: minted.keyId, keyHash });
  return { account: accountId, plan, credits };
}

async function admitOnce(stub: BenchStub, key: { keyId: string; keyHash: ArrayBuffer }, cost: number): Promise<string> {
  const req: AdmitRequest = { requestId: `bench-${++requestCounter}`, keyId: key.keyId, keyHash: key.keyHash, scope: SCOPE, cost };
  const admission = await stub.admit(req);
  return admission.outcome;
}

/** `parallel` chains of calls/parallel sequential calls; every outcome but `expected` (or "noop") is a failure. */
async function runChains(call: () => Promise<string>, calls: number, parallel: number, expected: string) {
  const outcomes = new Map<string, number>();
  const chain = async () => {
    for (let i = 0; i < calls / parallel; i++) {
      const outcome = await call();
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, chain));
  const succeeded = (outcomes.get(expected) ?? 0) + (outcomes.get("noop") ?? 0);
  outcomes.delete(expected);
  outcomes.delete("noop");
  return { calls, succeeded, failures: Object.fromEntries(outcomes) };
}

function bad(message: string): Response {
  return new Response(message, { status: 400 });
}
