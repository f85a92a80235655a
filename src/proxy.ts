// Every path outside /_gateway/: route → the upstream's breaker → (public? straight on) →
// throttle → key → one admission call → relay to the origin. Read top to bottom, it is the
// request path of DESIGN.md.
import type { Admission } from "./account/types.ts";
import { accountStub } from "./account/stub.ts";
import { authFailure, clientAddress, denialSpec, readCredentials, throttled, AUTH_MESSAGES } from "./authenticate.ts";
import { fail, type RequestContext } from "./context.ts";
import type { ErrorSpec } from "./envelope.ts";
import { MALFORMED_PATH } from "./paths.ts";
import { rateLimitHeaders } from "./rate-limit-headers.ts";
import { matchRoute, type RouteMatch } from "./routes.ts";
import { refund } from "./upstream/refund.ts";
import { relay } from "./upstream/relay.ts";
import { UPSTREAM_UNAVAILABLE, enterUpstream, type ForwardTarget } from "./upstream/upstreams.ts";

/** Paths are echoed in messages, but never at length. */
const MAX_ECHOED_PATH_CHARS = 120;

/**
 * TRACE echoes a request back (RFC 9110 §9.3.8): forwarded, it would hand the client the
 * gateway's own headers, Authorization: Bearer <UPSTREAM_TOKEN> among them. No route serves it.
 */
const NEVER_FORWARDED = new Set(["TRACE", "TRACK"]);

/** The account's object could not take this admission: fail closed (SPEC 6). */
const ADMISSION_NOT_TAKEN: ErrorSpec = {
  code: "INTERNAL_ERROR",
  message: "The gateway could not check this request's limits. Nothing was forwarded or charged; retry shortly.",
  retryAfterSeconds: 1,
};

export async function proxy(ctx: RequestContext): Promise<Response> {
  const { request, path, config } = ctx;
  // %2F is an ordinary character while matching; then only its route may let it through.
  const match = NEVER_FORWARDED.has(request.method) ? null : matchRoute(config.routes, request.method, path);
  if (ctx.encodedSlash && match?.route.encodedSlashes !== true) return fail(ctx, { code: "VALIDATION_ERROR", message: MALFORMED_PATH });
  if (match === null) {
    return fail(ctx, { code: "NOT_FOUND", message: `No route matches ${request.method} ${shorten(path)}` });
  }
  ctx.log.route = match.route.path;

  // SPEC 12: while the upstream's breaker is open, answered before any admission — nothing
  // consumed, the origin untouched — and before the key: only the account's object knows
  // an unknown key, and that call is what an open breaker saves.
  const passage = enterUpstream(ctx, match.route);
  if (!passage.allowed) return fail(ctx, { code: "INTERNAL_ERROR", message: UPSTREAM_UNAVAILABLE, retryAfterSeconds: passage.retryAfterSeconds });
  try {
    return await admitAndRelay(ctx, match, passage.target);
  } finally {
    passage.release();
  }
}

async function admitAndRelay(ctx: RequestContext, { route, scope }: RouteMatch, target: ForwardTarget): Promise<Response> {
  const { request, config } = ctx;
  if (route.public) return relay(ctx, target, null);

  const now = Date.now();
  const address = clientAddress(request.headers);
  const blocked = throttled(config, address, now);
  if (blocked !== null) return fail(ctx, blocked);

  const credentials = await readCredentials(request.headers);
  if (!credentials.ok) return fail(ctx, authFailure(config, address, now, credentials.message));
  const { key, keyHash } = credentials;

  let admission: Admission;
  try {
    admission = await accountStub(ctx.env, key.accountId).admit({
      requestId: ctx.requestId,
      keyId: key.keyId,
      keyHash,
      scope,
      cost: route.credits,
    });
  } catch (error) {
    // Admission is not idempotent (it takes a slot), so it is never retried: fail closed.
    ctx.log.error = `admission failed: ${error instanceof Error ? error.message : String(error)}`;
    return admissionFailed(ctx, key.accountId, route.credits);
  }

  ctx.log.account = key.accountId;
  ctx.log.key = key.keyId;
  switch (admission.outcome) {
    case "admitted":
      return relay(ctx, target, {
        identity: { accountId: key.accountId, keyId: key.keyId },
        windows: admission.windows,
        cost: route.credits,
        balance: admission.balance,
      });
    case "invalid_key":
      return fail(ctx, authFailure(config, address, now, AUTH_MESSAGES.invalid));
    case "rate_limited":
      return fail(ctx, { ...denialSpec(admission), headers: rateLimitHeaders(admission.windows, admission.deniedBy) });
    case "insufficient_credits":
      return fail(ctx, { ...denialSpec(admission), headers: { "X-Credits-Remaining": String(admission.balance) } });
    case "forbidden":
      return fail(ctx, denialSpec(admission));
    case "not_committed":
      // Its batch failed to commit and was rolled back: nothing was taken, nothing to refund.
      ctx.log.error = `admission not committed: ${admission.error}`;
      return fail(ctx, ADMISSION_NOT_TAKEN);
  }
}

/**
 * The 500 for an admission whose answer never came. Its writes may have committed before
 * the answer was lost, so a debit is given back: settle() refunds what the ledger holds for
 * this request, and nothing if there is nothing. The message claims only what is known.
 */
async function admissionFailed(ctx: RequestContext, accountId: string, cost: number): Promise<Response> {
  const unchecked = "The gateway could not check this request's limits.";
  if (cost === 0) return fail(ctx, ADMISSION_NOT_TAKEN);
  const balance = await refund(ctx, { accountId, amount: cost, certain: false });
  if (balance === null) {
    const message = `${unchecked} Nothing was forwarded; any credits taken for it will be given back. Retry shortly.`;
    return fail(ctx, { code: "INTERNAL_ERROR", message, retryAfterSeconds: 1 });
  }
  const message = `${unchecked} Nothing was forwarded, and no credits were kept; retry shortly.`;
  return fail(ctx, { code: "INTERNAL_ERROR", message, retryAfterSeconds: 1, headers: { "X-Credits-Remaining": String(balance) } });
}

function shorten(path: string): string {
  return path.length <= MAX_ECHOED_PATH_CHARS ? path : `${path.slice(0, MAX_ECHOED_PATH_CHARS)}…`;
}
