// Origin failure → envelope (SPEC section 6, the normalization table). Pure: the caller
// reads at most a bounded prefix of the body and passes `now` for HTTP-date Retry-After.
// Whatever an origin sends, the client gets one of the closed set of codes and a message
// that can be trusted: never an origin's HTML, never a stack trace.
import { GENERIC_MESSAGE, isErrorCode, rateLimitMessage, type ErrorCode, type ErrorSpec } from "../envelope.ts";

export type UpstreamOutcome =
  | {
      kind: "response";
      status: number;
      /** The origin's Retry-After header, raw. */
      retryAfter: string | null;
      /** The body's first bytes as text, or null when it could not be read. */
      body: string | null;
    }
  | { kind: "timeout" }
  | { kind: "unreachable" }
  /** The client went away before the origin answered; the call was cancelled. */
  | { kind: "client_gone" };

export const MAX_MESSAGE_CHARS = 500;

const UPSTREAM_MESSAGES = {
  failed: "The upstream service failed to handle the request.",
  timeout: "The upstream service did not respond in time.",
  unreachable: "The upstream service could not be reached.",
  refusedGateway: "The upstream service refused the gateway's credentials; the API key is not at fault.",
  clientGone: "The client closed the connection before the upstream service answered; the call was cancelled.",
} as const;

/** Codes an origin may answer with in its own envelope; the rest are the gateway's to decide. */
const PASSTHROUGH_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "VALIDATION_ERROR",
  "INSUFFICIENT_CREDITS",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "PRECONDITION_FAILED",
  "RATE_LIMIT_EXCEEDED",
]);

/** Origin 4xx statuses with a code of their own; every other 4xx is a VALIDATION_ERROR. */
const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  402: "INSUFFICIENT_CREDITS",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "NOT_FOUND",
  410: "NOT_FOUND",
  409: "CONFLICT",
  412: "PRECONDITION_FAILED",
  428: "PRECONDITION_FAILED",
};

/**
 * Whether an error answer's body can shape the envelope: a 4xx's message is extracted, but
 * a 5xx's body is never shown and a 401 is the gateway's own problem, so those are not read.
 */
export function bodyIsShown(status: number): boolean {
  return status >= 400 && status < 500 && status !== 401;
}

export function normalizeUpstream(outcome: UpstreamOutcome, now: number): ErrorSpec {
  if (outcome.kind === "timeout") return { code: "INTERNAL_ERROR", message: UPSTREAM_MESSAGES.timeout };
  if (outcome.kind === "unreachable") return { code: "INTERNAL_ERROR", message: UPSTREAM_MESSAGES.unreachable };
  if (outcome.kind === "client_gone") return { code: "INTERNAL_ERROR", message: UPSTREAM_MESSAGES.clientGone };

  const { status } = outcome;
  if (status >= 500 || status < 400) {
    // A 5xx body is never shown; only a 503's Retry-After survives.
    const retryAfterSeconds = status === 503 ? parseRetryAfter(outcome.retryAfter, now) : undefined;
    return withRetryAfter({ code: "INTERNAL_ERROR", message: UPSTREAM_MESSAGES.failed }, retryAfterSeconds);
  }
  if (status === 401) return { code: "INTERNAL_ERROR", message: UPSTREAM_MESSAGES.refusedGateway };

  const json = parseJson(outcome.body);
  const envelope = originEnvelope(json);
  if (envelope !== null) {
    const message = cleanMessage(envelope.message) ?? GENERIC_MESSAGE[envelope.code];
    if (envelope.code !== "RATE_LIMIT_EXCEEDED") return { code: envelope.code, message };
    // As the 429 row (SPEC 6): the origin's Retry-After header, else 1 s — not its meta.retry_after.
    const seconds = parseRetryAfter(outcome.retryAfter, now) ?? 1;
    return { code: "RATE_LIMIT_EXCEEDED", message, retryAfterSeconds: seconds };
  }
  if (status === 429) {
    const seconds = parseRetryAfter(outcome.retryAfter, now) ?? 1;
    return { code: "RATE_LIMIT_EXCEEDED", message: rateLimitMessage(seconds), retryAfterSeconds: seconds };
  }
  const code = STATUS_CODES[status] ?? "VALIDATION_ERROR";
  return { code, message: extractMessage(json) ?? GENERIC_MESSAGE[code] };
}

function withRetryAfter(spec: ErrorSpec, retryAfterSeconds: number | undefined): ErrorSpec {
  return retryAfterSeconds === undefined ? spec : { ...spec, retryAfterSeconds };
}

function parseJson(body: string | null): unknown {
  if (body === null) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function originEnvelope(json: unknown): { code: ErrorCode; message: unknown } | null {
  if (!isRecord(json) || json.success !== false || !isRecord(json.error)) return null;
  const code = json.error.code;
  if (!isErrorCode(code) || !PASSTHROUGH_CODES.has(code)) return null;
  return { code, message: json.error.message };
}

/** The first usable string among the common error shapes, or null. */
export function extractMessage(json: unknown): string | null {
  if (!isRecord(json)) return null;
  const error = json.error;
  const errors = json.errors;
  const candidates: unknown[] = [
    isRecord(error) ? error.message : undefined,
    json.message,
    typeof error === "string" ? error : undefined,
    json.detail, // RFC 9457
    json.title,
    Array.isArray(errors) && isRecord(errors[0]) ? errors[0].message : undefined,
  ];
  for (const candidate of candidates) {
    const message = cleanMessage(candidate);
    if (message !== null) return message;
  }
  return null;
}

// C0 and C1 control characters, and the Unicode line/paragraph separators.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// An origin's error text must not smuggle a page or a stack trace to the client. Angle
// brackets alone are fine ("expected <string>"); a document or a script is not.
const LOOKS_LIKE_HTML = /<\s*(!doctype|html|head|body|title|script|style|iframe)\b/i;
// The frames of the stack traces servers commonly leak. Each alternative starts at a fixed
// token and scans linearly, so a 64 KiB body cannot make it backtrack for long.
const LOOKS_LIKE_STACK = new RegExp(
  [
    String.raw`\bat\s+\S+\s+\(?[^()\s]+:\d+:\d+\)?`, // V8, named frame: at fn (/app/x.js:1:2)
    String.raw`\bat\s+(?:async\s+)?\(?(?!\d+:)[^()\s]+:\d+:\d+`, // V8, anonymous frame (not "at 10:30:00")
    String.raw`Traceback \(most recent call last\)|File "[^"]+", line \d+`, // Python
    String.raw`\bat\s+[\w$.<>/]+\((?:[\w$.-]+\.(?:java|kt|scala|groovy):\d+|Native Method|Unknown Source)\)`, // JVM
    String.raw`goroutine \d+ \[`, // Go
    String.raw`\.rb:\d+:in\s`, // Ruby
    String.raw`#\d+\s+\S+\.php\(\d+\)`, // PHP
    String.raw`\)\s+in\s+\S+:line\s+\d+`, // .NET
  ].join("|"),
);

/** A safe, single-line message of at most 500 characters, or null when there is none. */
export function cleanMessage(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const text = value.replace(CONTROL_CHARS, "");
  // Detection sees line breaks and tabs as spaces: "\n\tat x(X.java:1)" must not become "xat".
  const spaced = value.replace(CONTROL_CHARS, " ");
  if (text.trim() === "" || LOOKS_LIKE_HTML.test(spaced) || LOOKS_LIKE_STACK.test(spaced)) return null;
  const chars = Array.from(text); // by code point, so a cut never splits a surrogate pair
  return chars.length <= MAX_MESSAGE_CHARS ? text : chars.slice(0, MAX_MESSAGE_CHARS).join("");
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3), in whole seconds ≥ 1. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? Math.max(1, seconds) : undefined;
  }
  const date = Date.parse(trimmed);
  if (Number.isNaN(date) || !/[a-z]/i.test(trimmed)) return undefined;
  return Math.max(1, Math.ceil((date - now) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
