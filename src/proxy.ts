// Every path outside /_gateway/: route → the upstream's breaker → (public? straight on) →
// throttle → key → Idempotency-Key → one admission call (limits, credits, the key's claim) →
// relay to the origin, or the first answer replayed. Read top to bottom, it is the request
// path of DESIGN.md.
import type { WindowState } from "./account/limiter.ts";
import type { Admission } from "./account/types.ts";
import { accountStub } from "./account/stub.ts";
import { authFailure, clientAddress, denialSpec, readCredentials, throttled, AUTH_MESSAGES } from "./authenticate.ts";
import { fail, type RequestContext } from "./context.ts";
import type { ErrorSpec } from "./envelope.ts";
import { refusalSpec, replayResponse } from "./idempotency/answers.ts";
import { readIdempotency } from "./idempotency/request.ts";
import { MALFORMED_PATH } from "./paths.ts";
import { rateLimitHeaders, type HeaderPairs } from "./rate-limit-headers.ts";
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
  const { request, url, path, config } = ctx;
  if (route.public) return relay(ctx, target, null);

  const now = Date.now();
  const address = clientAddress(request.headers);
  const blocked = throttled(config, address, now);
  if (blocked !== null) return fail(ctx, blocked);

  const credentials = await readCredentials(request.headers);
  if (!credentials.ok) return fail(ctx, authFailure(config, address, now, credentials.message));
  const { key, keyHash } = credentials;

  // SPEC 11: the key checked, the body read (at most 1 MiB) and fingerprinted for the claim.
  const idempotency = await readIdempotency(request, path, url.search);
  if (!idempotency.ok) return fail(ctx, idempotency.spec);
  const { guarded } = idempotency;

  let admission: Admission;
  try {
    admission = await accountStub(ctx.env, key.accountId).admit({
      requestId: ctx.requestId,
      keyId: key.keyId,
      keyHash,
      scope,
      cost: route.credits,
      ...(guarded === null ? {} : { idempotency: guarded.claim }),
    });
  } catch (error) {
    // Admission is not idempotent (it takes a slot), so it is never retried: fail closed.
    ctx.log.error = `admission failed: ${error instanceof Error ? error.message : String(error)}`;
    return admissionFailed(ctx, key.accountId, route.credits, guarded?.claim.key ?? null);
  }

  ctx.log.account = key.accountId;
  ctx.log.key = key.keyId;
  switch (admission.outcome) {
    case "admitted":
      if (guarded !== null) ctx.log.idempotency = "first";
      return relay(ctx, target, {
        identity: { accountId: key.accountId, keyId: key.keyId },
        windows: admission.windows,
        cost: route.credits,
        balance: admission.balance,
        claim: guarded === null ? null : { key: guarded.claim.key, body: guarded.body },
      });
    case "replay":
      ctx.log.idempotency = "replay";
      return replayResponse(ctx, admission.answer, admittedHeaders(admission.windows, admission.balance));
    case "idempotency_refused":
      ctx.log.idempotency = admission.refusal.reason;
      return fail(ctx, refusalSpec(admission.refusal));
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

/** What an admitted request's answer says of the account: its limits, and its balance on a route with a cost. */
function admittedHeaders(windows: readonly WindowState[], balance: number | null): HeaderPairs {
  const headers = rateLimitHeaders(windows);
  if (balance !== null) headers.push(["X-Credits-Remaining", String(balance)]);
  return headers;
}

/**
 * The 500 for an admission whose answer never came. Its writes may have committed before
 * the answer was lost, so a debit is given back: settle() refunds what the ledger holds for
 * this request, and nothing if there is nothing — and releases an Idempotency-Key it may
 * have claimed, since nothing was forwarded. The message claims only what is known.
 */
async function admissionFailed(ctx: RequestContext, accountId: string, cost: number, claimedKey: string | null): Promise<Response> {
  const unchecked = "The gateway could not check this request's limits.";
  const claim = claimedKey === null ? null : { key: claimedKey, answer: null };
  if (cost === 0) {
    if (claim !== null) await refund(ctx, { accountId, amount: 0, certain: false, claim });
    return fail(ctx, ADMISSION_NOT_TAKEN);
  }
  const balance = await refund(ctx, { accountId, amount: cost, certain: false, claim });
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
