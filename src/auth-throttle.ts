// Failed authentications per client address (SPEC section 3). Pure: `now` is passed in.
//
// Once an address has failed `limit` times within a minute of its first failure, every
// key-protected request from it is refused until that minute has passed. Counting is per
// isolate and needs no I/O: a malformed key is refused with no storage touched, and the
// accounts a flood aims at are never involved. The README explains the trade-off.
import { MINUTE_MS } from "./account/limiter.ts";

/** Bounds memory under a flood from many addresses: the oldest windows are dropped first. */
const MAX_TRACKED_ADDRESSES = 10_000;

interface FailureWindow {
  start: number;
  failures: number;
}

export class AuthFailureThrottle {
  private readonly windows = new Map<string, FailureWindow>();
  private readonly limitPerMinute: number;

  constructor(limitPerMinute: number) {
    this.limitPerMinute = limitPerMinute;
  }

  /** Milliseconds until `address` may try again, or 0 when it is not blocked. */
  blockedFor(address: string, now: number): number {
    const window = this.windows.get(address);
    if (window === undefined) return 0;
    const end = window.start + MINUTE_MS;
    if (now >= end) {
      this.windows.delete(address);
      return 0;
    }
    return window.failures >= this.limitPerMinute ? end - now : 0;
  }

  recordFailure(address: string, now: number): void {
    const window = this.windows.get(address);
    if (window !== undefined && now < window.start + MINUTE_MS) {
      window.failures++;
      return;
    }
    this.windows.delete(address);
    this.windows.set(address, { start: now, failures: 1 });
    if (this.windows.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
  }
}
