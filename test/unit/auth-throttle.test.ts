// The failed-auth throttle on its own (src/auth-throttle.ts): a blocked address stays blocked
// for its whole minute whatever else fails meanwhile, memory stays bounded, and IPv6 clients
// are counted by their /64.
import { describe, expect, it } from "vitest";
import { AuthFailureThrottle, MAX_COUNTING_ADDRESSES, throttleKey } from "../../src/auth-throttle.ts";

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 1, 1, 12, 0, 0);

function blockedThrottle(limit = 5): AuthFailureThrottle {
  const throttle = new AuthFailureThrottle(limit);
  for (let i = 0; i < limit; i++) throttle.recordFailure("198.51.100.66", T0 + i);
  expect(throttle.blockedFor("198.51.100.66", T0 + limit)).toBe(MINUTE - limit);
  return throttle;
}

describe("AuthFailureThrottle", () => {
  it("keeps a blocked address blocked through a flood of failures from other addresses", () => {
    const throttle = blockedThrottle();
    for (let i = 0; i < 3 * MAX_COUNTING_ADDRESSES; i++) throttle.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 + 10 + (i % 1000));
    expect(throttle.blockedFor("198.51.100.66", T0 + 1_010)).toBe(MINUTE - 1_010);
    expect(throttle.size.counting).toBeLessThanOrEqual(MAX_COUNTING_ADDRESSES);
  });

  it("keeps every address that reached the limit blocked, and forgets the blocks once their minute ends", () => {
    const throttle = new AuthFailureThrottle(2);
    const flood = Array.from({ length: MAX_COUNTING_ADDRESSES + 500 }, (_, i) => `fd00::${i.toString(16)}`);
    for (const address of flood) {
      throttle.recordFailure(address, T0);
      throttle.recordFailure(address, T0 + 1);
    }
    expect(flood.every((address) => throttle.blockedFor(address, T0 + 2) > 0)).toBe(true);
    expect(throttle.size).toEqual({ counting: 0, blocked: flood.length });

    throttle.recordFailure("192.0.2.1", T0 + MINUTE);
    expect(throttle.size).toEqual({ counting: 1, blocked: 0 });
    expect(throttle.blockedFor(flood[0]!, T0 + MINUTE)).toBe(0);
  });

  it("drops the oldest counts below the limit first, when too many addresses are counted at once", () => {
    const throttle = new AuthFailureThrottle(5);
    for (let i = 0; i <= MAX_COUNTING_ADDRESSES; i++) throttle.recordFailure(`a${i}`, T0 + i);
    expect(throttle.size.counting).toBe(MAX_COUNTING_ADDRESSES);
    // a1's count was kept: four more failures block it. a0's one failure was forgotten: four
    // more do not block it yet.
    const later = T0 + MAX_COUNTING_ADDRESSES + 1;
    for (let i = 0; i < 4; i++) throttle.recordFailure("a1", later);
    expect(throttle.blockedFor("a1", later)).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) throttle.recordFailure("a0", later);
    expect(throttle.blockedFor("a0", later)).toBe(0);
  });

  it("starts a new window for an address whose minute has passed", () => {
    const throttle = blockedThrottle(3);
    expect(throttle.blockedFor("198.51.100.66", T0 + MINUTE)).toBe(0);
    throttle.recordFailure("198.51.100.66", T0 + MINUTE);
    expect(throttle.blockedFor("198.51.100.66", T0 + MINUTE + 1)).toBe(0);
  });
});

describe("throttleKey", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:db8:0:0:ffff::", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["2001:db8:1:2::ffff:192.0.2.1", "2001:db8:1:2::/64"],
    ["unknown", "unknown"],
    ["2001:db8:::1", "2001:db8:::1"],
    ["2001:db8:1:2:3:4:5:6:7", "2001:db8:1:2:3:4:5:6:7"],
    ["2001:db8::g", "2001:db8::g"],
  ])("%s counts as %s", (address, key) => {
    expect(throttleKey(address)).toBe(key);
  });
});
