// A repeat of a request with an Idempotency-Key, made as soon as the first one's answer has
// arrived, may still meet the claim in progress: the gateway keeps a 2xx's answer just after
// its body has passed (in the background, README "Idempotency keys"), and a repeat that
// reaches the account's object before that background call does is answered 409 with
// `Retry-After: 1`. Rare (an answer waiting in the batch is met), but a machine under load
// can stretch that instant, so tests do what a client does — wait and retry — rather than
// hope the answer was kept in time.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "vitest";

const IN_PROGRESS = "A request with this Idempotency-Key is still in progress";

export interface RepeatableReply {
  status: number;
  headers: Headers;
  /** The body as text, read whole. */
  text: string;
}

/**
 * Sends `repeat` until its answer is not the in-progress 409, waiting its Retry-After between
 * tries, at most `tries` times; each in-progress answer met is checked to be exactly that.
 */
export async function repeatPastInProgress<T extends RepeatableReply>(repeat: () => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const reply = await repeat();
    if (reply.status !== 409 || attempt === tries) return reply;
    const envelope = JSON.parse(reply.text) as { error: { code: string; message: string } };
    if (envelope.error.message !== IN_PROGRESS) return reply;
    expect(envelope.error.code).toBe("CONFLICT");
    expect(reply.headers.get("retry-after")).toBe("1");
    await sleep(1_000);
  }
}

/** A fetch answer, its body read as text, for repeatPastInProgress. */
export async function fetchReply(input: string, init: RequestInit): Promise<RepeatableReply> {
  const res = await fetch(input, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}
