// How the admin API's answers (SPEC sections 7 and 13) read in a terminal. The shapes are
// the gateway's own types (through the shared admin client); these functions only arrange them.
import type { AccountSummary, AccountView, CreatedKey, Health, KeyView, UpstreamHealth, UsageBucket, UsageHistory, UsageView } from "../src/client/admin.ts";
import { fields, printable, table } from "./table.ts";

/** Up, and each upstream's circuit breaker as the instance that answered sees it (SPEC 12). */
export function healthText(url: string, health: Health): string {
  const up = `The gateway at ${printable(url)} is up (status: ${printable(health.status)}).`;
  const upstreams = health.upstreams ?? [];
  if (upstreams.length === 0) return up;
  const rows = upstreams.map((upstream) => [upstream.name, upstream.breaker, breakerDetail(upstream)]);
  return `${up}\n\nUpstreams, as the instance that answered sees them (each instance keeps its own breakers):\n${table(["UPSTREAM", "BREAKER", "DETAIL"], rows)}`;
}

function breakerDetail(upstream: UpstreamHealth): string {
  switch (upstream.breaker) {
    case "off":
      return "no breaker: every call is tried";
    case "closed":
      return `${upstream.consecutive_failures} consecutive failure(s)`;
    case "open":
      return `refusing calls for ${upstream.retry_after} s more`;
    case "half_open":
      return upstream.trial_in_flight ? "a trial call is in flight" : "the next call is a trial";
  }
}

export function accountText(account: AccountView, now: number): string {
  const keys = account.keys;
  const live = keys.filter((key) => keyStatus(key, now) === "active").length;
  const parts = [
    fields([
      ["Account", account.id],
      ["Plan", account.plan],
      ["Credits", account.credits],
      ["Minute", usageText(account.usage.minute)],
      ["Day", usageText(account.usage.day)],
      ["Keys", `${keys.length} (${live} active)`],
    ]),
  ];
  if (keys.length > 0) parts.push(keysTable(keys, now));
  const { ledger } = account;
  if (ledger.length > 0) {
    parts.push(
      "Recent credit movements:\n" +
        table(
          ["AT", "CHANGE", "BALANCE", "REASON", "REQUEST"],
          ledger.map((row) => [row.at, signed(row.delta), row.balance, row.reason, row.request_id]),
        ),
    );
  }
  return parts.join("\n\n");
}

export function keysTable(keys: readonly KeyView[], now: number): string {
  return table(
    ["ID", "PREFIX", "SCOPES", "NAME", "CREATED", "EXPIRES", "STATUS"],
    keys.map((key) => [key.id, key.prefix, key.scopes.join(","), key.name, key.created_at, key.expires_at ?? "never", keyStatus(key, now)]),
  );
}

/** The key as created, plaintext included: the one time the gateway shows it. */
export function createdKeyText(account: string, key: CreatedKey): string {
  return [
    `Created key ${printable(key.id)} for account ${printable(account)}.`,
    "",
    fields([
      ["Key", key.key],
      ["Id", key.id],
      ["Prefix", key.prefix],
      ["Scopes", key.scopes.join(", ")],
      ["Name", key.name],
      ["Created", key.created_at],
      ["Expires", key.expires_at ?? "never"],
    ]),
  ].join("\n");
}

export function keyStatus(key: KeyView, now: number): "active" | "revoked" | "expired" {
  if (key.revoked) return "revoked";
  if (key.expires_at !== null && Date.parse(key.expires_at) <= now) return "expired";
  return "active";
}

/** The listing (GET /_gateway/accounts): one row per account. */
export function accountsTable(accounts: readonly AccountSummary[]): string {
  return table(
    ["ID", "PLAN", "CREDITS", "CREATED"],
    accounts.map((account) => [account.id, account.plan, account.credits, account.created_at]),
  );
}

function usageText(window: UsageView): string {
  if (window.limit === null) return "unlimited";
  const reset = window.reset === null ? "" : `, frees a slot at ${window.reset}`;
  return `${window.used ?? 0} of ${window.limit} used${reset}`;
}

export function signed(amount: number): string {
  return amount > 0 ? `+${amount}` : String(amount);
}

/** `tollgate usage`: one row per UTC day and key that had requests, then the totals. */
export function usageHistoryText(account: AccountView, history: UsageHistory, range: { from: number; days: number }): string {
  const firstDay = new Date(range.from).toISOString().slice(0, 10);
  const lastDay = new Date(range.from + (range.days - 1) * 86_400_000).toISOString().slice(0, 10);
  const span = range.days === 1 ? `on ${firstDay} (UTC)` : `from ${firstDay} to ${lastDay} (UTC days)`;
  const { series } = history;
  if (series.length === 0) return `No requests by the keys of ${printable(account.id)} ${span}.`;
  const keys = new Map(account.keys.map((key) => [key.id, key]));
  const rows = series.map((bucket) => {
    const key = keys.get(bucket.key_id);
    return [bucket.start.slice(0, 10), key?.prefix ?? bucket.key_id, key?.name, bucket.admitted, bucket.origin_failed, bucket.insufficient_credits, bucket.forbidden, bucket.rate_limited, bucket.credits_spent];
  });
  const total = (name: keyof Omit<UsageBucket, "start" | "key_id">) => series.reduce((sum, bucket) => sum + bucket[name], 0);
  return [
    `Requests by the keys of ${printable(account.id)} ${span}:`,
    table(["DAY", "KEY", "NAME", "ADMITTED", "ORIGIN FAILED", "402", "403", "429", "CREDITS SPENT"], rows),
    `Total: ${total("admitted")} admitted (${total("origin_failed")} failed at the origin and refunded), ` +
      `${total("insufficient_credits")} refused for credits (402), ${total("forbidden")} forbidden (403), ` +
      `${total("rate_limited")} rate-limited (429); ${total("credits_spent")} credits spent.`,
  ].join("\n\n");
}
