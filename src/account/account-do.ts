// AccountDO: one SQLite-backed object per account, holding its plan, credits, keys and
// usage. A thin, atomic shell around the pure limiter: every RPC method is synchronous
// from its first read to its last write, so no two requests ever interleave inside one
// admission, and each method's writes commit together (transactionSync) or not at all.
import { DurableObject } from "cloudflare:workers";
import { loadConfig, planLimits, type PlanLimits } from "../config.ts";
import { isoSeconds } from "../envelope.ts";
import { digestsEqual } from "../secrets.ts";
import { decide, dayNumberOf, dayUsedAt, type UsageSnapshot } from "./limiter.ts";
import { AccountStore, type StoredState } from "./store.ts";
import type { AccountSummary, AccountView, AdminResult, Admission, AdmitRequest, KeyView, NewKey } from "./types.ts";
import { accountView, keyView, type StoredKey } from "./view.ts";

/**
 * Debits stay in the ledger this long, so a refund can find them. Far longer than the
 * longest origin timeout a route may set (config.MAX_UPSTREAM_TIMEOUT_MS).
 */
const LEDGER_RETENTION_MS = 3_600_000;
const LEDGER_PRUNE_EVERY_MS = 60_000;
/** Credit movements shown in the account view. */
const LEDGER_VIEW_ROWS = 20;

export class AccountDO extends DurableObject<Env> {
  private readonly store: AccountStore;
  /** The cache of what storage holds; `account` is null until one is created here. */
  private state: StoredState;
  /** The latest time this object acted on; the clock is never allowed to run backwards. */
  private lastNow = 0;
  private lastLedgerPrune = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new AccountStore(ctx.storage.sql);
    if (this.store.exists()) ctx.storage.transactionSync(() => this.store.migrate());
    this.state = this.load();
  }

  // ── the request path ─────────────────────────────────────────────────────────────

  /** Key, scope, limits and credits in one atomic step: all taken, or nothing. */
  admit(req: AdmitRequest): Admission {
    const now = this.clock();
    const { account, keys } = this.state;
    const key = keys.get(req.keyId);
    if (account === null || key === undefined || !keyIsLive(key, now)) return { outcome: "invalid_key" };
    if (!digestsEqual(key.hash, req.keyHash)) return { outcome: "invalid_key" };
    if (!key.scopes.includes(req.scope) && !key.scopes.includes("*")) return { outcome: "forbidden", scope: req.scope };

    const limits = this.limits();
    const decision = decide(limits, this.snapshot(), now);
    if (!decision.admitted) {
      const { deniedBy, retryAfterSeconds, windows } = decision;
      return { outcome: "rate_limited", deniedBy, retryAfterSeconds, windows };
    }
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
    const { account } = this.state;
    if (account === null) return null;
    const outstanding = -this.store.netMovement(requestId);
    if (outstanding > 0) {
      const now = this.clock();
      this.atomically(() => this.moveCredits(outstanding, "refund", requestId, now));
    }
    return account.credits;
  }

  // ── the admin API ────────────────────────────────────────────────────────────────

  createAccount(input: { id: string; plan: string; credits: number }): AdminResult<AccountView> {
    if (this.state.account !== null) return { ok: false, error: "exists" };
    const now = this.clock();
    this.atomically(() => {
      this.store.migrate();
      const account = { id: input.id, plan: input.plan, credits: 0 };
      this.store.insertAccount(account, now);
      this.state.account = account;
      if (input.credits > 0) this.moveCredits(input.credits, "initial credits", null, now);
    });
    return { ok: true, value: this.view(now) };
  }

  getAccount(): AccountView | null {
    return this.state.account === null ? null : this.view(this.clock());
  }

  /** The listing's row (SPEC 13): the plan and balance as they are now; null when no account. */
  summary(): AccountSummary | null {
    const { account } = this.state;
    if (account === null) return null;
    return { id: account.id, plan: account.plan, credits: account.credits, created_at: isoSeconds(this.store.createdAt()) };
  }

  updateAccount(input: { plan: string }): AdminResult<AccountView> {
    const { account } = this.state;
    if (account === null) return { ok: false, error: "not_found" };
    this.atomically(() => {
      this.store.setPlan(input.plan);
      account.plan = input.plan;
    });
    return { ok: true, value: this.view(this.clock()) };
  }

  adjustCredits(input: { amount: number; reason: string }): AdminResult<{ balance: number }> {
    const { account } = this.state;
    if (account === null) return { ok: false, error: "not_found" };
    const balance = account.credits + input.amount;
    if (balance < 0) return { ok: false, error: "negative_balance", balance: account.credits };
    // Past 2^53 the balance could no longer be counted exactly: refused, not a fault.
    if (!Number.isSafeInteger(balance)) return { ok: false, error: "balance_overflow", balance: account.credits };
    const now = this.clock();
    this.atomically(() => this.moveCredits(input.amount, input.reason, null, now));
    return { ok: true, value: { balance } };
  }

  createKey(input: NewKey): AdminResult<KeyView> {
    if (this.state.account === null) return { ok: false, error: "not_found" };
    const key: StoredKey = {
      id: input.keyId,
      hash: input.hash,
      prefix: input.prefix,
      scopes: input.scopes,
      name: input.name,
      createdAt: this.clock(),
      expiresAt: input.expiresAt,
      revokedAt: null,
    };
    this.atomically(() => {
      this.store.insertKey(key);
      this.state.keys.set(key.id, key);
    });
    return { ok: true, value: keyView(key) };
  }

  revokeKey(keyId: string): AdminResult<KeyView> {
    const key = this.state.keys.get(keyId);
    if (this.state.account === null || key === undefined) return { ok: false, error: "not_found" };
    if (key.revokedAt === null) {
      const now = this.clock();
      this.atomically(() => {
        this.store.revokeKey(keyId, now);
        key.revokedAt = now;
      });
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
      this.state = this.load();
      throw error;
    }
  }

  private load(): StoredState {
    const state = this.store.load();
    // After a restart the clock must not run behind what was already recorded.
    this.lastNow = Math.max(this.lastNow, state.minute.times.at(-1) ?? 0);
    return state;
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

  private limits(): PlanLimits {
    const result = loadConfig(this.env);
    // The Worker refuses every request while the configuration is bad, so this is a fault.
    if (!result.ok) throw new Error(`invalid configuration: ${result.error}`);
    return planLimits(result.config, this.state.account?.plan ?? "default");
  }

  private snapshot(): UsageSnapshot {
    const { minute, day } = this.state;
    return { minuteAdmissions: minute.times, dayNumber: day.dayNumber, dayUsed: day.used };
  }

  private recordAdmission(limits: PlanLimits, now: number): void {
    const { minute } = this.state;
    const day = { dayNumber: dayNumberOf(now), used: dayUsedAt(this.snapshot(), now) + 1 };
    this.store.saveDay(day.dayNumber, day.used);
    this.state.day = day;

    if (limits.perMinute === null) {
      // Unlimited minute: keep nothing, so memory never grows with traffic.
      if (minute.times.length > 0) this.store.dropMinuteBelow(minute.clear());
      return;
    }
    this.store.appendMinute(minute.append(now), now);
    const dropBelow = minute.compact(now);
    if (dropBelow !== null) this.store.dropMinuteBelow(dropBelow);
  }

  /** The only place a balance changes: the row, the ledger and the cache move together. */
  private moveCredits(delta: number, reason: string, requestId: string | null, now: number): void {
    const account = this.state.account!;
    const balance = account.credits + delta;
    if (!Number.isSafeInteger(balance) || balance < 0) throw new Error(`balance would become ${balance}`);
    this.store.moveCredits({ at: now, delta, balance, reason, request_id: requestId });
    account.credits = balance;
  }

  private pruneLedger(now: number): void {
    if (now - this.lastLedgerPrune < LEDGER_PRUNE_EVERY_MS) return;
    this.lastLedgerPrune = now;
    this.store.pruneLedger(now - LEDGER_RETENTION_MS);
  }

  private view(now: number): AccountView {
    return accountView({
      account: this.state.account!,
      limits: this.limits(),
      keys: [...this.state.keys.values()],
      usage: this.snapshot(),
      ledger: this.store.recentLedger(LEDGER_VIEW_ROWS),
      now,
    });
  }
}

function keyIsLive(key: StoredKey, now: number): boolean {
  return key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now);
}
