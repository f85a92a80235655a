// SPEC 1's envelope and SPEC 7's success shape, asserted whole. Re-exported by helpers.ts,
// so tests import everything from "./helpers.ts".
import { expect } from "vitest";

// ── assertions ───────────────────────────────────────────────────────────────────────

/** SPEC 1: each code with the only status it may carry. */
export const STATUS_OF_CODE = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof STATUS_OF_CODE;

export interface Envelope {
  success: false;
  error: { code: ErrorCode; message: string };
  meta: { request_id: string; timestamp: string; retry_after?: number; limit?: "minute" | "day" | "auth" };
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
/** `req_` and at least 96 random bits: 17 base62 characters carry 101. */
export const REQUEST_ID = /^req_[0-9A-Za-z]{17,}$/;
/** ISO 8601 UTC, seconds precision, `Z`. */
export const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export interface EnvelopeExpectations {
  /** true: Retry-After must be present; false: absent; a number: exactly that. */
  retryAfter?: boolean | number;
  /** meta.limit: a value it must equal, or null when it must be absent. Unset: not checked beyond SPEC 1. */
  limit?: "minute" | "day" | "auth" | null;
}

/**
 * Asserts that `res` is exactly SPEC 1's envelope for `code` (message: exact string or a
 * pattern) and returns it. Checks status, Content-Type, X-Request-Id, body keys, message,
 * meta.request_id, meta.timestamp, Retry-After ⇔ meta.retry_after, and that meta holds
 * nothing else (`limit` only on a 429).
 */
export async function expectEnvelope(
  res: Response,
  code: ErrorCode,
  message?: string | RegExp,
  expectations: EnvelopeExpectations = {},
): Promise<Envelope> {
  const text = await res.text();
  const context = `${res.status} ${text.slice(0, 500)}`;
  const { requestId, retryAfterHeader } = expectEnvelopeHeaders(res, code, expectations, context);
  const body = parseJson(text, context) as Envelope;
  expect(Object.keys(body).sort(), context).toEqual(["error", "meta", "success"]);
  expect(body.success, context).toBe(false);
  expect(Object.keys(body.error).sort(), context).toEqual(["code", "message"]);
  expect(body.error.code, context).toBe(code);
  expect(typeof body.error.message, context).toBe("string");
  expect(body.error.message.trim(), context).not.toBe("");
  expect(body.error.message, "no stack trace in a message").not.toMatch(/\n\s+at /);
  if (typeof message === "string") expect(body.error.message, context).toBe(message);
  else if (message !== undefined) expect(body.error.message, context).toMatch(message);

  const meta = body.meta;
  expect(meta.request_id, context).toBe(requestId);
  expect(meta.timestamp, context).toMatch(ISO_SECONDS);
  expect(Number.isNaN(Date.parse(meta.timestamp)), context).toBe(false);
  if (retryAfterHeader === null) expect(meta, context).not.toHaveProperty("retry_after");
  else expect(meta.retry_after, context).toBe(Number(retryAfterHeader));

  const allowed = ["request_id", "timestamp", "retry_after", ...(code === "RATE_LIMIT_EXCEEDED" ? ["limit"] : [])];
  for (const name of Object.keys(meta)) expect(allowed, `unexpected meta.${name}: ${context}`).toContain(name);
  if (expectations.limit === null) expect(meta, context).not.toHaveProperty("limit");
  else if (expectations.limit !== undefined) expect(meta.limit, context).toBe(expectations.limit);
  return body;
}

/** The envelope's status and headers on a HEAD answer, which has no body (SPEC 1). */
export async function expectHeadEnvelope(res: Response, code: ErrorCode, expectations: EnvelopeExpectations = {}): Promise<void> {
  const text = await res.text();
  expectEnvelopeHeaders(res, code, expectations, `${res.status} (HEAD)`);
  expect(text, "a HEAD answer has no body").toBe("");
}

function expectEnvelopeHeaders(
  res: Response,
  code: ErrorCode,
  expectations: EnvelopeExpectations,
  context: string,
): { requestId: string | null; retryAfterHeader: string | null } {
  expect(res.status, context).toBe(STATUS_OF_CODE[code]);
  expect(res.headers.get("Content-Type"), context).toBe(JSON_CONTENT_TYPE);
  const requestId = res.headers.get("X-Request-Id");
  expect(requestId, context).toMatch(REQUEST_ID);
  const retryAfterHeader = res.headers.get("Retry-After");
  if (expectations.retryAfter === true) expect(retryAfterHeader, context).not.toBeNull();
  if (expectations.retryAfter === false) expect(retryAfterHeader, context).toBeNull();
  if (typeof expectations.retryAfter === "number") expect(retryAfterHeader, context).toBe(String(expectations.retryAfter));
  if (retryAfterHeader !== null) expect(retryAfterHeader, context).toMatch(/^[1-9]\d*$/);
  return { requestId, retryAfterHeader };
}

/**
 * Asserts SPEC 7's success shape — `{success: true, data, meta: {request_id, timestamp}}`
 * with the JSON Content-Type and a matching X-Request-Id — and the status; returns `data`.
 */
export async function expectSuccess<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  const context = `${res.status} ${text.slice(0, 500)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers.get("Content-Type"), context).toBe(JSON_CONTENT_TYPE);
  const body = parseJson(text, context) as { success: true; data: T; meta: { request_id: string; timestamp: string } };
  expect(Object.keys(body).sort(), context).toEqual(["data", "meta", "success"]);
  expect(body.success, context).toBe(true);
  expect(Object.keys(body.meta).sort(), context).toEqual(["request_id", "timestamp"]);
  expect(body.meta.request_id, context).toBe(res.headers.get("X-Request-Id"));
  expect(body.meta.request_id, context).toMatch(REQUEST_ID);
  expect(body.meta.timestamp, context).toMatch(ISO_SECONDS);
  return body.data;
}

function parseJson(text: string, context: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    expect.fail(`the body is not JSON: ${context}`);
  }
}
