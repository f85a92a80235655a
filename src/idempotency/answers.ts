// What a client hears when its Idempotency-Key decided the answer (SPEC 11): a refusal from
// the account's object as the envelope, or the first answer again.
import type { IdempotencyRefusal, ReplayableAnswer } from "../account/idempotency.ts";
import { fail, type RequestContext } from "../context.ts";
import type { ErrorSpec } from "../envelope.ts";
import type { HeaderPairs } from "../rate-limit-headers.ts";
import { IDEMPOTENCY_HEADER } from "./request.ts";

export const REPLAYED_HEADER = "Idempotent-Replayed";

export const REFUSAL_MESSAGES = {
  mismatch: `${IDEMPOTENCY_HEADER} was already used for a different request`,
  in_flight: `A request with this ${IDEMPOTENCY_HEADER} is still in progress`,
  too_large: `The original answer to this ${IDEMPOTENCY_HEADER} was too large to keep`,
  not_kept: `The original answer to this ${IDEMPOTENCY_HEADER} could not be kept`,
  unreported: `The original request with this ${IDEMPOTENCY_HEADER} never reported its outcome; it may have been acted on`,
} as const;

/** The envelope for a refusal; nothing was consumed. */
export function refusalSpec(refusal: IdempotencyRefusal): ErrorSpec {
  switch (refusal.reason) {
    case "mismatch":
      return { code: "VALIDATION_ERROR", message: REFUSAL_MESSAGES.mismatch };
    case "in_flight":
      return { code: "CONFLICT", message: REFUSAL_MESSAGES.in_flight, retryAfterSeconds: 1 };
    case "too_large":
    case "not_kept":
    case "unreported":
      // Acted on (or maybe): never repeated, and waiting changes nothing, so no Retry-After.
      return { code: "CONFLICT", message: REFUSAL_MESSAGES[refusal.reason] };
    case "full":
      return {
        code: "CONFLICT",
        message: `This account holds as many ${IDEMPOTENCY_HEADER} records as it may; retry after ${refusal.retryAfterSeconds} seconds`,
        retryAfterSeconds: refusal.retryAfterSeconds,
      };
  }
}

/**
 * The first answer again, with `Idempotent-Replayed: true` and this admission's own headers
 * (rate limits, balance; X-Request-Id is set for every answer): a 2xx or 3xx byte for byte as
 * the origin sent it, a 4xx as the same envelope with this request's id and time.
 */
export function replayResponse(ctx: RequestContext, answer: ReplayableAnswer, gatewayHeaders: HeaderPairs): Response {
  gatewayHeaders.push([REPLAYED_HEADER, "true"]);
  if (answer.kind === "envelope") return fail(ctx, { code: answer.code, message: answer.message, headers: gatewayHeaders });
  const headers = new Headers();
  for (const [name, value] of answer.headers) headers.append(name!, value!);
  for (const [name, value] of gatewayHeaders) headers.set(name, value);
  const body = answer.body.byteLength === 0 ? null : answer.body;
  // As kept: encoded as the origin encoded it, so the runtime must not compress it again.
  return new Response(body, { status: answer.status, statusText: answer.statusText, headers, encodeBody: "manual" });
}
