// An Idempotency-Key record's life (SPEC 11) inside workerd: claimed while in flight, answered
// (or kept as too large / not kept), released when the first answer failed, expired after 24
// hours on the object's own clock (moved, never slept on) and pruned by its alarm, bounded
// per account, and kept across a restart of the object.
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import type { KeptAnswer } from "../../src/account/idempotency.ts";
import { fingerprint } from "../../src/idempotency/request.ts";
import { hashKey, parseKey } from "../../src/keys.ts";
import { accountWithKey, expectEnvelope } from "./helpers.ts";
import {
  consumed,
  expectSameAnswer,
  moveClock,
  newIdempotencyKey,
  originCallsWith,
  send,
  sendAndSettle,
  setBounds,
  storedRecords,
} from "./idempotency-helpers.ts";

const DAY_MS = 24 * 3_600_000;
/** `text` as UTF-8, in an ArrayBuffer of its own. */
const bytes = (text: string): ArrayBuffer => new TextEncoder().encode(text).buffer as ArrayBuffer;

const restorers: (() => void)[] = [];
afterEach(() => {
  for (const restore of restorers.splice(0)) restore();
  vi.restoreAllMocks();
});

describe("expiry", () => {
  it("a record lives 24 hours after its answer, then the key is new; the alarm prunes it", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const idempotencyKey = newIdempotencyKey("day");
    const first = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(first.res.status).toBe(200);

    await moveClock(accountId, DAY_MS - 60_000);
    expectSameAnswer(first, await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" }));
    expect(await storedRecords(accountId)).toEqual([expect.objectContaining({ key: idempotencyKey, state: "response" })]);

    await moveClock(accountId, DAY_MS);
    const stub = env.ACCOUNTS.getByName(accountId);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await storedRecords(accountId)).toEqual([]);

    const again = await sendAndSettle("/v1/generate/echo", { key, idempotencyKey, body: "{}" });
    expect(again.res.status).toBe(200);
    expect(again.res.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await originCallsWith(idempotencyKey)).toHaveLength(2);
    expect((await consumed(accountId)).credits).toBe(20);
    // The new record set the alarm again, for when it expires.
    const [record] = await storedRecords(accountId);
    const alarm = await runInDurableObject(stub, (_instance: AccountDO, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(record!.expires_at);
  });

  it("an expired record is a new key even before the alarm has pruned it", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("unpruned");
    await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: '{"a":1}' });
    await moveClock(accountId, DAY_MS);
    // Another body would be a mismatch within the day; after it, it is a new operation.
    const next = await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: '{"a":2}' });
    expect(next.res.status).toBe(200);
    expect(await originCallsWith(idempotencyKey)).toHaveLength(2);
  });
});

describe("records survive the object's restart", () => {
  it("answered, in flight, and counted", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("evicted");
    const first = await sendAndSettle("/v1/items/status/201?body=made", { key, idempotencyKey, body: "{}" });
    await evictDurableObject(env.ACCOUNTS.getByName(accountId));
    expectSameAnswer(first, await sendAndSettle("/v1/items/status/201?body=made", { key, idempotencyKey, body: "{}" }));
    const mismatch = await send("/v1/items/status/201?body=made", { key, idempotencyKey, body: "{ }" });
    await expectEnvelope(mismatch.res, "VALIDATION_ERROR", "Idempotency-Key was already used for a different request");
  });
});

describe("a claim in flight", () => {
  /** Admits a request with `idempotencyKey` straight through the object, as a Worker elsewhere would, and leaves it in flight. */
  async function claimElsewhere(accountId: string, key: string, idempotencyKey: string, requestId: string): Promise<void> {
    const parsed = parseKey(key)!;
    const admission = await env.ACCOUNTS.getByName(accountId).admit({
      requestId,
      keyId: parsed.keyId,
      keyHash: await hashKey(parsed.key),
      scope: "write",
      cost: 0,
      idempotency: { key: idempotencyKey, fingerprint: await fingerprint("POST", "/v1/items/echo", "", bytes("{}")) },
    });
    expect(admission.outcome).toBe("admitted");
  }

  it("is a 409 with Retry-After: 1 and nothing consumed; after 15 minutes without a report, a 409 saying so; a late answer is still kept", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("held");
    await claimElsewhere(accountId, key, idempotencyKey, "req_held_by_another_worker01");
    expect(await consumed(accountId)).toEqual({ credits: 0, day: 1 });

    const waiting = await send("/v1/items/echo", { key, idempotencyKey, body: "{}" });
    await expectEnvelope(waiting.res, "CONFLICT", "A request with this Idempotency-Key is still in progress", { retryAfter: 1 });
    await moveClock(accountId, 15 * 60_000);
    const unreported = await send("/v1/items/echo", { key, idempotencyKey, body: "{}" });
    await expectEnvelope(unreported.res, "CONFLICT", "The original request with this Idempotency-Key never reported its outcome; it may have been acted on", { retryAfter: false });
    expect(await consumed(accountId)).toEqual({ credits: 0, day: 1 });
    expect(await originCallsWith(idempotencyKey)).toHaveLength(0);

    // Only the request that holds the claim can answer or release it.
    const stub = env.ACCOUNTS.getByName(accountId);
    await stub.settle("req_someone_else_entirely01", 0, { key: idempotencyKey, answer: null });
    await stub.keepAnswer("req_someone_else_entirely01", idempotencyKey, { kind: "envelope", code: "NOT_FOUND", message: "no" });
    expect(await storedRecords(accountId)).toEqual([expect.objectContaining({ state: "in_flight" })]);

    await stub.keepAnswer("req_held_by_another_worker01", idempotencyKey, {
      kind: "response",
      status: 201,
      statusText: "Created",
      headers: [["Content-Type", "text/plain"], ["X-Thing", "7"]],
      body: bytes("made it"),
    });
    const replay = await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{}" });
    expect(replay.res.status).toBe(201);
    expect(replay.res.headers.get("Idempotent-Replayed")).toBe("true");
    expect(replay.res.headers.get("X-Thing")).toBe("7");
    expect(new TextDecoder().decode(replay.body)).toBe("made it");
  });
});

describe("an answer waiting in the batch", () => {
  // The answer of a 2xx is kept just after it reached its client, and lingers in the pending
  // batch up to 10 ms for an admission's commit (batch.ts). A repeat that arrives meanwhile
  // must meet it, not be told the first is still in progress — and stand or fall with it.
  async function admitInSameTurn(accountId: string, key: string, idempotencyKey: string, answer: Parameters<AccountDO["keepAnswer"]>[2], failCommit = false) {
    const parsed = parseKey(key)!;
    const keyHash = await hashKey(parsed.key);
    const print = await fingerprint("POST", "/v1/items/echo", "", bytes("{}"));
    const admit = (requestId: string) =>
      runInDurableObject(env.ACCOUNTS.getByName(accountId), (instance: AccountDO) =>
        instance.admit({ requestId, keyId: parsed.keyId, keyHash, scope: "write", cost: 0, idempotency: { key: idempotencyKey, fingerprint: print } }),
      );
    expect((await admit("req_waiting_answer_first01")).outcome).toBe("admitted");
    return runInDurableObject(env.ACCOUNTS.getByName(accountId), async (instance: AccountDO, state: DurableObjectState) => {
      if (failCommit) state.storage.sql.exec("CREATE TRIGGER refuse_answer BEFORE UPDATE ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
      // One turn: the answer joins the batch (and lingers), then the repeat is decided.
      const kept = instance.keepAnswer("req_waiting_answer_first01", idempotencyKey, answer).then(
        () => "kept",
        () => "failed",
      );
      const repeat = instance.admit({ requestId: "req_waiting_answer_again01", keyId: parsed.keyId, keyHash, scope: "write", cost: 0, idempotency: { key: idempotencyKey, fingerprint: print } });
      const outcome = await repeat;
      if (failCommit) state.storage.sql.exec("DROP TRIGGER refuse_answer");
      return { outcome, kept: await kept };
    });
  }

  it("is met by a repeat at once: the replay, answered after the commit that keeps it", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("waiting");
    const answer: KeptAnswer = { kind: "response", status: 201, statusText: "Created", headers: [["Content-Type", "text/plain"]], body: bytes("made") };
    const { outcome, kept } = await admitInSameTurn(accountId, key, idempotencyKey, answer);
    expect(outcome).toMatchObject({ outcome: "replay", answer: { kind: "response", status: 201, statusText: "Created", headers: [["Content-Type", "text/plain"]] } });
    expect(new TextDecoder().decode((outcome as { answer: { body: ArrayBuffer } }).answer.body)).toBe("made");
    expect(kept).toBe("kept");
    expect(await storedRecords(accountId)).toEqual([expect.objectContaining({ state: "response" })]);
  });

  it("as not kept, is a 409 saying so, not the in-progress 409", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const { outcome } = await admitInSameTurn(accountId, key, newIdempotencyKey("waiting-not-kept"), { kind: "not_kept" });
    expect(outcome).toEqual({ outcome: "idempotency_refused", refusal: { reason: "not_kept" } });
  });

  it("falls with its batch: when the commit fails, the repeat is not answered with it", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("waiting-failed");
    const answer: KeptAnswer = { kind: "response", status: 200, statusText: "OK", headers: [], body: bytes("x") };
    const { outcome, kept } = await admitInSameTurn(accountId, key, idempotencyKey, answer, true);
    expect(outcome).toMatchObject({ outcome: "not_committed" });
    expect(kept).toBe("failed");
    expect(await storedRecords(accountId)).toEqual([expect.objectContaining({ state: "in_flight" })]);

    // A refusal decided on a waiting answer falls with it too: not a 409 that storage never held.
    const notKept = await admitInSameTurn(accountId, key, newIdempotencyKey("waiting-not-kept-failed"), { kind: "not_kept" }, true);
    expect(notKept.outcome).toMatchObject({ outcome: "not_committed" });
    expect(notKept.kept).toBe("failed");
  });
});

describe("answers that are not kept", () => {
  it("a body over 1 MiB, with a Content-Length or streamed without one: the client gets it whole, a repeat gets 409", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    for (const path of ["/v1/items/big?bytes=1048577", "/v1/items/pattern?bytes=1048577"]) {
      const idempotencyKey = newIdempotencyKey("large");
      const first = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
      expect(first.body.byteLength, path).toBe(1_048_577);
      const repeat = await send(path, { key, idempotencyKey, body: "{}" });
      await expectEnvelope(repeat.res, "CONFLICT", "The original answer to this Idempotency-Key was too large to keep", { retryAfter: false });
      expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    }
    // 1 MiB exactly is kept.
    const idempotencyKey = newIdempotencyKey("mebibyte");
    const first = await sendAndSettle("/v1/items/pattern?bytes=1048576", { key, idempotencyKey, body: "{}" });
    expectSameAnswer(first, await sendAndSettle("/v1/items/pattern?bytes=1048576", { key, idempotencyKey, body: "{}" }));
  });

  it("a client that leaves mid-body on a free route: the copy is dropped with it, the key stays claimed, a repeat gets 409", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("left-free");
    // The origin sends 100,000 bytes and then nothing: only the client's departure ends this.
    const path = "/v1/items/pattern?bytes=500000&stall_after=100000";
    const client = new AbortController();
    const { res, settled } = await send(path, { key, idempotencyKey, body: "{}", signal: client.signal });
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    client.abort();
    await reader.cancel();
    await settled();

    const repeat = await send(path, { key, idempotencyKey, body: "{}" });
    await expectEnvelope(repeat.res, "CONFLICT", "The original answer to this Idempotency-Key could not be kept", { retryAfter: false });
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    expect((await consumed(accountId)).day).toBe(1);
  });

  it("a client that leaves mid-body: the charge stands, the key stays claimed, a repeat gets 409", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    const idempotencyKey = newIdempotencyKey("left");
    const { res, settled } = await send("/v1/generate/pattern?bytes=500000", { key, idempotencyKey, body: "{}" });
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await settled();

    const repeat = await send("/v1/generate/pattern?bytes=500000", { key, idempotencyKey, body: "{}" });
    await expectEnvelope(repeat.res, "CONFLICT", "The original answer to this Idempotency-Key could not be kept", { retryAfter: false });
    expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    expect(await consumed(accountId)).toEqual({ credits: 60, day: 1 });
  });
});

describe("the account's bounds", () => {
  it("past the most records, a new key is a 409 with the wait until one expires, and nothing is consumed", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    await setBounds(accountId, { maxRecords: 2, maxKeptBytes: 1_048_576 });
    const keys = [newIdempotencyKey("a"), newIdempotencyKey("b"), newIdempotencyKey("c")];
    for (const idempotencyKey of keys.slice(0, 2)) expect((await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{}" })).res.status).toBe(200);
    const before = await consumed(accountId);

    const refused = await send("/v1/items/echo", { key, idempotencyKey: keys[2]!, body: "{}" });
    const envelope = await expectEnvelope(refused.res, "CONFLICT", /^This account holds as many Idempotency-Key records as it may; retry after \d+ seconds$/, { retryAfter: true });
    expect(envelope.meta.retry_after).toBeGreaterThan(DAY_MS / 1000 - 120);
    expect(envelope.meta.retry_after).toBeLessThanOrEqual(DAY_MS / 1000);
    expect(await consumed(accountId)).toEqual(before);
    expect(await originCallsWith(keys[2]!)).toHaveLength(0);
    // Known keys are still answered at the bound.
    expect((await sendAndSettle("/v1/items/echo", { key, idempotencyKey: keys[0]!, body: "{}" })).res.headers.get("Idempotent-Replayed")).toBe("true");
    // Once the oldest expire, there is room again.
    await moveClock(accountId, DAY_MS);
    expect((await sendAndSettle("/v1/items/echo", { key, idempotencyKey: keys[2]!, body: "{}" })).res.status).toBe(200);
  });

  it("an answer that would take the kept bytes past their bound is kept as not kept", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited" });
    await setBounds(accountId, { maxRecords: 100, maxKeptBytes: 10_000 });
    const small = newIdempotencyKey("small");
    const large = newIdempotencyKey("large");
    const first = await sendAndSettle("/v1/items/pattern?bytes=6000", { key, idempotencyKey: small, body: "{}" });
    await sendAndSettle("/v1/items/pattern?bytes=6000", { key, idempotencyKey: large, body: "{}" });
    expectSameAnswer(first, await sendAndSettle("/v1/items/pattern?bytes=6000", { key, idempotencyKey: small, body: "{}" }));
    const repeat = await send("/v1/items/pattern?bytes=6000", { key, idempotencyKey: large, body: "{}" });
    await expectEnvelope(repeat.res, "CONFLICT", "The original answer to this Idempotency-Key could not be kept");
  });
});

describe("the first answer failed", () => {
  it("on a free route too: a 500 and the origin refusing the gateway's token (a 500) release the key", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("free-flaky");
    const path = `/v1/items/flaky/${idempotencyKey}?plan=500,401`;
    for (let i = 0; i < 2; i++) await expectEnvelope((await send(path, { key, idempotencyKey, body: "{}" })).res, "INTERNAL_ERROR");
    const done = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
    expect(done.res.status).toBe(200);
    expectSameAnswer(done, await sendAndSettle(path, { key, idempotencyKey, body: "{}" }));
    expect(await originCallsWith(idempotencyKey)).toHaveLength(3);
  });

  it("an admission whose answer was lost after it committed releases its claim with its refund: a retry is forwarded", async () => {
    const { accountId, key } = await accountWithKey({ plan: "unlimited", credits: 100 });
    for (const path of ["/v1/generate/echo", "/v1/items/echo"]) {
      const idempotencyKey = newIdempotencyKey("lost");
      loseAdmitAnswerOnce(accountId);
      const lost = await send(path, { key, idempotencyKey, body: "{}" });
      await expectEnvelope(lost.res, "INTERNAL_ERROR", /^The gateway could not check this request's limits\. Nothing was forwarded/, { retryAfter: 1 });
      const retried = await sendAndSettle(path, { key, idempotencyKey, body: "{}" });
      expect(retried.res.status, path).toBe(200);
      expect(retried.res.headers.get("Idempotent-Replayed")).toBeNull();
      expect(await originCallsWith(idempotencyKey)).toHaveLength(1);
    }
    expect((await consumed(accountId)).credits).toBe(60);
  });
});

describe("the log line", () => {
  it("says what the Idempotency-Key met", async () => {
    const { key } = await accountWithKey({ plan: "unlimited" });
    const idempotencyKey = newIdempotencyKey("logged");
    const lines: Record<string, unknown>[] = [];
    const log = console.log.bind(console);
    vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      if (typeof line === "string" && line.startsWith('{"request_id"')) lines.push(JSON.parse(line) as Record<string, unknown>);
      else log(line);
    });
    await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{}" });
    await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{}" });
    await sendAndSettle("/v1/items/echo", { key, idempotencyKey, body: "{ }" });
    await sendAndSettle("/v1/items/echo", { key, body: "{}" });
    expect(lines.map((l) => [l.status, l.idempotency])).toEqual([
      [200, "first"],
      [200, "replay"],
      [400, "mismatch"],
      [200, undefined],
    ]);
  });
});

/** The next admit() for `accountId` runs to its end, then its answer is lost on the way back. */
function loseAdmitAnswerOnce(accountId: string): void {
  const namespace = env.ACCOUNTS;
  let armed = true;
  const byName = (name: string) => {
    const stub = namespace.getByName(name);
    if (name !== accountId || !armed) return stub;
    return new Proxy(stub, {
      get(target, property) {
        const real = Reflect.get(target, property) as unknown;
        if (property !== "admit" || !armed) return real;
        return async (...args: unknown[]) => {
          armed = false;
          await (real as (...a: unknown[]) => Promise<unknown>)(...args);
          throw new Error("connection lost after commit");
        };
      },
    });
  };
  const wrapped = new Proxy(namespace, { get: (target, property) => (property === "getByName" ? byName : Reflect.get(target, property)) });
  Object.defineProperty(env, "ACCOUNTS", { value: wrapped, configurable: true, writable: true });
  restorers.push(() => Object.defineProperty(env, "ACCOUNTS", { value: namespace, configurable: true, writable: true }));
}
