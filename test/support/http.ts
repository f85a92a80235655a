// HTTP clients for the end-to-end tests that fetch() cannot play: any method token (TRACE,
// PROPFIND), any header (Host, Connection, Proxy-Authorization), a request body written as a
// stream, and raw bytes on a socket for what an HTTP library refuses to send at all.
import { request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { connect } from "node:net";

/** A response, read to the end: what the assertions look at. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** A whole body (sent with Content-Length) or chunks (sent chunked, one write each). */
  body?: string | Buffer | readonly Buffer[];
}

/** One request with node:http, which sends method and headers as given. */
export function send(baseUrl: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: options.method ?? "GET", headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const headers = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers, body, text: body.toString("utf8") });
      });
    });
    req.on("error", reject);
    const body = options.body;
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else {
      req.end(body as string | Buffer | undefined);
    }
  });
}

/** A fetch() response, read to the end. */
export async function fromFetch(response: Response): Promise<Reply> {
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, text: body.toString("utf8") };
}

/**
 * Writes `bytes` to a fresh connection and returns everything that comes back until the
 * server closes it (send `Connection: close`), or until `timeoutMs` has passed.
 */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", finish);
    socket.on("error", finish);
  });
}

/** The status code of a raw HTTP/1.x answer, or 0 when there is none. */
export function rawStatus(answer: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
  return match ? Number(match[1]) : 0;
}

/**
 * `GET <target>` written byte for byte (latin1) on a fresh connection, so that no client
 * library resolves, encodes or refuses any of it; the answer parsed into a Reply.
 */
export async function rawGet(port: number, target: string, headers: Record<string, string> = {}): Promise<Reply> {
  const head = [`GET ${target} HTTP/1.1`, "Host: gw.test", ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), "Connection: close", "", ""];
  return parseRawReply(await rawExchange(port, Buffer.from(head.join("\r\n"), "latin1")));
}

/** An HTTP/1.1 answer read to the end of the connection (Content-Length or chunked). */
export function parseRawReply(answer: string): Reply {
  const split = answer.indexOf("\r\n\r\n");
  const head = split < 0 ? answer : answer.slice(0, split);
  let rest = Buffer.from(split < 0 ? "" : answer.slice(split + 4), "latin1");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
    const chunks: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", offset);
      if (lineEnd < 0) break;
      const size = Number.parseInt(rest.subarray(offset, lineEnd).toString("latin1"), 16);
      if (!(size > 0)) break;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      offset = lineEnd + 2 + size + 2;
    }
    rest = Buffer.concat(chunks);
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  return { status, headers, body: rest, text: rest.toString("utf8") };
}
