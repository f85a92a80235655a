// Who is calling a key-protected route (SPEC section 3): the bearer, its format and
// checksum (no I/O), then one call to the account's object that also takes the limit
// slot and the credits (see AccountDO.admit). Denials come back as values.
import { AuthFailureThrottle, throttleKey } from "./auth-throttle.ts";
import type { Admission } from "./account/types.ts";
import type { Config } from "./config.ts";
import { rateLimitMessage, type ErrorSpec } from "./envelope.ts";
import { ceilSeconds } from "./account/limiter.ts";
import { hashKey, parseKey, type ParsedKey } from "./keys.ts";

export const AUTH_MESSAGES = {
  missing: "Missing API key: send 'Authorization: Bearer <key>'",
  malformed: "Malformed API key",
  invalid: "Invalid or expired API key",
} as const;

/** The bearer token, or null when there is none (no header, another scheme, empty). */
export function bearerToken(headers: Headers): string | null {
  const match = /^\s*bearer\s+(.*)$/i.exec(headers.get("Authorization") ?? "");
  const token = match?.[1]?.trim() ?? "";
  return token === "" ? null : token;
}

// One throttle per isolate and configuration (tests run several configurations at once).
const throttles = new WeakMap<Config, AuthFailureThrottle>();

function throttleFor(config: Config): AuthFailureThrottle {
  let throttle = throttles.get(config);
  if (throttle === undefined) {
    throttle = new AuthFailureThrottle(config.authFailuresPerMinute);
    throttles.set(config, throttle);
  }
  return throttle;
}

/** Who failed, as the throttle counts: CF-Connecting-IP, an IPv6 address by its /64. */
export function clientAddress(headers: Headers): string {
  return throttleKey(headers.get("CF-Connecting-IP") ?? "unknown");
}

/** The 429 for an address that failed too often, or null when it may try. */
export function throttled(config: Config, address: string, now: number): ErrorSpec | null {
  const waitMs = throttleFor(config).blockedFor(address, now);
  if (waitMs === 0) return null;
  const seconds = ceilSeconds(waitMs);
  return { code: "RATE_LIMIT_EXCEEDED", message: rateLimitMessage(seconds), retryAfterSeconds: seconds, limit: "auth" };
}

/** Records a failed authentication and returns its 401. */
export function authFailure(config: Config, address: string, now: number, message: string): ErrorSpec {
  throttleFor(config).recordFailure(address, now);
  return { code: "UNAUTHORIZED", message };
}

export type Credentials = { ok: true; key: ParsedKey; keyHash: ArrayBuffer } | { ok: false; message: string };

/** Everything about the key that can be decided without storage. */
export async function readCredentials(headers: Headers): Promise<Credentials> {
  const token = bearerToken(headers);
  if (token === null) return { ok: false, message: AUTH_MESSAGES.missing };
  const key = parseKey(token);
  if (key === null) return { ok: false, message: AUTH_MESSAGES.malformed };
  return { ok: true, key, keyHash: await hashKey(key.key) };
}

/** A denial from the account's object, as the envelope describes it. */
export function denialSpec(admission: Exclude<Admission, { outcome: "admitted" | "replay" | "idempotency_refused" | "not_committed" }>): Omit<ErrorSpec, "headers"> {
  switch (admission.outcome) {
    case "invalid_key":
      return { code: "UNAUTHORIZED", message: AUTH_MESSAGES.invalid };
    case "forbidden":
      return { code: "FORBIDDEN", message: `API key lacks '${admission.scope}' permission required for this endpoint` };
    case "rate_limited":
      return {
        code: "RATE_LIMIT_EXCEEDED",
        message: rateLimitMessage(admission.retryAfterSeconds),
        retryAfterSeconds: admission.retryAfterSeconds,
        limit: admission.deniedBy,
      };
    case "insufficient_credits":
      return {
        code: "INSUFFICIENT_CREDITS",
        message: `This operation requires ${admission.cost} credits but your balance is ${admission.balance}`,
      };
  }
}
