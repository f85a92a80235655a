// Failed authentications per client address (SPEC section 3). Pure: `now` is passed in.
//
// Once an address has failed `limit` times within a minute of its first failure, every
// key-protected request from it is refused until that minute has passed. Counting is per
// isolate and needs no I/O: a malformed key is refused with no storage touched, and the
// accounts a flood aims at are never involved. The README explains the trade-off.
//
// Memory is bounded without ever letting a blocked address go early. Addresses still below
// the limit are the ones dropped under a flood (oldest first): losing such a count only
// forgets failures that had not yet blocked anyone. A blocked address is kept until its
// minute ends. Blocking costs an attacker `limit` failed requests per address per minute, so
// the blocked set can only grow as fast as failures arrive, and empties within a minute.
import { MINUTE_MS } from "./account/limiter.ts";

/** Addresses counted below the limit at once; the oldest windows are dropped beyond it. */
export const MAX_COUNTING_ADDRESSES = 10_000;

interface FailureWindow {
  start: number;
  failures: number;
}

export class AuthFailureThrottle {
  /** Below the limit, in order of their window's start (a Map keeps insertion order). */
  private readonly counting = new Map<string, FailureWindow>();
  /** At the limit: the time each one's window ends, in order of blocking. */
  private readonly blocked = new Map<string, number>();
  private readonly limitPerMinute: number;

  constructor(limitPerMinute: number) {
    this.limitPerMinute = limitPerMinute;
  }

  /** Milliseconds until `address` may try again, or 0 when it is not blocked. */
  blockedFor(address: string, now: number): number {
    const end = this.blocked.get(address);
    if (end === undefined) return 0;
    if (now >= end) {
      this.blocked.delete(address);
      return 0;
    }
    return end - now;
  }

  recordFailure(address: string, now: number): void {
    this.forgetEndedBlocks(now);
    if (this.blockedFor(address, now) > 0) return; // already refused until its window ends
    let window = this.counting.get(address);
    if (window === undefined || now >= window.start + MINUTE_MS) {
      this.counting.delete(address);
      window = { start: now, failures: 0 };
      this.counting.set(address, window);
    }
    window.failures++;
    if (window.failures >= this.limitPerMinute) {
      this.counting.delete(address);
      this.blocked.set(address, window.start + MINUTE_MS);
      return;
    }
    if (this.counting.size > MAX_COUNTING_ADDRESSES) {
      const oldest = this.counting.keys().next().value;
      if (oldest !== undefined) this.counting.delete(oldest);
    }
  }

  /** How many addresses are tracked: [counting, blocked]. For tests and diagnostics. */
  get size(): { counting: number; blocked: number } {
    return { counting: this.counting.size, blocked: this.blocked.size };
  }

  /** Blocks end in about the order they began (every window is one minute long). */
  private forgetEndedBlocks(now: number): void {
    for (const [address, end] of this.blocked) {
      if (end > now) return;
      this.blocked.delete(address);
    }
  }
}

/**
 * The key an address is counted under: an IPv6 address by its /64 (one subscriber's network,
 * which hands its hosts any of 2^64 addresses), anything else as it is.
 */
export function throttleKey(address: string): string {
  if (!address.includes(":")) return address;
  const groups = expandIpv6(address);
  return groups === null ? address : `${groups.slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, lower-case without leading zeros; null if it is not one. */
function expandIpv6(address: string): string[] | null {
  let text = address.trim().toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted IPv4 (::ffff:192.0.2.1) is two groups.
  const dotted = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const octets = dotted.slice(2).map(Number);
    if (octets.some((o) => o > 255)) return null;
    const [a, b, c, d] = octets as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1]!.split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}
