// Forward an admitted request and answer with what the origin said (SPEC sections 5, 6):
// 2xx and 3xx stream through with the gateway's headers; everything else becomes the
// envelope, after the debit was refunded so X-Credits-Remaining tells the truth.
import type { WindowState } from "../account/limiter.ts";
import { fail, type RequestContext } from "../context.ts";
import { rateLimitHeaders, type HeaderPairs } from "../rate-limit-headers.ts";
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
}

/** The longest an error body may take to arrive, within what is left of the route's timeout. */
const ERROR_BODY_TIMEOUT_MS = 5_000;

export async function relay(ctx: RequestContext, target: ForwardTarget, admitted: Admitted | null): Promise<Response> {
  try {
    return await forwardAndAnswer(ctx, target, admitted);
  } catch (fault) {
    // A fault of the gateway's own after the debit: the client gets a 500, so the credits
    // come back (settle is idempotent, so a refund already made is not repeated).
    if (admitted !== null && admitted.cost > 0) await refundDebit(ctx, admitted);
    throw fault;
  }
}

async function forwardAndAnswer(ctx: RequestContext, target: ForwardTarget, admitted: Admitted | null): Promise<Response> {
  const { request, url } = ctx;
  const headers = upstreamHeaders(request.headers, url, ctx.requestId, admitted?.identity ?? null, target.token);
  const result = await callUpstream(request, target.url, headers, target.timeoutMs);
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
      let body = response.body;
      if (charged && response.status < 300 && body !== null) {
        body = watchBody(body, {
          contentLength: response.headers.get("Content-Length"),
          clientGone: request.signal,
          onOriginFailure: () => refundDebit(ctx, admitted),
          waitUntil: (promise) => ctx.exec.waitUntil(promise),
        });
      }
      return passThrough(response, body, gatewayHeaders, ctx.requestId);
    }
  } else {
    ctx.log.origin_status = null;
    if (result.kind === "unreachable") ctx.log.error = `upstream unreachable: ${result.detail}`;
    if (result.kind === "client_gone") ctx.log.error = "the client went away before the origin answered; the call was cancelled";
  }

  const spec = normalizeUpstream(await outcomeOf(result), Date.now());
  if (charged) balance = (await refundDebit(ctx, admitted)) ?? balance;
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
  return refund(ctx, { accountId: admitted.identity.accountId, amount: admitted.cost, certain: true });
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
