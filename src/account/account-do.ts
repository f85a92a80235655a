// AccountDO: one SQLite-backed object per account, holding its plan, credits, keys and
// usage. A thin, atomic shell around the pure limiter: every RPC method is synchronous
// from its first read to its last write, so no two requests ever interleave inside one
// admission, and each method's writes commit together (transactionSync) or not at all.
import { DurableObject } from "cloudflare:workers";
import { loadConfig, planLimits, type Config, type PlanLimits } from "../config.ts";
import { digestsEqual } from "../secrets.ts";
import { decide, dayNumberOf, dayUsedAt, type UsageSnapshot } from "./limiter.ts";
import { MinuteLog } from "./minute-log.ts";
import { hasSchema, migrate } from "./schema.ts";
import type { AccountView, AdminResult, Admission, AdmitRequest, KeyView, NewKey } from "./types.ts";
import { accountView, keyView, type StoredKey } from "./view.ts";

/**
 * Debits stay in the ledger this long, so a refund can find them. Far longer than the
 * longest origin timeout a route may set (config.MAX_UPSTREAM_TIMEOUT_MS).
 */
const LEDGER_RETENTION_MS = 3_600_000;
const LEDGER_PRUNE_EVERY_MS = 60_000;

interface AccountRow {
  id: string;
  plan: string;
  credits: number;
}

export class AccountDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** null until an account was created here: such an object never writes anything. */
  private account: AccountRow | null = null;
  private keys = new Map<string, StoredKey>();
  private minute = new MinuteLog([]);
  private day = { dayNumber: 0, used: 0 };
  /** The latest time this object acted on; the clock is never allowed to run backwards. */
  private lastNow = 0;
  private lastLedgerPrune = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    if (hasSchema(this.sql)) {
      ctx.storage.transactionSync(() => migrate(this.sql));
      this.load();
    }
  }

  // ── the request path ─────────────────────────────────────────────────────────────

  /** Key, scope, limits and credits in one atomic step: all taken, or nothing. */
  admit(req: AdmitRequest): Admission {
    const now = this.clock();
    const key = this.keys.get(req.keyId);
    if (this.account === null || key === undefined || !keyIsLive(key, now)) return { outcome: "invalid_key" };
    if (!digestsEqual(key.hash, req.keyHash)) return { outcome: "invalid_key" };
    if (!key.scopes.includes(req.scope) && !key.scopes.includes("*")) return { outcome: "forbidden", scope: req.scope };

    const limits = this.limits();
    const decision = decide(limits, this.snapshot(), now);
    if (!decision.admitted) {
      const { deniedBy, retryAfterSeconds, windows } = decision;
      return { outcome: "rate_limited", deniedBy, retryAfterSeconds, windows };
    }
    const account = this.account;
    if (account.credits < req.cost) {
      return { outcome: "insufficient_credits", cost: req.cost, balance: account.credits };
    }

    this.atomically(() => {
      this.recordAdmission(limits, now);
      if (req.cost > 0) this.moveCredits(-req.cost, "debit", req.requestId, now);
      this.pruneLedger(now);
    });
    return { outcome: "admitted", windows: decision.windows, balance: req.cost > 0 ? account.credits : null };
  }

  /**
   * Refunds the debit of `requestId` when the origin did not succeed. Idempotent: a second
   * call (a retry after a lost reply) finds the refund already in the ledger.
   * Returns the balance, or null when this object holds no account.
   */
  settle(requestId: string): number | null {
    if (this.account === null) return null;
    const rows = this.sql
      .exec<{ delta: number }>("SELECT delta FROM ledger WHERE request_id = ?", requestId)
      .toArray();
    const outstanding = -rows.reduce((sum, r) => sum + r.delta, 0);
    if (outstanding > 0) {
      const now = this.clock();
      this.atomically(() => this.moveCredits(outstanding, "refund", requestId, now));
    }
    return this.account.credits;
  }

  // ── the admin API ────────────────────────────────────────────────────────────────

  createAccount(input: { id: string; plan: string; credits: number }): AdminResult<AccountView> {
    if (this.account !== null) return { ok: false, error: "exists" };
    const now = this.clock();
    this.atomically(() => {
      migrate(this.sql);
      this.sql.exec(
        "INSERT INTO account (id, plan, credits, created_at) VALUES (?, ?, ?, ?)",
        input.id,
        input.plan,
        0,
        now,
      );
      this.account = { id: input.id, plan: input.plan, credits: 0 };
      if (input.credits > 0) this.moveCredits(input.credits, "initial credits", null, now);
    });
    return { ok: true, value: this.view(now) };
  }

  getAccount(): AccountView | null {
    return this.account === null ? null : this.view(this.clock());
  }

  updateAccount(input: { plan: string }): AdminResult<AccountView> {
    if (this.account === null) return { ok: false, error: "not_found" };
    const account = this.account;
    this.atomically(() => {
      this.sql.exec("UPDATE account SET plan = ?", input.plan);
      account.plan = input.plan;
    });
    return { ok: true, value: this.view(this.clock()) };
  }

  adjustCredits(input: { amount: number; reason: string }): AdminResult<{ balance: number }> {
    if (this.account === null) return { ok: false, error: "not_found" };
    const balance = this.account.credits + input.amount;
    if (balance < 0) return { ok: false, error: "negative_balance", balance: this.account.credits };
    // Past 2^53 the balance could no longer be counted exactly: refused, not a fault.
    if (!Number.isSafeInteger(balance)) return { ok: false, error: "balance_overflow", balance: this.account.credits };
    const now = this.clock();
    this.atomically(() => this.moveCredits(input.amount, input.reason, null, now));
    return { ok: true, value: { balance } };
  }

  createKey(input: NewKey): AdminResult<KeyView> {
    if (this.account === null) return { ok: false, error: "not_found" };
    const now = this.clock();
    const key: StoredKey = {
      id: input.keyId,
      hash: input.hash,
      prefix: input.prefix,
      scopes: input.scopes,
      name: input.name,
      createdAt: now,
      expiresAt: input.expiresAt,
      revokedAt: null,
    };
    this.atomically(() => {
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
    });
    this.keys.set(key.id, key);
    return { ok: true, value: keyView(key) };
  }

  revokeKey(keyId: string): AdminResult<KeyView> {
    const key = this.keys.get(keyId);
    if (this.account === null || key === undefined) return { ok: false, error: "not_found" };
    if (key.revokedAt === null) {
      const now = this.clock();
      this.atomically(() => {
        this.sql.exec("UPDATE api_keys SET revoked_at = ? WHERE id = ?", now, keyId);
      });
      key.revokedAt = now;
    }
    return { ok: true, value: keyView(key) };
  }

  // ── internals ────────────────────────────────────────────────────────────────────

  /**
   * Runs `write` as one SQLite transaction. If it throws, SQLite rolls back, and so must
   * the in-memory cache: it is reloaded from storage, the source of truth.
   */
  private atomically(write: () => void): void {
    try {
      this.ctx.storage.transactionSync(write);
    } catch (error) {
      this.load();
      throw error;
    }
  }

  /** The wall clock. Tests move time by replacing it on an instance (runInDurableObject). */
  protected now(): number {
    return Date.now();
  }

  /** Wall-clock time, never earlier than a time this object already acted on. */
  private clock(): number {
    this.lastNow = Math.max(this.now(), this.lastNow);
    return this.lastNow;
  }

  private config(): Config {
    const result = loadConfig(this.env);
    // The Worker refuses every request while the configuration is bad, so this is a fault.
    if (!result.ok) throw new Error(`invalid configuration: ${result.error}`);
    return result.config;
  }

  private limits(): PlanLimits {
    return planLimits(this.config(), this.account?.plan ?? "default");
  }

  private snapshot(): UsageSnapshot {
    return { minuteAdmissions: this.minute.times, dayNumber: this.day.dayNumber, dayUsed: this.day.used };
  }

  private recordAdmission(limits: PlanLimits, now: number): void {
    const today = dayNumberOf(now);
    const used = dayUsedAt(this.snapshot(), now) + 1;
    this.sql.exec(
      "INSERT INTO day_usage (singleton, day, used) VALUES (1, ?, ?) ON CONFLICT (singleton) DO UPDATE SET day = excluded.day, used = excluded.used",
      today,
      used,
    );
    this.day = { dayNumber: today, used };

    if (limits.perMinute === null) {
      // Unlimited minute: keep nothing, so memory never grows with traffic.
      if (this.minute.times.length > 0) this.sql.exec("DELETE FROM minute_admissions WHERE seq < ?", this.minute.clear());
      return;
    }
    this.sql.exec("INSERT INTO minute_admissions (seq, at) VALUES (?, ?)", this.minute.append(now), now);
    const dropBelow = this.minute.compact(now);
    if (dropBelow !== null) this.sql.exec("DELETE FROM minute_admissions WHERE seq < ?", dropBelow);
  }

  /** The only place a balance changes: the row, the cache and the ledger move together. */
  private moveCredits(delta: number, reason: string, requestId: string | null, now: number): void {
    const account = this.account!;
    const balance = account.credits + delta;
    if (!Number.isSafeInteger(balance) || balance < 0) throw new Error(`balance would become ${balance}`);
    this.sql.exec("UPDATE account SET credits = ?", balance);
    this.sql.exec(
      "INSERT INTO ledger (at, request_id, delta, balance, reason) VALUES (?, ?, ?, ?, ?)",
      now,
      requestId,
      delta,
      balance,
      reason,
    );
    account.credits = balance;
  }

  /** Request debits and refunds age out; operators' adjustments stay as the audit trail. */
  private pruneLedger(now: number): void {
    if (now - this.lastLedgerPrune < LEDGER_PRUNE_EVERY_MS) return;
    this.lastLedgerPrune = now;
    this.sql.exec("DELETE FROM ledger WHERE at < ? AND request_id IS NOT NULL", now - LEDGER_RETENTION_MS);
  }

  private load(): void {
    if (!hasSchema(this.sql)) {
      this.account = null;
      this.keys = new Map();
      return;
    }
    const account = this.sql.exec<{ id: string; plan: string; credits: number }>("SELECT id, plan, credits FROM account").toArray()[0];
    this.account = account ? { id: account.id, plan: account.plan, credits: account.credits } : null;
    this.keys = new Map();
    for (const row of this.sql.exec<KeyRow>("SELECT * FROM api_keys")) {
      this.keys.set(row.id, {
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
    this.day = day ? { dayNumber: day.day, used: day.used } : { dayNumber: 0, used: 0 };
    this.minute = new MinuteLog(this.sql.exec<{ seq: number; at: number }>("SELECT seq, at FROM minute_admissions ORDER BY seq").toArray());
    // After a restart the clock must not run behind what was already recorded.
    this.lastNow = Math.max(this.lastNow, this.minute.times.at(-1) ?? 0);
  }

  private view(now: number): AccountView {
    const account = this.account!;
    const ledger = this.sql
      .exec<{ at: number; delta: number; balance: number; reason: string; request_id: string | null }>(
        "SELECT at, delta, balance, reason, request_id FROM ledger ORDER BY seq DESC LIMIT 20",
      )
      .toArray();
    return accountView({
      account,
      limits: this.limits(),
      keys: [...this.keys.values()],
      usage: this.snapshot(),
      ledger,
      now,
    });
  }
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

function keyIsLive(key: StoredKey, now: number): boolean {
  return key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now);
}
