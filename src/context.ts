// What every stage of one request shares: who it is, when it started, what to log.
import type { IdempotencyRefusal } from "./account/idempotency.ts";
import type { Config } from "./config.ts";
import { errorResponse, type ErrorSpec } from "./envelope.ts";

/** The fields of the one JSON log line written per request. */
export interface LogFields {
  request_id: string;
  method: string;
  path: string;
  route: string | null;
  /** The upstream the route forwards to (SPEC 12): `default` for UPSTREAM_URL. */
  upstream?: string;
  /** What this request met or did to its upstream's breaker: open, trial, opened, closed, reopened. */
  breaker?: string;
  status?: number;
  origin_status?: number | null;
  duration_ms?: number;
  account?: string;
  key?: string;
  code?: string;
  /** SPEC 11: what the request's Idempotency-Key met (account/idempotency.ts's refusals, or first / replay). */
  idempotency?: "first" | "replay" | IdempotencyRefusal["reason"];
  /** For operators only; never sent to the client. */
  error?: string;
}

export interface RequestContext {
  request: Request;
  /** As the runtime parsed it; its pathname is NOT what routing and the origin see: `path` is. */
  url: URL;
  /** The canonical path (SPEC 10, paths.ts): routed, forwarded, logged, echoed. */
  path: string;
  /** `path` holds %2F: allowed only on a route that sets encoded_slashes. */
  encodedSlash: boolean;
  requestId: string;
  config: Config;
  env: Env;
  exec: ExecutionContext;
  log: LogFields;
}

/** The envelope for `spec`, answering this request (and noted for its log line). */
export function fail(ctx: Pick<RequestContext, "request" | "requestId" | "log">, spec: ErrorSpec): Response {
  ctx.log.code = spec.code;
  return errorResponse(spec, { requestId: ctx.requestId, now: Date.now(), method: ctx.request.method });
}
