// Calling the origin (SPEC section 6): streamed both ways, with a timeout that turns a
// hanging origin into an answer. Which headers cross, both ways: headers.ts.

export interface Identity {
  accountId: string;
  keyId: string;
}

export interface UpstreamTarget {
  upstreamUrl: URL;
  upstreamToken: string | null;
}

/** UPSTREAM_URL joined with the request's path and query: a base path is kept as a prefix. */
export function upstreamUrlFor(base: URL, url: URL): string {
  const basePath = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${basePath}${url.pathname}${url.search}`;
}

export type CallResult = { kind: "response"; response: Response } | { kind: "timeout" } | { kind: "unreachable"; detail: string };

/**
 * Calls the origin. `timeoutMs` bounds the wait for the response headers; a 2xx body then
 * streams for as long as it takes. Redirects are passed to the client, not followed.
 */
export async function callUpstream(
  request: Request,
  target: string,
  headers: Headers,
  timeoutMs: number,
): Promise<CallResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
    const response = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? request.body : null,
      redirect: "manual",
      signal: controller.signal,
    });
    return { kind: "response", response };
  } catch (error) {
    if (controller.signal.aborted) return { kind: "timeout" };
    return { kind: "unreachable", detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Enough of an error body to find a message in; the rest is never read. */
export const ERROR_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Reads at most `limitBytes` of a body as text, within `timeoutMs`. null when the body
 * cannot be read (reset, timeout): the caller then answers without it.
 */
export async function readBodyPrefix(response: Response, limitBytes: number, timeoutMs: number): Promise<string | null> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    while (size < limitBytes) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === "timeout") return null;
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
