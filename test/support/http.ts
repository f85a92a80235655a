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
