// Every SQL statement of the account object, typed, in one place. The object decides; the
// store only reads and writes rows (always inside the object's transactionSync).
import { MinuteLog } from "./minute-log.ts";
import { hasSchema, migrate } from "./schema.ts";
import type { UsageHour } from "./usage.ts";
import type { StoredKey } from "./view.ts";

export interface AccountRow {
  id: string;
  plan: string;
  credits: number;
}

export interface LedgerRow {
  at: number;
  delta: number;
  balance: number;
  reason: string;
  request_id: string | null;
  /** The key whose request a debit was for (usage history); written, never shown. */
  key_id?: string | null;
}

/** Everything the object keeps in memory, as storage holds it. */
export interface StoredState {
  account: AccountRow | null;
  keys: Map<string, StoredKey>;
  day: { dayNumber: number; used: number };
  minute: MinuteLog;
}

type KeyRow = {
  id: string;
  hash: ArrayBuffer;
  prefix: string;
  scopes: string;
  name: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
};

export class AccountStore {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** False for an object no account was ever created in: reading it wrote nothing. */
  exists(): boolean {
    return hasSchema(this.sql);
  }

  migrate(): void {
    migrate(this.sql);
  }

  load(): StoredState {
    const empty: StoredState = { account: null, keys: new Map(), day: { dayNumber: 0, used: 0 }, minute: new MinuteLog([]) };
    if (!this.exists()) return empty;
    const account = this.sql.exec<{ id: string; plan: string; credits: number }>("SELECT id, plan, credits FROM account").toArray()[0];
    const keys = new Map<string, StoredKey>();
    for (const row of this.sql.exec<KeyRow>("SELECT * FROM api_keys")) {
      keys.set(row.id, {
        id: row.id,
        hash: row.hash,
        prefix: row.prefix,
        scopes: JSON.parse(row.scopes) as string[],
        name: row.name,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        revokedAt: row.revoked_at,
      });
    }
    const day = this.sql.exec<{ day: number; used: number }>("SELECT day, used FROM day_usage").toArray()[0];
    const minuteRows = this.sql.exec<{ seq: number; at: number }>("SELECT seq, at FROM minute_admissions ORDER BY seq").toArray();
    return {
      account: account ? { id: account.id, plan: account.plan, credits: account.credits } : null,
      keys,
      day: day ? { dayNumber: day.day, used: day.used } : empty.day,
      minute: new MinuteLog(minuteRows),
    };
  }

  insertAccount(account: AccountRow, now: number): void {
    this.sql.exec("INSERT INTO account (id, plan, credits, created_at) VALUES (?, ?, ?, ?)", account.id, account.plan, account.credits, now);
  }

  /** Epoch ms of the account's creation; call only when the account exists. */
  createdAt(): number {
    return this.sql.exec<{ created_at: number }>("SELECT created_at FROM account").one().created_at;
  }

  setPlan(plan: string): void {
    this.sql.exec("UPDATE account SET plan = ?", plan);
  }

  /** A balance change and its ledger row, always together. */
  moveCredits(entry: LedgerRow): void {
    this.setCredits(entry.balance);
    this.insertLedger(entry);
  }

  /** Only with the ledger rows that explain the change (moveCredits, or a batch's debits). */
  setCredits(balance: number): void {
    this.sql.exec("UPDATE account SET credits = ?", balance);
  }

  insertLedger(entry: LedgerRow): void {
    this.sql.exec(
      "INSERT INTO ledger (at, request_id, delta, balance, reason, key_id) VALUES (?, ?, ?, ?, ?, ?)",
      entry.at,
      entry.request_id,
      entry.delta,
      entry.balance,
      entry.reason,
      entry.key_id ?? null,
    );
  }

  /** When a request was debited, and with which key; null when the ledger holds no debit for it. */
  debitOf(requestId: string): { at: number; key_id: string | null } | null {
    const rows = this.sql.exec<{ at: number; key_id: string | null }>("SELECT at, key_id FROM ledger WHERE request_id = ? AND reason = 'debit' LIMIT 1", requestId).toArray();
    return rows[0] ?? null;
  }

  /** The net credit movement of one request: -cost while charged, 0 once refunded. */
  /** The request's credit movements: how many rows the ledger still holds, and their sum. */
  movementsOf(requestId: string): { rows: number; net: number } {
    const rows = this.sql.exec<{ delta: number }>("SELECT delta FROM ledger WHERE request_id = ?", requestId).toArray();
    return { rows: rows.length, net: rows.reduce((sum, r) => sum + r.delta, 0) };
  }

  recentLedger(limit: number): LedgerRow[] {
    return this.sql
      .exec<{ at: number; delta: number; balance: number; reason: string; request_id: string | null }>(
        "SELECT at, delta, balance, reason, request_id FROM ledger ORDER BY seq DESC LIMIT ?",
        limit,
      )
      .toArray();
  }

  /** Drops request debits and refunds older than `before`; operators' adjustments stay. */
  pruneLedger(before: number): void {
    this.sql.exec("DELETE FROM ledger WHERE at < ? AND request_id IS NOT NULL", before);
  }

  insertKey(key: StoredKey): void {
    this.sql.exec(
      "INSERT INTO api_keys (id, hash, prefix, scopes, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      key.id,
      key.hash,
      key.prefix,
      JSON.stringify(key.scopes),
      key.name,
      key.createdAt,
      key.expiresAt,
    );
  }

  revokeKey(keyId: string, at: number): void {
    this.sql.exec("UPDATE api_keys SET revoked_at = ? WHERE id = ?", at, keyId);
  }

  saveDay(dayNumber: number, used: number): void {
    this.sql.exec(
      "INSERT INTO day_usage (singleton, day, used) VALUES (1, ?, ?) ON CONFLICT (singleton) DO UPDATE SET day = excluded.day, used = excluded.used",
      dayNumber,
      used,
    );
  }

  appendMinute(seq: number, at: number): void {
    this.sql.exec("INSERT INTO minute_admissions (seq, at) VALUES (?, ?)", seq, at);
  }

  dropMinuteBelow(seq: number): void {
    this.sql.exec("DELETE FROM minute_admissions WHERE seq < ?", seq);
  }

  /** Adds each row's counts to what its key and hour hold: one statement per key and hour. */
  addUsage(rows: readonly UsageHour[]): void {
    for (const row of rows) {
      this.sql.exec(
        `INSERT INTO usage_hours (hour, key_id, admitted, origin_failed, insufficient_credits, forbidden, rate_limited, credits_spent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hour, key_id) DO UPDATE SET
           admitted = admitted + excluded.admitted,
           origin_failed = origin_failed + excluded.origin_failed,
           insufficient_credits = insufficient_credits + excluded.insufficient_credits,
           forbidden = forbidden + excluded.forbidden,
           rate_limited = rate_limited + excluded.rate_limited,
           credits_spent = credits_spent + excluded.credits_spent`,
        row.hour,
        row.key_id,
        row.admitted,
        row.origin_failed,
        row.insufficient_credits,
        row.forbidden,
        row.rate_limited,
        row.credits_spent,
      );
    }
  }

  /** The rows of hours `fromHour` (inclusive) to `toHour` (exclusive), by hour then key. */
  usageHours(fromHour: number, toHour: number): UsageHour[] {
    return this.sql
      .exec<UsageHour & Record<string, SqlStorageValue>>(
        `SELECT hour, key_id, admitted, origin_failed, insufficient_credits, forbidden, rate_limited, credits_spent
         FROM usage_hours WHERE hour >= ? AND hour < ? ORDER BY hour, key_id`,
        fromHour,
        toHour,
      )
      .toArray();
  }

  pruneUsage(beforeHour: number): void {
    this.sql.exec("DELETE FROM usage_hours WHERE hour < ?", beforeHour);
  }
}
