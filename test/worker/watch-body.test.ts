// The watcher of a charged 2xx body (src/upstream/watch-body.ts), inside workerd with the
// runtime's own FixedLengthStream: what counts as the origin's failure (refunded) and what
// as the client's departure (charged), whatever the streams themselves report.
import { describe, expect, it } from "vitest";
import { watchBody } from "../../src/upstream/watch-body.ts";

interface Watched {
  body: ReadableStream<Uint8Array>;
  refunds: () => number;
  /** Resolves when the watcher's own work (under waitUntil) is done. */
  settled: () => Promise<unknown>;
  sourceCancelled: () => boolean;
  clientGone: AbortController;
}

function watch(chunks: Uint8Array[], contentLength: string | null, options: { holdOpen?: boolean } = {}): Watched {
  let refunds = 0;
  let cancelled = false;
  const pending: Promise<unknown>[] = [];
  const clientGone = new AbortController();
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      if (!options.holdOpen) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const body = watchBody(source, {
    contentLength,
    clientGone: clientGone.signal,
    onOriginFailure: async () => void refunds++,
    waitUntil: (promise) => void pending.push(promise),
  });
  return { body, refunds: () => refunds, settled: () => Promise.all(pending), sourceCancelled: () => cancelled, clientGone };
}

const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

describe("watchBody", () => {
  it("relays a body of its declared length whole, and refunds nothing", async () => {
    const watched = watch([bytes(3), bytes(2, 0x62)], "5");
    expect(new TextDecoder().decode(await new Response(watched.body).arrayBuffer())).toBe("aaabb");
    await watched.settled();
    expect(watched.refunds()).toBe(0);
  });

  it("takes an origin that sends more than its Content-Length for the origin's failure, not the client's", async () => {
    const watched = watch([bytes(3), bytes(3)], "4");
    await expect(new Response(watched.body).arrayBuffer()).rejects.toThrow();
    await watched.settled();
    expect(watched.refunds()).toBe(1);
  });

  it("takes a body shorter than its Content-Length for the origin's failure", async () => {
    const watched = watch([bytes(3)], "10");
    await expect(new Response(watched.body).arrayBuffer()).rejects.toThrow();
    await watched.settled();
    expect(watched.refunds()).toBe(1);
  });

  it("charges a client that goes away mid-body, and lets go of the origin at once", async () => {
    const watched = watch([bytes(3)], null, { holdOpen: true });
    const reader = watched.body.getReader();
    expect((await reader.read()).value?.byteLength).toBe(3);
    // The origin holds its body open; only the client's departure can end this.
    watched.clientGone.abort();
    await watched.settled();
    expect(watched.sourceCancelled()).toBe(true);
    expect(watched.refunds()).toBe(0);
    await reader.cancel().catch(() => {});
  });

  it("charges a client that cancels the body it is reading", async () => {
    const watched = watch([bytes(3), bytes(3)], null, { holdOpen: true });
    const reader = watched.body.getReader();
    await reader.read();
    // The runtime's failed write is all the watcher hears of it (no signal): it lets go of
    // the origin, and refunds nothing.
    await reader.cancel();
    await watched.settled();
    expect(watched.sourceCancelled()).toBe(true);
    expect(watched.refunds()).toBe(0);
  });
});
