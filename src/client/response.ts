// One HTTP answer → the caller's value or an ApiError. The gateway's answers are either an
// origin's success (passed through as is), a success envelope (its own endpoints), or the
// error envelope of SPEC section 1; anything else is reported as UNEXPECTED_RESPONSE.
import { ApiError, isEnvelopeCode, type LimitName } from "./errors.ts";
import { parseRetryAfter } from "./retry.ts";

/** A successful call: the body's value plus what the response said about it. */
export interface ClientResponse<T> {
  /** `data` of a success envelope; else the parsed JSON; else the text (undefined when empty). */
  data: T;
  status: number;
  headers: Headers;
  /** X-Request-Id (or the envelope's meta.request_id when the header is not readable). */
  requestId: string | null;
}

export type ReadResult<T> = { ok: true; response: ClientResponse<T> } | { ok: false; error: ApiError };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

export async function readResponse<T>(response: Response, now: number): Promise<ReadResult<T>> {
  const headerId = response.headers.get("X-Request-Id");
  const text = await response.text();
  const isJsonType = JSON_TYPE.test(response.headers.get("Content-Type") ?? "");
  const parsed = parseJson(text);

  if (response.status < 400) {
    if (text === "") return success(undefined as T, response, headerId);
    if (!isJsonType) return success(text as T, response, headerId);
    if (!parsed.ok) return failure(unexpected(response.status, "The response claims JSON but cannot be parsed.", headerId));
    const json = parsed.value;
    // A 2xx that is nonetheless the error envelope is a failure, whatever its status.
    if (readEnvelope(json) !== null) return failure(fromBody(response, json, headerId, now));
    const envelopeId = requestIdOf(json);
    if (isRecord(json) && json.success === true && Object.hasOwn(json, "data")) {
      return success(json.data as T, response, headerId ?? envelopeId);
    }
    return success(json as T, response, headerId ?? envelopeId);
  }
  return failure(fromBody(response, parsed.ok ? parsed.value : undefined, headerId, now));
}

/**
 * For the gateway's own endpoints (SPEC 7), which answer only with envelopes: a success
 * must be `{"success": true, "data": …}` with a 2xx status; anything else — an origin's
 * page, a redirect, a proxy's error — is UNEXPECTED_RESPONSE, never taken as data.
 */
export async function readEnvelopeResponse<T>(response: Response, now: number): Promise<ReadResult<T>> {
  const headerId = response.headers.get("X-Request-Id");
  // With redirect: "manual", Node hands back the 3xx itself and browsers an opaque redirect
  // (status 0, nothing readable).
  if (response.status === 0 || (response.status >= 300 && response.status < 400)) {
    await response.body?.cancel();
    return failure(unexpected(response.status, `Unexpected ${response.status} response: the gateway's own endpoints never redirect.`, headerId));
  }
  if (response.status >= 400) return readResponse<T>(response, now);
  const text = await response.text();
  const parsed = parseJson(text);
  const json = parsed.ok ? parsed.value : undefined;
  if (readEnvelope(json) !== null) return failure(fromBody(response, json, headerId, now));
  if (isRecord(json) && json.success === true && Object.hasOwn(json, "data")) {
    return success(json.data as T, response, headerId ?? requestIdOf(json));
  }
  return failure(unexpected(response.status, `Unexpected ${response.status} response: not a Tollgate success envelope.`, headerId));
}

/** The ApiError an error answer stands for; a body that is not the envelope says so. */
function fromBody(response: Response, json: unknown, headerId: string | null, now: number): ApiError {
  const headerRetry = parseRetryAfter(response.headers.get("Retry-After"), now);
  const envelope = readEnvelope(json);
  if (envelope === null) {
    return unexpected(response.status, `Unexpected ${response.status} response: not a Tollgate error envelope.`, headerId, headerRetry);
  }
  return new ApiError({
    status: response.status,
    code: envelope.code,
    message: envelope.message,
    requestId: headerId ?? envelope.requestId,
    retryAfter: headerRetry ?? envelope.retryAfter,
    limit: envelope.limit,
  });
}

function readEnvelope(json: unknown) {
  if (!isRecord(json) || json.success !== false || !isRecord(json.error)) return null;
  const { code, message } = json.error;
  if (!isEnvelopeCode(code)) return null;
  const meta = isRecord(json.meta) ? json.meta : {};
  const retry = meta.retry_after;
  const limit = meta.limit;
  return {
    code,
    message: typeof message === "string" && message !== "" ? message : `The request failed with ${code}.`,
    requestId: requestIdOf(json),
    retryAfter: typeof retry === "number" && Number.isFinite(retry) && retry >= 0 ? Math.ceil(retry) : null,
    limit: limit === "minute" || limit === "day" || limit === "auth" ? (limit as LimitName) : null,
  };
}

function unexpected(status: number, message: string, requestId: string | null, retryAfter: number | null = null): ApiError {
  return new ApiError({ status, code: "UNEXPECTED_RESPONSE", message, requestId, retryAfter });
}

function requestIdOf(json: unknown): string | null {
  if (!isRecord(json) || !isRecord(json.meta)) return null;
  const id = json.meta.request_id;
  return typeof id === "string" && id !== "" ? id : null;
}

function success<T>(data: T, response: Response, requestId: string | null): ReadResult<T> {
  return { ok: true, response: { data, status: response.status, headers: response.headers, requestId } };
}

function failure<T>(error: ApiError): ReadResult<T> {
  return { ok: false, error };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
