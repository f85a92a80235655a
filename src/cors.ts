// Browsers (SPEC section 9). Off unless CORS_ORIGINS is set; then preflights from allowed
// origins are answered here, and every answer to an allowed origin says who may read it.

const ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"];
const EXPOSE_HEADERS = [
  "X-Request-Id",
  "Retry-After",
  "RateLimit-Policy",
  "RateLimit",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "X-Credits-Remaining",
  // SPEC 11: a page can tell a replayed answer from a first one.
  "Idempotent-Replayed",
].join(", ");
const PREFLIGHT_MAX_AGE_SECONDS = 86_400;
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The request's Origin when CORS_ORIGINS allows it, else null. */
export function allowedOrigin(corsOrigins: readonly string[] | null, request: Request): string | null {
  const origin = request.headers.get("Origin");
  if (corsOrigins === null || origin === null) return null;
  return corsOrigins.includes("*") || corsOrigins.includes(origin) ? origin : null;
}

export function isPreflight(request: Request): boolean {
  return (
    request.method === "OPTIONS" &&
    request.headers.has("Origin") &&
    request.headers.has("Access-Control-Request-Method")
  );
}

export function preflightResponse(request: Request, origin: string): Response {
  // Allow what the browser asks for (when it is a valid header name) on top of our own list.
  const requested = (request.headers.get("Access-Control-Request-Headers") ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => HEADER_TOKEN.test(h));
  const allowHeaders = [...new Set([...ALLOW_HEADERS, ...requested])].join(", ");
  return new Response(null, {
    status: 204,
    headers: {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Methods": ALLOW_METHODS,
      "Access-Control-Allow-Headers": allowHeaders,
      "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_SECONDS),
      Vary: "Origin",
    },
  });
}

/** Replaces whatever CORS headers the origin sent with the gateway's own. */
export function applyCors(headers: Headers, origin: string): void {
  for (const name of [...headers.keys()]) if (name.startsWith("access-control-")) headers.delete(name);
  headers.set("Access-Control-Allow-Origin", origin);
  headers.set("Access-Control-Expose-Headers", EXPOSE_HEADERS);
  const vary = headers.get("Vary");
  if (vary === null) headers.set("Vary", "Origin");
  else if (!vary.split(",").some((v) => v.trim().toLowerCase() === "origin" || v.trim() === "*")) headers.set("Vary", `${vary}, Origin`);
}
