// A request's Idempotency-Key (SPEC 11), read before its admission: the header checked, the
// body read whole (at most 1 MiB) and the fingerprint the account's object compares —
// SHA-256 over the method, the canonical path, the query and the body.
//
// Only key-protected POST, PUT, PATCH and DELETE are guarded. On any other method, and on a
// public route (which has no account to keep records in), the header is the origin's
// business: forwarded untouched, not checked, and the body streams as usual (README).
import type { IdempotencyClaim } from "../account/idempotency.ts";
import { MAX_IDEMPOTENT_BODY_BYTES } from "../account/idempotency.ts";
import type { ErrorSpec } from "../envelope.ts";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";

const GUARDED_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** 1–255 visible ASCII characters (RFC 5234 VCHAR). Two headers arrive joined by ", ": refused. */
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

export const IDEMPOTENCY_MESSAGES = {
  badKey: `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters`,
  bodyTooLarge: `A request with an ${IDEMPOTENCY_HEADER} may have a body of at most 1 MiB (${MAX_IDEMPOTENT_BODY_BYTES} bytes)`,
  bodyUnreadable: "The request body could not be read",
} as const;

/** A request the gateway guards: its claim for admission, and the body it read (forwarded as is). */
export interface GuardedRequest {
  claim: IdempotencyClaim;
  body: ArrayBuffer;
}

export type IdempotencyRead = { ok: true; guarded: GuardedRequest | null } | { ok: false; spec: ErrorSpec };

/** Whether a request on a key-protected route is guarded by its Idempotency-Key. */
export function isGuardedMethod(method: string): boolean {
  return GUARDED_METHODS.has(method);
}

/**
 * The request's claim, or null when it carries no key or its method is not guarded; a bad
 * key or body is refused with the envelope's 400. Call on key-protected routes only.
 */
export async function readIdempotency(request: Request, path: string, query: string): Promise<IdempotencyRead> {
  const key = request.headers.get(IDEMPOTENCY_HEADER);
  if (key === null || !isGuardedMethod(request.method)) return { ok: true, guarded: null };
  if (!VALID_KEY.test(key)) return { ok: false, spec: { code: "VALIDATION_ERROR", message: IDEMPOTENCY_MESSAGES.badKey } };

  const body = await readWholeBody(request, MAX_IDEMPOTENT_BODY_BYTES);
  if (body === "too_large") return { ok: false, spec: { code: "VALIDATION_ERROR", message: IDEMPOTENCY_MESSAGES.bodyTooLarge } };
  if (body === "unreadable") return { ok: false, spec: { code: "VALIDATION_ERROR", message: IDEMPOTENCY_MESSAGES.bodyUnreadable } };
  return { ok: true, guarded: { claim: { key, fingerprint: await fingerprint(request.method, path, query, body) }, body } };
}

/**
 * The body, read to its end, or "too_large" as soon as it passes `limitBytes` (by its
 * Content-Length, before reading any of it, or while reading).
 */
export async function readWholeBody(request: Request, limitBytes: number): Promise<ArrayBuffer | "too_large" | "unreadable"> {
  const declared = Number(request.headers.get("Content-Length") ?? Number.NaN);
  if (declared > limitBytes) return "too_large";
  if (request.body === null) return new ArrayBuffer(0);
  if (declared >= 0) {
    // Framed by its length (the runtime holds the client to it): read in one call.
    try {
      return await request.arrayBuffer();
    } catch {
      return "unreadable";
    }
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limitBytes) {
        reader.cancel().catch(() => {});
        return "too_large";
      }
      chunks.push(value);
    }
  } catch {
    return "unreadable";
  }
  if (chunks.length === 1) {
    const only = chunks[0]!;
    return only.byteOffset === 0 && only.byteLength === only.buffer.byteLength ? (only.buffer as ArrayBuffer) : only.slice().buffer;
  }
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole.buffer;
}

const utf8 = new TextEncoder();

/**
 * SHA-256 (hex) over the method, the canonical path, the query and the body, each preceded by
 * its length (4 bytes, big-endian): no two different requests frame to the same bytes, whatever
 * their parts hold.
 */
export async function fingerprint(method: string, path: string, query: string, body: ArrayBuffer): Promise<string> {
  const parts = [utf8.encode(method), utf8.encode(path), utf8.encode(query), new Uint8Array(body)];
  const framed = new Uint8Array(parts.reduce((sum, part) => sum + 4 + part.byteLength, 0));
  const view = new DataView(framed.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.byteLength);
    framed.set(part, offset + 4);
    offset += 4 + part.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", framed));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
