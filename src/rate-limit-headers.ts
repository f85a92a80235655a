// Limit state as response headers (SPEC section 4): the IETF httpapi RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers-10) for every window, and the widely used
// X-RateLimit-* trio for one window.
import type { WindowName, WindowState } from "./account/limiter.ts";

/**
 * @param denying the window that denied a 429; otherwise the tightest window is described:
 *   fewest remaining, the shorter one on a tie.
 */
export function rateLimitHeaders(windows: readonly WindowState[], denying?: WindowName): Headers {
  const headers = new Headers();
  if (windows.length === 0) return headers;
  headers.set("RateLimit-Policy", windows.map((w) => `"${w.name}";q=${w.limit};w=${w.windowSeconds}`).join(", "));
  headers.set("RateLimit", windows.map((w) => `"${w.name}";r=${w.remaining};t=${w.resetSeconds}`).join(", "));
  const described = windows.find((w) => w.name === denying) ?? tightest(windows);
  headers.set("X-RateLimit-Limit", String(described.limit));
  headers.set("X-RateLimit-Remaining", String(described.remaining));
  headers.set("X-RateLimit-Reset", String(described.resetSeconds));
  return headers;
}

function tightest(windows: readonly WindowState[]): WindowState {
  return windows.reduce((best, w) =>
    w.remaining < best.remaining || (w.remaining === best.remaining && w.windowSeconds < best.windowSeconds) ? w : best,
  );
}
