// Shared helpers for the tests that run inside workerd (test/worker/**).
//
// Storage: @cloudflare/vitest-plugin 1.x isolates storage per test FILE, not per test, so
// tests in one file see each other's accounts. Every helper that creates something takes a
// fresh, unique id by default (uniqueAccountId) — never reuse fixed ids across tests.
//
// Client addresses: the failed-auth throttle (SPEC 3) counts per CF-Connecting-IP in the
// Worker's memory. call() and admin() therefore send an address that belongs to the
// current test (and differs between the client and the operator role), so one test's
// failures never throttle another, and an operator's checks are not throttled by the
// failures a test provokes as a client. Pass `ip` to pick one yourself (freshIp()).
import { exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { expectSuccess } from "./assertions.ts";

export * from "./assertions.ts";

export const GATEWAY_URL = "https://gw.test";
/** Set by vitest.config.ts for the worker project; at least 32 characters, as config requires. */
export const ADMIN_TOKEN = "test-admin-token-4f9c2a7e81b3d605e7c9";
export const UPSTREAM_TOKEN = "test-upstream-token";

// ── ids and addresses ────────────────────────────────────────────────────────────────

/** `chars` random lowercase hex characters. */
function randomHex(chars: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(chars / 2)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, chars);
}

/** An account id matching SPEC 7's pattern, unique per call: `<label>-<12 hex>`. */
export function uniqueAccountId(label = "acct"): string {
  return `${label.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40)}-${randomHex(12)}`;
}

/** A fresh IPv6 unique-local address no other test uses. */
export function freshIp(): string {
  const groups = Array.from({ length: 7 }, () => randomHex(4));
  return `fd7e:${groups.join(":")}`;
}

export type AddressRole = "client" | "operator";
const addresses = new Map<string, string>();

/** The address of `role` in the running test: stable within the test, unique to it. */
export function testIp(role: AddressRole = "client"): string {
  const state = expect.getState();
  const test = `${state.testPath ?? ""}::${state.currentTestName ?? "(outside a test)"}::${role}`;
  let address = addresses.get(test);
  if (address === undefined) {
    address = freshIp();
    addresses.set(test, address);
  }
  return address;
}

// ── requests ─────────────────────────────────────────────────────────────────────────

export interface CallOptions {
  /** Sent as `Authorization: Bearer <key>`. Use `headers` for any other Authorization. */
  key?: string;
  method?: string;
  headers?: Record<string, string>;
  /** A string or stream is sent as is; anything else as JSON (with its Content-Type). */
  body?: unknown;
  /** CF-Connecting-IP; defaults to testIp("client"). */
  ip?: string;
}

/** A request to the gateway, through the Worker's real fetch handler. */
export function call(path: string, options: CallOptions = {}): Promise<Response> {
  return exports.default.fetch(`${GATEWAY_URL}${path}`, requestInit(options, "client"));
}

function requestInit(options: CallOptions, role: AddressRole): RequestInit {
  const headers = new Headers(options.headers);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", options.ip ?? testIp(role));
  if (options.key !== undefined) headers.set("Authorization", `Bearer ${options.key}`);
  let body: BodyInit | undefined;
  if (options.body === undefined) body = undefined;
  else if (typeof options.body === "string" || options.body instanceof ReadableStream) body = options.body;
  else {
    body = JSON.stringify(options.body);
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  }
  return { method: options.method ?? (body === undefined ? "GET" : "POST"), headers, body };
}

export interface AdminOptions extends Omit<CallOptions, "key" | "method"> {
  /** The bearer token; defaults to ADMIN_TOKEN. null sends no Authorization at all. */
  token?: string | null;
}

/** A request to the admin API: `admin("POST", "/accounts", { body })`. */
export function admin(method: string, path: string, options: AdminOptions = {}): Promise<Response> {
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  const init = requestInit({ ...options, method, ...(token === null ? {} : { key: token }) }, "operator");
  return exports.default.fetch(`${GATEWAY_URL}/_gateway${path}`, init);
}

// ── the admin API's shapes (SPEC 7) ──────────────────────────────────────────────────

export interface KeyView {
  id: string;
  prefix: string;
  scopes: string[];
  name: string | null;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
}

export interface CreatedKey extends Omit<KeyView, "revoked"> {
  /** The plaintext key, shown only at creation. */
  key: string;
}

export interface UsageWindow {
  used: number | null;
  limit: number | null;
  reset: string | null;
}

export interface AccountView {
  id: string;
  plan: string;
  credits: number;
  limits: { per_minute: number | null; per_day: number | null };
  usage: { minute: UsageWindow; day: UsageWindow };
  keys: KeyView[];
}

export interface NewAccount {
  /** Defaults to a unique id. */
  id?: string;
  plan?: string;
  credits?: number;
}

/** Creates an account (asserting 201) and returns its view. */
export async function createAccount(input: NewAccount = {}): Promise<AccountView> {
  const body = { id: input.id ?? uniqueAccountId(), ...pick(input, ["plan", "credits"]) };
  const res = await admin("POST", "/accounts", { body });
  return expectSuccess<AccountView>(res, 201);
}

export interface NewKey {
  scopes?: string[];
  name?: string;
  expires_at?: string;
}

/** Creates a key (asserting 201); `key` in the answer is the plaintext. Default scopes: read, write. */
export async function createKey(accountId: string, input: NewKey = {}): Promise<CreatedKey> {
  const body = { scopes: input.scopes ?? ["read", "write"], ...pick(input, ["name", "expires_at"]) };
  const res = await admin("POST", `/accounts/${accountId}/keys`, { body });
  return expectSuccess<CreatedKey>(res, 201);
}

/** A new account and one key on it, in one step. */
export async function accountWithKey(
  account: NewAccount = {},
  key: NewKey = {},
): Promise<{ account: AccountView; accountId: string; key: string; keyId: string; created: CreatedKey }> {
  const view = await createAccount(account);
  const created = await createKey(view.id, key);
  return { account: view, accountId: view.id, key: created.key, keyId: created.id, created };
}

/** The account's current view (asserting 200). */
export async function getAccount(accountId: string): Promise<AccountView> {
  return expectSuccess<AccountView>(await admin("GET", `/accounts/${accountId}`), 200);
}

/** Revokes a key (asserting 200) and returns its view. */
export async function revokeKey(accountId: string, keyId: string): Promise<KeyView> {
  return expectSuccess<KeyView>(await admin("DELETE", `/accounts/${accountId}/keys/${keyId}`), 200);
}

function pick<T extends object, K extends keyof T>(input: T, names: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const name of names) if (input[name] !== undefined) out[name] = input[name];
  return out;
}

// ── the test origin ──────────────────────────────────────────────────────────────────

export function originUrl(): string {
  return `http://127.0.0.1:${inject("originPort")}`;
}

/** One request as the test origin recorded it (test/support/origin.ts). */
export interface OriginRecord {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
  body: string;
}

/**
 * What the origin received for the gateway request that answered with `requestId` (the
 * X-Request-Id the gateway forwards), or undefined when the origin never saw it. The
 * origin is shared by every test file, so look requests up by id, never by position.
 */
export async function originReceived(requestId: string): Promise<OriginRecord | undefined> {
  const res = await fetch(`${originUrl()}/__origin/requests`);
  const records = await res.json<OriginRecord[]>();
  return records.find((r) => r.headers["x-request-id"] === requestId);
}

/** The body of the origin's echo endpoint (any path ending in /echo, the default too). */
export interface Echo {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
