// The one place that builds Tollgate's JSON envelope (SPEC section 1). Every error the
// gateway answers — its own or a normalized origin failure — goes through errorResponse().

/** The closed set of error codes, each with the only HTTP status it may carry. */
export const ERROR_STATUS = {
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

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_STATUS, value);
}

/** Which window a gateway-decided 429 came from (`meta.limit`). */
export type LimitName = "minute" | "day" | "auth";

/** Everything needed to answer an error; a value, so handlers can return it or throw it. */
export interface ErrorSpec {
  code: ErrorCode;
  message: string;
  /** Whole seconds, ≥ 1. Sets both the Retry-After header and meta.retry_after. */
  retryAfterSeconds?: number;
  /** Only on a 429 the gateway decided itself. */
  limit?: LimitName;
  /** Extra headers (rate-limit state, X-Credits-Remaining). */
  headers?: HeadersInit;
}

/** Thrown for expected failures deep in a handler; the pipeline turns it into an envelope. */
export class GatewayError extends Error {
  readonly spec: ErrorSpec;
  constructor(spec: ErrorSpec) {
    super(spec.message);
    this.name = "GatewayError";
    this.spec = spec;
  }
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** ISO 8601 UTC with seconds precision: 2026-02-01T12:00:00Z. */
export function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface ResponseContext {
  requestId: string;
  now: number;
  /** HEAD answers carry the status and headers only. */
  method: string;
}

export function errorResponse(spec: ErrorSpec, ctx: ResponseContext): Response {
  const meta: Record<string, unknown> = {
    request_id: ctx.requestId,
    timestamp: isoSeconds(ctx.now),
  };
  const headers = new Headers(spec.headers);
  if (spec.retryAfterSeconds !== undefined) {
    const seconds = Math.max(1, Math.ceil(spec.retryAfterSeconds));
    meta.retry_after = seconds;
    headers.set("Retry-After", String(seconds));
  }
  if (spec.limit !== undefined && spec.code === "RATE_LIMIT_EXCEEDED") meta.limit = spec.limit;
  const body = { success: false, error: { code: spec.code, message: spec.message }, meta };
  return jsonResponse(body, ERROR_STATUS[spec.code], headers, ctx);
}

export function successResponse(
  data: unknown,
  status: number,
  ctx: ResponseContext,
  headers?: HeadersInit,
): Response {
  const body = {
    success: true,
    data,
    meta: { request_id: ctx.requestId, timestamp: isoSeconds(ctx.now) },
  };
  return jsonResponse(body, status, new Headers(headers), ctx);
}

function jsonResponse(body: unknown, status: number, headers: Headers, ctx: ResponseContext): Response {
  headers.set("Content-Type", JSON_CONTENT_TYPE);
  headers.set("X-Request-Id", ctx.requestId);
  headers.set("Cache-Control", "no-store");
  const text = JSON.stringify(body);
  return new Response(ctx.method === "HEAD" ? null : text, { status, headers });
}

/** The generic sentence for a code, used when nothing better can be said safely. */
export const GENERIC_MESSAGE: Record<ErrorCode, string> = {
  VALIDATION_ERROR: "The request is invalid.",
  UNAUTHORIZED: "Authentication failed.",
  INSUFFICIENT_CREDITS: "The account does not have enough credits for this operation.",
  FORBIDDEN: "You do not have permission to perform this operation.",
  NOT_FOUND: "The requested resource was not found.",
  CONFLICT: "The request conflicts with the current state of the resource.",
  PRECONDITION_FAILED: "A precondition for this request was not met.",
  RATE_LIMIT_EXCEEDED: "Rate limit exceeded.",
  INTERNAL_ERROR: "The service failed to handle the request. Please retry later.",
};

export function rateLimitMessage(retryAfterSeconds: number): string {
  // SPEC's wording, kept literal (also for N = 1) so clients can match it.
  return `Rate limit exceeded. Retry after ${retryAfterSeconds} seconds.`;
}
