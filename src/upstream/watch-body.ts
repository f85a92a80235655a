// A 2xx body that breaks mid-stream is an origin failure too (SPEC 5: charged only for
// success), but its headers — and the debit's X-Credits-Remaining — are already on their
// way to the client. So a charged body is relayed through a watcher that refunds in the
// background if the origin's stream fails. A client that hangs up is not the origin's
// failure and refunds nothing.

/**
 * The body to answer with, relaying `body` and calling `onOriginFailure` (inside
 * `waitUntil`) if the origin's stream fails. A known length is kept (FixedLengthStream), so
 * the client still gets Content-Length: `contentLength` is the origin's, the length of the
 * body as encoded, which is what is relayed.
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  contentLength: string | null,
  onOriginFailure: () => Promise<unknown>,
  waitUntil: (promise: Promise<unknown>) => void,
): ReadableStream<Uint8Array> {
  const declared = contentLength === null ? Number.NaN : Number(contentLength);
  const length = Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
  const relay = length === null ? new IdentityTransformStream() : new FixedLengthStream(length);
  waitUntil(pump(body, relay.writable, length, onOriginFailure));
  return relay.readable;
}

async function pump(source: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>, length: number | null, onOriginFailure: () => Promise<unknown>): Promise<void> {
  const reader = source.getReader();
  const writer = sink.getWriter();
  writer.closed.catch(() => {}); // its failures are seen (and handled) where they happen below
  const originFailed = async (error: unknown) => {
    await writer.abort(error).catch(() => {});
    await reader.cancel(error).catch(() => {});
    await onOriginFailure().catch(() => {});
  };
  let relayed = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      return await originFailed(error);
    }
    if (chunk.done) {
      // The runtime fails a body shorter than its Content-Length; this is the last guard.
      if (length !== null && relayed !== length) return await originFailed(new Error(`the origin sent ${relayed} of ${length} bytes`));
      await writer.close().catch(() => {});
      return;
    }
    relayed += chunk.value.byteLength;
    // More than declared would fail the write below: the origin's fault, not the client's.
    if (length !== null && relayed > length) return await originFailed(new Error(`the origin sent more than its Content-Length of ${length}`));
    try {
      await writer.write(chunk.value);
    } catch {
      // Only the client can fail a write now: it went away. The origin did its part.
      await reader.cancel().catch(() => {});
      return;
    }
  }
}
