// The answer to a request that claimed an Idempotency-Key (SPEC 11), captured for its
// replays. A 2xx or 3xx body is copied as it streams to the client (the client never waits
// for it) and kept, with its status and end-to-end headers, once it has passed whole. A 4xx
// other than 429 is kept as the envelope it became, and a 5xx or a 429 releases the key —
// both told to the account's object with the refund, in the same call (settle).
//
// Once the origin has answered 2xx, 3xx or 4xx, the key is never released: an answer that
// cannot be kept (more than 1 MiB, a client that left mid-body, a body the origin broke) is
// recorded as such, and a repeat gets 409 rather than a second action.
import { MAX_IDEMPOTENT_BODY_BYTES, type KeptAnswer } from "../account/idempotency.ts";
import { accountStub, isRetryable } from "../account/stub.ts";
import type { ClaimOutcome } from "../account/types.ts";
import type { RequestContext } from "../context.ts";
import { ERROR_STATUS, type ErrorSpec } from "../envelope.ts";
import { endToEndHeaders } from "./headers.ts";
import type { BodyEnd, BodyTap } from "./watch-body.ts";

/** The claim an admitted request holds: its key, and the body it was fingerprinted with (forwarded as is). */
export interface HeldClaim {
  key: string;
  body: ArrayBuffer;
}

/** A tap that keeps the answer `response` streams, for the claim `key` of `accountId`. */
export function answerCapture(ctx: RequestContext, accountId: string, key: string, response: Response): AnswerCapture {
  const head = { status: response.status, statusText: response.statusText, headers: endToEndHeaders(response.headers) };
  const declared = Number(response.headers.get("Content-Length") ?? Number.NaN);
  return new AnswerCapture(head, declared > MAX_IDEMPOTENT_BODY_BYTES, (answer) => keepAnswer(ctx, accountId, key, answer));
}

/**
 * The body for the client, `body` itself, while `capture` keeps a copy: the runtime tees it,
 * so nothing of Tollgate's runs between the origin and the client (a watched body's pump
 * costs more than the rest of the capture). The copy is read as the origin sends, at most
 * 1 MiB of it — ahead of a slow client by that much at most, in memory. A client that goes
 * away has the copy dropped too, so the origin's connection closes at once (SPEC 6), and the
 * answer is not kept; an origin that breaks the body breaks both.
 */
export function teeForCapture(body: ReadableStream<Uint8Array>, capture: AnswerCapture, clientGone: AbortSignal, waitUntil: (promise: Promise<unknown>) => void): ReadableStream<Uint8Array> {
  if (capture.tooLarge) {
    // Known from its Content-Length: recorded at once, and the body is not touched.
    waitUntil(capture.end("complete"));
    return body;
  }
  const [client, copy] = body.tee();
  waitUntil(readCopy(copy.getReader(), capture, clientGone));
  return client;
}

async function readCopy(reader: ReadableStreamDefaultReader<Uint8Array>, capture: AnswerCapture, clientGone: AbortSignal): Promise<void> {
  const hangUp = () => void reader.cancel(clientGone.reason).catch(() => {});
  clientGone.addEventListener("abort", hangUp);
  if (clientGone.aborted) hangUp();
  let how: BodyEnd = "complete";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      capture.chunk(value);
      if (capture.tooLarge) {
        // Kept as too large whatever follows; the client's branch goes on alone.
        reader.cancel().catch(() => {});
        break;
      }
    }
  } catch {
    how = clientGone.aborted ? "client_gone" : "origin_failed";
  } finally {
    clientGone.removeEventListener("abort", hangUp);
  }
  if (clientGone.aborted && !capture.tooLarge) how = "client_gone";
  await capture.end(how);
}

export class AnswerCapture implements BodyTap {
  private chunks: Uint8Array[] = [];
  private size = 0;
  /** Past MAX_IDEMPOTENT_BODY_BYTES: kept as too large, whatever else happens. */
  tooLarge: boolean;
  private ended = false;
  private readonly head: { status: number; statusText: string; headers: string[][] };
  private readonly keep: (answer: KeptAnswer) => Promise<void>;

  constructor(head: AnswerCapture["head"], tooLarge: boolean, keep: AnswerCapture["keep"]) {
    this.head = head;
    this.tooLarge = tooLarge;
    this.keep = keep;
  }

  chunk(bytes: Uint8Array): void {
    if (this.tooLarge) return;
    this.size += bytes.byteLength;
    if (this.size > MAX_IDEMPOTENT_BODY_BYTES) {
      this.tooLarge = true;
      this.chunks = [];
      return;
    }
    // A copy: the chunk itself may be handed on to the client's stream.
    this.chunks.push(bytes.slice());
  }

  end(how: BodyEnd): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    if (this.tooLarge) return this.keep({ kind: "too_large" });
    if (how !== "complete") return this.keep({ kind: "not_kept" });
    const body = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.chunks = [];
    return this.keep({ kind: "response", ...this.head, body: body.buffer });
  }
}

/**
 * Tells the account's object the answer of the claim this request holds. Tried again once
 * when the runtime says that is safe; if it still fails, the claim stays in flight (a
 * repeat gets 409, never a second action) and an operator sees one line.
 */
async function keepAnswer(ctx: RequestContext, accountId: string, key: string, answer: KeptAnswer): Promise<void> {
  const attempt = () => accountStub(ctx.env, accountId).keepAnswer(ctx.requestId, key, answer);
  try {
    await attempt();
  } catch (first) {
    try {
      if (!isRetryable(first)) throw first;
      await attempt();
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      console.error(JSON.stringify({ request_id: ctx.requestId, account: accountId, error: `the answer to its Idempotency-Key was not kept (${detail}); a repeat gets 409` }));
    }
  }
}

/**
 * What becomes of the claim when the answer is an envelope (SPEC 11): a 4xx other than 429 is
 * kept as its code and message; a 5xx or a 429 — the origin failed, timed out, could not be
 * reached, refused the gateway's token, or was busy — releases the key for a retry.
 */
export function outcomeOfEnvelope(key: string, spec: ErrorSpec): ClaimOutcome {
  const status = ERROR_STATUS[spec.code];
  if (status >= 500 || status === 429) return { key, answer: null };
  return { key, answer: { kind: "envelope", code: spec.code, message: spec.message } };
}

/**
 * The client left just as the origin's answer arrived (its body was let go unread): the
 * origin acted on anything it answered below 500 but 401 and 429, so the key stays claimed;
 * anything else releases it, as its envelope would have.
 */
export function outcomeOfDeparture(key: string, originStatus: number): ClaimOutcome {
  const failed = originStatus >= 500 || originStatus === 429 || originStatus === 401;
  return { key, answer: failed ? null : { kind: "not_kept" } };
}
