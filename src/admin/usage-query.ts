// The query of GET /_gateway/accounts/:id/usage (SPEC 13), validated once at the boundary:
// `from` and `to` are ISO 8601 UTC times, `granularity` is hour or day, at most 31 days a
// call. Anything else is refused with a message naming the parameter, as the listing does.
// Pure: `now` is passed in.
import * as v from "valibot";
import { DAY_MS, HOUR_MS, type Granularity } from "../account/usage.ts";

export const MAX_USAGE_RANGE_DAYS = 31;
/** Without `from`: a day of hours, or thirty days of days, up to `to`. */
export const DEFAULT_USAGE_SPAN_MS: Readonly<Record<Granularity, number>> = { hour: DAY_MS, day: 30 * DAY_MS };

export interface UsageQuery {
  granularity: Granularity;
  /** Epoch ms, as asked for (or defaulted). */
  from: number;
  to: number;
  /**
   * The stored hours to read, hours since the epoch: every bucket that overlaps [from, to),
   * so an unaligned `from` takes in the whole hour (or day) it falls in, and `to` is exclusive.
   */
  fromHour: number;
  toHour: number;
}

export type UsageQueryResult = { ok: true; value: UsageQuery } | { ok: false; message: string };

/**
 * 2026-02-01, 2026-02-01T12:00Z, 2026-02-01T12:00:00Z, 2026-02-01T12:00:00.123Z, and the same
 * with an offset of zero (+00:00, +0000, -00:00). UTC only. A `+` sent raw in a query string
 * arrives as a space (form encoding), so ` 00:00` is read as `+00:00`.
 */
const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|[+\- ]00:?00))?$/;
const TIME_MESSAGE = "must be an ISO 8601 UTC time, e.g. 2026-02-01T00:00:00Z";

const time = v.pipe(v.string(), v.transform(parseUtcTime), v.number(TIME_MESSAGE));

const usageQuerySchema = v.object({
  from: v.optional(time),
  to: v.optional(time),
  granularity: v.optional(v.picklist(["hour", "day"], 'must be "hour" or "day"')),
});

const KNOWN = new Set(["from", "to", "granularity"]);

export function parseUsageQuery(params: URLSearchParams, now: number): UsageQueryResult {
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    if (!KNOWN.has(name)) return invalid(`${JSON.stringify(name.slice(0, 40))} is not a parameter of this endpoint (from, to, granularity)`);
    if (seen.has(name)) return invalid(`${name}: must be given at most once`);
    seen.set(name, value);
  }
  const result = v.safeParse(usageQuerySchema, Object.fromEntries(seen), { abortPipeEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    return invalid(`${String(issue.path?.[0]?.key ?? "query")}: ${issue.message}`);
  }
  const granularity = result.output.granularity ?? "hour";
  const to = result.output.to ?? now;
  const from = result.output.from ?? to - DEFAULT_USAGE_SPAN_MS[granularity];
  // The parameter the operator gave is the one named; `to` alone may be the default (now).
  const toName = result.output.to === undefined ? "to (now, by default)" : "to";
  if (from >= to) return invalid(`from: must be earlier than ${toName}`);
  if (to - from > MAX_USAGE_RANGE_DAYS * DAY_MS) return invalid(`from: must be at most ${MAX_USAGE_RANGE_DAYS} days before ${toName}`);

  const bucketMs = granularity === "hour" ? HOUR_MS : DAY_MS;
  const fromHour = (Math.floor(from / bucketMs) * bucketMs) / HOUR_MS;
  const toHour = (Math.ceil(to / bucketMs) * bucketMs) / HOUR_MS;
  return { ok: true, value: { granularity, from, to, fromHour, toHour } };
}

/** Epoch ms, or null for anything but a real UTC date and time in the accepted spellings. */
export function parseUtcTime(text: string): number | null {
  const match = ISO_UTC.exec(text);
  if (match === null) return null;
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => (part === undefined ? undefined : Number(part)));
  const fraction = match[7] === undefined ? 0 : Number(match[7].slice(0, 3).padEnd(3, "0"));
  const ms = Date.UTC(year!, month! - 1, day!, hour, minute, second, fraction);
  // Date.UTC rolls 2026-02-30 over into March and 24:00 into the next day: refuse instead.
  const back = new Date(ms);
  const exact =
    back.getUTCFullYear() === year && back.getUTCMonth() === month! - 1 && back.getUTCDate() === day && back.getUTCHours() === hour && back.getUTCMinutes() === minute && back.getUTCSeconds() === second;
  return exact ? ms : null;
}

function invalid(detail: string): UsageQueryResult {
  return { ok: false, message: `Invalid query: ${detail}` };
}
