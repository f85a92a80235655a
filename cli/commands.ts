// What each command asks the admin API and what it prints. Tables go to stdout; with
// --json, stdout is exactly the answer's data, so it can be piped into jq. Warnings go to
// stderr, never mixed into what a script would parse.
import { callGateway, type ClientOptions } from "./admin-client.ts";
import type { Command, Invocation } from "./args.ts";
import { CliError, EXIT } from "./errors.ts";
import { HELP } from "./help.ts";
import { printable } from "./table.ts";
import { accountText, createdKeyText, keysTable, signed, type AccountView, type KeyView } from "./views.ts";

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
  const client: ClientOptions = { url: invocation.url, token: invocation.token, timeoutMs: invocation.timeoutMs };
  const print = (data: unknown, text: () => string) => out.stdout(invocation.json ? JSON.stringify(data, null, 2) : text());
  const now = Date.now();

  switch (command.name) {
    case "health": {
      // Health is open; the token is not sent where it is not needed.
      const { data } = await callGateway<{ status?: string }>({ ...client, token: null }, "GET", "/health");
      return print(data, () => `The gateway at ${invocation.url} is up (status: ${printable(data.status)}).`);
    }
    case "accounts create": {
      const body = { id: command.id, plan: command.plan, credits: command.credits };
      const { data } = await callGateway<AccountView>(client, "POST", "/accounts", body);
      return print(data, () => `Created account ${printable(data.id)}.\n\n${accountText(data, now)}`);
    }
    case "accounts show": {
      const { data } = await callGateway<AccountView>(client, "GET", accountPath(command.id));
      return print(data, () => accountText(data, now));
    }
    case "accounts set-plan": {
      const { data } = await callGateway<AccountView>(client, "PATCH", accountPath(command.id), { plan: command.plan });
      return print(data, () => `Account ${printable(data.id)} is now on plan ${printable(data.plan)}.\n\n${accountText(data, now)}`);
    }
    case "credits add": {
      const body = { amount: command.amount, reason: command.reason };
      const { data } = await callGateway<{ balance: number }>(client, "POST", `${accountPath(command.id)}/credits`, body);
      return print(data, () => `Balance of ${printable(command.id)} is now ${printable(data.balance)} (${signed(command.amount)}).`);
    }
    case "keys create": {
      const body = { scopes: command.scopes, name: command.keyName, expires_at: command.expiresAt };
      const { data } = await callGateway<KeyView & { key: string }>(client, "POST", `${accountPath(command.account)}/keys`, body);
      print(data, () => createdKeyText(command.account, data));
      return out.stderr(`tollgate: ${ONE_TIME_KEY_WARNING}`);
    }
    case "keys list": {
      const { data } = await callGateway<AccountView>(client, "GET", accountPath(command.account));
      const keys = data.keys ?? [];
      return print(keys, () => (keys.length === 0 ? `Account ${printable(data.id)} has no keys.` : keysTable(keys, now)));
    }
    case "keys revoke": {
      const path = `${accountPath(command.account)}/keys/${encodeURIComponent(command.keyId)}`;
      const { data } = await callGateway<KeyView>(client, "DELETE", path);
      return print(data, () => `Revoked key ${printable(data.id)} of account ${printable(command.account)}; it is refused from now on.\n\n${keysTable([data], now)}`);
    }
    default:
      return assertNever(command);
  }
}

function accountPath(id: string): string {
  return `/accounts/${encodeURIComponent(id)}`;
}

function assertNever(command: never): never {
  throw new Error(`unhandled command ${JSON.stringify(command as Command)}`);
}
