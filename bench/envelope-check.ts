// SPEC section 1 as a check that returns what is wrong (or null) instead of throwing, so
// a load run can count bad answers among thousands. test/support/envelope.ts asserts the
// same contract with vitest's expect, for the tests.
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
};
const REQUEST_ID = /^req_[0-9A-Za-z]{16,}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UNSAFE_MESSAGE = /[\u0000-\u001f\u007f-\u009f]|<\s*(!doctype|html|head|body|title)\b|\bat\s+\S+\s+\(?[^()\s]+:\d+:\d+\)?/i;

/** null when `body` (with its status and headers) is exactly the envelope; else the first problem. */
export function envelopeProblem(status: number, headers: Headers, body: string): string | null {
  if (headers.get("content-type") !== "application/json; charset=utf-8") return `content-type ${headers.get("content-type")}`;
  const requestId = headers.get("x-request-id");
  if (requestId === null || !REQUEST_ID.test(requestId)) return `x-request-id ${requestId}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `body is not JSON: ${body.slice(0, 80)}`;
  }
  const envelope = parsed as { success?: unknown; error?: Record<string, unknown>; meta?: Record<string, unknown> };
  if (!sameKeys(envelope, ["error", "meta", "success"]) || envelope.success !== false) return "body is not {success: false, error, meta}";
  const { error, meta } = envelope as { error: Record<string, unknown>; meta: Record<string, unknown> };
  if (!sameKeys(error, ["code", "message"])) return "error is not {code, message}";
  if (STATUS_OF_CODE[String(error.code)] !== status) return `code ${String(error.code)} with status ${status}`;
  if (typeof error.message !== "string" || error.message.trim() === "" || UNSAFE_MESSAGE.test(error.message)) return `message ${JSON.stringify(error.message)}`;

  const retryAfter = headers.get("retry-after");
  const expectedMeta = ["request_id", "timestamp"];
  if (retryAfter !== null) expectedMeta.push("retry_after");
  if (meta.limit !== undefined) expectedMeta.push("limit");
  if (!sameKeys(meta, expectedMeta)) return `meta keys ${Object.keys(meta).join(",")}`;
  if (meta.request_id !== requestId) return "meta.request_id differs from X-Request-Id";
  if (typeof meta.timestamp !== "string" || !TIMESTAMP.test(meta.timestamp)) return `timestamp ${String(meta.timestamp)}`;
  if (retryAfter !== null && (!/^[1-9]\d*$/.test(retryAfter) || meta.retry_after !== Number(retryAfter))) return `retry_after ${retryAfter} / ${String(meta.retry_after)}`;
  if (meta.limit !== undefined && (status !== 429 || !["minute", "day", "auth"].includes(String(meta.limit)))) return `meta.limit ${String(meta.limit)}`;
  return null;
}

function sameKeys(value: unknown, keys: readonly string[]): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const actual = Object.keys(value).sort();
  const expected = [...keys].sort();
  return actual.length === expected.length && actual.every((key, i) => key === expected[i]);
}
