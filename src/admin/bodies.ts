// Request bodies of the admin API (SPEC section 7), validated once at the boundary.
// Unknown fields are refused, and every message names the field it is about.
import * as v from "valibot";
import { ACCOUNT_ID_PATTERN } from "../keys.ts";
import { describeIssue } from "../validation.ts";

/** A body is small; anything larger is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;
const MAX_NAME_CHARS = 200;
const MAX_SCOPES = 64;
const MAX_SCOPE_CHARS = 64;

const planName = (plans: readonly string[]) =>
  v.pipe(v.string("must be a string"), v.picklist(plans, `must be one of the configured plans: ${plans.join(", ")}`));

export const createAccountBody = (plans: readonly string[]) =>
  v.strictObject({
    id: v.pipe(v.string("is required and must be a string"), v.regex(ACCOUNT_ID_PATTERN, "must match ^[a-z0-9][a-z0-9-]{0,62}$")),
    plan: v.optional(planName(plans)),
    credits: v.optional(
      v.pipe(v.number("must be a number"), v.safeInteger("must be a whole number"), v.minValue(0, "must not be negative")),
    ),
  });

export const updateAccountBody = (plans: readonly string[]) =>
  v.pipe(
    v.strictObject({ plan: v.optional(planName(plans)) }),
    v.check((body) => Object.keys(body).length > 0, "must change at least one field: plan"),
  );

export const adjustCreditsBody = v.strictObject({
  amount: v.pipe(
    v.number("is required and must be a number"),
    v.safeInteger("must be a whole number"),
    v.check((n) => n !== 0, "must not be zero"),
  ),
  reason: v.optional(v.pipe(v.string("must be a string"), v.maxLength(MAX_NAME_CHARS, `must be at most ${MAX_NAME_CHARS} characters`))),
});

export const createKeyBody = (now: number) =>
  v.strictObject({
    scopes: v.pipe(
      v.array(
        v.pipe(
          v.string("must be a string"),
          v.nonEmpty("must not be empty"),
          v.maxLength(MAX_SCOPE_CHARS, `must be at most ${MAX_SCOPE_CHARS} characters`),
          v.regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces"),
        ),
        "is required and must be a list of strings",
      ),
      v.nonEmpty("must list at least one scope"),
      v.maxLength(MAX_SCOPES, `must list at most ${MAX_SCOPES} scopes`),
    ),
    name: v.optional(v.pipe(v.string("must be a string"), v.maxLength(MAX_NAME_CHARS, `must be at most ${MAX_NAME_CHARS} characters`))),
    expires_at: v.optional(
      v.pipe(
        v.string("must be an ISO 8601 date-time string"),
        v.isoTimestamp("must be an ISO 8601 date-time such as 2027-01-01T00:00:00Z"),
        v.check(isCalendarDate, "must be a date that exists, such as 2027-01-01T00:00:00Z"),
        v.transform((text) => Date.parse(text)),
        v.check((ms) => Number.isFinite(ms), "must be an ISO 8601 date-time such as 2027-01-01T00:00:00Z"),
        v.check((ms) => ms > now, "must be in the future"),
      ),
    ),
  });

/** Date.parse rolls 2027-02-30 over into March; a day the calendar does not have is refused. */
function isCalendarDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export type BodyResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses JSON text against `schema`; the first problem, naming its field, on failure. */
export function parseBody<S extends v.GenericSchema>(schema: S, text: string): BodyResult<v.InferOutput<S>> {
  let json: unknown;
  try {
    json = text.trim() === "" ? undefined : JSON.parse(text);
  } catch {
    return { ok: false, message: "The request body is not valid JSON." };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, message: "The request body must be a JSON object." };
  }
  const result = v.safeParse(schema, json, { abortPipeEarly: true });
  if (!result.success) return { ok: false, message: `Invalid body: ${describeIssue(result.issues[0])}` };
  return { ok: true, value: result.output };
}
