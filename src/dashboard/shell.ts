// What every view of the page shares: the admin client for the signed-in token, the one
// place a refused token ends the session, the status line, and navigation.
import { createAdminClient, type AdminClient } from "../client/admin.ts";
import { ApiError } from "../client/errors.ts";
import { say } from "./dom.ts";
import { failure } from "./format.ts";

/** A data call that takes longer than this is reported, not waited on for ever. */
const CALL_TIMEOUT_MS = 30_000;

export type Route = { view: "accounts"; prefix: string } | { view: "account"; id: string };

export interface Shell {
  /** The admin API, with the token of this tab's session; same origin, so baseUrl is "". */
  client(): AdminClient;
  /**
   * Shows why a call failed in `where`. A refused token (401) is not an error of that form:
   * it ends the session and returns to the sign-in form, saying why.
   */
  fail(error: unknown, where: HTMLElement): void;
  /** A short confirmation in the status line (role=status, read out by screen readers). */
  notify(text: string): void;
  open(route: Route): void;
}

export function adminClient(token: string): AdminClient {
  return createAdminClient({ baseUrl: "", token, timeoutMs: CALL_TIMEOUT_MS });
}

export function isRefusedToken(error: unknown): error is ApiError {
  return error instanceof ApiError && error.status === 401;
}

export function reportFailure(error: unknown, where: HTMLElement): void {
  say(where, failure(error));
}

/** Route ⇄ location hash: `#/`, `#/?prefix=ac`, `#/accounts/acme`. Never a token. */
export function routeFromHash(hash: string): Route {
  const account = /^#\/accounts\/([^/?#]+)$/.exec(hash);
  if (account !== null) return { view: "account", id: safeDecode(account[1]!) };
  const query = hash.indexOf("?");
  const prefix = query < 0 ? "" : (new URLSearchParams(hash.slice(query + 1)).get("prefix") ?? "");
  return { view: "accounts", prefix };
}

export function hashOf(route: Route): string {
  if (route.view === "account") return `#/accounts/${encodeURIComponent(route.id)}`;
  return route.prefix === "" ? "#/" : `#/?${new URLSearchParams({ prefix: route.prefix })}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
