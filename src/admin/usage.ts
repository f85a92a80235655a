// GET /_gateway/accounts/:id/usage (SPEC 13): an account's usage history, by hour or by UTC
// day, per key. The account's object answers its stored hours; the buckets are made here.
import { accountStub } from "../account/stub.ts";
import { usageSeries, type UsageBucket } from "../account/usage.ts";
import type { RequestContext } from "../context.ts";
import { GatewayError } from "../envelope.ts";
import { parseUsageQuery } from "./usage-query.ts";

export async function accountUsage(ctx: RequestContext, accountId: string): Promise<{ series: UsageBucket[] }> {
  // Checked before the object is asked: a bad query costs no Durable Object call.
  const parsed = parseUsageQuery(ctx.url.searchParams, Date.now());
  if (!parsed.ok) throw new GatewayError({ code: "VALIDATION_ERROR", message: parsed.message });
  const { fromHour, toHour, granularity } = parsed.value;
  const hours = await accountStub(ctx.env, accountId).usageHours(fromHour, toHour);
  if (hours === null) throw new GatewayError({ code: "NOT_FOUND", message: `Account '${accountId}' does not exist` });
  return { series: usageSeries(hours, granularity) };
}
