// GET /_gateway/accounts (SPEC 13): a page of accounts in id order, with exact numbers.
//
// The directory gives the page's ids; each account's own object gives its plan and
// balance, asked in parallel. Why not keep plan and credits in the directory? The balance
// changes on every paid request, inside the account object, and the request path must
// never make a second Durable Object call to keep a copy current. Any copy would be stale
// the moment traffic flows; the account objects are the only place the numbers are exact.
// The price is one call per listed account: up to 101 calls for a page of 100 (one more
// than the page, to learn whether a next page exists), well inside the runtime's
// subrequest allowance, and all in flight at once, so a page takes about as long as its
// slowest object. An account that cannot be reached fails the whole page (500), never a
// page with holes in it.
import { accountStub } from "../account/stub.ts";
import type { AccountPage, AccountSummary } from "../account/types.ts";
import type { RequestContext } from "../context.ts";
import { directoryStub } from "../directory/stub.ts";
import { GatewayError } from "../envelope.ts";
import { parseListQuery, type ListQuery } from "./list-query.ts";

/**
 * The most ids one listing examines. Only phantoms (ids whose creation failed, see
 * src/directory/directory-do.ts) make a listing examine more ids than it returns; past this
 * budget the page ends early, short but with a cursor, and the next call goes on from there.
 */
export const MAX_EXAMINED_IDS = 250;

export async function listAccounts(ctx: RequestContext): Promise<AccountPage> {
  const parsed = parseListQuery(ctx.url.searchParams);
  if (!parsed.ok) throw new GatewayError({ code: "VALIDATION_ERROR", message: parsed.message });
  const { page, phantoms } = await collectPage(ctx.env, parsed.value);
  if (phantoms.length > 0) await forgetPhantoms(ctx, phantoms);
  return page;
}

async function collectPage(env: Env, query: ListQuery): Promise<{ page: AccountPage; phantoms: string[] }> {
  const directory = directoryStub(env);
  const listed: AccountSummary[] = [];
  const phantoms: string[] = [];
  let after = query.cursor;
  let examined = 0;
  for (;;) {
    // One more than the page still needs: if it exists, there is a next page.
    const wanted = Math.min(query.limit - listed.length + 1, MAX_EXAMINED_IDS - examined);
    const ids = await directory.ids({ prefix: query.prefix, after, limit: wanted });
    const summaries = await Promise.all(ids.map((id) => accountStub(env, id).summary()));
    ids.forEach((id, i) => {
      const summary = summaries[i];
      if (summary === null || summary === undefined) phantoms.push(id);
      else listed.push(summary);
    });
    examined += ids.length;

    if (listed.length > query.limit) {
      const accounts = listed.slice(0, query.limit);
      return { page: { accounts, next_cursor: accounts.at(-1)!.id }, phantoms };
    }
    // Fewer ids than asked for: the directory has no more.
    if (ids.length < wanted) return { page: { accounts: listed, next_cursor: null }, phantoms };
    after = ids.at(-1)!;
    if (examined >= MAX_EXAMINED_IDS) return { page: { accounts: listed, next_cursor: after }, phantoms };
  }
}

/** Best effort: a phantom that stays only costs a later listing one more call. */
async function forgetPhantoms(ctx: RequestContext, ids: string[]): Promise<void> {
  try {
    await directoryStub(ctx.env).forgetPhantoms(ids);
  } catch (error) {
    ctx.log.error = `directory: could not forget ${ids.length} unused ids: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Lists an account an admin call has just found, in case it is not listed yet: accounts
 * created before the directory existed have no other way in (Durable Objects cannot be
 * enumerated, so there is nothing to backfill from). Idempotent. A failure is logged and
 * the call's own answer stands: the listing is an index, never a reason to fail an operation.
 */
export async function ensureListed(ctx: RequestContext, accountId: string): Promise<void> {
  try {
    await directoryStub(ctx.env).register(accountId);
  } catch (error) {
    ctx.log.error = `directory: could not list account ${accountId}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
