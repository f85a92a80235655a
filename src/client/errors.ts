// The one error type the client throws for a failed call (other than an abort, which
// rethrows the signal's reason exactly as fetch does). Its `code` is SPEC section 1's closed
// set, plus two codes for failures that never produced an envelope.

/** SPEC section 1: every error envelope carries one of these, always with this status. */
export const ENVELOPE_CODES = [
  "VALIDATION_ERROR",
  "UNAUTHORIZED",
  "INSUFFICIENT_CREDITS",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "PRECONDITION_FAILED",
  "RATE_LIMIT_EXCEEDED",
  "INTERNAL_ERROR",
] as const;

export type EnvelopeCode = (typeof ENVELOPE_CODES)[number];

/**
 * - `UNEXPECTED_RESPONSE`: an answer that is not the gateway's envelope — an error status
 *   whose body is not a valid envelope (say a load balancer's HTML 502 in front of the
 *   gateway), or a success whose JSON cannot be parsed. `status` is the HTTP status.
 * - `NETWORK_ERROR`: fetch itself failed (DNS, refused, reset, CORS blocked in a browser);
 *   `status` is 0 and `cause` holds what fetch threw.
 */
export type ClientErrorCode = EnvelopeCode | "UNEXPECTED_RESPONSE" | "NETWORK_ERROR";

/** Which window a gateway-decided 429 came from (`meta.limit`). */
export type LimitName = "minute" | "day" | "auth";

export interface ApiErrorFields {
  status: number;
  code: ClientErrorCode;
  message: string;
  requestId: string | null;
  retryAfter: number | null;
  limit?: LimitName | null;
  cause?: unknown;
}

export class ApiError extends Error {
  /** The HTTP status; 0 for a network error. */
  readonly status: number;
  readonly code: ClientErrorCode;
  /** The gateway's request id (quote it in support requests); null when none was seen. */
  readonly requestId: string | null;
  /** Whole seconds to wait before retrying, from Retry-After or meta.retry_after; else null. */
  readonly retryAfter: number | null;
  /** On a gateway-decided 429, the window that denied. */
  readonly limit: LimitName | null;

  constructor(fields: ApiErrorFields) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = "ApiError";
    this.status = fields.status;
    this.code = fields.code;
    this.requestId = fields.requestId;
    this.retryAfter = fields.retryAfter;
    this.limit = fields.limit ?? null;
  }
}

export function isEnvelopeCode(value: unknown): value is EnvelopeCode {
  return typeof value === "string" && (ENVELOPE_CODES as readonly string[]).includes(value);
}
