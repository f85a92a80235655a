// A 2xx body that breaks mid-stream is an origin failure too (SPEC 5: charged only for
// success), but its headers — and the debit's X-Credits-Remaining — are already on their
// way to the client. So a charged body is relayed through a watcher that refunds in the
// background if the origin's stream fails. A client that leaves once the body has begun to
// reach it is not the origin's failure: the charge stands, and the origin's connection is
// closed at once rather than at its next chunk (SPEC 6). A body kept for an Idempotency-Key
// replay (SPEC 11) is relayed the same way, with a tap that sees each chunk as it passes.

/** How a watched body ended. */
export type BodyEnd = "complete" | "origin_failed" | "client_gone";

/** Sees a body as it is relayed, without holding it up. */
export interface BodyTap {
  /** Each chunk, before it is written on (the tap copies what it keeps). */
  chunk(bytes: Uint8Array): void;
  /** Once, at the end (inside waitUntil). */
  end(how: BodyEnd): Promise<unknown>;
}

export interface BodyWatch {
  /** The origin's Content-Length: the length of the body as encoded, which is what is relayed. */
  contentLength: string | null;
  /** Aborted when the client goes away (request.signal). */
  clientGone: AbortSignal;
  /** Gives the debit back; called (inside waitUntil) when the origin's body fails. */
  onOriginFailure: () => Promise<unknown>;
  tap?: BodyTap | null;
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * The body to answer with, relaying `body`. A known length is kept (FixedLengthStream), so
 * the client still gets Content-Length.
 */
export function watchBody(body: ReadableStream<Uint8Array>, watch: BodyWatch): ReadableStream<Uint8Array> {
  const declared = watch.contentLength === null ? Number.NaN : Number(watch.contentLength);
  const length = Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
  const relay = length === null ? new IdentityTransformStream() : new FixedLengthStream(length);
  watch.waitUntil(pump(body, relay.writable, length, watch));
  return relay.readable;
}

async function pump(source: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>, length: number | null, watch: BodyWatch): Promise<void> {
  const reader = source.getReader();
  const writer = sink.getWriter();
  writer.closed.catch(() => {}); // its failures are seen (and handled) where they happen below
  const { clientGone } = watch;
  // A pending read would otherwise wait for the origin's next chunk, however long that takes.
  const hangUp = () => void reader.cancel(clientGone.reason).catch(() => {});
  clientGone.addEventListener("abort", hangUp);
  if (clientGone.aborted) hangUp();

  const { tap } = watch;
  const originFailed = async (error: unknown) => {
    await writer.abort(error).catch(() => {});
    await reader.cancel(error).catch(() => {});
    await Promise.all([watch.onOriginFailure().catch(() => {}), tap?.end("origin_failed").catch(() => {})]);
  };
  let relayed = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (clientGone.aborted) break; // the read failed because we cancelled it
        return await originFailed(error);
      }
      if (clientGone.aborted) break;
      if (chunk.done) {
        // The runtime fails a body shorter than its Content-Length; this is the last guard.
        if (length !== null && relayed !== length) return await originFailed(new Error(`the origin sent ${relayed} of ${length} bytes`));
        // The answer is whole: kept (an RPC, not awaited here) while the client reads its end.
        const kept = tap?.end("complete").catch(() => {});
        await writer.close().catch(() => {});
        await kept;
        return;
      }
      relayed += chunk.value.byteLength;
      // More than declared would fail the write below: the origin's fault, not the client's.
      if (length !== null && relayed > length) return await originFailed(new Error(`the origin sent more than its Content-Length of ${length}`));
      tap?.chunk(chunk.value);
      try {
        await writer.write(chunk.value);
      } catch {
        break; // only the client can fail a write now: it went away
      }
    }
    // The client went away: the origin did its part, the charge stands. Let go of its connection.
    await reader.cancel(clientGone.reason).catch(() => {});
    await writer.abort(clientGone.reason).catch(() => {});
    await tap?.end("client_gone").catch(() => {});
  } finally {
    clientGone.removeEventListener("abort", hangUp);
  }
}
