// One request, start to finish: an id, the configuration, CORS, the canonical path, then
// the admin API or the proxy; whatever happens, the client gets an envelope or the origin's
// success, with X-Request-Id, and the operator gets one JSON log line.
import { handleAdmin } from "./admin/api.ts";
import { loadConfig } from "./config.ts";
import { fail, type LogFields, type RequestContext } from "./context.ts";
import { allowedOrigin, applyCors, isPreflight, preflightResponse } from "./cors.ts";
import { GENERIC_MESSAGE } from "./envelope.ts";
import { MALFORMED_PATH, canonicalPath } from "./paths.ts";
import { proxy } from "./proxy.ts";
import { newRequestId } from "./request-id.ts";

const MAX_LOGGED_PATH_CHARS = 200;

/** SPEC 3 and 10: the gateway's own paths, compared after canonicalization, without case. */
const GATEWAY_PATH = /^\/_gateway(?:\/|$)/i;

export function handleRequest(request: Request, env: Env, exec: ExecutionContext): Promise<Response> {
  const answer = answerRequest(request, env, exec);
  // A client that goes away cancels the request, and the runtime stops running what was
  // awaiting on its behalf. What the gateway started must still end: an admission's debit
  // refunded, the origin call cancelled, the log line written. waitUntil keeps it running.
  exec.waitUntil(answer.then(ignore, ignore));
  return answer;
}

function ignore(): void {}

async function answerRequest(request: Request, env: Env, exec: ExecutionContext): Promise<Response> {
  const started = Date.now();
  const requestId = newRequestId();
  const url = new URL(request.url);
  const canonical = canonicalPath(url.pathname);
  const log: LogFields = {
    request_id: requestId,
    method: request.method,
    path: (canonical.ok ? canonical.path : url.pathname).slice(0, MAX_LOGGED_PATH_CHARS),
    route: null,
  };

  let response: Response;
  /** The allowed Origin whose CORS headers replace any the answer carries (not on a preflight). */
  let corsOrigin: string | null = null;
  try {
    const loaded = loadConfig(env);
    if (!loaded.ok) {
      log.error = `configuration: ${loaded.error}`;
      response = fail({ request, requestId, log }, { code: "INTERNAL_ERROR", message: `Gateway configuration is invalid: ${loaded.error}` });
    } else {
      const origin = allowedOrigin(loaded.config.corsOrigins, request);
      // A preflight answer is complete as built; every other answer gets applyCors() below.
      if (origin !== null && isPreflight(request)) response = preflightResponse(request, origin);
      else {
        corsOrigin = origin;
        if (!canonical.ok) response = fail({ request, requestId, log }, { code: "VALIDATION_ERROR", message: canonical.message });
        else {
          const { path, encodedSlash } = canonical;
          const ctx: RequestContext = { request, url, path, encodedSlash, requestId, config: loaded.config, env, exec, log };
          if (!GATEWAY_PATH.test(path)) response = await proxy(ctx);
          // No admin endpoint takes %2F (SPEC 10: only a route can allow it).
          else if (encodedSlash) response = fail(ctx, { code: "VALIDATION_ERROR", message: MALFORMED_PATH });
          else response = await handleAdmin(ctx);
        }
      }
    }
  } catch (error) {
    // A fault of the gateway itself: logged in full, answered without details. Nearly always
    // a Durable Object that could not be reached or answer (the admin API's calls; the proxy
    // catches its own), which SPEC 6 answers 500 with Retry-After: 1.
    log.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    response = fail({ request, requestId, log }, { code: "INTERNAL_ERROR", message: GENERIC_MESSAGE.INTERNAL_ERROR, retryAfterSeconds: 1 });
  }

  response = withGatewayHeaders(response, requestId, corsOrigin);
  log.status = response.status;
  log.duration_ms = Date.now() - started;
  console.log(JSON.stringify(log));
  return response;
}

/** Every response here was built by the gateway (origin answers are copied), so headers are mutable. */
function withGatewayHeaders(response: Response, requestId: string, origin: string | null): Response {
  response.headers.set("X-Request-Id", requestId);
  if (origin !== null) applyCors(response.headers, origin);
  return response;
}
