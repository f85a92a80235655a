// How the admin API's answers (SPEC section 7) read in a terminal. The shapes are the
// gateway's; these functions only arrange them, tolerating fields that are absent.
import { fields, printable, table } from "./table.ts";

export interface KeyView {
  id: string;
  prefix: string;
  scopes: string[];
  name: string | null;
  created_at: string;
  expires_at: string | null;
  revoked?: boolean;
}

interface UsageWindow {
  used: number | null;
  limit: number | null;
  reset: string | null;
}

export interface AccountView {
  id: string;
  plan: string;
  credits: number;
  limits?: { per_minute: number | null; per_day: number | null };
  usage?: { minute?: UsageWindow; day?: UsageWindow };
  keys?: KeyView[];
  /** Not part of the contract; shown when the gateway sends it. */
  ledger?: { at: string; delta: number; balance: number; reason: string; request_id: string | null }[];
}

export function accountText(account: AccountView, now: number): string {
  const keys = account.keys ?? [];
  const live = keys.filter((key) => keyStatus(key, now) === "active").length;
  const parts = [
    fields([
      ["Account", account.id],
      ["Plan", account.plan],
      ["Credits", account.credits],
      ["Minute", usageText(account.usage?.minute)],
      ["Day", usageText(account.usage?.day)],
      ["Keys", `${keys.length} (${live} active)`],
    ]),
  ];
  if (keys.length > 0) parts.push(keysTable(keys, now));
  const ledger = account.ledger ?? [];
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
export function createdKeyText(account: string, key: KeyView & { key: string }): string {
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
  if (key.revoked === true) return "revoked";
  if (key.expires_at !== null && Date.parse(key.expires_at) <= now) return "expired";
  return "active";
}

function usageText(window: UsageWindow | undefined): string {
  if (window === undefined || window.limit === null) return "unlimited";
  const reset = window.reset === null ? "" : `, frees a slot at ${window.reset}`;
  return `${window.used ?? 0} of ${window.limit} used${reset}`;
}

export function signed(amount: number): string {
  return amount > 0 ? `+${amount}` : String(amount);
}
