// Forward an admitted request and answer with what the origin said (SPEC sections 5, 6):
// 2xx and 3xx stream through with the gateway's headers; everything else becomes the
// envelope, after the debit was refunded so X-Credits-Remaining tells the truth. A request
// that claimed an Idempotency-Key has its answer captured for replay (SPEC 11, capture.ts).
import type { WindowState } from "../account/limiter.ts";
import type { ClaimOutcome } from "../account/types.ts";
import { fail, type RequestContext } from "../context.ts";
import { rateLimitHeaders, type HeaderPairs } from "../rate-limit-headers.ts";
import { answerCapture, outcomeOfDeparture, outcomeOfEnvelope, teeForCapture, type HeldClaim } from "./capture.ts";
import { ERROR_BODY_LIMIT_BYTES, callUpstream, readBodyPrefix, type CallResult, type Identity } from "./forward.ts";
import { dropGatewayAnswerHeaders, upstreamHeaders } from "./headers.ts";
import { bodyIsShown, normalizeUpstream, type UpstreamOutcome } from "./normalize.ts";
import { refund } from "./refund.ts";
import type { ForwardTarget } from "./upstreams.ts";
import { watchBody } from "./watch-body.ts";

/** What admission granted: who is calling, the limits' state, and the debit if any. */
export interface Admitted {
  identity: Identity;
  windows: WindowState[];
  /** Credits debited for this request (0 for none) and the balance after. */
  cost: number;
  balance: number | null;
  /** The Idempotency-Key this request claimed (SPEC 11), or null. */
  claim: HeldClaim | null;
}

/** The longest an error body may take to arrive, within what is left of the route's timeout. */
const ERROR_BODY_TIMEOUT_MS = 5_000;

export async function relay(ctx: RequestContext, target: ForwardTarget, admitted: Admitted | null): Promise<Response> {
  try {
    return await forwardAndAnswer(ctx, target, admitted);
  } catch (fault) {
    // A fault of the gateway's own after the debit: the client gets a 500, so the credits
    // come back (settle is idempotent, so a refund already made is not repeated) and, as for
    // any 500, the Idempotency-Key is released.
    if (admitted !== null && (admitted.cost > 0 || admitted.claim !== null)) {
      await settleRequest(ctx, admitted, admitted.claim === null ? null : { key: admitted.claim.key, answer: null });
    }
    throw fault;
  }
}

async function forwardAndAnswer(ctx: RequestContext, target: ForwardTarget, admitted: Admitted | null): Promise<Response> {
  const { request, url } = ctx;
  const headers = upstreamHeaders(request.headers, url, ctx.requestId, admitted?.identity ?? null, target.token);
  const claim = admitted?.claim ?? null;
  const result = await callUpstream(request, target.url, headers, target.timeoutMs, claim?.body ?? null);
  target.report(result);

  const gatewayHeaders: HeaderPairs = admitted === null ? [] : rateLimitHeaders(admitted.windows);
  let balance = admitted?.balance ?? null;
  const charged = admitted !== null && admitted.cost > 0;

  if (result.kind === "response") {
    const { response } = result;
    ctx.log.origin_status = response.status;
    if (response.status >= 200 && response.status < 400) {
      // A redirect is passed on but is not a success: its debit is refunded.
      if (charged && response.status >= 300) balance = (await refundDebit(ctx, admitted)) ?? balance;
      if (balance !== null) gatewayHeaders.push(["X-Credits-Remaining", String(balance)]);
      const chargedSuccess = charged && response.status < 300;
      const capture = admitted === null || claim === null ? null : answerCapture(ctx, admitted.identity.accountId, claim.key, response);
      const waitUntil = (promise: Promise<unknown>) => ctx.exec.waitUntil(promise);
      let body = response.body;
      if (body !== null && chargedSuccess) {
        // Watched (a refund if the origin breaks it), and the watcher feeds the capture too.
        body = watchBody(body, {
          contentLength: response.headers.get("Content-Length"),
          clientGone: request.signal,
          onOriginFailure: () => refundDebit(ctx, admitted),
          tap: capture,
          waitUntil,
        });
      } else if (body !== null && capture !== null) body = teeForCapture(body, capture, request.signal, waitUntil);
      else if (capture !== null) waitUntil(capture.end("complete"));
      return passThrough(response, body, gatewayHeaders, ctx.requestId);
    }
  } else {
    ctx.log.origin_status = null;
    if (result.kind === "unreachable") ctx.log.error = `upstream unreachable: ${result.detail}`;
    if (result.kind === "client_gone") ctx.log.error = "the client went away before the origin answered; the call was cancelled";
  }

  const spec = normalizeUpstream(await outcomeOf(result), Date.now());
  let outcome: ClaimOutcome | null = null;
  if (claim !== null) {
    const departed = result.kind === "client_gone" ? result.originStatus : undefined;
    outcome = departed === undefined ? outcomeOfEnvelope(claim.key, spec) : outcomeOfDeparture(claim.key, departed);
  }
  // One call gives the debit back and releases (or keeps) the claim, before the answer leaves.
  if (admitted !== null && (charged || outcome !== null)) {
    const after = await settleRequest(ctx, admitted, outcome);
    if (charged) balance = after ?? balance;
  }
  if (balance !== null) gatewayHeaders.push(["X-Credits-Remaining", String(balance)]);
  return fail(ctx, { ...spec, headers: gatewayHeaders });
}

/** What normalization needs of a failed call: of an error answer, a body only where it can be shown. */
async function outcomeOf(result: CallResult): Promise<UpstreamOutcome> {
  if (result.kind !== "response") return result;
  const { response, deadline } = result;
  let body: string | null = null;
  if (bodyIsShown(response.status)) body = await readBodyPrefix(response, ERROR_BODY_LIMIT_BYTES, Math.min(deadline, Date.now() + ERROR_BODY_TIMEOUT_MS));
  else response.body?.cancel().catch(() => {});
  return { kind: "response", status: response.status, retryAfter: response.headers.get("Retry-After"), body };
}

function refundDebit(ctx: RequestContext, admitted: Admitted): Promise<number | null> {
  return settleRequest(ctx, admitted, null);
}

/** Refunds the debit, if any, and settles the Idempotency-Key claim as `claim` says, in one call. */
function settleRequest(ctx: RequestContext, admitted: Admitted, claim: ClaimOutcome | null): Promise<number | null> {
  return refund(ctx, { accountId: admitted.identity.accountId, amount: admitted.cost, certain: true, claim });
}

/**
 * The origin's answer with the gateway's headers. Its body is passed on exactly as the origin
 * encoded it (`encodeBody: "manual"`: the runtime must not compress it a second time).
 */
function passThrough(response: Response, body: ReadableStream | null, gatewayHeaders: HeaderPairs, requestId: string): Response {
  const headers = new Headers(response.headers);
  dropGatewayAnswerHeaders(headers);
  for (const [name, value] of gatewayHeaders) headers.set(name, value);
  headers.set("X-Request-Id", requestId);
  return new Response(body, { status: response.status, statusText: response.statusText, headers, encodeBody: "manual" });
}
