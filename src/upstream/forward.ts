// Calling the origin (SPEC section 6): the request streamed there, the answer streamed back
// exactly as the origin encoded it, a timeout that turns a hanging origin into an answer,
// and a client that leaves cancelling the call.

export interface Identity {
  accountId: string;
  keyId: string;
}

/**
 * An upstream's URL joined with the request's canonical path (SPEC 10) and its query as received:
 * a base path is kept as a prefix.
 */
export function upstreamUrlFor(base: URL, path: string, search: string): string {
  const basePath = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${basePath}${path}${search}`;
}

export type CallResult =
  | {
      kind: "response";
      response: Response;
      /** When the route's timeout runs out (epoch ms): an error body is read until then at most. */
      deadline: number;
    }
  | { kind: "timeout" }
  /** `originStatus`: the origin had answered (its body was let go unread) as the client left. */
  | { kind: "client_gone"; originStatus?: number }
  | { kind: "unreachable"; detail: string };

/**
 * Calls the origin. `timeoutMs` bounds the wait for the response headers; a 2xx body then
 * streams for as long as it takes. Redirects are passed to the client, not followed.
 *
 * The call is cancelled when the client goes away (`request.signal`, with the
 * enable_request_signal compatibility flag). The body comes back as the origin encoded it
 * (`encodeResponseBody: "manual"`): passed on with the same Content-Encoding and
 * Content-Length, a client gets the origin's very bytes on every route, and a charged body
 * can be counted against its Content-Length.
 */
export async function callUpstream(request: Request, target: string, headers: Headers, timeoutMs: number, readBody: ArrayBuffer | null = null): Promise<CallResult> {
  const clientGone = request.signal;
  if (clientGone.aborted) return { kind: "client_gone" };
  const deadline = Date.now() + timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const cancel = () => controller.abort();
  clientGone.addEventListener("abort", cancel);
  try {
    const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
    const response = await fetch(target, {
      method: request.method,
      headers,
      // A body already read (to fingerprint it for an Idempotency-Key) is sent as read.
      body: readBody ?? (hasBody ? request.body : null),
      redirect: "manual",
      signal: controller.signal,
      encodeResponseBody: "manual",
    });
    if (clientGone.aborted) {
      // The answer came as the client left: nobody will read it, so it is not a success.
      response.body?.cancel().catch(() => {});
      return { kind: "client_gone", originStatus: response.status };
    }
    return { kind: "response", response, deadline };
  } catch (error) {
    if (clientGone.aborted) return { kind: "client_gone" };
    if (controller.signal.aborted) return { kind: "timeout" };
    return { kind: "unreachable", detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
    clientGone.removeEventListener("abort", cancel);
  }
}

/** Enough of an error body to find a message in; the rest is never read. */
export const ERROR_BODY_LIMIT_BYTES = 64 * 1024;

/** The codings an error body may arrive in and still be read (the runtime has decoders for these). */
const READABLE_CODINGS: Readonly<Record<string, "gzip" | "deflate" | null>> = {
  identity: null,
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
};

/**
 * Reads at most `limitBytes` of a body (decoded) as text, until `deadline` (epoch ms) at the
 * latest. null when the body cannot be read (reset, deadline passed, an unknown coding): the
 * caller then answers without it. The body is cancelled once read, so the origin's
 * connection is released.
 */
export async function readBodyPrefix(response: Response, limitBytes: number, deadline: number): Promise<string | null> {
  if (response.body === null) return "";
  const coding = (response.headers.get("Content-Encoding") ?? "identity").trim().toLowerCase();
  const decoder = Object.hasOwn(READABLE_CODINGS, coding) ? READABLE_CODINGS[coding] : undefined;
  const timeoutMs = deadline - Date.now();
  if (decoder === undefined || timeoutMs <= 0) {
    response.body.cancel().catch(() => {});
    return null;
  }
  const body = decoder === null ? response.body : response.body.pipeThrough(new DecompressionStream(decoder));
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), timeoutMs);
  });
  try {
    while (size < limitBytes) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "expired") return null;
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.byteLength;
    }
    const bytes = new Uint8Array(Math.min(size, limitBytes));
    let offset = 0;
    for (const chunk of chunks) {
      const part = chunk.subarray(0, bytes.byteLength - offset);
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    return new TextDecoder().decode(bytes);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}
