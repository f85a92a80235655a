// A real HTTP origin on 127.0.0.1 that misbehaves on request, for the tests and benchmarks.
// It records what it received, so tests can assert what the gateway forwarded.
//
//   node test/support/origin.ts [port]      prints {"port": N} on its first line
//
// Paths (any prefix before them is ignored, so /v1/x/echo is /echo):
//   /echo                 200, JSON of the request received (also the default)
//   /status/:code         that status; ?body=<json or text>&type=<content-type>&retry_after=<v>
//                         &header=<Name:value> (repeatable, added to the answer)
//   /html502              nginx's HTML 502 page          /hang        never answers
//   /reset                destroys the socket            /bad-json-500  500 with invalid JSON
//   /envelope/:code/:st   status st with the envelope    /problem     RFC 9457 problem+json 422
//   /big?bytes=N          N bytes (default 2 MB), streamed in 64 KiB chunks
//                         &stall_after=K: K bytes of it, then nothing, never ending (also /pattern)
//   /redirect             302 to /echo                   /slow?ms=N   200 after N ms
//   /die-mid-stream       200 headers, some bytes, then a reset
//   /flaky/:id?plan=500,429,200  answers the next status of the plan for that id (then 200)
//   /pattern?bytes=N      200, N bytes of patternBytes() (default 2 MB), streamed in 64 KiB chunks
//   /garbage              answers bytes that are not HTTP, then closes the socket
//   /hold/:id             answers 200 only once POST /__origin/release/:id came (at once if it already had)
//   /__origin/requests    GET: what was received; DELETE: forget it
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { reachedHandlers, type OriginHandler, type RoutingMode } from "./origin-routing.ts";

export interface ReceivedRequest {
  method: string;
  /** Path and query after the URL parser read the target (so `/a/../b` shows as `/b`). */
  path: string;
  /** The request target exactly as it came over the wire. */
  target: string;
  /** With OriginOptions.handlers: the handler each routing mode runs for `target`. */
  reached?: Record<RoutingMode, string>;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
  body: string;
  /** SHA-256 (hex) of the whole body, so large bodies can be compared byte for byte. */
  sha256: string;
}

export interface OriginOptions {
  /** Node's limit on a request's head (default 16 KiB); raise it to receive huge headers. */
  maxHeaderSize?: number;
  /**
   * An app's handlers: every request is then routed as nginx, Go, Tomcat and Express would
   * route it (origin-routing.ts), and each one's handler is recorded in `reached`.
   */
  handlers?: readonly OriginHandler[];
}

/** N bytes that are not all alike, so a reordered, dropped or repeated chunk shows. */
export function patternBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >>> 8) * 7 + (i >>> 16)) & 0xff;
  return bytes;
}

const NGINX_502 = `<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n`;

export interface Origin {
  port: number;
  url: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startOrigin(port = 0, options: OriginOptions = {}): Promise<Origin> {
  const received: ReceivedRequest[] = [];
  const flaky = new Map<string, number>();
  const holds: Holds = { released: new Set(), waiting: new Map() };
  const serverOptions = options.maxHeaderSize === undefined ? {} : { maxHeaderSize: options.maxHeaderSize };
  const server: Server = createServer(serverOptions, (req, res) => {
    handle(req, res, received, flaky, holds, options.handlers).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** /hold/:id: the ids released so far, and the answers waiting for theirs. */
interface Holds {
  released: Set<string>;
  waiting: Map<string, (() => void)[]>;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  received: ReceivedRequest[],
  flaky: Map<string, number>,
  holds: Holds,
  handlers: readonly OriginHandler[] | undefined,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://origin.test");
  const path = url.pathname;

  if (path === "/__origin/requests") {
    if (req.method === "DELETE") received.length = 0;
    return json(res, 200, received);
  }
  const release = /^\/__origin\/release\/([^/]+)$/.exec(path);
  if (release !== null && req.method === "POST") {
    const id = release[1]!;
    holds.released.add(id);
    for (const answer of holds.waiting.get(id) ?? []) answer();
    holds.waiting.delete(id);
    return json(res, 200, { released: id });
  }

  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const record: ReceivedRequest = {
    method: req.method ?? "",
    path: `${path}${url.search}`,
    target: req.url ?? "",
    ...(handlers === undefined ? {} : { reached: reachedHandlers(req.url ?? "", handlers) }),
    headers: req.headers,
    bodyBytes: body.byteLength,
    body: body.byteLength <= 64 * 1024 ? body.toString("utf8") : "",
    sha256: createHash("sha256").update(body).digest("hex"),
  };
  received.push(record);

  const tail = (name: string) => new RegExp(`(?:^|/)${name}(?:/|$)(.*)`).exec(path);
  let m: RegExpExecArray | null;

  if ((m = /(?:^|\/)status\/(\d{3})(?:\/|$)/.exec(path))) {
    const status = Number(m[1]);
    const headers: Record<string, string> = { "Content-Type": url.searchParams.get("type") ?? "application/json" };
    const retryAfter = url.searchParams.get("retry_after");
    if (retryAfter !== null) headers["Retry-After"] = retryAfter;
    for (const header of url.searchParams.getAll("header")) {
      const colon = header.indexOf(":");
      if (colon > 0) headers[header.slice(0, colon)] = header.slice(colon + 1);
    }
    res.writeHead(status, headers);
    return void res.end(url.searchParams.get("body") ?? "");
  }
  if (tail("html502")) {
    res.writeHead(502, { "Content-Type": "text/html", Server: "nginx/1.25.3" });
    return void res.end(NGINX_502);
  }
  if (tail("hang")) return; // never answers; the gateway's timeout must
  if (tail("reset")) return void req.socket.destroy();
  if (tail("bad-json-500")) {
    res.writeHead(500, { "Content-Type": "application/json" });
    return void res.end('{"error": "Internal failure at /srv/app/handler.js:42", "stack": "Error\n    at handler (/srv/app/handler.js:42:7)"');
  }
  if ((m = tail("envelope"))) {
    const [code, status] = (m[1] ?? "").split("/");
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    const retryAfter = url.searchParams.get("retry_after");
    if (retryAfter !== null) headers["Retry-After"] = retryAfter;
    res.writeHead(Number(status ?? 400), headers);
    return void res.end(
      JSON.stringify({
        success: false,
        error: { code, message: url.searchParams.get("message") ?? `Origin says ${code}` },
        meta: { request_id: "req_origin_own_id", timestamp: "2026-01-01T00:00:00Z" },
      }),
    );
  }
  if (tail("problem")) {
    res.writeHead(422, { "Content-Type": "application/problem+json" });
    return void res.end(JSON.stringify({ type: "https://example.com/probs/out-of-range", title: "Out of range", detail: "Field 'quantity' must be at most 10.", status: 422 }));
  }
  if (tail("big")) {
    const total = Number(url.searchParams.get("bytes") ?? 2 * 1024 * 1024);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(total) });
    return streamOut(res, total, (start, end) => Buffer.alloc(end - start, 0x61), stallAfter(url));
  }
  if (tail("redirect")) {
    res.writeHead(302, { Location: "/echo", "Content-Type": "text/plain" });
    return void res.end("Found");
  }
  if (tail("slow")) {
    await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("ms") ?? 1000)));
    return json(res, 200, { slow: true });
  }
  if (tail("die-mid-stream")) {
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": "1000000" });
    res.write(Buffer.alloc(10_000, 0x62));
    setTimeout(() => req.socket.destroy(), 50);
    return;
  }
  if (tail("pattern")) {
    const bytes = patternBytes(Number(url.searchParams.get("bytes") ?? 2 * 1024 * 1024));
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    return streamOut(res, bytes.byteLength, (start, end) => bytes.subarray(start, end), stallAfter(url));
  }
  if (tail("garbage")) {
    req.socket.end("SMTP READY\r\n\r\nthis is not HTTP\r\n");
    return;
  }
  if ((m = tail("hold"))) {
    const id = m[1] ?? "";
    if (!holds.released.has(id)) await new Promise<void>((resolve) => holds.waiting.set(id, [...(holds.waiting.get(id) ?? []), resolve]));
    return json(res, 200, { held: id });
  }
  if ((m = tail("flaky"))) {
    const id = m[1] ?? "";
    const plan = (url.searchParams.get("plan") ?? "").split(",").filter(Boolean);
    const step = flaky.get(id) ?? 0;
    flaky.set(id, step + 1);
    const status = Number(plan[step] ?? 200);
    const headers: Record<string, string> = {};
    if (status === 429) headers["Retry-After"] = url.searchParams.get("retry_after") ?? "1";
    return json(res, status, status < 400 ? { ok: true, attempt: step + 1 } : { message: `planned ${status}` }, headers);
  }
  return json(res, 200, { method: record.method, path: record.path, headers: req.headers, body: record.body });
}

/** `?stall_after=K`: the body stops after K bytes and never ends; without it, all of it goes. */
function stallAfter(url: URL): number | null {
  const value = url.searchParams.get("stall_after");
  return value === null ? null : Number(value);
}

/**
 * Writes `length` bytes (`bytesAt(start, end)` makes each part) in 64 KiB chunks, waiting for
 * each to drain, and ends the answer — unless it is to stall: then it stops after
 * `stallAfter` bytes and leaves the answer unfinished, so whatever happens next (a kill, a
 * reset) is certain to land mid-body.
 */
async function streamOut(res: ServerResponse, length: number, bytesAt: (start: number, end: number) => Buffer, stallAfter: number | null): Promise<void> {
  const CHUNK = 64 * 1024;
  const end = stallAfter === null ? length : Math.min(stallAfter, length);
  for (let offset = 0; offset < end; offset += CHUNK) {
    if (!res.write(bytesAt(offset, Math.min(offset + CHUNK, end)))) await new Promise((resolve) => res.once("drain", resolve));
  }
  if (stallAfter === null) res.end();
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

// Run as a process: print the port, then serve until killed.
if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = await startOrigin(Number(process.argv[2] ?? 0));
  process.stdout.write(`${JSON.stringify({ port: origin.port })}\n`);
}
