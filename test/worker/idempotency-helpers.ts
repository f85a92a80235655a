// Shared by the Idempotency-Key tests (SPEC 11) inside workerd. Requests go straight into the
// Worker's fetch handler with an execution context of their own, so a test can wait for
// exactly the background work a request left (its answer kept after the body passed) —
// no polling, no sleeping.
import { env } from "cloudflare:workers";
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import type { AccountDO } from "../../src/account/account-do.ts";
import type { IdempotencyBounds } from "../../src/account/idempotency.ts";
import worker from "../../src/index.ts";
import { GATEWAY_URL, getAccount, originUrl, testIp, type OriginRecord } from "./helpers.ts";

export interface Sent {
  res: Response;
  /** Resolves once the work the request left behind (waitUntil) has ended. */
  settled: () => Promise<void>;
}

export interface SendOptions {
  key: string;
  method?: string;
  /** Sent as Idempotency-Key; undefined sends none. */
  idempotencyKey?: string;
  body?: BodyInit | null;
  headers?: Record<string, string>;
  /** The request's signal: aborting it is the client going away. */
  signal?: AbortSignal;
}

/** A request to the gateway with its own execution context. */
export async function send(path: string, options: SendOptions): Promise<Sent> {
  const headers = new Headers(options.headers);
  headers.set("Authorization", `Bearer ${options.key}`);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", testIp());
  if (options.idempotencyKey !== undefined) headers.set("Idempotency-Key", options.idempotencyKey);
  const ctx = createExecutionContext();
  const request = new Request(`${GATEWAY_URL}${path}`, { method: options.method ?? "POST", headers, body: options.body ?? null, ...(options.signal ? { signal: options.signal } : {}) });
  const res = await worker.fetch(request, env, ctx);
  return { res, settled: () => waitOnExecutionContext(ctx) };
}

/** send(), the body read whole, and the background work waited for. */
export async function sendAndSettle(path: string, options: SendOptions): Promise<{ res: Response; body: Uint8Array }> {
  const { res, settled } = await send(path, options);
  const body = new Uint8Array(await res.arrayBuffer());
  await settled();
  return { res, body };
}

/** A fresh Idempotency-Key, unique to the call. */
export function newIdempotencyKey(label = "k"): string {
  return `${label}-${crypto.randomUUID()}`;
}

/** What the shared test origin received carrying `idempotencyKey`, in order. */
export async function originCallsWith(idempotencyKey: string): Promise<OriginRecord[]> {
  const records = await (await fetch(`${originUrl()}/__origin/requests`)).json<OriginRecord[]>();
  return records.filter((r) => r.headers["idempotency-key"] === idempotencyKey);
}

/** The account's balance and the day's admissions. */
export async function consumed(accountId: string): Promise<{ credits: number; day: number | null }> {
  const view = await getAccount(accountId);
  return { credits: view.credits, day: view.usage.day.used };
}

/**
 * The runtime frames a body and manages the connection itself: called in the same process, a
 * passed-through answer still shows the origin's framing and hop-by-hop headers, which never
 * reach a client as such (and a replay, whose body is known whole, is framed by its length).
 */
const FRAMING = ["connection", "keep-alive", "transfer-encoding", "content-length"];

/** The end-to-end headers of an answer as [name, value] pairs, without those that differ per request. */
export function comparableHeaders(res: Response, without: readonly string[] = ["x-request-id", "idempotent-replayed"]): [string, string][] {
  return [...res.headers].filter(([name]) => !without.includes(name.toLowerCase()) && !FRAMING.includes(name.toLowerCase()));
}

/** An answer already read, as a Response again (for the envelope assertions). */
export function reread(answer: { res: Response; body: Uint8Array }): Response {
  return new Response(answer.body, { status: answer.res.status, headers: answer.res.headers });
}

/** Asserts `replay` is `first` again, byte for byte, but for its own X-Request-Id and Idempotent-Replayed: true. */
export function expectSameAnswer(first: { res: Response; body: Uint8Array }, replay: { res: Response; body: Uint8Array }): void {
  expect(replay.res.status).toBe(first.res.status);
  expect(replay.res.headers.get("Idempotent-Replayed")).toBe("true");
  expect(first.res.headers.get("Idempotent-Replayed")).toBeNull();
  expect(replay.res.headers.get("X-Request-Id")).not.toBe(first.res.headers.get("X-Request-Id"));
  expect(comparableHeaders(replay.res)).toEqual(comparableHeaders(first.res));
  expect(Buffer.from(replay.body).equals(Buffer.from(first.body)), "the replayed body is the first body, byte for byte").toBe(true);
}

type Instance = { now: () => number; idempotency: { bounds: IdempotencyBounds } };

/** Moves the account object's clock `offsetMs` ahead of the wall clock (never sleep). */
export async function moveClock(accountId: string, offsetMs: number): Promise<void> {
  await runInDurableObject(env.ACCOUNTS.getByName(accountId), (instance: AccountDO) => {
    (instance as unknown as Instance).now = () => Date.now() + offsetMs;
  });
}

/** Lowers the account object's record bounds (they are large by default). */
export async function setBounds(accountId: string, bounds: IdempotencyBounds): Promise<void> {
  await runInDurableObject(env.ACCOUNTS.getByName(accountId), (instance: AccountDO) => {
    (instance as unknown as Instance).idempotency.bounds = bounds;
  });
}

/** The account's Idempotency-Key rows, straight from its SQLite. */
export async function storedRecords(accountId: string): Promise<{ key: string; state: string; expires_at: number }[]> {
  return runInDurableObject(env.ACCOUNTS.getByName(accountId), (_instance: AccountDO, state) =>
    state.storage.sql.exec<{ key: string; state: string; expires_at: number }>("SELECT key, state, expires_at FROM idempotency_keys ORDER BY key").toArray(),
  );
}
