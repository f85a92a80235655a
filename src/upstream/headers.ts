// Which headers cross the gateway (SPEC sections 6 and 10): the client's request is cleaned
// of everything that would speak for the gateway before it reaches the origin, and the
// origin's answer is cleaned of everything that would speak for the gateway before it
// reaches the client.
//
// Names are compared after folding: lower case, `_` read as `-`. Many servers fold
// `X_Account_Id` and `X-Account-Id` into one name (CGI's HTTP_X_ACCOUNT_ID, Rack, Puma,
// PHP), and whichever copy they see last wins (CVE-2024-45614): a look-alike must go
// wherever the real name would.
import type { Identity } from "./forward.ts";

/** RFC 9110 §7.6.1: connection-specific fields a proxy must not forward. */
const HOP_BY_HOP = ["connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"];

/** Header families only the gateway may send to the origin. */
const GATEWAY_FAMILIES = /^(x-account-|x-key-|x-forwarded-)/;

/** Single headers the client never sends to the origin, in any spelling. */
const CLIENT_MAY_NOT_SEND = new Set([
  // The client addresses origins trust (chi's RealIP reads True-Client-IP first, Rails and
  // Express read X-Real-IP / Forwarded): the gateway's X-Forwarded-For is the only one.
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  // Set by the gateway (SPEC 2); the client's own id arrives as X-Client-Request-Id.
  "x-client-request-id",
  // SPEC 10: the method the gateway authorized is the method the origin sees.
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
]);

/**
 * Names that are legitimate when spelled exactly (Cloudflare sets CF-Connecting-IP; the
 * client's X-Request-Id is moved to X-Client-Request-Id; an Idempotency-Key is the one the
 * gateway saw) but not as look-alikes, which the origin would fold onto them.
 */
const NO_LOOK_ALIKES = new Set(["cf-connecting-ip", "x-request-id", "idempotency-key"]);

/** Headers that speak for the gateway alone (SPEC 4, 5): the origin's copies never reach the client. */
const GATEWAY_ANSWER_HEADERS = /^(x-credits-remaining|ratelimit|ratelimit-policy|x-ratelimit-.*)$/;

/** A header name as a folding server sees it. */
export function foldedName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

/** The origin request's headers: the client's, cleaned, plus the gateway's own. */
export function upstreamHeaders(
  incoming: Headers,
  url: URL,
  requestId: string,
  identity: Identity | null,
  upstreamToken: string | null,
): Headers {
  const headers = new Headers(incoming);
  const connectionListed = (incoming.get("connection") ?? "").split(",").map((h) => foldedName(h.trim()));
  const dropped = new Set([...HOP_BY_HOP, ...connectionListed]);
  for (const name of [...headers.keys()]) {
    const folded = foldedName(name);
    const lookAlike = folded !== name;
    if (dropped.has(folded) || GATEWAY_FAMILIES.test(folded) || CLIENT_MAY_NOT_SEND.has(folded) || (lookAlike && NO_LOOK_ALIKES.has(folded))) {
      headers.delete(name);
    }
  }
  headers.delete("host");
  headers.delete("authorization");

  const clientRequestId = incoming.get("x-request-id");
  if (clientRequestId !== null) headers.set("X-Client-Request-Id", clientRequestId);
  headers.set("X-Request-Id", requestId);
  if (identity !== null) {
    headers.set("X-Account-Id", identity.accountId);
    headers.set("X-Key-Id", identity.keyId);
  }
  const clientIp = incoming.get("cf-connecting-ip");
  if (clientIp !== null) headers.set("X-Forwarded-For", clientIp);
  headers.set("X-Forwarded-Proto", url.protocol.replace(/:$/, ""));
  headers.set("X-Forwarded-Host", url.host);
  if (upstreamToken !== null) headers.set("Authorization", `Bearer ${upstreamToken}`);
  return headers;
}

/** Removes the origin's own limit and credit headers from its answer (the gateway sets its own after). */
export function dropGatewayAnswerHeaders(headers: Headers): void {
  for (const name of [...headers.keys()]) if (GATEWAY_ANSWER_HEADERS.test(foldedName(name))) headers.delete(name);
}

/**
 * The origin answer's end-to-end headers as a replay repeats them (SPEC 11), [name, value] in
 * order: without the hop-by-hop ones, the gateway's own (its limits, balance and request id
 * are this answer's, not the first's) and Content-Length (the framing of the body sent).
 */
export function endToEndHeaders(headers: Headers): string[][] {
  const connectionListed = (headers.get("connection") ?? "").split(",").map((h) => foldedName(h.trim()));
  const dropped = new Set([...HOP_BY_HOP, ...connectionListed, "content-length", "x-request-id"]);
  const kept: string[][] = [];
  for (const [name, value] of headers) {
    const folded = foldedName(name);
    if (!dropped.has(folded) && !GATEWAY_ANSWER_HEADERS.test(folded)) kept.push([name, value]);
  }
  return kept;
}
