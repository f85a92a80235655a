// Forward an admitted request and answer with what the origin said (SPEC sections 5, 6):
// 2xx and 3xx stream through with the gateway's headers; everything else becomes the
// envelope, after the debit was refunded so X-Credits-Remaining tells the truth.
import type { WindowState } from "../account/limiter.ts";
import { fail, type RequestContext } from "../context.ts";
import { rateLimitHeaders, type HeaderPairs } from "../rate-limit-headers.ts";
import type { CompiledRoute } from "../routes.ts";
import { ERROR_BODY_LIMIT_BYTES, callUpstream, readBodyPrefix, upstreamHeaders, upstreamUrlFor, type Identity } from "./forward.ts";
import { normalizeUpstream, type UpstreamOutcome } from "./normalize.ts";
import { refund } from "./refund.ts";
import { watchBody } from "./watch-body.ts";

/** What admission granted: who is calling, the limits' state, and the debit if any. */
export interface Admitted {
  identity: Identity;
  windows: WindowState[];
  /** Credits debited for this request (0 for none) and the balance after. */
  cost: number;
  balance: number | null;
}

/** How long an error body may take to arrive before it is answered without. */
const ERROR_BODY_TIMEOUT_MS = 5_000;

export async function relay(ctx: RequestContext, route: CompiledRoute, admitted: Admitted | null): Promise<Response> {
  try {
    return await forwardAndAnswer(ctx, route, admitted);
  } catch (fault) {
    // A fault of the gateway's own after the debit: the client gets a 500, so the credits
    // come back (settle is idempotent, so a refund already made is not repeated).
    if (admitted !== null && admitted.cost > 0) await refund(ctx, admitted.identity.accountId);
    throw fault;
  }
}

async function forwardAndAnswer(ctx: RequestContext, route: CompiledRoute, admitted: Admitted | null): Promise<Response> {
  const { request, url, config } = ctx;
  const headers = upstreamHeaders(request.headers, url, ctx.requestId, admitted?.identity ?? null, config.upstreamToken);
  const result = await callUpstream(request, upstreamUrlFor(config.upstreamUrl, url), headers, route.timeoutMs);

  const gatewayHeaders = admitted === null ? [] : rateLimitHeaders(admitted.windows);
  let balance = admitted?.balance ?? null;
  const charged = admitted !== null && admitted.cost > 0;

  if (result.kind === "response") {
    const { response } = result;
    ctx.log.origin_status = response.status;
    if (response.status >= 200 && response.status < 400) {
      // A redirect is passed on but is not a success: its debit is refunded.
      if (charged && response.status >= 300) balance = (await refund(ctx, admitted.identity.accountId)) ?? balance;
      if (balance !== null) gatewayHeaders.push(["X-Credits-Remaining", String(balance)]);
      let body = response.body;
      if (charged && response.status < 300 && body !== null) {
        const accountId = admitted.identity.accountId;
        body = watchBody(body, response.headers.get("Content-Length"), () => refund(ctx, accountId), (p) => ctx.exec.waitUntil(p));
      }
      return passThrough(response, body, gatewayHeaders, ctx.requestId);
    }
  } else {
    ctx.log.origin_status = null;
    if (result.kind === "unreachable") ctx.log.error = `upstream unreachable: ${result.detail}`;
  }

  const outcome: UpstreamOutcome =
    result.kind === "response"
      ? {
          kind: "response",
          status: result.response.status,
          retryAfter: result.response.headers.get("Retry-After"),
          body: await readBodyPrefix(result.response, ERROR_BODY_LIMIT_BYTES, ERROR_BODY_TIMEOUT_MS),
        }
      : result;
  const spec = normalizeUpstream(outcome, Date.now());
  if (charged) balance = (await refund(ctx, admitted.identity.accountId)) ?? balance;
  if (balance !== null) gatewayHeaders.push(["X-Credits-Remaining", String(balance)]);
  return fail(ctx, { ...spec, headers: gatewayHeaders });
}

function passThrough(response: Response, body: ReadableStream | null, gatewayHeaders: HeaderPairs, requestId: string): Response {
  const out = new Response(body, response);
  for (const [name, value] of gatewayHeaders) out.headers.set(name, value);
  out.headers.set("X-Request-Id", requestId);
  return out;
}
