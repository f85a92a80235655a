// How the admin API's values read on the page. Pure.
import { ApiError } from "../client/errors.ts";
import type { KeyView, UsageView } from "../client/admin.ts";

const NUMBER = new Intl.NumberFormat("en-US");

export function count(value: number): string {
  return NUMBER.format(value);
}

export function signedCount(value: number): string {
  return value > 0 ? `+${NUMBER.format(value)}` : NUMBER.format(value);
}

/** 2026-02-01T12:00:00Z → 2026-02-01 12:00:00 UTC; null → "—". */
export function time(iso: string | null): string {
  if (iso === null) return "—";
  return iso.replace("T", " ").replace(/Z$/, " UTC");
}

export function keyStatus(key: KeyView, now: number): "active" | "revoked" | "expired" {
  if (key.revoked) return "revoked";
  if (key.expires_at !== null && Date.parse(key.expires_at) <= now) return "expired";
  return "active";
}

export function usage(window: UsageView): string {
  if (window.limit === null) return "no limit";
  return `${count(window.used ?? 0)} of ${count(window.limit)}`;
}

/** One sentence for a failed call, with what support needs (code, request id). */
export function failure(error: unknown): string {
  if (!(error instanceof ApiError)) return `Something went wrong in this page: ${error instanceof Error ? error.message : String(error)}`;
  if (error.code === "NETWORK_ERROR") return "The gateway could not be reached. Check your connection and try again.";
  const details = [error.code, error.requestId === null ? null : `request ${error.requestId}`].filter((part) => part !== null);
  const wait = error.retryAfter === null ? "" : ` Try again in ${error.retryAfter} s.`;
  return `${error.message}${wait} (${details.join(", ")})`;
}
