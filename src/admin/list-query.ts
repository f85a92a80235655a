// The query of GET /_gateway/accounts (SPEC 13), validated once at the boundary. Like the
// admin bodies, anything unexpected is refused with a message naming the parameter: an
// unknown or repeated parameter, a limit outside 1–100, a cursor this API never gave out.
import * as v from "valibot";
import { ACCOUNT_ID_PATTERN } from "../keys.ts";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 100;

export interface ListQuery {
  limit: number;
  /** The last id of the previous page; null for the first page. */
  cursor: string | null;
  /** "" lists every account (every id starts with the empty string). */
  prefix: string;
}

const LIMIT_MESSAGE = `must be a whole number from 1 to ${MAX_LIST_LIMIT}`;

const listQuerySchema = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, LIMIT_MESSAGE), v.transform(Number), v.minValue(1, LIMIT_MESSAGE), v.maxValue(MAX_LIST_LIMIT, LIMIT_MESSAGE)),
  ),
  // A cursor is the last id of a page, so it is an account id; anything else was not ours.
  cursor: v.optional(v.pipe(v.string(), v.regex(ACCOUNT_ID_PATTERN, "must be the next_cursor of a previous page"))),
  // Not the id pattern: a prefix may be empty, or end in "-".
  prefix: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9-]{0,63}$/, "must be at most 63 characters of a-z, 0-9 and -"))),
});

const KNOWN = new Set(["limit", "cursor", "prefix"]);

export type QueryResult = { ok: true; value: ListQuery } | { ok: false; message: string };

export function parseListQuery(params: URLSearchParams): QueryResult {
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    const shown = JSON.stringify(name.slice(0, 40));
    if (!KNOWN.has(name)) return invalid(`${shown} is not a parameter of this endpoint (limit, cursor, prefix)`);
    if (seen.has(name)) return invalid(`${name}: must be given at most once`);
    seen.set(name, value);
  }
  const result = v.safeParse(listQuerySchema, Object.fromEntries(seen), { abortPipeEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    const name = String(issue.path?.[0]?.key ?? "query");
    return invalid(`${name}: ${issue.message}`);
  }
  const { limit, cursor, prefix } = result.output;
  return { ok: true, value: { limit: limit ?? DEFAULT_LIST_LIMIT, cursor: cursor ?? null, prefix: prefix ?? "" } };
}

function invalid(detail: string): QueryResult {
  return { ok: false, message: `Invalid query: ${detail}` };
}
