// What each command asks the admin API and what it prints. Tables go to stdout; with
// --json, stdout is exactly the answer's data, so it can be piped into jq. Warnings go to
// stderr, never mixed into what a script would parse.
import { createAdminClient, type AccountPage, type AccountSummary, type AdminClient } from "../src/client/admin.ts";
import { ApiError } from "../src/client/errors.ts";
import type { Command, Invocation } from "./args.ts";
import { CliError, EXIT, cliErrorFrom } from "./errors.ts";
import { HELP } from "./help.ts";
import { printable } from "./table.ts";
import { accountText, accountsTable, createdKeyText, healthText, keysTable, signed, usageHistoryText } from "./views.ts";

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const ONE_TIME_KEY_WARNING = "warning: store this key now — it will not be shown again; the gateway keeps only its hash.";

export async function runCommand(invocation: Invocation, out: Output): Promise<void> {
  const { command } = invocation;
  if (command.name === "help") return out.stdout(HELP);
  if (command.name !== "health" && invocation.token === null) {
    throw new CliError("no admin token: pass --token or set TOLLGATE_ADMIN_TOKEN (see 'tollgate help')", EXIT.usage);
  }
  const client = createAdminClient({ baseUrl: invocation.url, token: invocation.token, timeoutMs: invocation.timeoutMs });
  try {
    await run(command, client, invocation, out);
  } catch (error) {
    if (error instanceof ApiError) throw cliErrorFrom(error, invocation.url, invocation.timeoutMs);
    throw error;
  }
}

async function run(command: Exclude<Command, { name: "help" }>, client: AdminClient, invocation: Invocation, out: Output): Promise<void> {
  const print = (data: unknown, text: () => string) => out.stdout(invocation.json ? JSON.stringify(data, null, 2) : text());
  const now = Date.now();

  switch (command.name) {
    case "health": {
      // Health is open; the client sends no token where none is needed.
      const data = await client.health();
      return print(data, () => healthText(invocation.url, data));
    }
    case "accounts list": {
      const page = await listAccounts(client, command);
      return print(page, () => accountsText(page, command));
    }
    case "accounts create": {
      const data = await client.createAccount({ id: command.id, plan: command.plan, credits: command.credits });
      return print(data, () => `Created account ${printable(data.id)}.\n\n${accountText(data, now)}`);
    }
    case "accounts show": {
      const data = await client.getAccount(command.id);
      return print(data, () => accountText(data, now));
    }
    case "accounts set-plan": {
      const data = await client.setPlan(command.id, command.plan);
      return print(data, () => `Account ${printable(data.id)} is now on plan ${printable(data.plan)}.\n\n${accountText(data, now)}`);
    }
    case "credits add": {
      const data = await client.adjustCredits(command.id, { amount: command.amount, reason: command.reason });
      return print(data, () => `Balance of ${printable(command.id)} is now ${printable(data.balance)} (${signed(command.amount)}).`);
    }
    case "keys create": {
      const data = await client.createKey(command.account, { scopes: command.scopes, name: command.keyName, expires_at: command.expiresAt });
      print(data, () => createdKeyText(command.account, data));
      return out.stderr(`tollgate: ${ONE_TIME_KEY_WARNING}`);
    }
    case "keys list": {
      const data = await client.getAccount(command.account);
      const { keys } = data;
      return print(keys, () => (keys.length === 0 ? `Account ${printable(data.id)} has no keys.` : keysTable(keys, now)));
    }
    case "keys revoke": {
      const data = await client.revokeKey(command.account, command.keyId);
      return print(data, () => `Revoked key ${printable(data.id)} of account ${printable(command.account)}; it is refused from now on.\n\n${keysTable([data], now)}`);
    }
    case "usage": {
      // Whole UTC days: today and the days before it, so the first row is a full day.
      const from = Math.floor(now / DAY_MS) * DAY_MS - (command.days - 1) * DAY_MS;
      const [history, account] = await Promise.all([
        client.usage(command.account, { from: new Date(from), to: new Date(now), granularity: "day" }),
        // For each key's prefix and name beside its id.
        client.getAccount(command.account),
      ]);
      return print(history, () => usageHistoryText(account, history, { from, days: command.days }));
    }
    default:
      return assertNever(command);
  }
}

const DAY_MS = 86_400_000;

/** The largest page the gateway gives (SPEC 13): --all walks the listing in pages of it. */
const ALL_PAGE_SIZE = 100;

type ListCommand = Extract<Command, { name: "accounts list" }>;

/** One page; with --all, every page, as one page with no next cursor. */
async function listAccounts(client: AdminClient, command: ListCommand): Promise<AccountPage> {
  const query = { prefix: command.prefix, limit: command.limit ?? (command.all ? ALL_PAGE_SIZE : undefined), cursor: command.cursor };
  if (!command.all) return client.listAccounts(query);
  const accounts: AccountSummary[] = [];
  let cursor: string | null = null;
  do {
    const page: AccountPage = await client.listAccounts({ ...query, cursor });
    accounts.push(...page.accounts);
    // Cursors only move forward; one that does not would loop for ever.
    if (page.next_cursor !== null && cursor !== null && page.next_cursor <= cursor) {
      throw new CliError(`the gateway answered a cursor that does not move forward ('${printable(page.next_cursor)}'); stopping`, EXIT.api);
    }
    cursor = page.next_cursor;
  } while (cursor !== null);
  return { accounts, next_cursor: null };
}

function accountsText(page: AccountPage, command: ListCommand): string {
  const matching = command.prefix === undefined ? "" : ` whose id starts with '${printable(command.prefix)}'`;
  if (page.accounts.length === 0) return `No accounts${matching}${command.cursor === undefined ? "" : " after that cursor"}.`;
  const text = accountsTable(page.accounts);
  if (page.next_cursor === null) return text;
  const more = ["tollgate accounts list", command.prefix !== undefined && `--prefix ${command.prefix}`, command.limit !== undefined && `--limit ${command.limit}`, `--cursor ${page.next_cursor}`];
  return `${text}\n\nMore accounts follow: ${more.filter(Boolean).join(" ")} (or --all)`;
}

function assertNever(command: never): never {
  throw new Error(`unhandled command ${JSON.stringify(command as Command)}`);
}
