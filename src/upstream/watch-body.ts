// A 2xx body that breaks mid-stream is an origin failure too (SPEC 5: charged only for
// success), but its headers — and the debit's X-Credits-Remaining — are already on their
// way to the client. So a charged body is relayed through a watcher that refunds in the
// background if the origin's stream errors. A client that hangs up is not the origin's
// failure and refunds nothing.

/**
 * The body to answer with, relaying `body` and calling `onOriginFailure` (inside
 * `waitUntil`) if reading it fails. A known length is kept (FixedLengthStream), so the
 * client still gets Content-Length.
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  contentLength: string | null,
  onOriginFailure: () => Promise<unknown>,
  waitUntil: (promise: Promise<unknown>) => void,
): ReadableStream<Uint8Array> {
  const length = contentLength === null ? Number.NaN : Number(contentLength);
  const relay = Number.isSafeInteger(length) && length >= 0 ? new FixedLengthStream(length) : new IdentityTransformStream();
  waitUntil(pump(body, relay.writable, onOriginFailure));
  return relay.readable;
}

async function pump(source: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>, onOriginFailure: () => Promise<unknown>): Promise<void> {
  const reader = source.getReader();
  const writer = sink.getWriter();
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      await writer.abort(error).catch(() => {});
      await onOriginFailure();
      return;
    }
    try {
      if (chunk.done) {
        await writer.close();
        return;
      }
      await writer.write(chunk.value);
    } catch {
      // The client went away: the origin did its part.
      await reader.cancel().catch(() => {});
      return;
    }
  }
}
