// A typed client for the gateway's own admin API (SPEC 7 and 13): the one HTTP client the
// operator CLI (cli/) and the dashboard (src/dashboard/) share. Web APIs only, like the rest
// of the SDK; the views are the gateway's own types, so a change to them breaks the build
// of both rather than drifting. Every failure is the SDK's ApiError: an envelope's code,
// UNEXPECTED_RESPONSE for an answer that is not Tollgate's, NETWORK_ERROR when nothing
// answered (with `cause`: a TimeoutError after `timeoutMs`).
//
// It never retries: an operator's write must not happen twice, and a 429 from the
// failed-auth throttle is for the operator to see, not to sit out.
import type { AccountPage, AccountView, KeyView } from "../account/types.ts";
import type { Granularity, UsageBucket } from "../account/usage.ts";
import type { Health } from "../upstream/health.ts";
import type { FetchLike } from "./client.ts";
import { ApiError } from "./errors.ts";
import { readEnvelopeResponse } from "./response.ts";

export type { AccountPage, AccountSummary, AccountView, KeyView, LedgerEntryView, UsageView } from "../account/types.ts";
export type { Granularity, UsageBucket } from "../account/usage.ts";
export type { Health, UpstreamHealth } from "../upstream/health.ts";

/** GET /_gateway/accounts/:id/usage: one bucket per key and hour (or UTC day) that had requests. */
export interface UsageHistory {
  series: UsageBucket[];
}

export interface UsageQuery {
  /** ISO 8601 UTC (or a Date); the whole bucket it falls in is included. @default to − 24 h (hour), to − 30 days (day) */
  from?: string | Date;
  /** Exclusive. At most 31 days after `from`. @default now */
  to?: string | Date;
  /** @default "hour" */
  granularity?: Granularity;
}

/** POST /_gateway/accounts/:id/keys: the key's view and, this once, the key itself. */
export interface CreatedKey extends Omit<KeyView, "revoked"> {
  key: string;
}

export interface NewAccount {
  id: string;
  /** @default "default" */
  plan?: string;
  /** @default 0 */
  credits?: number;
}

export interface NewKey {
  scopes: string[];
  name?: string;
  /** ISO 8601, in the future. */
  expires_at?: string;
}

export interface ListAccountsQuery {
  /** 1–100. @default 50 */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  cursor?: string | null;
  /** Only ids that start with this. */
  prefix?: string;
}

export interface AdminClientOptions {
  /** The gateway, e.g. `https://api.example.com`; "" for the page's own origin. */
  baseUrl: string;
  /** The ADMIN_TOKEN secret; null sends none (health needs none). */
  token: string | null;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /** Give up waiting after this long. @default no limit */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface AdminClient {
  /** GET /_gateway/health, sent without the token: it needs none. */
  health(): Promise<Health>;
  listAccounts(query?: ListAccountsQuery): Promise<AccountPage>;
  createAccount(input: NewAccount): Promise<AccountView>;
  getAccount(id: string): Promise<AccountView>;
  setPlan(id: string, plan: string): Promise<AccountView>;
  /** A non-zero whole amount; negative takes credits away. */
  adjustCredits(id: string, input: { amount: number; reason?: string }): Promise<{ balance: number }>;
  createKey(accountId: string, input: NewKey): Promise<CreatedKey>;
  revokeKey(accountId: string, keyId: string): Promise<KeyView>;
  usage(accountId: string, query?: UsageQuery): Promise<UsageHistory>;
}

export function createAdminClient(options: AdminClientOptions): AdminClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // Looked up per call, and never called as a method of `options` (browsers refuse a fetch
  // whose `this` is not the window).
  const doFetch: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const now = options.now ?? Date.now;

  async function call<T>(method: string, path: string, body?: unknown, token = options.token): Promise<T> {
    const headers = new Headers({ Accept: "application/json" });
    if (token !== null) headers.set("Authorization", `Bearer ${token}`);
    if (body !== undefined) headers.set("Content-Type", "application/json");
    const init: RequestInit = {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // The admin API never redirects; following one could carry the token elsewhere.
      redirect: "manual",
    };
    if (options.timeoutMs !== undefined) init.signal = AbortSignal.timeout(options.timeoutMs);
    let result;
    try {
      result = await readEnvelopeResponse<T>(await doFetch(`${baseUrl}/_gateway${path}`, init), now());
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new ApiError({ status: 0, code: "NETWORK_ERROR", message: `The gateway could not be reached: ${detail}`, requestId: null, retryAfter: null, cause });
    }
    if (!result.ok) throw result.error;
    return result.response.data;
  }

  const account = (id: string) => `/accounts/${encodeURIComponent(id)}`;

  return {
    health: () => call("GET", "/health", undefined, null),
    listAccounts: (query = {}) => call("GET", `/accounts${listQueryString(query)}`),
    createAccount: (input) => call("POST", "/accounts", input),
    getAccount: (id) => call("GET", account(id)),
    setPlan: (id, plan) => call("PATCH", account(id), { plan }),
    adjustCredits: (id, input) => call("POST", `${account(id)}/credits`, input),
    createKey: (accountId, input) => call("POST", `${account(accountId)}/keys`, input),
    revokeKey: (accountId, keyId) => call("DELETE", `${account(accountId)}/keys/${encodeURIComponent(keyId)}`),
    usage: (accountId, query = {}) => call("GET", `${account(accountId)}/usage${usageQueryString(query)}`),
  };
}

function listQueryString(query: ListAccountsQuery): string {
  const params = new URLSearchParams();
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor !== undefined && query.cursor !== null) params.set("cursor", query.cursor);
  if (query.prefix !== undefined && query.prefix !== "") params.set("prefix", query.prefix);
  return queryString(params);
}

function usageQueryString(query: UsageQuery): string {
  const params = new URLSearchParams();
  const time = (value: string | Date) => (typeof value === "string" ? value : value.toISOString());
  if (query.from !== undefined) params.set("from", time(query.from));
  if (query.to !== undefined) params.set("to", time(query.to));
  if (query.granularity !== undefined) params.set("granularity", query.granularity);
  return queryString(params);
}

function queryString(params: URLSearchParams): string {
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}
