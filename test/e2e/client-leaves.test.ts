// Clients that go away (SPEC 6): one that leaves before the origin has answered is refunded
// and the origin call is cancelled (and its Idempotency-Key released, as after a timeout:
// SPEC 11); once a 2xx has begun to reach it, the charge stands and the origin's connection
// is closed at once. The client resets its connection (TCP RST),
// as a client that gives up does; the origin is a real process that reports when its side
// of the connection closes. The gateway runs in Miniflare: wrangler dev's proxy would hide
// the client's departure from it (see test/support/miniflare-gateway.ts).
import { createServer, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logLineFor, waitForLog } from "../support/envelope.ts";
import { accountWithKey, admin } from "../support/gateway.ts";
import { fetchReply, repeatPastInProgress } from "../support/idempotency.ts";
import { startMiniflareGateway, type MiniflareGateway } from "../support/miniflare-gateway.ts";

const COST = 25;

/** What the origin saw of one request, found by the test's own marker (?n=…). */
interface Visit {
  requestId: Promise<string>;
  /** Resolves when the origin's side of the connection has closed. */
  closed: Promise<void>;
}

let originServer: Server;
let gateway: MiniflareGateway;
let key: string;
/** Visits per marker: a path ending in /hang-once hangs on the first only. */
const visitCounts = new Map<string, number>();
const visits = new Map<string, { visit: Visit; arrived(requestId: string): void; closed(): void }>();

function visit(marker: string) {
  let entry = visits.get(marker);
  if (entry === undefined) {
    let arrived!: (id: string) => void;
    let closed!: () => void;
    const visit: Visit = { requestId: new Promise((r) => (arrived = r)), closed: new Promise((r) => (closed = r)) };
    entry = { visit, arrived, closed };
    visits.set(marker, entry);
  }
  return entry;
}

function handle(req: IncomingMessage, res: import("node:http").ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://origin.test");
  const marker = url.searchParams.get("n") ?? "";
  const entry = visit(marker);
  const count = (visitCounts.get(marker) ?? 0) + 1;
  visitCounts.set(marker, count);
  req.socket.once("close", () => entry.closed());
  entry.arrived(String(req.headers["x-request-id"]));
  if (url.pathname.endsWith("/hang")) return; // never answers
  if (url.pathname.endsWith("/hang-once")) {
    if (count === 1) return;
    res.writeHead(201, { "Content-Type": "application/json" });
    return void res.end(JSON.stringify({ visit: count, idempotency_key: req.headers["idempotency-key"] }));
  }
  // A 2xx that starts at once and then holds its connection open, as a long stream does.
  const sized = url.pathname.endsWith("/trickle");
  res.writeHead(200, { "Content-Type": "application/octet-stream", ...(sized ? { "Content-Length": "1000000" } : {}) });
  res.write(Buffer.alloc(4096, 0x61));
}

beforeAll(async () => {
  originServer = createServer(handle);
  await new Promise<void>((resolve) => originServer.listen(0, "127.0.0.1", resolve));
  gateway = await startMiniflareGateway({
    UPSTREAM_URL: `http://127.0.0.1:${(originServer.address() as AddressInfo).port}`,
    ROUTES: [{ path: "/v1/free/*", public: true }, { path: "/v1/paid/*", credits: COST }],
  });
  key = await accountWithKey(gateway, { id: "leaver", credits: 1_000 });
});
afterAll(async () => {
  await gateway?.stop();
  originServer?.closeAllConnections();
  await new Promise<void>((resolve) => (originServer ? originServer.close(() => resolve()) : resolve()));
});

/** Sends a GET (or `head` as given) on a raw socket; resolves once `bytes` of the answer have arrived (0: at once). */
function openRequest(path: string, bytes: number, head = `GET ${path} HTTP/1.1\r\n`): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.port, "127.0.0.1", () => {
      socket.write(`${head}Host: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nAccept-Encoding: gzip\r\n\r\n`);
      if (bytes === 0) resolve(socket);
    });
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (bytes > 0 && received >= bytes) resolve(socket);
    });
    socket.on("error", reject);
  });
}

/**
 * A moment between reading the first bytes and hanging up, as a person or a program takes.
 * Without it the reset can land in the microseconds after workerd's last write, before it
 * watches the socket again; kj does not remember a hang-up seen while nobody watched
 * (UnixEventPort::FdObserver::whenWriteDisconnected), so the runtime would learn of it only
 * at its next write. That is the runtime's window, not the gateway's.
 */
const readerPause = () => new Promise((resolve) => setTimeout(resolve, 200));

/** `promise`, or a clear failure once `ms` have passed (the event is due within milliseconds). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

interface LedgerRow {
  delta: number;
  reason: string;
  request_id: string | null;
}

async function account(): Promise<{ credits: number; ledger: LedgerRow[] }> {
  return (await admin(gateway, "GET", "/accounts/leaver")).body.data;
}

/** The account once `done` holds of it, polled boundedly (a refund lands in the background). */
async function accountWhen(done: (a: { credits: number; ledger: LedgerRow[] }) => boolean): Promise<{ credits: number; ledger: LedgerRow[] }> {
  let seen = await account();
  for (let i = 0; i < 50 && !done(seen); i++) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await account();
  }
  return seen;
}

const movesOf = (ledger: LedgerRow[], requestId: string) => ledger.filter((row) => row.request_id === requestId).map((row) => [row.reason, row.delta]);

describe("a client that leaves before the origin has answered", () => {
  it("is refunded, and the origin call is cancelled", async () => {
    const before = (await account()).credits;
    const { visit: seen } = visit("hang-paid");
    const socket = await openRequest("/v1/paid/hang?n=hang-paid", 0);
    const requestId = await within(seen.requestId, 10_000, "the origin receiving the request");
    socket.resetAndDestroy();

    await within(seen.closed, 10_000, "the origin's connection closing");
    const after = await accountWhen((a) => a.credits === before);
    expect(after.credits).toBe(before);
    expect(movesOf(after.ledger, requestId)).toEqual([
      ["refund", COST],
      ["debit", -COST],
    ]);
    const line = logLineFor(await waitForLog(gateway.output, requestId), requestId);
    expect(line).toMatchObject({ request_id: requestId, account: "leaver", origin_status: null, error: expect.stringMatching(/client went away/) });
  });
});

describe("a client that leaves before the origin has answered, with an Idempotency-Key", () => {
  it("is refunded and its key released with the refund: the same request again is forwarded, charged once in all", async () => {
    const before = (await account()).credits;
    const path = "/v1/paid/hang-once?n=keyed";
    const idempotencyKey = `leaver-${Date.now()}`;
    const { visit: seen } = visit("keyed");
    const post = `POST ${path} HTTP/1.1\r\nIdempotency-Key: ${idempotencyKey}\r\nContent-Length: 2\r\n`;
    const socket = await openRequest(path, 0, post);
    socket.write("{}");
    const requestId = await within(seen.requestId, 10_000, "the origin receiving the request");
    socket.resetAndDestroy();
    await within(seen.closed, 10_000, "the origin's connection closing");
    const refunded = await accountWhen((a) => a.credits === before);
    expect(movesOf(refunded.ledger, requestId)).toEqual([
      ["refund", COST],
      ["debit", -COST],
    ]);

    const headers = { Authorization: `Bearer ${key}`, "Idempotency-Key": idempotencyKey };
    const again = await fetch(`${gateway.url}${path}`, { method: "POST", headers, body: "{}" });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual({ visit: 2, idempotency_key: idempotencyKey });
    const replay = await repeatPastInProgress(() => fetchReply(`${gateway.url}${path}`, { method: "POST", headers, body: "{}" }));
    expect(replay.status).toBe(201);
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(JSON.parse(replay.text)).toEqual({ visit: 2, idempotency_key: idempotencyKey });
    expect(visitCounts.get("keyed")).toBe(2);
    expect((await account()).credits).toBe(before - COST);
  });
});

describe.each([
  ["with a Content-Length", "trickle"],
  ["chunked", "trickle-chunked"],
])("a client that leaves while a charged 2xx body streams (%s)", (_name, path) => {
  it("is charged, and the origin's connection is closed at once, not at its next chunk", async () => {
    const before = (await account()).credits;
    const marker = `${path}-paid`;
    const { visit: seen } = visit(marker);
    const socket = await openRequest(`/v1/paid/${path}?n=${marker}`, 4096);
    const requestId = await seen.requestId;
    await readerPause();
    socket.resetAndDestroy();

    // The origin sends nothing more after its first chunk: only the gateway can close this.
    await within(seen.closed, 10_000, "the origin's connection closing");
    const after = await account();
    expect(after.credits).toBe(before - COST);
    expect(movesOf(after.ledger, requestId)).toEqual([["debit", -COST]]);
  });
});

describe("a client that leaves a free route", () => {
  it("has the origin's connection closed at once too", async () => {
    const { visit: seen } = visit("trickle-free");
    const socket = await openRequest("/v1/free/trickle-chunked?n=trickle-free", 4096);
    await readerPause();
    socket.resetAndDestroy();
    await within(seen.closed, 10_000, "the origin's connection closing");
  });
});
