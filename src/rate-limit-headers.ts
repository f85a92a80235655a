// Limit state as response headers (SPEC section 4): the IETF httpapi RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers-10) for every window, and the widely used
// X-RateLimit-* trio for one window.
import type { WindowName, WindowState } from "./account/limiter.ts";

/** Header fields as name/value pairs: what HeadersInit takes and a response's headers are set from. */
export type HeaderPairs = [name: string, value: string][];

/**
 * @param denying the window that denied a 429; otherwise the tightest window is described:
 *   fewest remaining, the shorter one on a tie.
 * Pairs rather than a Headers object: every answer copies them into its own headers, and a
 * Headers object built only to be iterated costs several times more (docs/performance.md).
 */
export function rateLimitHeaders(windows: readonly WindowState[], denying?: WindowName): HeaderPairs {
  if (windows.length === 0) return [];
  const described = windows.find((w) => w.name === denying) ?? tightest(windows);
  return [
    ["RateLimit-Policy", windows.map((w) => `"${w.name}";q=${w.limit};w=${w.windowSeconds}`).join(", ")],
    ["RateLimit", windows.map((w) => `"${w.name}";r=${w.remaining};t=${w.resetSeconds}`).join(", ")],
    ["X-RateLimit-Limit", String(described.limit)],
    ["X-RateLimit-Remaining", String(described.remaining)],
    ["X-RateLimit-Reset", String(described.resetSeconds)],
  ];
}

function tightest(windows: readonly WindowState[]): WindowState {
  return windows.reduce((best, w) =>
    w.remaining < best.remaining || (w.remaining === best.remaining && w.windowSeconds < best.windowSeconds) ? w : best,
  );
}
